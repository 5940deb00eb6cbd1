"""One large file from several hosts at once, over real sockets (``engine.swarm_fetch``): the
bytes come from every host, a corrupt host is left out and the file still lands byte-exact, a
throttled host does not hold back the fast one, and a paused download resumes from a partial
holding blocks from both."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from loopback import make_tree

from mfsync.engine.node import Node
from mfsync.engine.serve import FileServer
from mfsync.engine.swarm_fetch import CHUNK_BYTES
from mfsync.engine.transfer_status import TransfersStatus, TransferState
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.net.channel import SecureChannel
from mfsync.protocol.messages import Data, GetRequest, Message
from mfsync.store.partial import PartialFile
from mfsync.store.safe_paths import PARTIAL_SUFFIX
from waiting import wait_for

MIB = 1024 * 1024
JOIN_TIMEOUT = 60.0
SIZE = 4 * CHUNK_BYTES  # (32 MiB: several chunks for each of two hosts)

#: What a serving node does to each Data message it sends (returns the message to send).
Tamper = Callable[[Data], Awaitable[Data]]


class _Tap:
    """A channel that passes every message to ``tamper`` first and counts the Data bytes."""

    def __init__(self, channel: SecureChannel, server: _Served) -> None:
        self._channel = channel
        self._server = server

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    async def send(self, message: Message) -> None:
        if isinstance(message, Data):
            if self._server.tamper is not None:
                message = await self._server.tamper(message)
            self._server.sent += len(message.payload)
        await self._channel.send(message)


class _Served:
    """What one serving node sent, and what it does to its Data."""

    def __init__(self) -> None:
        self.sent = 0
        self.requests = 0
        self.tamper: Tamper | None = None


@pytest.fixture
def served(monkeypatch) -> Callable[[Node], _Served]:
    """``served(node)``: count (and maybe tamper with) what ``node`` sends for GetRequests."""
    by_server: dict[int, _Served] = {}
    original = FileServer.send_range

    async def send_range(self: FileServer, channel: SecureChannel, request: GetRequest) -> None:
        record = by_server.get(id(self))
        if record is None:
            await original(self, channel, request)
            return
        record.requests += 1
        await original(self, _Tap(channel, record), request)  # type: ignore[arg-type]

    monkeypatch.setattr(FileServer, "send_range", send_range)

    def watch(node: Node) -> _Served:
        return by_server.setdefault(id(node._files), _Served())

    return watch


async def _sharers(make_node, tmp_path: Path, content: bytes, count: int) -> list[Node]:
    nodes = []
    for n in range(count):
        folder = await asyncio.to_thread(make_tree, tmp_path / f"share{n}", {"big.bin": content})
        nodes.append(await make_node(share_dir=folder))
    return nodes


async def _fetcher(make_node, hosts: int) -> Node:
    fetcher = await make_node(wants=True)
    await wait_for(lambda: any(len(f.hosts) >= hosts for f in fetcher.files_for("big.bin")), 15)
    return fetcher


def _most_sources(downloader: Downloader) -> list[int]:
    seen = [1]

    def look(status: TransfersStatus) -> None:
        seen[0] = max([seen[0], *(t.sources for t in status.transfers)])

    downloader.subscribe(look)
    return seen


async def _get(downloader: Downloader, dest: Path) -> None:
    assert downloader.add(DownloadJob("big.bin", dest))
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)


async def _content() -> bytes:
    return await asyncio.to_thread(os.urandom, SIZE)


async def test_a_large_file_comes_from_both_hosts(make_node, served, tmp_path: Path) -> None:
    content = await _content()
    one, two = await _sharers(make_node, tmp_path, content, 2)
    counts = [served(one), served(two)]
    fetcher = await _fetcher(make_node, 2)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(fetcher)
    most = _most_sources(downloader)
    try:
        await _get(downloader, dest)
        [result] = downloader.results
        assert result.state is TransferState.DONE
        assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
        # Both hosts sent a share of it, and together no more than the file (no endgame race
        # on loopback is allowed to cost more than one chunk).
        assert all(c.sent >= MIB for c in counts), [c.sent for c in counts]
        assert SIZE <= sum(c.sent for c in counts) <= SIZE + CHUNK_BYTES
        assert most[0] == 2
        assert not list(dest.glob(f"*{PARTIAL_SUFFIX}"))
    finally:
        await downloader.stop()


async def test_a_corrupt_host_is_left_out_and_the_file_lands_exact(
        make_node, served, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="mfsync.transfer")
    content = await _content()
    honest, hostile = await _sharers(make_node, tmp_path, content, 2)
    served(honest)
    spoiled = served(hostile)

    async def spoil(data: Data) -> Data:
        payload = bytearray(data.payload)
        payload[len(payload) // 2] ^= 0xFF
        return Data(data.offset, bytes(payload))

    spoiled.tamper = spoil
    fetcher = await _fetcher(make_node, 2)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(fetcher)
    try:
        await _get(downloader, dest)
        [result] = downloader.results
        assert result.state is TransferState.DONE
        assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
        # The hostile host was asked, sent corrupt data, and was counted against once: its
        # worker ended there and its chunk went to the honest host.
        assert spoiled.requests >= 1
        corrupt = [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()]
        assert len(corrupt) == 1, corrupt
        assert f":{hostile.server.port}" in corrupt[0]
    finally:
        await downloader.stop()


async def test_a_throttled_host_does_not_hold_back_the_fast_one(make_node, served,
                                                               tmp_path: Path) -> None:
    content = await _content()
    fast, slow = await _sharers(make_node, tmp_path, content, 2)
    fast_count, slow_count = served(fast), served(slow)
    per_message = 2.0  # s per Data message of 1 MiB: 0.5 MiB/s, a chunk of 8 MiB in 16 s

    async def trickle(data: Data) -> Data:
        await asyncio.sleep(per_message * len(data.payload) / MIB)
        return data

    slow_count.tamper = trickle
    fetcher = await _fetcher(make_node, 2)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(fetcher)
    try:
        started = time.monotonic()
        await _get(downloader, dest)
        took = time.monotonic() - started
        [result] = downloader.results
        assert result.state is TransferState.DONE
        assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
        # The fast host carried the file, and the chunk the slow one held at the end was
        # asked again of the fast one (the endgame): the file did not wait the seconds the
        # slow host needs for even its first chunk.
        smallest_first_chunk = SIZE // 4  # (what is left shared by twice the hosts)
        assert took < 0.5 * per_message * smallest_first_chunk / MIB, took
        assert fast_count.sent > SIZE - smallest_first_chunk
        assert slow_count.sent < smallest_first_chunk
    finally:
        await downloader.stop()


async def test_resume_from_a_partial_with_blocks_from_both(make_node, served, throttle,
                                                          tmp_path: Path) -> None:
    throttle.delay = 0.01  # (each block takes a while to write: time to pause mid-way)
    content = await _content()
    one, two = await _sharers(make_node, tmp_path, content, 2)
    counts = [served(one), served(two)]
    fetcher = await _fetcher(make_node, 2)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(fetcher)
    try:
        assert downloader.add(DownloadJob("big.bin", dest))

        def half_done() -> bool:
            transfers = downloader.status.transfers
            return bool(transfers) and transfers[0].done >= SIZE // 3

        await wait_for(half_done, 30)
        assert downloader.pause()
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        first = [c.sent for c in counts]
        assert all(sent > 0 for sent in first), first  # the partial holds blocks of both
        assert list(dest.glob(f"*{PARTIAL_SUFFIX}"))
        throttle.delay = 0.0
        assert downloader.resume()
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        [result] = downloader.results
        assert result.state is TransferState.DONE
        assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
        # The second run asked only for what the partial did not hold.
        again = sum(c.sent for c in counts) - sum(first)
        assert again <= SIZE - SIZE // 3 + 2 * CHUNK_BYTES, (again, first)
    finally:
        await downloader.stop()


async def test_a_host_heard_of_later_joins_a_download_under_way(make_node, served, throttle,
                                                               monkeypatch,
                                                               tmp_path: Path) -> None:
    # (ranges of 4 MiB: the download looks for helpers between ranges, so it gets several
    # chances in a file of a few chunks)
    monkeypatch.setattr("mfsync.store.partial.MAX_RANGE", 4 * MIB)
    throttle.delay = 0.03  # (slow until the late host is heard of)
    content = await _content()
    [first] = await _sharers(make_node, tmp_path, content, 1)
    early = served(first)
    fetcher = await _fetcher(make_node, 1)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(fetcher)
    most = _most_sources(downloader)
    try:
        assert downloader.add(DownloadJob("big.bin", dest))
        await wait_for(lambda: early.sent > 0, 15)
        folder = await asyncio.to_thread(make_tree, tmp_path / "late", {"big.bin": content})
        late = served(await make_node(share_dir=folder))
        await wait_for(lambda: any(len(f.hosts) == 2 for f in fetcher.files_for("big.bin")), 15)
        assert downloader.status.transfers[0].done < SIZE // 2
        throttle.delay = 0.002
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        [result] = downloader.results
        assert result.state is TransferState.DONE
        assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
        assert late.sent >= MIB and most[0] == 2
    finally:
        await downloader.stop()


async def test_a_helper_gives_its_turn_back_to_a_waiting_download(make_node, served, throttle,
                                                                 tmp_path: Path) -> None:
    throttle.delay = 0.01
    content = await _content()
    one, two = await _sharers(make_node, tmp_path, content, 2)
    for node in (one, two):
        served(node)
    small = await make_node(share_dir=await asyncio.to_thread(
        make_tree, tmp_path / "small", {"small.txt": b"a small file\n"}))
    fetcher = await _fetcher(make_node, 2)
    await wait_for(lambda: bool(fetcher.files_for("small.txt")), 15)
    assert small.server is not None
    dest = tmp_path / "dest"
    dest.mkdir()
    # Two turns: the large file takes both (one per host) while nobody else waits.
    downloader = Downloader(fetcher, concurrency=2)
    try:
        assert downloader.add(DownloadJob("big.bin", dest))
        await wait_for(lambda: any(t.sources == 2 for t in downloader.status.transfers), 15)
        assert downloader.add(DownloadJob("small.txt", dest))
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        order = [r.job.path for r in downloader.results]
        assert order == ["small.txt", "big.bin"], order  # it did not wait for the large file
        assert all(r.state is TransferState.DONE for r in downloader.results)
        assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
    finally:
        await downloader.stop()


async def test_a_disk_failure_fails_the_job_once_with_its_reason(make_node, served, monkeypatch,
                                                                tmp_path: Path) -> None:
    content = await _content()
    for node in await _sharers(make_node, tmp_path, content, 2):
        served(node)
    fetcher = await _fetcher(make_node, 2)
    dest = tmp_path / "dest"
    dest.mkdir()
    original = PartialFile.write_block
    written = [0]

    def write_block(self: PartialFile, index: int, data: Any) -> None:
        written[0] += 1
        if written[0] == 70:  # (one write, after the first ranges: while several hosts send)
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, index, data)

    monkeypatch.setattr(PartialFile, "write_block", write_block)
    downloader = Downloader(fetcher)
    most = _most_sources(downloader)
    try:
        await _get(downloader, dest)
        [result] = downloader.results
        assert result.state is TransferState.FAILED
        assert "No space left" in result.error or "space" in result.error.lower(), result.error
        assert most[0] == 2
    finally:
        await downloader.stop()
