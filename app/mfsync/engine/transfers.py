"""Downloads: verified, resumable, from whichever host offers the content.

How it works: a ``Downloader`` runs a few workers over a queue of ``DownloadJob``s. For each job
it picks a host that offers the wanted content (from the node's latest snapshot), fetches the
block hashes (which must hash to the content id, so they can be trusted), reuses whatever a
partial file from an earlier run already holds, then streams the missing ranges, checking every
block against its hash before writing it. A host that sends a corrupt block is reported and the
block is fetched again (from another host when one offers it). What each attempt says about its
host is kept by a ``SourceTracker`` (``engine/sources.py``): a host that keeps failing of its own
doing (corrupt blocks, bad block lists, broken protocol, closing mid-reply, refusals) is dropped
for that content, and once every host offering it is dropped the job fails, naming them and what
they did. A host that goes away (a lost connection) is skipped for a moment while another one is
tried; with no host left the job waits for one to come back, at most ``source_wait`` seconds
without a source that delivers. When every block is verified the partial is renamed over the
target in one step. Local problems (unsafe names, a full disk) fail the job with a clear message
and keep the partial for a later resume.

Slow sources: while a job receives, its rate is measured (``RateMeter``); a source below
``MIN_RATE`` loses its turn when another host offers the same content that is not slow (the job
goes on from that one) or when other work waits for a turn (the job goes to a second queue that
workers take from only when the first is empty). A lone slow source keeps its turn. Either way
the partial and its verified blocks stay. No host holds every turn while a job that could use
another host waits (``Turns``: a spare turn, and waiting jobs choose again).

Control: each job runs in a task of its own inside a worker, so that ``pause`` and ``cancel`` can
stop it at its next await without stopping the worker. A paused job leaves the queue (and its
worker) and keeps its partial file; ``resume`` queues it again and the usual resume logic
continues from the last verified block. A cancelled job loses its partial file and ends in
``CANCELLED``, reported to ``on_done`` like any other outcome.
"""

import asyncio
import collections
import contextlib
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from mfsync.engine.batches import ThreadBatcher
from mfsync.engine.landing import Lander, Landing, hold_verified_for_test
from mfsync.engine.loop import current_loop
from mfsync.engine.node import Node
from mfsync.engine.sources import (
    MIN_RATE,
    Attempt,
    BadBlock,
    Endpoint,
    Failure,
    SourceTracker,
    Turn,
    Turns,
    choose_source,
    classify,
    describe_host,
    endpoint,
)
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.transfer_status import (
    FINISHED_STATES,
    TransferSnapshot,
    TransfersStatus,
    TransferState,
)
from mfsync.net.addresses import format_host_port
from mfsync.net.channel import ChannelError, PeerRefused, SecureChannel
from mfsync.net.client import BlockInfo, request_blocks, stream_range
from mfsync.protocol.content import block_count, block_hash, block_size_for, content_id_of
from mfsync.protocol.messages import ErrorCode
from mfsync.store.conflicts import conflict_name
from mfsync.store.dirfd import open_folder
from mfsync.store.hashing import FileChanged, FileHashes, hash_file
from mfsync.store.partial import PartialFile
from mfsync.store.safe_paths import UnsafePath, partial_path_for, target_for
from mfsync.store.space import InsufficientSpace, check_free_space

__all__ = [
    "DEFAULT_CONCURRENCY",
    "SOURCE_WAIT",
    "DownloadJob",
    "DownloadResult",
    "Downloader",
    "JobKey",
]

log = logging.getLogger("mfsync.transfer")
_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Files being received at the same time (requests in flight).
DEFAULT_CONCURRENCY = 3
#: Jobs taken at once per file being received: the others check their target, wait for a
#: turn on the network, or land. Without them a worker waited for every landing, and small
#: files landed one by one instead of in batches.
JOBS_PER_TRANSFER = 16
#: How long a job goes without a source that delivers before it fails: no host offers its
#: content, or every attempt ends without one verified block (a host that accepts and then
#: resets or goes silent every time is no source either).
SOURCE_WAIT = 120.0
#: A host that failed (vanished, answered CHANGED) is not asked again for this long.
SOURCE_COOLDOWN = 2.0
#: Before a job gives up because every host offering its content was dropped, index fetches
#: under way get this long to bring another source (a ``get`` that starts as hosts are being
#: discovered must not give up on a file an honest host is about to offer).
GIVE_UP_SETTLE = 10.0
#: Largest byte range asked for in one request.
MAX_RANGE = 64 * 1024 * 1024
#: Received blocks being verified and written at once, per download.
MAX_INFLIGHT_BLOCKS = 4
#: Local failures remembered so that a repeat is not logged again (see ``_log_failure``).
_MAX_FAILURES_LOGGED = 4096
#: Progress (bytes) is published at most this often ...
_PUBLISH_INTERVAL = 0.1
#: ... and changes of state at most this often: a status covers every job, so publishing one
#: per change made a ``get`` of many small files quadratic in their number.
_STATE_INTERVAL = 0.02
_GAP_PER_JOB = 20e-6
#: While anything is active, a status is published at least this often.
TICK = 0.5
_ACTIVE = (TransferState.VERIFYING, TransferState.DOWNLOADING, TransferState.WAITING)
#: What identifies a job: the folder it writes into and the wire path it writes.
JobKey = tuple[Path, str]


