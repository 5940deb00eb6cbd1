"""One attempt's traffic: receiving a content from one host into its partial file, and landing it.

The downloader calls a ``Receiver`` once a job has its turn on the network. A file of one block
goes with the other such files waiting for its host (``engine.small_batch``, which also asks a
peer without the ``files`` capability file by file); only an empty file is asked for here whole,
in one request without a block list (``whole``). Either way its one block (or none) is proven
against the content id by ``PartialFile.block_matches`` like any other block, and the file lands
in the same batch trip that writes it. A larger file's block list comes first (the exchange
checks it against the content id), then whatever a partial file from an earlier run does not
hold yet, range by range; a ``BlockWriter`` cuts each range into blocks and verifies and writes
them in worker threads. Before each range, if other hosts offer the same content and a turn is
free for them, the rest of a large file goes to a ``SwarmFetch`` (``engine.swarm_fetch``), which
fetches it from them all at once; the first ranges of a large file are short (doubling from
``FIRST_RANGE``) so that a host heard of a moment later is taken on early. Landing goes through
the ``Lander``, at the destination the job's ``Plan`` chooses at that moment.
"""

import asyncio
import logging
from pathlib import Path

from mfsync.engine.attempts import Attempt
from mfsync.engine.download_jobs import DownloadJob, JobRecord
from mfsync.engine.download_queue import DownloadQueue
from mfsync.engine.file_sources import FileSources
from mfsync.engine.landing import Lander, Landing, hold_verified_for_test
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.swarm_fetch import Helpers, SwarmFetch, growing_runs
from mfsync.engine.transfer_status import TransferState
from mfsync.net.client import request_blocks, stream_range
from mfsync.protocol.content import block_size_for
from mfsync.store.failures import LOCAL_ERRORS, LocalFailure, describe, local
from mfsync.store.partial import BadBlock, BlockWriter, PartialFile, missing_runs
from mfsync.store.placement import Plan

__all__ = ["Receiver"]

log = logging.getLogger("mfsync.transfer")


class Receiver:
    """Receives and lands the content of one job at a time per call (see the module's
    docstring); progress goes to the job's record in ``queue``."""

    def __init__(self, sources: FileSources, queue: DownloadQueue) -> None:
        self._sources = sources
        self._queue = queue
        self._lander = Lander()

    async def whole(self, job: DownloadJob, remote: RemoteFile, host: HostRef, attempt: Attempt,
                    target: Path) -> tuple[PartialFile, bytes]:
        """A file of one block (or none): its partial (not opened) and its verified bytes."""
        record = self._begin(job)
        partial = PartialFile.unlisted(target, remote.size, block_size_for(remote.size),
                                       remote.content_id, job.root)
        pieces: list[bytes | memoryview] = []
        if remote.size:
            async with self._sources.channel_to(host) as channel:
                attempt.watch(channel)
                async for data in stream_range(channel, remote.path, remote.content_id, 0,
                                               remote.size, folder=remote.folder):
                    pieces.append(data.payload)
                    record.received(len(data.payload))
        content = b"".join(pieces)
        if not partial.block_matches(0, content):
            raise BadBlock("block 0")
        record.set_state(TransferState.DOWNLOADING, done=remote.size)
        attempt.verified = remote.size
        return partial, content

    async def blocks(self, job: DownloadJob, remote: RemoteFile, host: HostRef,
                     attempt: Attempt, target: Path, *, helpers: Helpers | None = None,
                     ) -> PartialFile:
        """A file of several blocks: its block list first, then whatever a partial file from
        an earlier run does not hold yet, every block verified as it arrives. With
        ``helpers``, a large file is fetched from other hosts too when they may help now
        (``engine.swarm_fetch``)."""
        swarm: SwarmFetch | None = None
        async with self._sources.channel_to(host) as channel:
            attempt.watch(channel)
            info = await request_blocks(channel, remote.path, remote.content_id, remote.size,
                                        folder=remote.folder)
            partial = PartialFile(target, remote.size, info.block_size, info.hashes, job.root)
            try:
                have = await asyncio.to_thread(local, partial.resume)
                record = self._begin(job, sum(partial.block_range(i)[1]
                                              for i, ok in enumerate(have) if ok))

                def written(length: int) -> None:
                    record.verified(length)
                    attempt.verified += length
                    self._queue.board.publish()

                runs = missing_runs(have, partial.block_size)
                if helpers is not None and SwarmFetch.large(partial, runs):
                    runs = growing_runs(runs, partial.block_size)
                writer = BlockWriter(partial, written)
                try:
                    for index, (first, last) in enumerate(runs):
                        # Before each range: may other hosts help with the rest now (a host
                        # heard of since, a turn given back)? Then the swarm takes it over.
                        if helpers is not None and SwarmFetch.worth_it(partial, runs[index:],
                                                                       helpers):
                            swarm = SwarmFetch(self._sources, helpers, partial, runs[index:],
                                               record=record, attempt=attempt,
                                               publish=self._queue.board.publish)
                            break
                        offset = partial.block_range(first)[0]
                        end = sum(partial.block_range(last))
                        writer.start(first)
                        async for data in stream_range(channel, remote.path, remote.content_id,
                                                       offset, end - offset,
                                                       folder=remote.folder):
                            record.received(len(data.payload))
                            await writer.feed(data.payload)
                    await writer.drain()
                finally:
                    await writer.abandon()
            except BaseException:
                partial.close()
                raise
        # (the channel is back in the pool: another download may use it while this one lands,
        # or the swarm's worker for this host takes it again)
        if swarm is not None:
            attempt.unwatch()  # (the swarm counts what every host sends)
            try:
                await swarm.run(record.done)
            except BaseException:
                partial.close()
                raise
        return partial

    async def land(self, plan: Plan, partial: PartialFile, content: bytes | None) -> Path:
        """Land a verified download where ``plan`` says now (it may choose a conflict copy's
        name); the path written."""
        try:
            await hold_verified_for_test(plan.stored)  # (inert unless a test set it)
        except BaseException:
            partial.close()
            raise
        wanted = plan.wanted
        try:
            return await self._lander.run(Landing(wanted.root, partial, wanted.mtime_ns,
                                                  plan.destination, content))
        except LOCAL_ERRORS as exc:
            raise LocalFailure(describe(exc)) from None
        finally:
            partial.close()

    def _begin(self, job: DownloadJob, done: int | None = None) -> JobRecord:
        record = self._queue.board.records[job.key]
        record.begin(done)
        self._queue.board.publish(state=True)
        return record
