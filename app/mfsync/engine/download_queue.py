"""The download queue: which job runs next, and pause, resume and cancel.

How it works: a ``DownloadQueue`` keeps every job not finished yet and one ``JobRecord`` per job
for the status, and runs workers that take jobs in order (the second line, ``deferred``, only
when the first is empty: jobs whose only sources were slow while others waited). Each job runs
in a task of its own inside a worker (the ``run`` function it was given: the downloader's), so
that ``pause`` and ``cancel`` can stop it at its next await without stopping the worker. A
paused job leaves the queue (and its worker) and keeps its partial file; ``resume`` queues it
again and the usual resume logic continues from the last verified block. A cancelled job loses
its partial file (the ``discard`` function) and ends in ``CANCELLED``, reported to ``on_done``
like any other outcome.

The records of the jobs and the status published from them are the queue's ``JobBoard``
(engine/job_board.py).
"""

import asyncio
import collections
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from mfsync.engine.download_jobs import DownloadJob, DownloadResult, JobKey, JobRecord
from mfsync.engine.job_board import JobBoard
from mfsync.engine.transfer_status import FINISHED_STATES, TransferState

__all__ = ["Deferred", "DoneCallback", "DownloadQueue"]

log = logging.getLogger("mfsync.transfer")

DoneCallback = Callable[[DownloadResult], Awaitable[None] | None]


class Deferred(Exception):
    """Raised by a job's run: the job leaves its worker for the second line (its only sources
    are slow and other work is waiting)."""