@dataclass(frozen=True)
class DownloadJob:
    """One file to fetch into ``root``.

    ``content_id`` pins a content (None: the best one offered for the path). ``store_as`` names
    the wire path to write (a conflict copy's name, say) when it differs from ``path``.
    ``replace`` allows replacing an existing local file (sync decided so); ``expect_local`` is
    the (size, mtime_ns, inode) that file had then: if it changed meanwhile, ours is kept and
    theirs is stored under the conflict name instead. ``local_name`` is the name on disk of the
    file it replaces when that is not ``path`` itself (decomposed, as macOS writes names): the
    new version goes there, not into a twin beside it.
    """

    path: str
    root: Path
    content_id: bytes | None = None
    store_as: str | None = None
    replace: bool = False
    expect_local: tuple[int, int, int] | None = None
    local_name: str | None = None

    @property
    def key(self) -> JobKey:
        """What identifies the job: where it writes."""
        return (self.root, self.store_as or self.path)

    @property
    def default_target(self) -> Path:
        """The local path the job writes unless it must store a conflict copy instead (not
        checked for safety: for display, and to find the job's partial file)."""
        return self.root.joinpath(*(self.store_as or self.path).split("/"))


@dataclass(frozen=True)
class DownloadResult:
    """What became of a job."""

    job: DownloadJob
    state: TransferState
    remote: RemoteFile | None = None
    stored_as: str = ""  #: the wire path written (may be a conflict copy's name)
    local_path: Path | None = None
    error: str = ""
    hashes: FileHashes | None = None  #: of the file now at ``local_path``


class SlowSource(Exception):
    """An attempt lost its turn: its source was below the minimum rate and someone else could
    use the turn (the message says who)."""


class _ChooseAgain(Exception):
    """A job waiting for a turn with a host that holds every turn may use another host: it
    chooses again (``Downloader._share_turns``)."""


class _Deferred(Exception):
    """The job leaves its worker for the second queue: its only sources are slow and other work
    is waiting."""


class JobFailed(Exception):
    """A job cannot succeed (unsafe name, no space, disk error); the message says why."""


@dataclass
class _Record:
    path: str
    key: JobKey
    target: Path
    size: int = 0
    done: int = 0
    fetched: int = 0
    state: TransferState = TransferState.QUEUED
    source: str = ""
    error: str = ""
    started_at: float | None = None
    #: The snapshot of the fields above, made at most once per change: a status of 10,000
    #: jobs must not build 10,000 new objects each time one of them moves.
    cached: TransferSnapshot | None = None

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name != "cached":
            object.__setattr__(self, "cached", None)

    def snapshot(self) -> TransferSnapshot:
        if self.cached is None:
            self.cached = TransferSnapshot(self.path, self.size, self.done, self.fetched,
                                           self.state, self.source, self.error, self.started_at,
                                           self.key, self.target)
        return self.cached


DoneCallback = Callable[[DownloadResult], Awaitable[None] | None]
StatusCallback = Callable[[TransfersStatus], None]


