"""One large file from several hosts at once, chunk by chunk (as Syncthing does).

When a file of many blocks is missing at least ``SWARM_MIN_CHUNKS`` chunks and other hosts
offer the same content (not dropped for it, not cooling down, not slow) while the downloader
has a turn free for them (``Turns.take_free``: never ahead of a download waiting in line), the
``Receiver`` hands the rest of the file to a ``SwarmFetch`` (it looks before each range it
asks of the job's own host; ``growing_runs`` makes the first ranges short). The block list was
asked once, of the host that has the job's turn: the content id proves it, so every host's list
is the same. One **worker** per host then takes chunks (``engine.chunk_list``: at most
``CHUNK_BYTES`` of consecutive blocks, smaller near the end) from the one shared list, asks for
each with a ``GetRequest`` on a channel of its own (``FileSources.channel_to``: the pool keeps
it between chunks) and feeds its own ``BlockWriter`` on the one ``PartialFile`` (blocks are
verified and written at their own offsets, under the partial's write lock). A fast host comes
back sooner and so takes more chunks; near the end, a worker left without work asks again for
a chunk another still holds (the endgame): the first to finish it wins, the other's request is
stopped and its channel closed.

Per host, as for one host: a corrupt block, a broken reply or a lost connection ends that
host's worker (the policy counts it against the host, ``SourcePolicy.judge``) and its chunk goes
back on the list for the others; the file fails only when the job's own host has failed and
the others could not finish it. A host measured
slow (``engine.attempts``' rate rule, sampled every ``TICK``) gets no new chunk while another is
not slow. A helper (any worker but the job's own host) gives its turn back as soon as another
download waits for one, after the chunk it holds: a file from several hosts never starves the
others. The job's own host failing is left to the downloader (it raises from ``run``) unless
the others completed the file.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from mfsync.engine.attempts import Attempt, RateMeter
from mfsync.engine.chunk_list import Chunk, ChunkList
from mfsync.engine.download_jobs import JobRecord
from mfsync.engine.file_sources import FileSources
from mfsync.engine.sources import SourcePolicy, endpoint
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.turn_line import TurnLine
from mfsync.engine.turns import Endpoint, Turn
from mfsync.net.addresses import format_host_port
from mfsync.net.channel import ChannelError
from mfsync.net.client import stream_range
from mfsync.store.partial import BadBlock, BlockWriter, PartialFile

__all__ = ["CHUNK_BYTES", "FIRST_RANGE", "MAX_SOURCES", "SWARM_MIN_CHUNKS", "Helpers", "SwarmFetch",
           "growing_runs"]

log = logging.getLogger("mfsync.transfer")

#: Largest chunk handed to one host at a time: 8 MiB is a fraction of a second on any wired
#: LAN (so a lost or stopped chunk costs little), yet long enough that the round trip between
#: two chunks is a small part of it.
CHUNK_BYTES = 8 * 1024 * 1024
#: The first range asked of one host for a large file (they double from there): at 50 MB/s,
#: 2 MiB is 40 ms, about when the other hosts answering the same query have been heard of.
FIRST_RANGE = 2 * 1024 * 1024
#: A file is fetched from several hosts only when at least this many chunks of it are missing:
#: below that, the second host's handshake and the split cost more than they bring.
SWARM_MIN_CHUNKS = 2
#: Hosts one file is fetched from at most (each holds one of the downloader's turns).
MAX_SOURCES = 3
#: How often the workers' rates are measured (as the downloader measures attempts).
TICK = 0.5


@dataclass(frozen=True)
class Helpers:
    """What the downloader lends a file's fetch to ask other hosts than ``primary`` (the one
    holding the job's turn): its policy, its line of turns, the offer fetched (``remote``) and
    the way to the job's offer now (``offer``: hosts heard of since may offer it too), and the
    hosts cooling down for the job."""

    policy: SourcePolicy
    line: TurnLine
    remote: RemoteFile
    offer: Callable[[], RemoteFile | None]
    primary: HostRef
    cooling: frozenset[Endpoint]

    def hosts(self, using: set[Endpoint]) -> list[HostRef]:
        """Hosts that may help now, best first: offering the content, not dropped for it, not
        cooling down, not slow, not at an endpoint in ``using``."""
        now = self.offer()
        if now is None or now.content_id != self.remote.content_id:
            return []  # (the file changed: the job's own host finds out)
        seen = set(using)
        found = []
        for host in self.policy.candidates(now, self.cooling):
            where = endpoint(host)
            if where not in seen and not self.policy.is_slow(host):
                seen.add(where)
                found.append(host)
        return found


def growing_runs(runs: list[tuple[int, int]], block_size: int) -> list[tuple[int, int]]:
    """``runs`` (of ``missing_runs``) cut so that the first ranges asked of one host grow from
    ``FIRST_RANGE`` (doubling) to their full length: a download looks for other hosts between
    ranges, and a host is often heard of a moment after a download began (a ``get`` starts as
    soon as the first host offers the file), so the first checks come early, at the cost of a
    few more requests per file (five for a file of 1 GiB)."""
    out: list[tuple[int, int]] = []
    step = max(1, FIRST_RANGE // block_size)
    for first, last in runs:
        start = first
        while last - start + 1 > step:
            out.append((start, start + step - 1))
            start += step
            step *= 2
        out.append((start, last))
        step *= 2
    return out


class _LostRace(Exception):
    """Another host finished the chunk first: this host's request for it was stopped."""