class DownloadQueue:
    """Jobs in line and their workers, with the board of their records (see the module's
    docstring). ``run`` does one job; ``discard`` (blocking) deletes the partial files of a
    cancelled job that last wrote at the given target."""

    def __init__(self, run: Callable[[DownloadJob], Coroutine[Any, Any, DownloadResult]],
                 discard: Callable[[DownloadJob, Path], None], *, workers: int,
                 on_done: DoneCallback | None = None, history: int | None = None) -> None:
        self._run_job = run
        #: Finished jobs remembered (their records and results), at most; None: all of them.
        self._history = history
        #: The keys of finished jobs, oldest first (only with a history to trim).
        self._finished: collections.OrderedDict[JobKey, None] = collections.OrderedDict()
        self._discard = discard
        self._worker_count = workers
        self._on_done = on_done
        #: The record of every job, and the status published from them.
        self.board = JobBoard()
        #: Every job not finished yet: queued, running or paused.
        self.jobs: dict[JobKey, DownloadJob] = {}
        self._waiting: collections.deque[JobKey] = collections.deque()
        #: Jobs whose only sources were slow while others waited: taken when _waiting is empty.
        self._deferred: collections.deque[JobKey] = collections.deque()
        self._running: dict[JobKey, asyncio.Task[DownloadResult]] = {}
        #: What pause/resume/cancel asked of a running job whose task is still winding down:
        #: PAUSED, CANCELLED, or QUEUED (paused, then resumed before it had stopped).
        self._interrupt: dict[JobKey, TransferState] = {}
        self.paused_all = False
        self._wake = asyncio.Event()
        #: Jobs taken by a worker (or being cancelled) whose on_done has not returned yet.
        self._in_work = 0
        self._idle = asyncio.Event()
        self._idle.set()  # (nothing in work yet)
        self._cleanups: set[asyncio.Task[None]] = set()
        self._workers: list[asyncio.Task[None]] = []
        #: The results of finished jobs, in order (the last ``history`` of them).
        self.results: collections.deque[DownloadResult] = collections.deque(maxlen=history)

    @property
    def queued(self) -> bool:
        """Whether a job waits in the first line (not yet taken by a worker)."""
        return bool(self._waiting)

    # -- control ----------------------------------------------------------------------------

    def add(self, job: DownloadJob) -> bool:
        """Queue ``job`` unless the same target is already queued, running or paused (see
        ``Downloader.add``)."""
        record = self.board.records.get(job.key)
        if job.key in self.jobs or (record is not None and record.state not in FINISHED_STATES):
            return False  # (a job in jobs may be finished but not yet through its clean-up)
        record = self.board.records[job.key] = JobRecord(job.stored, job.key, job.default_target)
        self.jobs[job.key] = job
        if self.paused_all:
            record.set_state(TransferState.PAUSED)
        else:
            self._enqueue(job.key)
        self._ensure_workers()
        self.board.publish()
        return True

    def clear_finished(self) -> int:
        """Forget finished jobs; how many were."""
        finished = [k for k, r in self.board.records.items()
                    if r.state in FINISHED_STATES and k not in self.jobs]
        for key in finished:
            del self.board.records[key]
        if finished:
            self.board.publish(state=True)
        return len(finished)

    def _forget_oldest(self, key: JobKey, history: int) -> None:
        """Remember ``key`` as finished; past ``history`` finished jobs, forget the oldest
        one's record (a sync that runs for months must not hold a row per file it ever
        fetched). A key queued again since is not forgotten while it is not finished."""
        self._finished[key] = None
        self._finished.move_to_end(key)
        while len(self._finished) > history:
            old, _ = self._finished.popitem(last=False)
            record = self.board.records.get(old)
            if record is not None and record.state in FINISHED_STATES and old not in self.jobs:
                del self.board.records[old]

    def pause(self, key: JobKey | None) -> bool:
        """Pause one job, or (None) every job and the ones added later; whether anything was
        paused."""
        if key is not None:
            changed = self._pause_one(key)
        else:
            changed = not self.paused_all
            self.paused_all = True
            for each in list(self.jobs):
                changed = self._pause_one(each) or changed
        if changed:
            self.board.publish(state=True)
        return changed

    def resume(self, key: JobKey | None) -> bool:
        """Queue one paused job again, or (None) every one, and let jobs added later start at
        once; whether anything was resumed."""
        if key is not None:
            keys, changed = [key], False
        else:
            keys, changed = list(self.jobs), self.paused_all
            self.paused_all = False
        for each in keys:
            changed = self._resume_one(each) or changed
        if changed:
            self.board.publish(state=True)
        return changed

    def cancel(self, key: JobKey) -> bool:
        """Stop the job for good and delete its partial file; whether there was such a job."""
        job = self.jobs.get(key)
        record = self.board.records.get(key)
        if job is None or record is None or record.state is TransferState.CANCELLED:
            return False  # no such job, or it is being cancelled already
        task = self._running.get(key)
        if task is not None:
            if task.done():
                return False  # it has just finished
            self._interrupt[key] = TransferState.CANCELLED
            task.cancel()  # the worker cleans up once the task has stopped
        else:
            self._unqueue(key)
            # The job stays in jobs until its partial is gone, so that add() cannot start it
            # again meanwhile (and lose the new partial to the clean-up).
            self._in_work += 1  # join() waits for on_done, as for any finished job
            self._update_idle()
            cleanup = asyncio.get_running_loop().create_task(self._cancelled(job, record.target))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
        record.set_state(TransferState.CANCELLED, source="", error="")
        self.board.publish(state=True)
        return True

    async def join(self) -> None:
        """Wait until no job is queued or running, then deliver the status at once."""
        await self._idle.wait()
        self.board.deliver()

    async def stop(self) -> None:
        """Stop the workers and clean-ups; partial files stay."""
        for task in list(self._workers) + list(self._cleanups):
            task.cancel()
        for task in list(self._workers) + list(self._cleanups):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self.board.close()

    def _enqueue(self, key: JobKey) -> None:
        self.board.records[key].set_state(TransferState.QUEUED)
        self._waiting.append(key)
        self._wake.set()
        self._update_idle()

    def _unqueue(self, key: JobKey) -> None:
        for line in (self._waiting, self._deferred):
            with contextlib.suppress(ValueError):
                line.remove(key)

    def _defer(self, key: JobKey) -> None:
        self.board.records[key].set_state(TransferState.QUEUED, source="")
        self._deferred.append(key)
        self._wake.set()
        self._update_idle()

    def _pause_one(self, key: JobKey) -> bool:
        record = self.board.records.get(key)
        if key not in self.jobs or record is None or record.state is TransferState.CANCELLED:
            return False
        task = self._running.get(key)
        if task is not None:
            if task.done() or self._interrupt.get(key) is TransferState.PAUSED:
                return False  # it has just finished, or is being paused already
            self._interrupt[key] = TransferState.PAUSED
            task.cancel()  # the worker parks the job once the task has stopped
        elif record.state is TransferState.PAUSED:
            return False
        else:
            self._unqueue(key)
            self._update_idle()
        record.set_state(TransferState.PAUSED, source="")
        return True

    def _resume_one(self, key: JobKey) -> bool:
        record = self.board.records.get(key)
        if key not in self.jobs or record is None or record.state is not TransferState.PAUSED:
            return False
        if key in self._running:
            # Still winding down after its pause: queue it once it has stopped.
            self._interrupt[key] = TransferState.QUEUED
            record.set_state(TransferState.QUEUED)
        else:
            self._enqueue(key)
        return True

    def _update_idle(self) -> None:
        if self._waiting or self._deferred or self._in_work:
            self._idle.clear()
        else:
            self._idle.set()

    async def _cancelled(self, job: DownloadJob, target: Path) -> None:
        try:
            await asyncio.to_thread(self._discard, job, target)
            await self._finish(DownloadResult(job, TransferState.CANCELLED, error="cancelled"))
        finally:
            self._in_work -= 1
            self._update_idle()

    # -- workers ----------------------------------------------------------------------------

    def _ensure_workers(self) -> None:
        if not self._workers:
            spawn = asyncio.get_running_loop().create_task
            self._workers = [spawn(self._work()) for _ in range(self._worker_count)]

    async def _work(self) -> None:
        while True:
            while not self._waiting and not self._deferred:
                self._wake.clear()
                await self._wake.wait()
            key = (self._waiting or self._deferred).popleft()
            self._in_work += 1
            try:
                await self._run(self.jobs[key])
            finally:
                self._in_work -= 1
                self._update_idle()

    async def _run(self, job: DownloadJob) -> None:
        task = asyncio.get_running_loop().create_task(self._run_job(job))
        self._running[job.key] = task
        result: DownloadResult | None
        try:
            result = await task
            self._interrupt.pop(job.key, None)  # it finished before it could be stopped
        except Deferred:
            result = None
            if job.key in self._interrupt:
                # Paused or cancelled while it was leaving: do what was asked instead.
                result = await self._interrupted(job)
            else:
                self._defer(job.key)
                self.board.publish(state=True)
        except asyncio.CancelledError:
            worker = asyncio.current_task()
            if worker is not None and worker.cancelling():
                raise  # stop(): the worker itself is going away
            result = await self._interrupted(job)
        except Exception as exc:  # a bug must not kill the worker and hang join()
            log.exception("download of %s failed unexpectedly", job.path)
            result = DownloadResult(job, TransferState.FAILED, error=str(exc))
            self.board.set_state(job, TransferState.FAILED, error=str(exc))
        finally:
            if self._running.get(job.key) is task:
                del self._running[job.key]
        if result is not None:
            await self._finish(result)

    async def _interrupted(self, job: DownloadJob) -> DownloadResult | None:
        """A job's task was stopped by pause or cancel: park, requeue or clean up the job."""
        wanted = self._interrupt.pop(job.key, None)
        if wanted is TransferState.PAUSED:
            log.info("paused %s", job.path)
            self.board.publish(state=True)
            return None
        if wanted is TransferState.QUEUED:
            self._enqueue(job.key)
            self.board.publish(state=True)
            return None
        if wanted is not TransferState.CANCELLED:
            # Nobody here asked for it: do not let the job vanish without an outcome.
            self.board.set_state(job, TransferState.FAILED, error="interrupted")
            return DownloadResult(job, TransferState.FAILED, error="interrupted")
        await asyncio.to_thread(self._discard, job, self.board.records[job.key].target)
        log.info("cancelled %s", job.path)
        return DownloadResult(job, TransferState.CANCELLED, error="cancelled")

    async def _finish(self, result: DownloadResult) -> None:
        job = result.job
        if self.jobs.get(job.key) is job:
            del self.jobs[job.key]
        self.results.append(result)
        if self._history is not None:
            self._forget_oldest(job.key, self._history)
        self.board.publish(state=True)
        if self._on_done is not None:
            try:
                outcome = self._on_done(result)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("download callback failed")