class Downloader:
    """Fetches queued files with ``concurrency`` workers over the node's channels."""

    def __init__(
        self, node: Node, *, concurrency: int = DEFAULT_CONCURRENCY,
        source_wait: float = SOURCE_WAIT, on_done: DoneCallback | None = None,
    ) -> None:
        self._node = node
        self._concurrency = max(1, concurrency)
        #: A turn on the network: held while a job asks for and receives its data.
        self._turns = Turns(self._concurrency, self._share_turns)
        self._source_wait = source_wait
        self._on_done = on_done
        self._records: dict[JobKey, _Record] = {}
        #: Every job not finished yet: queued, running or paused.
        self._jobs: dict[JobKey, DownloadJob] = {}
        self._waiting: collections.deque[JobKey] = collections.deque()
        #: Jobs whose only sources were slow while others waited: taken when _waiting is empty.
        self._deferred: collections.deque[JobKey] = collections.deque()
        #: What every attempt so far said about the hosts (drops, slow marks).
        self._sources = SourceTracker()
        #: The attempts receiving now, watched for their rate by _tick.
        self._attempts: dict[JobKey, Attempt] = {}
        #: Jobs on their way to a turn (checking their target, or waiting for the turn), and the
        #: host each will ask: from the moment the host is chosen, so that a job that just left
        #: a slow host for another one is seen as waiting even before it is back in line.
        self._turn_waiters: dict[JobKey, HostRef] = {}
        #: The places in line of the jobs waiting for a turn (see _share_turns).
        self._places: dict[JobKey, _Place] = {}
        #: Counts the changes that may change a job's choice of host: the network's offer, slow
        #: marks (so that _share_turns looks at a waiting job once per change, not per turn).
        self._choices_epoch = 0
        self._running: dict[JobKey, asyncio.Task[DownloadResult]] = {}
        #: What pause/resume/cancel asked of a running job whose task is still winding down:
        #: PAUSED, CANCELLED, or QUEUED (paused, then resumed before it had stopped).
        self._interrupt: dict[JobKey, TransferState] = {}
        self._paused_all = False
        self._wake = asyncio.Event()
        #: Jobs taken by a worker (or being cancelled) whose on_done has not returned yet.
        self._in_work = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._cleanups: set[asyncio.Task[None]] = set()
        self._name_locks: dict[JobKey, asyncio.Lock] = {}
        self._results: list[DownloadResult] = []
        #: The local failure last logged per job key: the same failure again (sync retrying a
        #: name that cannot be stored here) is logged at DEBUG, not once per retry.
        self._failures_logged: dict[JobKey, str] = {}
        self._observers: list[StatusCallback] = []
        self._unsubscribe: Callable[[], None] = lambda: None
        self._workers: list[asyncio.Task[None]] = []
        self._lander = Lander()
        self._planner = ThreadBatcher(_plan_batch)
        # (qasync's call_later gives a plain Handle, so the due time is kept here)
        self._publish_handle: asyncio.Handle | None = None
        self._publish_due = 0.0
        self._last_publish = 0.0

    # -- public face ----------------------------------------------------------------------

    @property
    def results(self) -> list[DownloadResult]:
        """Results of the finished jobs, in order of completion."""
        return list(self._results)

    @property
    def status(self) -> TransfersStatus:
        """A snapshot of every job of this downloader."""
        return TransfersStatus(tuple(map(_Record.snapshot, self._records.values())))

    def subscribe(self, observer: StatusCallback) -> None:
        """Call ``observer`` with a new status after changes (at most ten times a second)."""
        self._observers.append(observer)

    @property
    def paused(self) -> bool:
        """Whether everything is paused (``pause()``): jobs added meanwhile start paused."""
        return self._paused_all

    def add(self, job: DownloadJob) -> bool:
        """Queue ``job`` unless the same target is already queued, running or paused.

        While everything is paused the job is taken, but waits in ``PAUSED`` until ``resume``.
        """
        record = self._records.get(job.key)
        if job.key in self._jobs or (record is not None and record.state not in FINISHED_STATES):
            return False  # (a job in _jobs may be finished but not yet through its clean-up)
        record = self._records[job.key] = _Record(job.store_as or job.path, job.key,
                                                   job.default_target)
        self._jobs[job.key] = job
        if self._paused_all:
            record.state = TransferState.PAUSED
        else:
            self._enqueue(job.key)
        self._ensure_workers()
        self._publish()
        return True

    def given_up(self, remote: RemoteFile) -> str:
        """Why no host offering ``remote`` is asked for it any more (every one was dropped for
        that content), or "" while some host may still be asked."""
        if not remote.hosts or self._sources.usable(remote.hosts, remote.content_id):
            return ""
        return self._sources.why_dropped(remote.hosts, remote.content_id)

    def busy(self, root: Path, path: str) -> bool:
        """Whether a job writing ``path`` under ``root`` is queued, running or paused."""
        record = self._records.get((root, path))
        return record is not None and record.state not in FINISHED_STATES

    def clear_finished(self) -> int:
        """Forget finished transfers (done, failed, skipped, cancelled); how many were."""
        finished = [k for k, r in self._records.items()
                    if r.state in FINISHED_STATES and k not in self._jobs]
        for key in finished:
            del self._records[key]
        if finished:
            self._publish(force=True)
        return len(finished)

    def pause(self, key: JobKey | None = None) -> bool:
        """Pause the job with ``key``, or (None) every job and the ones added later.

        A running job stops at once and frees its worker; its partial file stays, so ``resume``
        continues where it stopped. Returns whether anything was paused.
        """
        if key is not None:
            changed = self._pause_one(key)
        else:
            changed = not self._paused_all
            self._paused_all = True
            for each in list(self._jobs):
                changed = self._pause_one(each) or changed
        if changed:
            self._publish(force=True)
        return changed

    def resume(self, key: JobKey | None = None) -> bool:
        """Queue the paused job with ``key`` again, or (None) every paused job, and let jobs
        added later start at once. Returns whether anything was resumed."""
        if key is not None:
            keys = [key]
            changed = False
        else:
            keys = list(self._jobs)
            changed = self._paused_all
            self._paused_all = False
        for each in keys:
            changed = self._resume_one(each) or changed
        if changed:
            self._publish(force=True)
        return changed

    def cancel(self, key: JobKey) -> bool:
        """Stop the job with ``key`` for good and delete its partial file.

        The job ends in ``CANCELLED`` and ``on_done`` hears of it like of any outcome; ``add``
        may queue the same file again later. Returns whether there was such a job.
        """
        job = self._jobs.get(key)
        record = self._records.get(key)
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
            # The job stays in _jobs until its partial is gone, so that add() cannot start it
            # again meanwhile (and lose the new partial to the clean-up).
            self._in_work += 1  # join() waits for on_done, as for any finished job
            self._update_idle()
            cleanup = asyncio.get_running_loop().create_task(self._cancelled(job, record.target))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
        record.state = TransferState.CANCELLED
        record.source = record.error = ""
        self._publish(force=True)
        return True

    async def join(self) -> None:
        """Wait until no job is queued or running: every job has finished or is paused.

        Paused jobs do not count, or a ``get`` whose files the user paused would never end.
        """
        await self._idle.wait()
        self._deliver()  # now: whoever joined sees the final states in its last status

    async def stop(self) -> None:
        """Stop the workers; partial files stay for a later resume."""
        for task in list(self._workers) + list(self._cleanups):
            task.cancel()
        for task in list(self._workers) + list(self._cleanups):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._unsubscribe()
        if self._publish_handle is not None:
            self._publish_handle.cancel()

    # -- control ----------------------------------------------------------------------------

    def _enqueue(self, key: JobKey) -> None:
        self._records[key].state = TransferState.QUEUED
        self._waiting.append(key)
        self._wake.set()
        self._update_idle()

    def _unqueue(self, key: JobKey) -> None:
        for queue in (self._waiting, self._deferred):
            with contextlib.suppress(ValueError):
                queue.remove(key)

    def _defer(self, key: JobKey) -> None:
        self._records[key].state = TransferState.QUEUED
        self._records[key].source = ""
        self._deferred.append(key)
        self._wake.set()
        self._update_idle()

    def _pause_one(self, key: JobKey) -> bool:
        record = self._records.get(key)
        if key not in self._jobs or record is None or record.state is TransferState.CANCELLED:
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
        record.state = TransferState.PAUSED
        record.source = ""
        return True

    def _resume_one(self, key: JobKey) -> bool:
        record = self._records.get(key)
        if key not in self._jobs or record is None or record.state is not TransferState.PAUSED:
            return False
        if key in self._running:
            # Still winding down after its pause: queue it once it has stopped.
            self._interrupt[key] = TransferState.QUEUED
            record.state = TransferState.QUEUED
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
            await asyncio.to_thread(_discard_partials, job, target)
            await self._finish(DownloadResult(job, TransferState.CANCELLED,
                                              error="cancelled"))
        finally:
            self._in_work -= 1
            self._update_idle()

    # -- workers ----------------------------------------------------------------------------

    def _ensure_workers(self) -> None:
        if self._workers:
            return
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work())
                         for _ in range(self._concurrency * JOBS_PER_TRANSFER)]
        self._workers.append(loop.create_task(self._tick()))
        # A host that appears may serve what waits for a host holding every turn.
        self._unsubscribe = self._node.subscribe(lambda _status: self._offer_changed())

    async def _tick(self) -> None:
        # A stalled transfer publishes nothing by itself; this keeps speeds and ETAs honest.
        while True:
            await asyncio.sleep(TICK)
            if any(r.state in _ACTIVE for r in self._records.values()):
                self._publish()
            self._watch_rates()
            self._share_turns()

    async def _work(self) -> None:
        while True:
            while not self._waiting and not self._deferred:
                self._wake.clear()
                await self._wake.wait()
            key = (self._waiting or self._deferred).popleft()
            self._in_work += 1
            try:
                await self._run(self._jobs[key])
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
        except _Deferred:
            result = None
            if job.key in self._interrupt:
                # Paused or cancelled while it was leaving: do what was asked instead.
                result = await self._interrupted(job)
            else:
                self._defer(job.key)
                self._publish(force=True)
        except asyncio.CancelledError:
            worker = asyncio.current_task()
            if worker is not None and worker.cancelling():
                raise  # stop(): the worker itself is going away
            result = await self._interrupted(job)
        except Exception as exc:  # a bug must not kill the worker and hang join()
            log.exception("download of %s failed unexpectedly", job.path)
            result = DownloadResult(job, TransferState.FAILED, error=str(exc))
            self._set(job, state=TransferState.FAILED, error=str(exc))
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
            self._publish(force=True)
            return None
        if wanted is TransferState.QUEUED:
            self._enqueue(job.key)
            self._publish(force=True)
            return None
        if wanted is not TransferState.CANCELLED:
            # Nobody here asked for it: do not let the job vanish without an outcome.
            self._set(job, state=TransferState.FAILED, error="interrupted")
            return DownloadResult(job, TransferState.FAILED, error="interrupted")
        target = self._records[job.key].target
        await asyncio.to_thread(_discard_partials, job, target)
        log.info("cancelled %s", job.path)
        return DownloadResult(job, TransferState.CANCELLED, error="cancelled")

    async def _finish(self, result: DownloadResult) -> None:
        job = result.job
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]
        self._results.append(result)
        self._publish(force=True)
        if self._on_done is not None:
            try:
                outcome = self._on_done(result)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("download callback failed")

    async def _run_job(self, job: DownloadJob) -> DownloadResult:
        # Hosts that failed a moment ago (lost, refused, corrupt) are skipped for a while. What
        # a host did to the content (drops, slow marks) is kept in self._sources, across jobs.
        cooldown: dict[tuple[str, int], float] = {}
        #: Seconds spent without a source that delivers: waiting for one, or in attempts that
        #: verified nothing (a host that is reachable but never delivers is no source either).
        idle = 0.0
        checked_name = False
        while True:
            remote = self._choose(job)
            now = time.monotonic()
            if remote is None and job.content_id is not None and self._node.files_for(job.path):
                # The name is offered, but with other content now: the version this job was
                # for is gone. Fail at once so the caller can decide afresh.
                reason = "superseded: the file changed on the network"
                self._set(job, state=TransferState.FAILED, error=reason)
                return DownloadResult(job, TransferState.FAILED, error=reason)
            if remote is not None and self.given_up(remote):
                # Every host offering it was dropped: give up, once hosts still being looked
                # at have had their chance to offer it too.
                await self._node.settle(GIVE_UP_SETTLE)
                remote = self._choose(job)
                if remote is not None and (why := self.given_up(remote)):
                    reason = f"every host offering it failed: {why}"
                    log.warning("giving up on %s: %s", job.path, reason)
                    self._set(job, state=TransferState.FAILED, error=reason)
                    return DownloadResult(job, TransferState.FAILED, remote, error=reason)
                continue
            hosts = [h for h in self._sources.usable(remote.hosts, remote.content_id)
                     if cooldown.get((h.address, h.port), 0.0) <= now] if remote else []
            if remote is None or not hosts:
                if not checked_name:
                    checked_name = True
                    try:  # a name that can never be written here fails now, not after waiting
                        await asyncio.to_thread(_local, target_for, job.root,
                                                job.store_as or job.path)
                    except JobFailed as exc:
                        self._log_failure(job, str(exc))
                        self._set(job, state=TransferState.FAILED, error=str(exc))
                        return DownloadResult(job, TransferState.FAILED, error=str(exc))
                if idle > self._source_wait:
                    reason = ("no host offers it any more" if remote is None else
                              f"no host delivered any of it for {self._source_wait:g} s")
                    log.warning("giving up on %s: %s", job.path, reason)
                    self._set(job, state=TransferState.FAILED, error=reason)
                    return DownloadResult(job, TransferState.FAILED, remote, error=reason)
                self._set(job, state=TransferState.WAITING, source="")
                await self._node.wait_for_change(1.0)
                idle += time.monotonic() - now
                continue
            cooling = frozenset(k for k, until in cooldown.items() if until > now)
            host = self._pick(job, hosts)
            attempt = Attempt(host, remote.content_id)
            try:
                result = await self._fetch(job, remote, host, attempt, cooling)
            except _ChooseAgain:
                log.debug("%s: %s holds every turn; choosing again", job.path,
                          describe_host(host))
            except SlowSource as exc:
                if attempt.verified:
                    self._sources.progress(host, remote.content_id)
                if not self._better_source(job, host):
                    log.info("%s: %s; trying again later", job.path, exc)
                    raise _Deferred from None
                log.info("%s: %s; going on from another host", job.path, exc)
            except (BadBlock, ChannelError) as exc:
                cooldown[(host.address, host.port)] = now + SOURCE_COOLDOWN
                self._failed(job, host, remote, attempt, exc)
            except JobFailed as exc:
                self._log_failure(job, str(exc))
                self._set(job, state=TransferState.FAILED, error=str(exc))
                return DownloadResult(job, TransferState.FAILED, remote, error=str(exc))
            else:
                self._sources.progress(host, remote.content_id)
                return result
            finally:
                if attempt.verified:
                    idle = 0.0
                elif attempt.started is not None and not attempt.preempted:
                    idle += time.monotonic() - attempt.started

    def _failed(self, job: DownloadJob, host: HostRef, remote: RemoteFile, attempt: Attempt,
                exc: BadBlock | ChannelError) -> None:
        """Say what an attempt's failure was, and count it against the host if it was of the
        host's own doing (see ``engine.sources``)."""
        if isinstance(exc, PeerRefused) and exc.code in (
                ErrorCode.CHANGED, ErrorCode.NOT_FOUND, ErrorCode.NOT_TRUSTED):
            # Its index (or its trust in us) changed: look again, so that what it no longer
            # offers us leaves the status and this job waits for another host.
            self._node.refresh(host)
        failure = classify(exc)
        endpoint = format_host_port(host.address, host.port)
        if failure is None:
            log.info("lost %s while fetching %s: %s", endpoint, job.path, exc)
            return
        if attempt.verified:
            self._sources.progress(host, remote.content_id)  # (delivered some: a new row)
        if isinstance(exc, BadBlock):
            # The file may have changed there (then its index has a new content for it).
            self._node.refresh(host)
        dropped = self._sources.failed(host, remote.content_id, failure, str(exc))
        verdict = ("not using it again for this file" if dropped
                   else "trying again, from another host if one has it")
        # A corrupt block is news; a refusal (CHANGED: the file is being edited) usually not.
        level = logging.WARNING if dropped or failure is Failure.CORRUPT else logging.INFO
        if isinstance(exc, PeerRefused):
            log.log(level, "%s refused %s: %s; %s", endpoint, job.path, exc.text, verdict)
        elif failure is Failure.CLOSED:  # (a host killed mid-transfer looks the same)
            log.log(level, "lost %s while fetching %s: %s; %s", endpoint, job.path, exc, verdict)
        else:
            log.log(level, "%s %s for %s (%s); %s", describe_host(host), failure.value, job.path,
                    exc, verdict)

    def _pick(self, job: DownloadJob, hosts: list[HostRef]) -> HostRef:
        """The host to ask for ``job`` among ``hosts`` (usable, not cooling down): see
        ``choose_source``."""
        slow = {h for h in hosts if self._sources.is_slow(h)}
        return choose_source(hosts, job.path, slow=slow, busy=self._turns.busy())

    def _offer_changed(self) -> None:
        self._choices_epoch += 1
        self._share_turns()

    def _share_turns(self) -> None:
        """While one host holds every turn: jobs waiting for it that would now choose another
        host choose again, and a job waiting for another host (not slow) starts on a spare
        turn. Called whenever turns change hands or the network's offer changes."""
        busy = self._turns.busy()
        if busy is None:
            return
        for key, place in list(self._places.items()):
            host = self._turn_waiters.get(key)
            turn = place.turn
            if host is None or not turn.waiting:
                continue
            if endpoint(host) == busy:
                if place.checked == (busy, self._choices_epoch):
                    continue  # nothing changed since it was looked at
                place.checked = (busy, self._choices_epoch)
                job = self._jobs.get(key)
                remote = self._choose(job) if job is not None else None
                if job is None or remote is None:
                    continue
                # Choose as _run_job would now (the same hosts cooling down): only a
                # different answer wakes it, so it cannot be woken again for nothing.
                hosts = [h for h in self._sources.usable(remote.hosts, remote.content_id)
                         if (h.address, h.port) not in place.cooling]
                if hosts and endpoint(self._pick(job, hosts)) != busy:
                    turn.nudge()
            elif not self._sources.is_slow(host) and self._turns.spare_free():
                self._turns.grant_spare(turn)

    def _better_source(self, job: DownloadJob, slow: HostRef) -> bool:
        """Whether a host other than ``slow`` offers the job's content and is neither dropped
        nor slow itself."""
        remote = self._choose(job)
        return remote is not None and any(
            host != slow and not self._sources.is_slow(host)
            for host in self._sources.usable(remote.hosts, remote.content_id))

    def _others_waiting(self, slow: HostRef) -> bool:
        """Whether work that does not need ``slow`` waits for a turn: a job not yet started, or
        a job waiting for a turn that may ask a host that is not slow (the one it chose, or one
        that appeared since: it looks again when its turn comes)."""
        if self._waiting:
            return True
        for key, host in self._turn_waiters.items():
            if host != slow and not self._sources.is_slow(host):
                return True
            job = self._jobs.get(key)
            if job is not None and self._better_source(job, host):
                return True
        return False

    def _watch_rates(self) -> None:
        """Measure every attempt receiving now; take the turn of a slow one if someone else can
        use it (see ``engine.sources``)."""
        now = time.monotonic()
        for key, attempt in list(self._attempts.items()):
            if attempt.meter is None or attempt.preempted:
                continue
            slow = attempt.meter.sample(now, attempt.received())
            if slow is None:
                continue
            if not slow:
                if self._sources.clear_slow(attempt.host):
                    self._choices_epoch += 1
                    log.info("%s delivers at the minimum rate again",
                             describe_host(attempt.host))
                continue
            if self._sources.mark_slow(attempt.host):
                self._choices_epoch += 1
                log.info("%s sends less than %d bytes a second", describe_host(attempt.host),
                         MIN_RATE)
            job = self._jobs.get(key)
            if job is None:
                continue
            if self._better_source(job, attempt.host):
                attempt.preempt("its source is slow and another host offers it")
            elif self._others_waiting(attempt.host):
                attempt.preempt("its source is slow and other downloads are waiting")

    def _log_failure(self, job: DownloadJob, reason: str) -> None:
        """Log why ``job`` cannot succeed here: as an error the first time, at DEBUG when the
        same job failed the same way before (and nothing succeeded in between)."""
        if self._failures_logged.get(job.key) == reason:
            log.debug("cannot download %s (again): %s", job.path, reason)
            return
        if len(self._failures_logged) >= _MAX_FAILURES_LOGGED:
            self._failures_logged.clear()  # (bounded: at worst a failure is logged again)
        self._failures_logged[job.key] = reason
        log.error("cannot download %s: %s", job.path, reason)

    def _choose(self, job: DownloadJob) -> RemoteFile | None:
        offers = self._node.files_for(job.path)
        if job.content_id is not None:
            offers = [f for f in offers if f.content_id == job.content_id]
            if job.store_as and not offers:
                # The same content may be offered under the name we store it as (a conflict
                # copy that another host has already made): it is the same bytes.
                offers = [f for f in self._node.files_for(job.store_as)
                          if f.content_id == job.content_id]
        if not offers:
            return None
        # Several contents under one name (get without sync): the newest, then the most offered.
        return max(offers, key=lambda f: (f.mtime_ns, len(f.hosts), f.content_id))

    # -- one attempt from one host ----------------------------------------------------------

    async def _fetch(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                     attempt: Attempt, cooling: frozenset[tuple[str, int]] = frozenset(),
                     ) -> DownloadResult:
        # Names that differ only in case are one file on a case-insensitive file system: never
        # let two of them write (or share a partial file) at the same time.
        lock = self._name_locks.setdefault(
            (job.root, (job.store_as or job.path).casefold()), asyncio.Lock()
        )
        self._turn_waiters[job.key] = host
        try:
            async with lock:
                return await self._fetch_locked(job, remote, host, attempt, cooling)
        finally:
            self._turn_waiters.pop(job.key, None)

    async def _fetch_locked(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                            attempt: Attempt, cooling: frozenset[tuple[str, int]],
                            ) -> DownloadResult:
        # A place in line for the network now, so that jobs get their turns in queue order
        # whichever finishes its local checks first.
        turn = self._turns.place()
        self._places[job.key] = _Place(turn, cooling)
        self._share_turns()
        try:
            return await self._fetch_in_turn(job, remote, host, turn, attempt)
        finally:
            self._places.pop(job.key, None)
            turn.release()

    async def _fetch_in_turn(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                             turn: Turn, attempt: Attempt) -> DownloadResult:
        record = self._records[job.key]
        # One trip off the loop for every local check before the network (it looks at every
        # folder on the way, and may list one): for a small file those checks are most of it.
        plan = await self._planner.run((job, remote, _maker(remote, host)))
        record.target = plan.target
        if plan.conflict_with is not None:
            log.warning("%s exists here with other content: keeping ours, storing theirs as %s",
                        plan.conflict_with, plan.stored)
        if plan.same is not None:
            self._set(job, state=TransferState.SKIPPED, size=remote.size, done=remote.size)
            return DownloadResult(job, TransferState.SKIPPED, remote, plan.stored, plan.target,
                                  hashes=plan.same)
        source = format_host_port(host.address, host.port)
        content: bytes | None = None
        await turn.wait(host)  # (until then the job stays QUEUED)
        self._places.pop(job.key, None)
        self._turn_waiters.pop(job.key, None)
        if turn.nudged:
            raise _ChooseAgain
        if self._sources.is_slow(host):
            # Marked slow while this job waited: use the turn only if nobody else can.
            if self._better_source(job, host):
                raise SlowSource("its source is slow and another host offers it")
            if self._others_waiting(host):
                raise SlowSource("its source is slow and other downloads are waiting")
        self._set(job, state=TransferState.VERIFYING, size=remote.size, source=source)
        self._attempts[job.key] = attempt
        try:
            async with asyncio.timeout(None) as scope:
                attempt.begin(scope)
                if block_count(remote.size) <= 1:
                    info, content = await self._fetch_whole(job, remote, host, attempt)
                    partial = PartialFile(plan.target, remote.size, info.block_size,
                                          info.hashes, job.root)
                else:
                    info, partial = await self._fetch_blocks(job, remote, host, plan.target,
                                                             attempt)
        except TimeoutError:
            if not attempt.preempted:
                raise
            raise SlowSource(attempt.preempted) from None
        finally:
            attempt.end()
            del self._attempts[job.key]
        turn.release()  # landing needs no network: the next job may start receiving
        try:
            await hold_verified_for_test(plan.stored)  # (inert unless a test set it)
        except BaseException:
            partial.close()
            raise

        def destination() -> Path:
            # A conflict copy's name, if sync is replacing a file of ours that changed during
            # the download: ours stays.
            if job.replace and job.expect_local is not None and not _still(
                plan.target, job.expect_local
            ):
                return target_for(job.root, _conflict(plan.stored, remote, host))
            return plan.target

        try:
            final = await self._lander.run(Landing(job.root, partial, remote.mtime_ns,
                                                   destination, content))
        except (OSError, UnsafePath) as exc:
            raise JobFailed(_describe(exc)) from None
        finally:
            partial.close()
        record.target = final
        stored = plan.stored
        if final != plan.target:
            stored = _conflict(plan.stored, remote, host)
            log.warning("%s changed here during the download: keeping it, storing the other "
                        "version as %s", plan.target, stored)
        self._set(job, state=TransferState.DONE, done=remote.size)
        self._failures_logged.pop(job.key, None)
        log.info("downloaded %s (%d bytes) from %s", stored, remote.size, source)
        hashes = FileHashes(remote.size, info.block_size, info.hashes, remote.content_id)
        return DownloadResult(job, TransferState.DONE, remote, stored, final, hashes=hashes)

    async def _fetch_whole(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                           attempt: Attempt) -> tuple[BlockInfo, bytes]:
        """A file of one block (or none): asked for in one request, without its block list,
        which would be one hash, proven by the content id just as well."""
        record = self._records[job.key]
        record.started_at = record.started_at or time.monotonic()
        self._set(job, state=TransferState.DOWNLOADING)
        block_size = block_size_for(remote.size)
        pieces: list[bytes | memoryview] = []
        if remote.size:
            async with self._node.channel_to(host) as channel:
                attempt.watch(channel)
                async for data in stream_range(channel, remote.path, remote.content_id, 0,
                                               remote.size):
                    pieces.append(data.payload)
                    record.fetched += len(data.payload)
        content = b"".join(pieces)
        hashes = (block_hash(content),) if remote.size else ()
        if content_id_of(remote.size, block_size, hashes) != remote.content_id:
            raise BadBlock("block 0")
        record.done = remote.size
        attempt.verified = remote.size
        return BlockInfo(remote.size, block_size, hashes), content

    async def _fetch_blocks(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                            target: Path, attempt: Attempt) -> tuple[BlockInfo, PartialFile]:
        """A file of several blocks: its block list first, then whatever a partial file from
        an earlier run does not hold yet, every block verified as it arrives."""
        async with self._node.channel_to(host) as channel:
            attempt.watch(channel)
            info = await request_blocks(channel, remote.path, remote.content_id, remote.size)
            partial = PartialFile(target, remote.size, info.block_size, info.hashes, job.root)
            try:
                await self._receive(job, remote, channel, partial, attempt)
            except BaseException:
                partial.close()
                raise
        # (the channel is back in the pool: another download may use it while this one lands)
        return info, partial

    async def _receive(self, job: DownloadJob, remote: RemoteFile, channel: SecureChannel,
                       partial: PartialFile, attempt: Attempt) -> None:
        record = self._records[job.key]
        have = await asyncio.to_thread(_local, _open_partial, job.root, partial)
        record.done = sum(partial.block_range(i)[1] for i, ok in enumerate(have) if ok)
        record.started_at = record.started_at or time.monotonic()
        self._set(job, state=TransferState.DOWNLOADING)

        def written(length: int) -> None:
            record.done += length
            attempt.verified += length
            self._publish()

        sink = _BlockSink(partial, written)
        try:
            for first, last in _missing_runs(have, partial.block_size):
                offset = partial.block_range(first)[0]
                end = sum(partial.block_range(last))
                buf = bytearray()
                index = first
                async for data in stream_range(channel, remote.path, remote.content_id, offset,
                                               end - offset):
                    payload = data.payload
                    record.fetched += len(payload)
                    pos = 0
                    while pos < len(payload):
                        length = partial.block_range(index)[1]
                        take = min(length - len(buf), len(payload) - pos)
                        if not buf and take == length:
                            block: bytes | memoryview = memoryview(payload)[pos : pos + length]
                        else:
                            buf += memoryview(payload)[pos : pos + take]
                            if len(buf) < length:
                                break
                            block, buf = bytes(buf), bytearray()
                        pos += take
                        await sink.put(index, block)
                        index += 1
            await sink.drain()
        finally:
            await sink.abandon()

    # -- status ---------------------------------------------------------------------------

    def _set(self, job: DownloadJob, **changes: object) -> None:
        record = self._records[job.key]
        for name, value in changes.items():
            setattr(record, name, value)
        self._publish(force=True)

    def _publish(self, force: bool = False) -> None:
        """Publish a status soon: within ``_STATE_INTERVAL`` of the last one for a change of
        state (``force``), within ``_PUBLISH_INTERVAL`` for progress. Changes in between are
        folded into that one status."""
        now = time.monotonic()
        # A status costs a moment per job: with thousands of jobs, fewer statuses, so that
        # publishing them stays a small part of the work (10,000 jobs: one per 0.2 s).
        gap = max(_STATE_INTERVAL if force else _PUBLISH_INTERVAL,
                  len(self._records) * _GAP_PER_JOB)
        due = max(now, self._last_publish + gap)
        if self._publish_handle is not None:
            if self._publish_due <= due:
                return
            self._publish_handle.cancel()
        self._publish_due = due
        self._publish_handle = current_loop().call_later(due - now, self._deliver)

    def _deliver(self) -> None:
        if self._publish_handle is not None:
            self._publish_handle.cancel()
        self._publish_handle = None
        self._last_publish = time.monotonic()
        status = self.status
        for observer in list(self._observers):
            try:
                observer(status)
            except Exception:
                log.exception("transfer observer failed")