class _Worker:
    """One host's part in a swarm: its turn (None for the job's own host), its current chunk and
    the scope that stops its request, what it received, and how it ended."""

    def __init__(self, host: HostRef, turn: Turn | None) -> None:
        self.host = host
        self.turn = turn
        self.chunk: Chunk[HostRef] | None = None
        self.scope: asyncio.Timeout | None = None
        self.received = 0
        self.verified = 0  #: bytes of its current chunk verified so far
        #: The rate of its current chunk (an idle worker is not measured: idle is not slow).
        self.meter: RateMeter | None = None
        self.chunk_received = 0
        self.failure: BaseException | None = None


class SwarmFetch:
    """Fetches the missing blocks of ``partial`` (``runs``) from the job's host and helpers at
    once (see the module's docstring); progress goes to ``record`` and ``attempt``."""

    def __init__(self, sources: FileSources, helpers: Helpers, partial: PartialFile,
                 runs: list[tuple[int, int]], *, record: JobRecord, attempt: Attempt,
                 publish: Callable[[], None]) -> None:
        self._sources = sources
        self._helpers = helpers
        self._partial = partial
        self._record = record
        self._attempt = attempt
        self._publish = publish
        self._list: ChunkList[HostRef] = ChunkList(runs, max(1, CHUNK_BYTES // partial.block_size))
        self._workers: dict[HostRef, _Worker] = {}
        self._tried: set[Endpoint] = {endpoint(helpers.primary)}
        self._changed = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._done_bytes = 0  #: verified: what the partial had, and chunks done since
        self._last_failure: BaseException | None = None
        self._recruiting = False
        #: Bytes received from each host over the whole fetch (for tests and the log).
        self.received: dict[HostRef, int] = {}

    @staticmethod
    def large(partial: PartialFile, runs: list[tuple[int, int]]) -> bool:
        """Whether enough of the file is missing (``runs``) to fetch it from several hosts."""
        blocks = sum(last - first + 1 for first, last in runs)
        return blocks * partial.block_size >= SWARM_MIN_CHUNKS * CHUNK_BYTES

    @staticmethod
    def worth_it(partial: PartialFile, runs: list[tuple[int, int]], helpers: Helpers) -> bool:
        """Whether the file is fetched from several hosts: enough of it is missing, and
        another host may help now (it offers the file, and a turn is free for it)."""
        return (SwarmFetch.large(partial, runs)
                and helpers.line.turns.free() and not helpers.line.waiting()
                and bool(helpers.hosts({endpoint(helpers.primary)})))

    async def recruit(self) -> int:
        """Take a free turn for each host that may help now (up to ``MAX_SOURCES`` in all) and
        start its worker; how many joined."""
        joined = 0
        if self._recruiting or not self._list.pending or self._helpers.line.waiting():
            return joined
        self._recruiting = True  # (one at a time: two would take the same host)
        try:
            using = self._tried | {endpoint(h) for h in self._workers}
            for host in self._helpers.hosts(using):
                if len(self._workers) >= MAX_SOURCES:
                    break
                turn = await self._helpers.line.turns.take_free(host)
                if turn is None:
                    break  # no turn free: helpers wait for none
                self._tried.add(endpoint(host))
                if self._tasks is None:  # (the fetch ended meanwhile)
                    turn.release()
                    break
                self._start(_Worker(host, turn))
                joined += 1
        finally:
            self._recruiting = False
        return joined

    async def run(self, done: int) -> None:
        """Fetch until every chunk is done (``done``: bytes of the file verified before);
        raise the job's own host's failure (or the last one) when no host is left with chunks
        still missing."""
        self._done_bytes = done
        primary = _Worker(self._helpers.primary, None)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                self._start(primary)
                await self.recruit()
                watcher = tasks.create_task(self._watch())
                while self._workers and not self._list.finished:
                    self._changed.clear()
                    await self._changed.wait()
                watcher.cancel()
        except BaseExceptionGroup as group:
            # A worker's local failure (a full disk): the job fails with it, as from one host.
            raise group.exceptions[0] from None
        finally:
            self._tasks = None  # (every worker has ended: each gave its turn back itself)
        if not self._list.finished:
            raise primary.failure or self._last_failure or ChannelError("no host left to ask")
        if primary.failure is not None:
            self._judge(primary)  # the others completed the file: only the host is judged
        log.info("%s: fetched from %s", self._helpers.remote.path, ", ".join(
            f"{format_host_port(h.address, h.port)} ({n} bytes)"
            for h, n in self.received.items()))

    # -- workers ----------------------------------------------------------------------------

    def _start(self, worker: _Worker) -> None:
        assert self._tasks is not None
        self._workers[worker.host] = worker
        self._list.join(worker.host)
        self.received.setdefault(worker.host, 0)
        self._tasks.create_task(self._work(worker))
        self._show_sources()

    async def _work(self, worker: _Worker) -> None:
        host = worker.host
        try:
            while not self._list.finished:
                if worker.turn is not None and self._helpers.line.waiting():
                    break  # another download waits: a helper gives its turn back
                chunk = self._list.take(host)
                if chunk is None:
                    # A helper with nothing to do gives its turn back; the job's own host
                    # holds the job's turn anyway, and waits (a chunk may come back).
                    if worker.turn is not None and (self._list.benched(host)
                                                    or not self._list.holding_any()):
                        break
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                began = time.monotonic()
                try:
                    await self._fetch(worker, chunk)
                except _LostRace:
                    self._list.failed(chunk, host)  # (another host finished it first)
                except (BadBlock, ChannelError) as exc:
                    self._list.failed(chunk, host)
                    worker.failure = exc
                    break
                else:
                    log.debug("%s: blocks %d-%d from %s in %.3f s", self._helpers.remote.path,
                              chunk.first, chunk.last, format_host_port(host.address, host.port),
                              time.monotonic() - began)
                    self._done_bytes += _chunk_bytes(self._partial, chunk)
                    for loser in self._list.done(chunk, host):
                        self._stop(loser, chunk)
                    self._helpers.policy.delivered(host, self._helpers.remote.content_id)
                finally:
                    worker.chunk, worker.scope, worker.verified = None, None, 0
                    self._show_done()
                    self._changed.set()
                if self._list.pending:
                    await self.recruit()
        finally:
            self._list.leave(host)
            del self._workers[host]
            if worker.turn is not None:
                worker.turn.release()
            if worker.failure is not None:
                self._last_failure = worker.failure
                if worker.turn is not None:
                    self._judge(worker)
            self._show_sources()
            self._changed.set()

    async def _fetch(self, worker: _Worker, chunk: Chunk[HostRef]) -> None:
        partial = self._partial
        offset = partial.block_range(chunk.first)[0]
        end = sum(partial.block_range(chunk.last))

        def written(length: int) -> None:
            worker.verified += length
            self._attempt.verified += length
            self._show_done()

        worker.meter, worker.chunk_received = RateMeter(), 0
        try:
            async with asyncio.timeout(None) as scope:
                worker.chunk, worker.scope = chunk, scope
                await self._stream(worker, chunk, offset, end - offset, written)
        except TimeoutError:
            if scope.expired():
                raise _LostRace from None
            raise

    async def _stream(self, worker: _Worker, chunk: Chunk[HostRef], offset: int, length: int,
                      written: Callable[[int], None]) -> None:
        partial, remote = self._partial, self._helpers.remote
        async with self._sources.channel_to(worker.host) as channel:
            writer = BlockWriter(partial, written)
            try:
                writer.start(chunk.first)
                async for data in stream_range(channel, remote.path, remote.content_id,
                                               offset, length, folder=remote.folder):
                    size = len(data.payload)
                    worker.received += size
                    worker.chunk_received += size
                    self.received[worker.host] += size
                    self._attempt.count(size)
                    self._record.received(size)
                    await writer.feed(data.payload)
                await writer.drain()
            finally:
                await writer.abandon()

    def _stop(self, host: HostRef, chunk: Chunk[HostRef]) -> None:
        """Another host finished ``chunk`` first: stop ``host``'s request for it."""
        worker = self._workers.get(host)
        if (worker is not None and worker.chunk is chunk and worker.scope is not None
                and not worker.scope.expired()):
            worker.scope.reschedule(asyncio.get_running_loop().time())

    async def _watch(self) -> None:
        """Measure each worker's rate: a host below the minimum is marked slow (and gets no new
        chunk while another is not), one back at it is no longer."""
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for worker in list(self._workers.values()):
                if worker.chunk is None or worker.meter is None:
                    continue
                slow = worker.meter.sample(now, worker.chunk_received)
                if slow is None:
                    continue
                if news := self._helpers.policy.measured(worker.host, slow):
                    log.info("%s", news)
                self._list.set_slow(worker.host, slow)
                if slow:
                    self._changed.set()  # (an idle fast worker may now race its chunk)
            if self._list.pending:
                await self.recruit()  # (a host heard of since, or a turn given back)

    def _judge(self, worker: _Worker) -> None:
        assert worker.failure is not None
        remote = self._helpers.remote
        verdict = self._helpers.policy.judge(worker.host, remote.path, remote.content_id,
                                             worker.failure, worker.received)
        log.log(verdict.level, "%s", verdict.message)

    # -- progress ---------------------------------------------------------------------------

    def _show_done(self) -> None:
        # Verified bytes: what was done before, chunks done since, and of each chunk under way
        # the most any of its holders verified (two holders write the same blocks).
        under_way: dict[int, int] = {}
        for worker in self._workers.values():
            if worker.chunk is not None:
                key = id(worker.chunk)
                under_way[key] = max(under_way.get(key, 0), worker.verified)
        # (the state stays as it is: a paused or cancelled job's workers end after its record
        # says so)
        self._record.set_state(self._record.state,
                               done=self._done_bytes + sum(under_way.values()))
        self._publish()

    def _show_sources(self) -> None:
        hosts = list(self._workers)
        if not hosts:
            return  # (over: the record keeps the last hosts it was received from)
        self._record.set_state(self._record.state,
                               source=format_host_port(hosts[0].address, hosts[0].port),
                               sources=len(hosts))
        self._publish()


def _chunk_bytes(partial: PartialFile, chunk: Chunk[HostRef]) -> int:
    offset = partial.block_range(chunk.first)[0]
    return sum(partial.block_range(chunk.last)) - offset

