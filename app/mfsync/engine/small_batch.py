"""Small files fetched many at a time: one ``GetFilesRequest`` per host and turn.

A file of one block (at most ``MAX_BATCH_FILE_SIZE`` bytes, not empty) is proven by its content
id alone, so it needs no block list and no round trip of its own. Its job hands it to
``SmallFiles.receive``, which queues it for its host (and folder) and waits. Per host, one task
(``_drain``) takes a turn on the network like any download (``Turns``), takes whatever has
queued meanwhile up to the caps (``MAX_BATCH_FILES`` files, ``MAX_BATCH_BYTES`` bytes, one
request message), asks for all of it in one request (``net.client.fetch_files``) and hands
each file's bytes, or its error, to the job waiting for it; then it gives the turn back and
goes on with what queued up while that batch was under way. So batches grow with the load,
and a lone file goes at once. A peer whose hello does not name ``FILES_CAPABILITY`` gets a
``GetRequest`` per file instead, on the same channel and turn (PROTOCOL.md 10).

Each job proves its own bytes (``PartialFile.block_matches``, the one place a block meets its
hash) and lands them through the ``Lander`` (batched too), so what a file's failure means is
decided exactly as for a file fetched alone: a refusal (NOT_FOUND, CHANGED) is that job's
``PeerRefused``, a wrong byte its ``BadBlock``, and a lost connection the ``ChannelError`` of
every job whose file had not come yet; the downloader's ``SourcePolicy`` judges the host for
each. A job that is paused or cancelled while it waits leaves its future cancelled: its bytes,
if they come, are dropped, never landed. Statuses are published once per batch, not per file.

A batch is one attempt on its host and is watched like one (``engine.attempts``): its rate is
sampled every ``RATE_SAMPLE`` seconds, a host below ``MIN_RATE`` is marked slow in the
downloader's ``SourcePolicy``, and the batch loses its turn when one of its files has a better
source or other work waits (``SourcePolicy.preemption``): every file not yet answered gets
``SlowSource``, and its job goes on as a job preempted alone does (from another host, or back
in line).
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from mfsync.engine.attempts import Attempt, SlowSource
from mfsync.engine.download_jobs import DownloadJob
from mfsync.engine.file_sources import FileSources
from mfsync.engine.job_board import JobBoard
from mfsync.engine.sources import SourcePolicy
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.turn_line import TurnLine
from mfsync.net.addresses import format_host_port
from mfsync.net.channel import PeerRefused, SecureChannel
from mfsync.net.client import fetch_files, stream_range
from mfsync.protocol.batch_messages import wanted_size
from mfsync.protocol.content import block_size_for
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import (
    FILES_CAPABILITY,
    MAX_BATCH_BYTES,
    MAX_BATCH_FILE_SIZE,
    MAX_BATCH_FILES,
    MAX_MESSAGE_SIZE,
    ErrorMessage,
    WantedFile,
)
from mfsync.store.partial import BadBlock, PartialFile

__all__ = ["RATE_SAMPLE", "SmallFiles"]

log = logging.getLogger("mfsync.transfer")

#: How often a batch's rate is sampled (as the downloader samples its jobs': ``transfers.TICK``).
RATE_SAMPLE = 0.5
#: Room left in a request message for its tag, folder id and count.
_REQUEST_HEAD = 64
#: The key of a batch: the host asked (as the jobs chose it: a restarted host is another) and
#: the folder asked about (one request, one folder).
_BatchKey = tuple[HostRef, FolderId]
#: A file waiting for a batch: what the request names, its job's future, and its offer.
_Waiting = tuple[WantedFile, "asyncio.Future[bytes]", RemoteFile]


@dataclass
class _Queue:
    """The files waiting for one host and folder, and the task that asks for them."""

    host: HostRef
    waiting: list[_Waiting] = field(default_factory=list)
    task: "asyncio.Task[None] | None" = None


class SmallFiles:
    """Fetches the content of small files in batches per host (see the module's docstring),
    over ``sources``' channels, taking turns in ``line`` like any download, judged slow or not
    by ``policy``; job records on ``board``."""

    def __init__(self, sources: FileSources, line: TurnLine, board: JobBoard,
                 policy: SourcePolicy) -> None:
        self._sources = sources
        self._line = line
        self._policy = policy
        self._board = board
        self._queues: dict[_BatchKey, _Queue] = {}
        #: Batch requests sent and files asked for in them (for tests and benchmarks).
        self.requests = 0
        self.files = 0

    @staticmethod
    def takes(remote: RemoteFile) -> bool:
        """Whether ``remote`` is fetched here: not empty, and at most one block."""
        return 0 < remote.size <= MAX_BATCH_FILE_SIZE

    async def stop(self) -> None:
        """Stop asking: the jobs still waiting see their futures cancelled."""
        tasks = [queue.task for queue in self._queues.values() if queue.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def receive(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                      attempt: Attempt, target: Path) -> tuple[PartialFile, bytes]:
        """The content of ``remote`` from ``host``, proven: its partial (not opened) and its
        bytes, for the ``Lander``. ``PeerRefused``, ``BadBlock``, ``ChannelError`` or
        ``SlowSource`` as a file fetched alone would raise them."""
        record = self._board.records[job.key]
        record.set_state(TransferState.VERIFYING, size=remote.size,
                         source=format_host_port(host.address, host.port))
        partial = PartialFile.unlisted(target, remote.size, block_size_for(remote.size),
                                       remote.content_id, job.root)
        attempt.started = time.monotonic()
        content = await self._ask(host, remote)
        record.begin()
        record.received(len(content))
        if not partial.block_matches(0, content):
            raise BadBlock("block 0")
        record.set_state(TransferState.DOWNLOADING, done=remote.size)
        attempt.verified = remote.size
        return partial, content

    def _ask(self, host: HostRef, remote: RemoteFile) -> "asyncio.Future[bytes]":
        """Queue ``remote`` for its host's next batch; the future of its bytes."""
        key = (host, remote.folder)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(host)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        queue.waiting.append((WantedFile(remote.path, remote.content_id, remote.size), future,
                              remote))
        if queue.task is None:
            queue.task = asyncio.get_running_loop().create_task(self._drain(key, queue))
        return future

    async def _drain(self, key: _BatchKey, queue: _Queue) -> None:
        """Ask for what waits for ``key``, a batch per turn, until nothing waits."""
        try:
            while queue.waiting:
                turn = self._line.turns.place()
                try:
                    await turn.wait(queue.host)
                    batch = _take(queue.waiting)
                    if batch:
                        await self._fetch(queue.host, key[1], batch)
                finally:
                    turn.release()
        finally:
            del self._queues[key]
            for _, future, _ in queue.waiting:  # (only when stopped: the loop empties it)
                future.cancel()

    async def _fetch(self, host: HostRef, folder: FolderId, batch: list[_Waiting]) -> None:
        """One request for ``batch``, watched for its rate; each file's outcome to its
        future."""
        self.requests += 1
        self.files += len(batch)
        attempt = Attempt(host, b"")  # (the batch's: several contents)
        watch: asyncio.Task[None] | None = None
        try:
            async with asyncio.timeout(None) as scope:
                attempt.begin(scope)
                watch = asyncio.get_running_loop().create_task(self._watch(attempt, batch))
                async with self._sources.channel_to(host) as channel:
                    attempt.watch(channel)
                    await self._receive_batch(channel, folder, batch)
        except TimeoutError as exc:  # (the scope's, when the batch was preempted)
            _fail(batch, SlowSource(attempt.preempted) if attempt.preempted else exc)
        except Exception as exc:  # (a ChannelError, say: what each job would have seen alone)
            _fail(batch, exc)
        except BaseException:
            for _, future, _ in batch:
                future.cancel()
            raise
        finally:
            if watch is not None:
                watch.cancel()
            attempt.end()
            self._board.publish(state=True)  # once per batch

    async def _receive_batch(self, channel: SecureChannel, folder: FolderId,
                             batch: list[_Waiting]) -> None:
        """Ask for ``batch`` on ``channel`` (one request, or a ``GetRequest`` per file from a
        peer without the capability); each file's bytes or refusal to its future."""
        wanted = [file for file, _, _ in batch]
        if FILES_CAPABILITY in channel.capabilities:
            answers = fetch_files(channel, wanted, folder=folder)
        else:
            answers = _one_by_one(channel, wanted, folder)
        async for index, answer in answers:
            future = batch[index][1]
            if future.done():
                continue  # its job was paused or cancelled: the bytes are dropped
            if isinstance(answer, ErrorMessage):
                future.set_exception(PeerRefused(answer))
            else:
                future.set_result(bytes(answer))

    async def _watch(self, attempt: Attempt, batch: list[_Waiting]) -> None:
        """Sample the batch's rate as the downloader samples a job's (``TurnLine.watch_rates``)
        and mark its host slow or not; stop the batch (``Attempt.preempt``) when the host is
        slow and a file of it has a better source or other work waits."""
        host = attempt.host
        while attempt.meter is not None:
            await asyncio.sleep(RATE_SAMPLE)
            slow = attempt.meter.sample(time.monotonic(), attempt.received())
            if slow is None:
                continue
            if news := self._policy.measured(host, slow):
                log.info("%s", news)
            if not slow:
                continue
            for _, future, remote in batch:
                if not future.done() and (why := self._policy.preemption(
                        remote, host, lambda: self._line.others_waiting(host))):
                    attempt.preempt(why)
                    return


def _fail(batch: list[_Waiting], error: BaseException) -> None:
    """``error`` for every file of ``batch`` not answered yet."""
    for _, future, _ in batch:
        if not future.done():
            future.set_exception(error)


async def _one_by_one(channel: SecureChannel, files: list[WantedFile], folder: FolderId
                      ) -> AsyncIterator[tuple[int, bytes | ErrorMessage]]:
    """What ``fetch_files`` yields, from a peer without the capability: a ``GetRequest`` per
    file, one after the other on the channel (a refusal ends only its own reply)."""
    for index, (path, content_id, size) in enumerate(files):
        pieces: list[bytes] = []
        try:
            async for data in stream_range(channel, path, content_id, 0, size, folder=folder):
                pieces.append(bytes(data.payload))
        except PeerRefused as exc:
            yield index, ErrorMessage(exc.code, exc.text)
            continue
        yield index, b"".join(pieces)


def _take(waiting: list[_Waiting]) -> list[_Waiting]:
    """Take from the front of ``waiting`` the files of one request, within the caps; the
    files of jobs no longer waiting are dropped."""
    batch: list[_Waiting] = []
    data = 0
    wire = _REQUEST_HEAD
    taken = 0
    for item in waiting:
        wanted, future = item[0], item[1]
        if future.done():
            taken += 1
            continue
        size = wanted_size(wanted)
        if batch and (len(batch) >= MAX_BATCH_FILES or data + wanted.size > MAX_BATCH_BYTES
                      or wire + size > MAX_MESSAGE_SIZE):
            break
        batch.append(item)
        data += wanted.size
        wire += size
        taken += 1
    del waiting[:taken]
    return batch