@dataclass
class _Place:
    """A job's place in line for a turn, as ``Downloader._share_turns`` sees it."""

    turn: Turn
    #: The hosts (address, port) cooling down for the job when it chose its host.
    cooling: frozenset[Endpoint]
    #: The busy host and choices epoch when the job's choice was last looked at.
    checked: tuple[Endpoint, int] | None = None


class _BlockSink:
    """Verifies and writes received blocks in worker threads while the network keeps reading,
    with a bounded number in flight (so memory stays bounded and the pipe stays full)."""

    def __init__(self, partial: PartialFile, written: Callable[[int], None]) -> None:
        self._partial = partial
        self._written = written
        self._inflight: dict[asyncio.Future[bool], tuple[int, int]] = {}

    async def put(self, index: int, block: bytes | memoryview) -> None:
        """Hand over block ``index``; waits while too many blocks are in flight."""
        while len(self._inflight) >= MAX_INFLIGHT_BLOCKS:
            await self._reap(asyncio.FIRST_COMPLETED)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, _local, self._partial.accept_block, index, block)
        self._inflight[future] = (index, len(block))

    async def drain(self) -> None:
        """Wait for every block in flight; ``BadBlock`` if one did not match its hash."""
        while self._inflight:
            await self._reap(asyncio.ALL_COMPLETED)

    async def abandon(self) -> None:
        """Let blocks in flight finish (their threads cannot be stopped), ignoring outcomes."""
        if self._inflight:
            await asyncio.wait(list(self._inflight))
            for future in self._inflight:
                # Retrieved, or asyncio prints each failure (a full disk fails every block in
                # flight) as "Future exception was never retrieved" with a traceback: the job
                # has already failed with the first of them.
                if not future.cancelled():
                    future.exception()
            self._inflight.clear()

    async def _reap(self, when: str) -> None:
        done, _ = await asyncio.wait(list(self._inflight), return_when=when)
        for future in done:
            index, length = self._inflight.pop(future)
            if not future.result():
                raise BadBlock(f"block {index}")
            self._written(length)


