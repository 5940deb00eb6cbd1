"""Downloads: verified, resumable, from whichever host offers the content.

How it works: a ``Downloader`` runs a few workers over a queue of ``DownloadJob``s
(``engine.download_queue``, which also does pause, resume and cancel). For each job it picks a
host that offers the wanted content (from the node's latest snapshot; the choice is
``SourcePolicy``'s, ``engine.sources``), plans where the file goes (``store.placement``), waits
for a turn on the network (``engine.turns``), then receives the content (``engine.receive``):
the block hashes (which must hash to the content id, so they can be trusted), whatever a partial
file from an earlier run does not hold yet, every block checked against its hash before it is
written (``store.partial``). A host that sends a corrupt block is reported and the block is
fetched again (from another host when one offers it). What each attempt says about its host is
kept by the policy's ``SourceTracker``: a host that keeps failing of its own doing (corrupt
blocks, bad block lists, broken protocol, closing mid-reply, refusals) is dropped for that
content, and once every host offering it is dropped the job fails, naming them and what they
did. A host that goes away (a lost connection) is skipped for a moment while another one is
tried; with no host left the job waits for one to come back, at most ``source_wait`` seconds
without a source that delivers. When every block is verified the partial is renamed over the
target in one step. Local problems (unsafe names, a full disk) fail the job with a clear message
and keep the partial for a later resume. A file of one block needs no block list: it goes with
the other such files waiting for its host, in one request on one turn (``engine.small_batch``).
A large file that other hosts offer too is fetched from several of them at once, chunk by chunk
(``engine.swarm_fetch``, given ``Helpers``: the policy, the line of turns, the job's offer now).

Slow sources: while a job receives, its rate is measured (``RateMeter``); a source below
``MIN_RATE`` loses its turn when another host offers the same content that is not slow (the job
goes on from that one) or when other work waits for a turn (the job goes to a second queue that
workers take from only when the first is empty). A lone slow source keeps its turn. Either way
the partial and its verified blocks stay. No host holds every turn while a job that could use
another host waits (``Turns``: a spare turn, and waiting jobs choose again).

The downloader asks the network for what it needs through ``FileSources`` (the node satisfies
it), not through ``Node`` itself.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from mfsync.defaults import DEFAULT_CONCURRENCY
from mfsync.engine.attempts import Attempt, SlowSource
from mfsync.engine.batches import ThreadBatcher
from mfsync.engine.download_jobs import (
    DownloadJob,
    DownloadResult,
    FailureLog,
    JobFailed,
    JobKey,
)
from mfsync.engine.download_queue import Deferred, DoneCallback, DownloadQueue
from mfsync.engine.file_sources import FileSources
from mfsync.engine.job_board import StatusCallback
from mfsync.engine.keyed_locks import KeyedLocks
from mfsync.engine.receive import Receiver
from mfsync.engine.small_batch import SmallFiles
from mfsync.engine.sources import BadBlock, SourcePolicy, describe_host, endpoint, offer_for
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.swarm_fetch import Helpers
from mfsync.engine.transfer_status import (
    ACTIVE_STATES,
    FINISHED_STATES,
    TransfersStatus,
    TransferState,
)
from mfsync.engine.turn_line import TurnLine
from mfsync.engine.turns import Endpoint, Turn
from mfsync.net.addresses import format_host_port
from mfsync.net.channel import ChannelError
from mfsync.protocol.content import block_count
from mfsync.reports import Report
from mfsync.store.failures import local
from mfsync.store.hashing import FileHashes
from mfsync.store.partial import MAX_INFLIGHT_BLOCKS, MAX_RANGE, PartialFile
from mfsync.store.placement import Wanted, check_name, discard_partials, plan_batch

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_INFLIGHT_BLOCKS",
    "MAX_RANGE",
    "SOURCE_WAIT",
    "DownloadJob",
    "DownloadResult",
    "Downloader",
    "JobFailed",
    "JobKey",
    "SlowSource",
]

log = logging.getLogger("mfsync.transfer")

#: Jobs taken at once per file being received: the others check their target, wait for a
#: turn on the network (or for their host's next batch of small files), or land. Without them
#: a worker waited for every landing, and small files landed one by one instead of in batches;
#: with 16, a batch of small files held at most 48. (At most 192 small files of 128 KiB in
#: memory: 24 MiB.)
JOBS_PER_TRANSFER = 64
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
#: While anything is active, a status is published at least this often.
TICK = 0.5


class _ChooseAgain(Exception):
    """A job waiting for a turn with a host that holds every turn may use another host: it
    chooses again (``TurnLine.share``)."""


class Downloader:
    """Fetches queued files with ``concurrency`` transfers at once over ``node``'s channels
    (anything that offers ``FileSources``). ``history``: how many finished jobs it remembers
    (records in its status, ``results``), the oldest forgotten first; None: every one."""

    def __init__(
        self, node: FileSources, *, concurrency: int = DEFAULT_CONCURRENCY,
        source_wait: float = SOURCE_WAIT, on_done: DoneCallback | None = None,
        history: int | None = None,
    ) -> None:
        self._node = node
        self._concurrency = max(1, concurrency)
        self._queue = DownloadQueue(self._run_job, _discard, on_done=on_done,
                                    workers=self._concurrency * JOBS_PER_TRANSFER,
                                    history=history)
        self._source_wait = source_wait
        #: What every attempt so far said about the hosts (drops, slow marks), and the choices.
        self._policy = SourcePolicy()
        #: Turns on the network (held while a job asks for and receives its data), in line.
        self._line = TurnLine(self._concurrency, self._policy, self._offer_of,
                              lambda: self._queue.queued)
        self._name_locks = KeyedLocks[tuple[Path, str]]()
        self._failures = FailureLog(log)
        self._unsubscribe: Callable[[], None] = lambda: None
        self._ticker: asyncio.Task[None] | None = None
        self._receiver = Receiver(node, self._queue)
        self._planner = ThreadBatcher(plan_batch)
        self._small = SmallFiles(node, self._line, self._queue.board, self._policy)

    # -- public face ----------------------------------------------------------------------

    @property
    def results(self) -> list[DownloadResult]:
        """Results of the finished jobs, in order of completion."""
        return list(self._queue.results)

    @property
    def status(self) -> TransfersStatus:
        """A snapshot of every job of this downloader."""
        return self._queue.board.status()

    def subscribe(self, observer: StatusCallback) -> Callable[[], None]:
        """Call ``observer`` with a new status after changes (at most ten times a second);
        returns the way out."""
        return self._queue.board.subscribe(observer)

    @property
    def paused(self) -> bool:
        """Whether everything is paused (``pause()``): jobs added meanwhile start paused."""
        return self._queue.paused_all

    def add(self, job: DownloadJob) -> bool:
        """Queue ``job`` unless the same target is already queued, running or paused.

        While everything is paused the job is taken, but waits in ``PAUSED`` until ``resume``.
        """
        if not self._queue.add(job):
            return False
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(_tick(self._queue, self._line))
            # A host that appears may serve what waits for a host holding every turn.
            self._unsubscribe = self._node.subscribe(lambda _status: self._line.offer_changed())
        return True

    def given_up(self, remote: RemoteFile) -> str:
        """Why no host offering ``remote`` is asked for it any more (every one was dropped for
        that content), or "" while some host may still be asked."""
        return self._policy.given_up(remote)

    def busy(self, root: Path, path: str) -> bool:
        """Whether a job writing ``path`` under ``root`` is queued, running or paused."""
        record = self._queue.board.records.get((root, path))
        return record is not None and record.state not in FINISHED_STATES

    def clear_finished(self) -> int:
        """Forget finished transfers (done, failed, skipped, cancelled); how many were."""
        return self._queue.clear_finished()

    def pause(self, key: JobKey | None = None) -> bool:
        """Pause the job with ``key``, or (None) every job and the ones added later.

        A running job stops at once and frees its worker; its partial file stays, so ``resume``
        continues where it stopped. Returns whether anything was paused.
        """
        return self._queue.pause(key)

    def resume(self, key: JobKey | None = None) -> bool:
        """Queue the paused job with ``key`` again, or (None) every paused job, and let jobs
        added later start at once. Returns whether anything was resumed."""
        return self._queue.resume(key)

    def cancel(self, key: JobKey) -> bool:
        """Stop the job with ``key`` for good and delete its partial file.

        The job ends in ``CANCELLED`` and ``on_done`` hears of it like of any outcome; ``add``
        may queue the same file again later. Returns whether there was such a job.
        """
        return self._queue.cancel(key)

    async def join(self) -> None:
        """Wait until no job is queued or running: every job has finished or is paused.

        Paused jobs do not count, or a ``get`` whose files the user paused would never end.
        Whoever joined sees the final states in its last status, delivered at once.
        """
        await self._queue.join()

    async def stop(self) -> None:
        """Stop the workers; partial files stay for a later resume."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._queue.stop()
        await self._small.stop()
        self._unsubscribe()

    # -- one job, from whichever host ---------------------------------------------------------

    def _failed(self, job: DownloadJob, reason: str, remote: RemoteFile | None = None,
                *, local_failure: bool = False) -> DownloadResult:
        """The job fails for ``reason``: its record says so, and its result."""
        if local_failure:
            self._failures.failed(job, reason)
        self._queue.board.set_state(job, TransferState.FAILED, error=reason)
        return DownloadResult(job, TransferState.FAILED, remote, error=reason)

    async def _run_job(self, job: DownloadJob) -> DownloadResult:
        # Hosts that failed a moment ago (lost, refused, corrupt) are skipped for a while. What
        # a host did to the content (drops, slow marks) is kept by the policy, across jobs.
        cooldown: dict[Endpoint, float] = {}
        #: Seconds spent without a source that delivers: waiting for one, or in attempts that
        #: verified nothing (a host that is reachable but never delivers is no source either).
        idle = 0.0
        checked_name = False
        policy = self._policy
        while True:
            remote = self._choose(job)
            now = time.monotonic()
            cooling = frozenset(k for k, until in cooldown.items() if until > now)
            if (remote is None and job.content_id is not None
                    and self._node.files_for(job.path, job.folder)):
                # The name is offered, but with other content now: the version this job was
                # for is gone. Fail at once so the caller can decide afresh.
                return self._failed(job, Report("superseded"))
            if remote is not None and policy.given_up(remote):
                # Every host offering it was dropped: give up, once hosts still being looked
                # at have had their chance to offer it too.
                await self._node.settle(GIVE_UP_SETTLE)
                remote = self._choose(job)
                if remote is not None and (why := policy.given_up(remote)):
                    reason = Report("every-source-failed", why=why)
                    log.warning("giving up on %s: %s", job.path, reason)
                    return self._failed(job, reason, remote)
                continue
            hosts = policy.candidates(remote, cooling) if remote else []
            if remote is None or not hosts:
                if not checked_name:
                    checked_name = True
                    try:  # a name that can never be written here fails now, not after waiting
                        await asyncio.to_thread(local, check_name, job.root, job.stored)
                    except JobFailed as exc:
                        return self._failed(job, str(exc), local_failure=True)
                if idle > self._source_wait:
                    reason = (Report("no-source") if remote is None else
                              Report("no-delivery", seconds=f"{self._source_wait:g}"))
                    log.warning("giving up on %s: %s", job.path, reason)
                    return self._failed(job, reason, remote)
                self._queue.board.set_state(job, TransferState.WAITING, source="")
                await self._node.wait_for_change(1.0)
                idle += time.monotonic() - now
                continue
            host = policy.pick(job.path, hosts, self._line.turns.busy())
            attempt = Attempt(host, remote.content_id)
            try:
                result = await self._fetch(job, remote, host, attempt, cooling)
            except _ChooseAgain:
                log.debug("%s: %s holds every turn; choosing again", job.path,
                          describe_host(host))
            except SlowSource as exc:
                if attempt.verified:
                    policy.delivered(host, remote.content_id)
                if not policy.better_source(self._choose(job), host):
                    log.info("%s: %s; trying again later", job.path, exc)
                    raise Deferred from None
                log.info("%s: %s; going on from another host", job.path, exc)
            except (BadBlock, ChannelError) as exc:
                cooldown[endpoint(host)] = now + SOURCE_COOLDOWN
                verdict = policy.judge(host, job.path, remote.content_id, exc, attempt.verified)
                if verdict.refresh:
                    self._node.refresh(host)
                log.log(verdict.level, "%s", verdict.message)
            except JobFailed as exc:
                return self._failed(job, str(exc), remote, local_failure=True)
            else:
                policy.delivered(host, remote.content_id)
                return result
            finally:
                if attempt.verified:
                    idle = 0.0
                elif attempt.started is not None and not attempt.preempted:
                    idle += time.monotonic() - attempt.started

    def _choose(self, job: DownloadJob) -> RemoteFile | None:
        """The offer ``job`` downloads now, if any (see ``offer_for``)."""
        return offer_for(job, self._node.files_for)

    def _offer_of(self, key: JobKey) -> tuple[str, RemoteFile | None] | None:
        job = self._queue.jobs.get(key)
        return None if job is None else (job.path, self._choose(job))

    # -- one attempt from one host ----------------------------------------------------------

    async def _fetch(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                     attempt: Attempt, cooling: frozenset[Endpoint]) -> DownloadResult:
        # Names that differ only in case are one file on a case-insensitive file system: never
        # let two of them write (or share a partial file) at the same time.
        self._line.chose(job.key, host)
        try:
            async with self._name_locks.hold((job.root, job.stored.casefold())):
                # A place in line for the network now, so that jobs get their turns in queue
                # order whichever finishes its local checks first. (A small file takes its
                # place in its host's next batch instead: that batch takes the turn.)
                turn = None if self._small.takes(remote) else self._line.place(job.key, cooling)
                try:
                    helpers = Helpers(self._policy, self._line, remote,
                                      lambda: self._choose(job), host, cooling)
                    return await self._fetch_in_turn(job, remote, host, turn, attempt,
                                                     helpers=helpers)
                finally:
                    if turn is not None:
                        turn.release()
        finally:
            self._line.leave(job.key)

    async def _fetch_in_turn(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                             turn: Turn | None, attempt: Attempt, *,
                             helpers: Helpers) -> DownloadResult:
        # One trip off the loop for every local check before the network (it looks at every
        # folder on the way, and may list one): for a small file those checks are most of it.
        plan = await self._planner.run(_wanted(job, remote, host))
        self._queue.board.records[job.key].place(plan.target)
        if plan.conflict_with is not None:
            log.warning("%s exists here with other content: keeping ours, storing theirs as %s",
                        plan.conflict_with, plan.stored)
        if plan.same is not None:
            self._queue.board.set_state(job, TransferState.SKIPPED, size=remote.size,
                                        done=remote.size)
            return DownloadResult(job, TransferState.SKIPPED, remote, plan.stored, plan.target,
                                  hashes=plan.same)
        source = format_host_port(host.address, host.port)
        partial, content = await self._receive(job, remote, host, turn, attempt,
                                               target=plan.target, helpers=helpers)
        final = await self._receiver.land(plan, partial, content)
        self._queue.board.records[job.key].place(final)
        stored = plan.stored_at(final)
        if final != plan.target:
            log.warning("%s changed here during the download: keeping it, storing the other "
                        "version as %s", plan.target, stored)
        self._queue.board.set_state(job, TransferState.DONE, done=remote.size)
        self._failures.succeeded(job)
        log.info("downloaded %s (%d bytes) from %s", stored, remote.size, source)
        hashes = FileHashes(remote.size, partial.block_size, partial.hashes, remote.content_id)
        return DownloadResult(job, TransferState.DONE, remote, stored, final, hashes=hashes)

    async def _receive(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                       turn: Turn | None, attempt: Attempt, *, target: Path,
                       helpers: Helpers) -> tuple[PartialFile, bytes | None]:
        """The content: alone, on the job's turn; a small file's (``turn`` None) in a batch."""
        if turn is None:
            return await self._small.receive(job, remote, host, attempt, target)
        source = format_host_port(host.address, host.port)
        await self._line.wait(job.key, turn, host)  # (until then the job stays QUEUED)
        if turn.nudged:
            raise _ChooseAgain
        if self._policy.is_slow(host) and (why := self._policy.preemption(
                self._choose(job), host, lambda: self._line.others_waiting(host))):
            raise SlowSource(why)  # marked slow while this job waited: others can use the turn
        self._queue.board.set_state(job, TransferState.VERIFYING, size=remote.size, source=source)
        self._line.attempts[job.key] = attempt
        content: bytes | None = None
        try:
            async with asyncio.timeout(None) as scope:
                attempt.begin(scope)
                if block_count(remote.size) <= 1:
                    partial, content = await self._receiver.whole(job, remote, host, attempt,
                                                                  target)
                else:
                    partial = await self._receiver.blocks(job, remote, host, attempt,
                                                          target, helpers=helpers)
        except TimeoutError:
            if not attempt.preempted:
                raise
            raise SlowSource(attempt.preempted) from None
        finally:
            attempt.end()
            del self._line.attempts[job.key]
        turn.release()  # landing needs no network: the next job may start receiving
        return partial, content


async def _tick(queue: DownloadQueue, line: TurnLine) -> None:
    """Every ``TICK``: publish while something is active (a stalled transfer publishes nothing
    by itself; this keeps speeds and ETAs honest), watch the rates, share the turns."""
    while True:
        await asyncio.sleep(TICK)
        if any(r.state in ACTIVE_STATES for r in queue.board.records.values()):
            queue.board.publish()
        line.watch_rates()
        line.share()


def _wanted(job: DownloadJob, remote: RemoteFile, host: HostRef) -> Wanted:
    """What placing ``job`` for ``remote`` (fetched from ``host``) asks of ``store.placement``.
    A conflict copy is named after the host that made that version, as the sync policy names
    it (so every host picks the same name, whichever host relayed the file), else the host it
    came from."""
    return Wanted(job.root, job.stored, remote.size, remote.mtime_ns, remote.content_id,
                  remote.version.last_writer() or host.key,
                  None if job.store_as else job.local_name, job.replace, job.expect_local)


def _discard(job: DownloadJob, target: Path) -> None:
    """Delete the partial files a cancelled ``job`` may have left (blocks)."""
    discard_partials(job.root, job.stored, target)
