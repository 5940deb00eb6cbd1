"""Downloads over real sockets: verified, resumable, from honest, hostile and vanishing hosts.

Sharing nodes come from ``make_node(share_dir=...)``; the fetching node is a ``make_node(wants=
True)`` with an ``engine.transfers.Downloader`` on it. Hostile sharers are written here on top
of ``net.server.Server`` and the protocol messages, so they can say whatever they like.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import blake3
import pytest
from loopback import make_tree, read_tree

from mfsync.crypto.keys import Identity
from mfsync.engine.node import Node
from mfsync.engine.sources import MAX_STRIKES
from mfsync.engine.transfer_status import TransferSnapshot, TransferState
from mfsync.engine.transfers import (
    SOURCE_COOLDOWN,
    Downloader,
    DownloadJob,
    DownloadResult,
)
from mfsync.net.channel import SecureChannel, open_channel
from mfsync.net.client import request_index, stream_range
from mfsync.net.server import Server
from mfsync.protocol.content import block_size_for, content_id_of
from mfsync.protocol.folder_id import DEFAULT_FOLDER
from mfsync.protocol.messages import (
    MAX_DATA,
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    FolderFlags,
    FolderInfo,
    FolderList,
    FoldersRequest,
    GetRequest,
    Hello,
    IndexEntry,
    IndexRequest,
    Message,
    chunk_index,
)
from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store import space
from mfsync.store.conflicts import conflict_name
from mfsync.store.partial import PartialFile
from mfsync.store.safe_paths import PARTIAL_SUFFIX, partial_path_for
from waiting import wait_for

BLOCK = 128 * 1024
MIB = 1024 * 1024
JOIN_TIMEOUT = 30.0


# -- helpers ------------------------------------------------------------------------------------


def _trust_all(_key: bytes) -> bool:
    return True


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"*{PARTIAL_SUFFIX}")]


async def _fetcher(make_node, **overrides) -> Node:
    return await make_node(wants=True, **overrides)


async def _offered(node: Node, *paths: str, hosts: int = 1, timeout: float = 15.0) -> None:
    """Wait until ``node`` sees every path offered by at least ``hosts`` hosts."""
    await wait_for(lambda: all(
        any(len(f.hosts) >= hosts for f in node.files_for(p)) for p in paths), timeout)


def _transfer(downloader: Downloader, path: str) -> TransferSnapshot:
    return next(t for t in downloader.status.transfers if t.path == path)


async def _run(downloader: Downloader, *jobs: DownloadJob) -> dict[str, DownloadResult]:
    for job in jobs:
        assert downloader.add(job)
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    return {r.job.path: r for r in downloader.results}


@pytest.fixture
async def downloaders():
    """Downloaders made by a test are stopped at teardown (before the nodes)."""
    made: list[Downloader] = []

    def make(node: Node, **kwargs) -> Downloader:
        downloader = Downloader(node, **kwargs)
        made.append(downloader)
        return downloader

    yield make
    for downloader in made:
        await downloader.stop()


@pytest.fixture
def slow_blocks(monkeypatch):
    """Make every received block take a few milliseconds to write (in the worker thread), so a
    large download lasts long enough on loopback to be interrupted in the middle."""
    original = PartialFile.accept_block
    lock = threading.Lock()  # one block at a time, however many are in flight

    def slow(self, index, data):
        with lock:
            time.sleep(0.005)
        return original(self, index, data)

    monkeypatch.setattr(PartialFile, "accept_block", slow)


def _hashes(data: bytes) -> tuple[int, tuple[bytes, ...], bytes]:
    size = len(data)
    block = block_size_for(size)
    hashes = tuple(blake3.blake3(data[i : i + block]).digest() for i in range(0, size, block))
    return block, hashes, content_id_of(size, block, hashes)


class FakeSharer:
    """A sharer written on the raw server: it serves an index and file contents as told, and
    ``corrupt(path, offset, payload)`` may change any Data payload before it goes out."""

    def __init__(self, files: dict[str, bytes], extra_entries: tuple[IndexEntry, ...] = (),
                 corrupt: Callable[[str, int, bytes], bytes] | None = None) -> None:
        self.identity = Identity.generate()
        self.files = files
        self.mtime_ns = time.time_ns() - 10_000_000_000
        self.extra_entries = extra_entries
        self.corrupt = corrupt
        self.requests: list[Message] = []
        self.server = Server(self.identity, hello=Hello(name="fake"), authorize=_trust_all,
                             handler=self._handle, port=0, host="127.0.0.1",
                             handshake_timeout=3.0)

    @property
    def port(self) -> int:
        return self.server.port

    def entry(self, path: str) -> IndexEntry:
        data = self.files[path]
        return IndexEntry(path, len(data), self.mtime_ns, _hashes(data)[2],
                          EMPTY_VERSION.bump(self.identity.public_key))

    def gets(self, path: str) -> int:
        """Data requests for ``path`` (one attempt may make several, one per missing run)."""
        return sum(1 for m in self.requests if isinstance(m, GetRequest) and m.path == path)

    def attempts(self, path: str) -> int:
        """Downloads of ``path`` begun here (each starts by asking for the block hashes)."""
        return sum(1 for m in self.requests if isinstance(m, BlocksRequest) and m.path == path)

    async def _handle(self, channel: SecureChannel, message: Message) -> None:
        self.requests.append(message)
        if isinstance(message, FoldersRequest):
            await channel.send(FolderList((FolderInfo(
                DEFAULT_FOLDER, "default", FolderFlags.ANNOUNCED, 1, len(self.files), 0),)))
        elif isinstance(message, IndexRequest):
            entries = [self.entry(p) for p in sorted(self.files)] + list(self.extra_entries)
            for chunk in chunk_index(entries, 1):
                await channel.send(chunk)
        elif isinstance(message, BlocksRequest):
            data = self.files[message.path]
            block, hashes, cid = _hashes(data)
            await channel.send(BlockList(cid, len(data), block, 0, hashes, True))
        elif isinstance(message, GetRequest):
            data = self.files[message.path]
            end = message.offset + message.length
            for offset in range(message.offset, end, MAX_DATA):
                payload = data[offset : min(end, offset + MAX_DATA)]
                if self.corrupt is not None:
                    payload = self.corrupt(message.path, offset, payload)
                await channel.send(Data(offset, payload))
            await channel.send(End(end))
        else:
            await channel.send(ErrorMessage(ErrorCode.BAD_REQUEST, "no"))


@pytest.fixture
async def fake_sharer():
    """Start FakeSharers; each is stopped at teardown."""
    started: list[FakeSharer] = []

    async def make(*args, **kwargs) -> FakeSharer:
        sharer = FakeSharer(*args, **kwargs)
        await sharer.server.start()
        started.append(sharer)
        return sharer

    yield make
    for sharer in started:
        await sharer.server.stop()


# -- plain downloads ------------------------------------------------------------------------------


async def test_download_several_files(make_node, downloaders, tmp_path: Path) -> None:
    files = {
        "empty": b"",
        "one-block.bin": os.urandom(BLOCK),
        "big.bin": os.urandom(3 * MIB + 12345),
        "nested/deep/er/x.txt": b"hello from the depths\n",
        "nested/y.txt": b"y" * 1000,
    }
    await make_node(share_dir=make_tree(tmp_path / "share", files))
    fetcher = await _fetcher(make_node)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    assert {p: r.state for p, r in results.items()} == dict.fromkeys(files, TransferState.DONE)
    assert read_tree(dest) == files  # content equal, and no partial (or any other) file left over
    status = downloader.status
    assert status.finished == len(files)
    assert status.total_done == status.total_size == sum(len(d) for d in files.values())
    assert status.total_fetched == status.total_size
    # The engine's meter (the one every front end reads) saw the bytes arrive.
    assert status.speed is not None and status.speed > 0
    sharer_mtime = {p: f.mtime_ns for p in files for f in fetcher.files_for(p)}
    for path in files:
        assert (dest / path).stat().st_mtime_ns == sharer_mtime[path]


async def test_resume_and_repair_partials(make_node, downloaders, tmp_path: Path) -> None:
    files = {
        "half.bin": os.urandom(4 * MIB),
        "one-bad-block.bin": os.urandom(2 * MIB + 777),
        "too-long.bin": os.urandom(MIB + 5),
        "deep/half2.bin": os.urandom(MIB),
    }
    await make_node(share_dir=make_tree(tmp_path / "share", files))
    fetcher = await _fetcher(make_node)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    (dest / "deep").mkdir(parents=True)

    def partial(path: str, data: bytes) -> None:
        partial_path_for(dest / path).write_bytes(data)

    half = len(files["half.bin"]) // 2
    partial("half.bin", files["half.bin"][:half])
    bad = bytearray(files["one-bad-block.bin"])
    bad[5 * BLOCK + 100] ^= 0xFF
    partial("one-bad-block.bin", bytes(bad))
    partial("too-long.bin", files["too-long.bin"] + os.urandom(3 * BLOCK))
    # Not on a block boundary: the block that is cut off is fetched again, whole.
    partial("deep/half2.bin", files["deep/half2.bin"][: MIB // 2 + 1000])

    downloader = downloaders(fetcher)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    assert all(r.state is TransferState.DONE for r in results.values()), results
    assert read_tree(dest) == files
    fetched = {p: _transfer(downloader, p).fetched for p in files}
    assert abs(fetched["half.bin"] - half) <= BLOCK
    assert fetched["one-bad-block.bin"] == BLOCK
    assert fetched["too-long.bin"] == 0
    assert MIB // 2 - BLOCK <= fetched["deep/half2.bin"] <= MIB // 2 + BLOCK
    for path, data in files.items():
        assert _transfer(downloader, path).done == len(data)


# -- hostile and vanishing sources --------------------------------------------------------------


def _spoil(index: int, byte: int = 10) -> Callable[[str, int, bytes], bytes]:
    """A ``FakeSharer.corrupt`` that flips one byte of block ``index`` whenever it is sent."""
    where = index * BLOCK + byte

    def corrupt(_path: str, offset: int, payload: bytes) -> bytes:
        if offset <= where < offset + len(payload):
            spoiled = bytearray(payload)
            spoiled[where - offset] ^= 0x01
            return bytes(spoiled)
        return payload

    return corrupt


def _corrupt_logged(caplog, port: int, verdict: str) -> int:
    return sum(1 for r in caplog.records if r.name == "mfsync.transfer"
               and "corrupt" in r.getMessage() and f":{port}" in r.getMessage()
               and verdict in r.getMessage())


async def test_corrupt_source_is_dropped_for_the_file(make_node, downloaders, fake_sharer,
                                                      tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="mfsync.transfer")
    content = os.urandom(2 * MIB + 4321)
    hostile = await fake_sharer({"f.bin": content}, corrupt=_spoil(3))
    fetcher = await _fetcher(make_node, static_peers=(("127.0.0.1", hostile.port),))
    await _offered(fetcher, "f.bin")
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    assert downloader.add(DownloadJob("f.bin", dest))
    # The only source sends a corrupt block every time: after MAX_STRIKES tries it is not asked
    # for this file again, and with no other host offering it the job gives up, naming it.
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    [failed] = downloader.results
    assert failed.state is TransferState.FAILED
    assert f"127.0.0.1:{hostile.port}" in failed.error and "corrupt" in failed.error
    assert _corrupt_logged(caplog, hostile.port, "not using it again") == 1
    assert hostile.attempts("f.bin") == MAX_STRIKES
    # An honest host with the same content appears: asked again, the download completes from
    # it, and the dropped host is still not asked (the downloader remembers it).
    await make_node(share_dir=make_tree(tmp_path / "honest", {"f.bin": content}))
    await _offered(fetcher, "f.bin", hosts=2)
    assert downloader.add(DownloadJob("f.bin", dest))
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    result = downloader.results[-1]
    assert result.state is TransferState.DONE
    assert (dest / "f.bin").read_bytes() == content
    assert not _partials(dest)
    assert hostile.attempts("f.bin") == MAX_STRIKES  # never asked again for this file...
    # ... although it still offers it.
    assert any(h.port == hostile.port for f in fetcher.files_for("f.bin") for h in f.hosts)


async def test_one_corrupt_block_gets_a_second_chance(make_node, downloaders, fake_sharer,
                                                     tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="mfsync.transfer")
    content = os.urandom(MIB + 99)
    sharer = await fake_sharer({"f.bin": content})
    spoil = _spoil(2)
    # A one-off (a flaky disk or network card, say): only the first transfer is spoiled.
    sharer.corrupt = lambda *a: spoil(*a) if sharer.gets("f.bin") == 1 else a[2]
    fetcher = await _fetcher(make_node, static_peers=(("127.0.0.1", sharer.port),),
                             discovery=False)
    await _offered(fetcher, "f.bin")
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    [result] = (await _run(downloader, DownloadJob("f.bin", dest))).values()
    assert result.state is TransferState.DONE
    assert (dest / "f.bin").read_bytes() == content
    assert sharer.attempts("f.bin") == 2
    assert _corrupt_logged(caplog, sharer.port, "") == 1
    # The second request asked only for what the first did not deliver intact.
    assert _transfer(downloader, "f.bin").done == len(content)
    assert len(content) < _transfer(downloader, "f.bin").fetched < 2 * len(content)


async def test_source_vanishes_mid_transfer(make_node, downloaders, slow_blocks,
                                            tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="mfsync.transfer")
    # megabytes are made, written and read off the loop: the test's code is held to its rule
    content = await asyncio.to_thread(os.urandom, 64 * MIB)
    one_dir = await asyncio.to_thread(make_tree, tmp_path / "one", {"big.bin": content})
    two_dir = await asyncio.to_thread(make_tree, tmp_path / "two", {"big.bin": content})
    one = await make_node(share_dir=one_dir)
    two = await make_node(share_dir=two_dir)
    by_port = {one.server.port: one, two.server.port: two}
    fetcher = await _fetcher(make_node)
    await _offered(fetcher, "big.bin", hosts=2)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    assert downloader.add(DownloadJob("big.bin", dest))
    await wait_for(lambda: _transfer(downloader, "big.bin").done > 0)
    first = _transfer(downloader, "big.bin")
    assert first.state is TransferState.DOWNLOADING and first.done < len(content)
    serving = by_port[int(first.source.rsplit(":", 1)[1])]
    await serving.stop()
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    [result] = downloader.results
    assert result.state is TransferState.DONE
    assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
    assert not _partials(dest)
    other = two if serving is one else one
    assert _transfer(downloader, "big.bin").source.endswith(f":{other.server.port}")
    assert any("lost" in r.getMessage() for r in caplog.records if r.name == "mfsync.transfer")


async def test_only_source_comes_back(make_node, downloaders, slow_blocks, tmp_path: Path) -> None:
    content = await asyncio.to_thread(os.urandom, 32 * MIB)
    folder = await asyncio.to_thread(make_tree, tmp_path / "share", {"big.bin": content})
    sharer = await make_node(share_dir=folder)
    fetcher = await _fetcher(make_node)
    await _offered(fetcher, "big.bin")
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    assert downloader.add(DownloadJob("big.bin", dest))
    await wait_for(lambda: _transfer(downloader, "big.bin").done > 0)
    old_port = sharer.server.port
    await sharer.stop()
    await wait_for(lambda: _transfer(downloader, "big.bin").state is TransferState.WAITING)
    before = _transfer(downloader, "big.bin")
    assert 0 < before.done < len(content)
    assert partial_path_for(dest / "big.bin").exists()
    back = await make_node(share_dir=folder)  # the same folder again, on a new port
    assert back.server.port != old_port
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    [result] = downloader.results
    assert result.state is TransferState.DONE
    assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
    assert not _partials(dest)
    after = _transfer(downloader, "big.bin")
    assert after.source.endswith(f":{back.server.port}")
    # It resumed: what was verified before the break was not fetched again.
    assert after.fetched - before.fetched <= len(content) - before.done


# -- the server side ----------------------------------------------------------------------------


async def test_server_refuses_bad_requests_and_keeps_serving(make_node, tmp_path: Path) -> None:
    content = os.urandom(300_000)
    sharer = await make_node(share_dir=make_tree(tmp_path / "share", {"f.bin": content}),
                             discovery=False)
    cid = sharer.share.get("f.bin").hashes.content_id
    size = len(content)
    channel = await open_channel("127.0.0.1", sharer.server.port, Identity.generate(),
                                 hello=Hello(name="probe"), authorize=_trust_all, timeout=5)
    try:
        async def ask(message: Message) -> Message:
            await channel.send(message)
            return await channel.receive(timeout=5)

        async def refused(message: Message) -> ErrorCode:
            answer = await ask(message)
            assert isinstance(answer, ErrorMessage), answer
            return answer.code

        assert await refused(GetRequest("nope.bin", cid, 0, 1)) is ErrorCode.NOT_FOUND
        assert await refused(GetRequest("../share/f.bin", cid, 0, 1)) is ErrorCode.NOT_FOUND
        assert await refused(GetRequest("f.bin", bytes(32), 0, 1)) is ErrorCode.CHANGED
        assert await refused(GetRequest("f.bin", cid, size + 1, 0)) is ErrorCode.BAD_REQUEST
        assert await refused(GetRequest("f.bin", cid, 0, size + 1)) is ErrorCode.BAD_REQUEST
        assert await refused(GetRequest("f.bin", cid, size, 1)) is ErrorCode.BAD_REQUEST
        assert await refused(GetRequest("f.bin", cid, 2**63, 1)) is ErrorCode.BAD_REQUEST
        assert await refused(GetRequest("f.bin", cid, 2**64 - 1, 2**64 - 1)) is (
            ErrorCode.BAD_REQUEST)
        # offset + length overflows 64 bits: must not wrap around into a "valid" range
        assert await refused(GetRequest("f.bin", cid, 10, 2**64 - 5)) is ErrorCode.BAD_REQUEST
        assert await refused(BlocksRequest("nope.bin", cid)) is ErrorCode.NOT_FOUND
        assert await refused(BlocksRequest("f.bin", bytes(32))) is ErrorCode.CHANGED
        assert await refused(End(0)) is ErrorCode.BAD_REQUEST  # not a request at all
        # An empty range at the very end is fine.
        assert await ask(GetRequest("f.bin", cid, size, 0)) == End(size)
        # And after all that, the same channel still serves normally.
        generation, entries = await request_index(channel)
        assert generation == sharer.share.generation
        assert [(e.path, e.size, e.content_id) for e in entries] == [("f.bin", size, cid)]
        got = b"".join([bytes(d.payload) async for d in
                        stream_range(channel, "f.bin", cid, 1000, 200_000)])
        assert got == content[1000:201_000]
    finally:
        await channel.close()
    assert sharer.server.dropped == 0


async def test_file_changed_while_served(make_node, downloaders, tmp_path: Path,
                                         caplog) -> None:
    caplog.set_level(logging.INFO)
    folder = make_tree(tmp_path / "share", {"doc.txt": b"old content " * 50_000})
    sharer = await make_node(share_dir=folder, watch=False)
    fetcher = await _fetcher(make_node)
    await _offered(fetcher, "doc.txt")
    [old] = fetcher.files_for("doc.txt")
    # Changed on disk, not rescanned: the sharer's index still describes the old content.
    new = b"NEW content " * 60_000
    (folder / "doc.txt").write_bytes(new)
    past = time.time_ns() - 5_000_000_000  # settled already, and a different mtime
    os.utime(folder / "doc.txt", ns=(past, past))
    assert sharer.share.get("doc.txt").hashes.content_id == old.content_id

    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    [result] = (await _run(downloader, DownloadJob("doc.txt", dest))).values()
    assert result.state is TransferState.DONE
    assert (dest / "doc.txt").read_bytes() == new
    assert result.remote is not None and result.remote.content_id != old.content_id
    messages = [r.getMessage() for r in caplog.records]
    assert any(r.name == "mfsync.transfer" and "refused doc.txt" in r.getMessage()
               and "changed" in r.getMessage() for r in caplog.records), messages
    assert not any("corrupt" in m for m in messages)
    assert not _partials(dest)

    # The same seen from a raw channel: CHANGED, and not a single byte of data first.
    newer = b"newer still " * 40_000
    (folder / "doc.txt").write_bytes(newer)
    past -= 1_000_000_000
    os.utime(folder / "doc.txt", ns=(past, past))
    indexed = sharer.share.get("doc.txt")
    channel = await open_channel("127.0.0.1", sharer.server.port, Identity.generate(),
                                 hello=Hello(name="probe"), authorize=_trust_all, timeout=5)
    try:
        await channel.send(GetRequest("doc.txt", indexed.hashes.content_id, 0, indexed.size))
        answer = await channel.receive(timeout=5)
        assert isinstance(answer, ErrorMessage) and answer.code is ErrorCode.CHANGED, answer
    finally:
        await channel.close()
    # The sharer rescans by itself after that, and offers the new content.
    newer_cid = _hashes(newer)[2]
    await wait_for(lambda: sharer.share.get("doc.txt").hashes.content_id == newer_cid)
    await wait_for(lambda: [f.content_id for f in fetcher.files_for("doc.txt")] == [newer_cid])


# -- local safety ---------------------------------------------------------------------------------

HOSTILE_NAMES = ("../escape", "/abs", "a/../../b", "C:x", "CON", "a\\b", "x\x1by")


async def test_hostile_names_in_an_index(make_node, downloaders, fake_sharer, tmp_path: Path,
                                         caplog) -> None:
    caplog.set_level(logging.INFO)
    bogus = tuple(IndexEntry(name, 5, time.time_ns(), blake3.blake3(name.encode()).digest())
                  for name in HOSTILE_NAMES)
    hostile = await fake_sharer({"good.txt": b"good\n"}, extra_entries=bogus)
    fetcher = await _fetcher(make_node, static_peers=(("127.0.0.1", hostile.port),),
                             discovery=False)
    await _offered(fetcher, "good.txt")
    assert [f.path for f in fetcher.status.files] == ["good.txt"]
    refusals = [r.getMessage() for r in caplog.records
                if r.name == "mfsync.engine" and "refused name" in r.getMessage()]
    for name in HOSTILE_NAMES:
        assert any(repr(name) in m for m in refusals), (name, refusals)

    dest = tmp_path / "outer" / "dest"
    dest.mkdir(parents=True)
    downloader = downloaders(fetcher, source_wait=60)
    results = await _run(downloader, *(DownloadJob(n, dest) for n in (*HOSTILE_NAMES,
                                                                      "good.txt")))
    assert results["good.txt"].state is TransferState.DONE
    for name in HOSTILE_NAMES:
        assert results[name].state is TransferState.FAILED, name
        assert "refused name" in results[name].error, results[name].error
    # Nothing was written anywhere but the one good file in the destination.
    everything = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert everything == ["outer", "outer/dest", "outer/dest/good.txt"]
    assert (dest / "good.txt").read_bytes() == b"good\n"
    assert not (Path("/abs")).exists()


async def test_get_onto_existing_files(make_node, downloaders, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="mfsync.transfer")
    theirs = {"same.txt": b"identical\n", "diff.txt": b"their version\n",
              "sub/diff.bin": os.urandom(300_000)}
    sharer = await make_node(share_dir=make_tree(tmp_path / "share", theirs))
    fetcher = await _fetcher(make_node)
    await _offered(fetcher, *theirs)
    ours = {"same.txt": b"identical\n", "diff.txt": b"our version\n",
            "sub/diff.bin": os.urandom(300_000)}
    dest = make_tree(tmp_path / "dest", ours)
    downloader = downloaders(fetcher)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in theirs))
    assert results["same.txt"].state is TransferState.SKIPPED
    assert results["same.txt"].stored_as == "same.txt"
    key = sharer.identity.public_key
    expected = dict(ours)
    for path in ("diff.txt", "sub/diff.bin"):
        result = results[path]
        assert result.state is TransferState.DONE
        [remote] = fetcher.files_for(path)
        assert result.stored_as == conflict_name(path, remote.mtime_ns, key)
        expected[result.stored_as] = theirs[path]
        assert any(result.stored_as in r.getMessage() for r in caplog.records)
    assert read_tree(dest) == expected  # ours kept, theirs beside it, nothing else

    # Again: the conflict copies are there already with the same content, so nothing moves.
    again = downloaders(fetcher)
    results = await _run(again, *(DownloadJob(p, dest) for p in theirs))
    assert {p: r.state for p, r in results.items()} == dict.fromkeys(theirs,
                                                                    TransferState.SKIPPED)
    assert read_tree(dest) == expected


async def test_too_little_free_space(make_node, downloaders, tmp_path: Path,
                                     monkeypatch) -> None:
    files = {"big.bin": os.urandom(2 * MIB), "sub/small.txt": b"x" * 1000}
    await make_node(share_dir=make_tree(tmp_path / "share", files))
    fetcher = await _fetcher(make_node)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    dest.mkdir()
    real = shutil.disk_usage
    probed: list[Path] = []

    def nearly_full(path):
        probed.append(Path(path))
        usage = real(path)
        return SimpleNamespace(total=usage.total, used=usage.total - MIB, free=MIB)

    monkeypatch.setattr(space.shutil, "disk_usage", nearly_full)
    downloader = downloaders(fetcher)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    for path in files:
        assert results[path].state is TransferState.FAILED
        assert "free space" in results[path].error, results[path].error
        assert _transfer(downloader, path).state is TransferState.FAILED
    assert probed
    assert not list(dest.rglob("*"))  # nothing written: no file, no partial, no folder


# -- many small files ---------------------------------------------------------------------------


async def test_small_files_take_one_request_each_over_a_few_connections(
        fake_sharer, make_node, downloaders, tmp_path: Path) -> None:
    files = {f"d{i % 4}/s{i}.txt": os.urandom(4096) for i in range(60)}
    files["empty"] = b""
    files["two-blocks.bin"] = os.urandom(BLOCK + 1)
    sharer = await fake_sharer(files)
    fetcher = await _fetcher(make_node, static_peers=(("127.0.0.1", sharer.port),),
                             discovery=False)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher, concurrency=3)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    assert {p: r.state for p, r in results.items()} == dict.fromkeys(files, TransferState.DONE)
    assert read_tree(dest) == files
    # A one-block file is asked for once, without its block list (its content id proves the
    # one hash); an empty file is not asked for at all; a larger one still gets its list.
    small = [p for p in files if 0 < len(files[p]) <= BLOCK]
    assert all(sharer.gets(p) == 1 and sharer.attempts(p) == 0 for p in small)
    assert sharer.gets("empty") == 0
    assert sharer.attempts("two-blocks.bin") == 1
    # Channels are reused between files: the index fetch and at most one channel per turn on
    # the network (with a little room for a channel closed by an index poll), not one a file.
    assert 2 <= sharer.server.accepted <= 1 + 3 + 2, sharer.server.accepted


async def test_a_corrupt_small_file_never_lands(make_node, downloaders, fake_sharer,
                                                tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="mfsync.transfer")
    content = os.urandom(4096)
    hostile = await fake_sharer({"s.txt": content}, corrupt=_spoil(0))
    fetcher = await _fetcher(make_node, static_peers=(("127.0.0.1", hostile.port),),
                             discovery=False)
    await _offered(fetcher, "s.txt")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_bytes(b"mine")
    downloader = downloaders(fetcher, source_wait=SOURCE_COOLDOWN + 2.0)
    [result] = (await _run(downloader, DownloadJob("s.txt", dest))).values()
    assert result.state is TransferState.FAILED
    assert "corrupt" in result.error
    assert hostile.gets("s.txt") == MAX_STRIKES
    assert _corrupt_logged(caplog, hostile.port, "not using it again") == 1
    # Nothing was written for it: no target, no partial; the folder is as it was.
    assert read_tree(dest) == {"keep.txt": b"mine"}