def _local(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run a local file operation; its OSError fails the job (with a clear message)."""
    try:
        return func(*args, **kwargs)
    except (UnsafePath, InsufficientSpace, OSError) as exc:
        raise JobFailed(_describe(exc)) from None


def _describe(exc: UnsafePath | InsufficientSpace | OSError) -> str:
    """What a failed local file operation says to the user."""
    if isinstance(exc, UnsafePath | InsufficientSpace):
        return str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _discard_partials(job: DownloadJob, target: Path) -> None:
    """Delete the partial files a cancelled job may have left: beside its usual target and
    beside ``target``, where it last wrote (a conflict copy's name, say)."""
    targets: set[Path] = set()
    # Checked like any target, so that nothing is deleted through a symlinked folder; a name
    # that can never be written here has no partial file either.
    with contextlib.suppress(JobFailed):
        targets.add(_local(target_for, job.root, job.store_as or job.path))
    if target != job.default_target:
        targets.add(target)  # came from target_for when the job chose it
    for where in targets:
        try:
            # In its folder opened from the root without following a symlink, as it was made.
            with open_folder(job.root, where.parent.relative_to(job.root).parts) as folder:
                folder.unlink(partial_path_for(where).name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the partial download of %s: %s", where, exc)


def _existing_size(path: Path) -> int:
    """The bytes a partial from an earlier run really holds on disk (it is sparse: its size is
    the whole file's), 0 if there is none."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return min(st.st_size, st.st_blocks * 512) if hasattr(st, "st_blocks") else st.st_size


@dataclass(frozen=True)
class _Plan:
    """Where a download goes, decided before anything is fetched."""

    target: Path
    stored: str  #: the wire path written there
    same: FileHashes | None = None  #: the target already holds the content: nothing to fetch
    conflict_with: Path | None = None  #: ours, kept: the target is a conflict copy's name


def _plan(job: DownloadJob, remote: RemoteFile, maker: bytes) -> _Plan:
    """Choose the target of ``job`` (a conflict copy's name when a different file of ours is
    in the way), see whether it already holds ``remote``, and check that the bytes still
    missing fit on the disk."""
    stored = job.store_as or job.path
    target = target_for(job.root, stored, None if job.store_as else job.local_name)
    conflict_with = None
    if not job.replace and os.path.lexists(target):
        same = _same_content(job.root, target, remote)
        if same is not None:
            return _Plan(target, stored, same)
        conflict_with = target
        stored = conflict_name(stored, remote.mtime_ns, maker)
        target = target_for(job.root, stored)
        same = _same_content(job.root, target, remote)
        if same is not None:
            return _Plan(target, stored, same, conflict_with)
    # Before anything is created: opening a partial extends it to the full size (and file
    # systems without sparse files, FAT say, allocate all of it right then). And before the
    # block list is asked for: its length follows from the size the peer claims, so a size
    # that cannot fit here must not make us collect hashes (an EiB is 2**36 of them).
    partial_path = partial_path_for(target)
    had = _existing_size(partial_path)
    check_free_space(partial_path.parent, remote.size - min(had, remote.size))
    return _Plan(target, stored, None, conflict_with)


def _plan_batch(items: list[tuple[DownloadJob, RemoteFile, bytes]]) -> list[_Plan | JobFailed]:
    """``_plan`` for each item (one trip off the loop for many small files)."""
    outcomes: list[_Plan | JobFailed] = []
    for job, remote, maker in items:
        try:
            outcomes.append(_local(_plan, job, remote, maker))
        except JobFailed as exc:
            outcomes.append(exc)
    return outcomes


def _open_partial(root: Path, partial: PartialFile) -> list[bool]:
    """Open (or create) the folders from ``root`` up to the partial and the partial itself,
    never through a symlink, and say which blocks it already holds."""
    assert partial.root == root
    partial.open()
    return partial.verify_existing()


def _same_content(root: Path, path: Path, remote: RemoteFile) -> FileHashes | None:
    """The hashes of the file at ``path`` (below ``root``) if it already holds ``remote``'s
    content."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size != remote.size:
            return None
        hashes = hash_file(path, root)
    except (OSError, FileChanged):
        return None
    return hashes if hashes.content_id == remote.content_id else None


def _conflict(stored: str, remote: RemoteFile, host: HostRef) -> str:
    """The conflict copy's name under which ``remote`` is stored instead of ``stored``."""
    return conflict_name(stored, remote.mtime_ns, _maker(remote, host))


def _maker(remote: RemoteFile, host: HostRef) -> bytes:
    """The key a conflict copy of ``remote`` is named after: the host that made that version,
    as the sync policy names it (so every host picks the same name, whichever host relayed
    the file), else the host it came from."""
    return remote.version.last_writer() or host.key


def _still(path: Path, expect: tuple[int, int, int]) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True  # gone: nothing of the user's to lose
    return (st.st_size, st.st_mtime_ns, st.st_ino) == expect


def _missing_runs(have: list[bool], block_size: int) -> list[tuple[int, int]]:
    """Contiguous runs of missing blocks, each at most MAX_RANGE bytes long."""
    per_run = max(1, MAX_RANGE // block_size)
    runs: list[tuple[int, int]] = []
    index = 0
    while index < len(have):
        if have[index]:
            index += 1
            continue
        start = index
        while index < len(have) and not have[index] and index - start < per_run:
            index += 1
        runs.append((start, index - 1))
    return runs
