"""Small files in batches over real loopback sockets (PROTOCOL.md 3.15, ``engine.small_batch``).

Many small files arrive in a few ``GetFilesRequest``s, byte for byte; a file that changed on
the sharer gets CHANGED and the others land; a forged byte fails that file only and counts
against its host; a file cancelled while its batch is under way is not landed; a server
refuses an oversize batch (and one on a session without the capability) with BAD_REQUEST,
reading nothing, and goes on serving. The forging and slow sharers are written here on top of
``net.server.Server`` and the protocol messages.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import blake3
import pytest
from loopback import make_tree, read_tree

from mfsync.crypto.keys import Identity
from mfsync.engine import serve, serve_files
from mfsync.engine.node import Node
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.transfers import Downloader, DownloadJob, DownloadResult
from mfsync.net.channel import SecureChannel, open_channel
from mfsync.net.client import fetch_files
from mfsync.net.server import Server
from mfsync.protocol.content import block_size_for, content_id_of
from mfsync.protocol.folder_id import DEFAULT_FOLDER
from mfsync.protocol.messages import (
    FILES_CAPABILITY,
    MAX_BATCH_BYTES,
    MAX_BATCH_FILE_SIZE,
    End,
    ErrorCode,
    ErrorMessage,
    FileData,
    FileFailed,
    FolderFlags,
    FolderInfo,
    FolderList,
    FoldersRequest,
    GetFilesRequest,
    Hello,
    IndexEntry,
    IndexRequest,
    Message,
    WantedFile,
    chunk_index,
)
from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store.safe_paths import PARTIAL_SUFFIX
from waiting import wait_for

JOIN_TIMEOUT = 30.0


def _trust_all(_key: bytes) -> bool:
    return True


def _cid(data: bytes) -> bytes:
    return content_id_of(len(data), block_size_for(len(data)), [blake3.blake3(data).digest()])


async def _offered(node: Node, *paths: str, timeout: float = 15.0) -> None:
    await wait_for(lambda: all(node.files_for(p) for p in paths), timeout)


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
def batches(monkeypatch) -> list[list[Message]]:
    """What every real server answered to each GetFilesRequest, message by message."""
    answered: list[list[Message]] = []
    original = serve.send_batch

    async def recording(send, request, *args):
        sent: list[Message] = []
        answered.append(sent)

        async def send_and_record(message: Message) -> None:
            sent.append(message)
            await send(message)

        return await original(send_and_record, request, *args)

    monkeypatch.setattr(serve, "send_batch", recording)
    return answered


class BatchSharer:
    """A sharer that speaks the batch (its hello names ``files``): ``forge(path, data)`` may
    change what goes out for a file, and ``hold`` (when set) keeps every batch answer back
    until it is cleared."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.identity = Identity.generate()
        self.files = files
        self.mtime_ns = time.time_ns() - 10_000_000_000
        self.forge = lambda path, data: data
        self.hold: asyncio.Event | None = None
        self.misnumber = False  #: number each file one past its place (what the table forbids)
        self.batches: list[GetFilesRequest] = []
        self.server = Server(self.identity, hello=Hello(capabilities=(FILES_CAPABILITY,),
                                                        name="batcher"),
                             authorize=_trust_all, handler=self._handle, port=0,
                             host="127.0.0.1", handshake_timeout=3.0)

    async def _handle(self, channel: SecureChannel, message: Message) -> None:
        if isinstance(message, FoldersRequest):
            await channel.send(FolderList((FolderInfo(
                DEFAULT_FOLDER, "default", FolderFlags.ANNOUNCED, 1, len(self.files), 0),)))
        elif isinstance(message, IndexRequest):
            entries = [IndexEntry(p, len(d), self.mtime_ns, _cid(d),
                                  EMPTY_VERSION.bump(self.identity.public_key))
                       for p, d in sorted(self.files.items())]
            for chunk in chunk_index(entries, 1):
                await channel.send(chunk)
        elif isinstance(message, GetFilesRequest):
            self.batches.append(message)
            if self.hold is not None:
                await self.hold.wait()
            for index, wanted in enumerate(message.files, start=1 if self.misnumber else 0):
                await channel.send(FileData(index, self.forge(wanted.path,
                                                              self.files[wanted.path])))
            await channel.send(End(len(message.files)))
        else:
            await channel.send(ErrorMessage(ErrorCode.BAD_REQUEST, "no"))


@pytest.fixture
async def batch_sharer():
    started: list[BatchSharer] = []

    async def make(files: dict[str, bytes]) -> BatchSharer:
        sharer = BatchSharer(files)
        await sharer.server.start()
        started.append(sharer)
        return sharer

    yield make
    for sharer in started:
        await sharer.server.stop()


async def _fetcher_of(make_node, sharer: BatchSharer) -> Node:
    return await make_node(wants=True, static_peers=(("127.0.0.1", sharer.server.port),),
                           discovery=False)


# -- honest batches ---------------------------------------------------------------------------


async def test_300_small_files_arrive_in_a_few_batches(make_node, downloaders, batches,
                                                       tmp_path: Path) -> None:
    files = {f"d{n % 7}/f{n:03}.bin": os.urandom(1 + (n * 37) % 6000) for n in range(300)}
    files["edge/one-block.bin"] = os.urandom(MAX_BATCH_FILE_SIZE)  # the largest batched
    files["edge/empty"] = b""  # asked for by nobody
    # (the tree is written and read off the loop: 300 files would hold it past the probe's limit)
    await make_node(share_dir=await asyncio.to_thread(make_tree, tmp_path / "share", files))
    fetcher = await make_node(wants=True)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    assert {p: r.state for p, r in results.items()} == dict.fromkeys(files, TransferState.DONE)
    assert await asyncio.to_thread(read_tree, dest) == files  # byte for byte, no partial left
    # Batching happened: every non-empty file went in a batch, each once, in few requests.
    asked = [m for answer in batches for m in answer if isinstance(m, FileData)]
    assert sorted(len(m.payload) for m in asked) == sorted(
        len(d) for d in files.values() if d)
    assert 1 <= len(batches) <= 30, len(batches)
    assert max(len(answer) for answer in batches) > 10  # (End included)
    assert all(isinstance(answer[-1], End) for answer in batches)


async def test_a_changed_file_gets_changed_and_the_others_land(make_node, downloaders, batches,
                                                               tmp_path: Path) -> None:
    files = {f"f{n:02}.txt": f"file {n}\n".encode() * 50 for n in range(40)}
    share = make_tree(tmp_path / "share", files)
    await make_node(share_dir=share)
    fetcher = await make_node(wants=True)
    await _offered(fetcher, *files)
    # The sharer's disk changes after its index was taken (same size, other bytes and time;
    # a time in the past, so that its rescan takes the file at once rather than let it settle).
    changed = files["f13.txt"].replace(b"file", b"FILE")
    before = (share / "f13.txt").stat().st_mtime_ns
    (share / "f13.txt").write_bytes(changed)
    os.utime(share / "f13.txt", ns=(before - 10**10, before - 10**10))
    dest = tmp_path / "dest"
    dest.mkdir()
    results = await _run(downloaders(fetcher), *(DownloadJob(p, dest) for p in files))
    first = batches[0]
    refusals = [m for m in first if isinstance(m, FileFailed)]
    assert [m.error.code for m in refusals] == [ErrorCode.CHANGED]
    assert len(first) == len(files) + 1  # every other file of that batch was sent
    for path, data in files.items():
        if path != "f13.txt":
            assert results[path].state is TransferState.DONE
            assert (dest / path).read_bytes() == data
    # The changed file is fetched again once the sharer has rescanned: its new content.
    assert results["f13.txt"].state is TransferState.DONE
    assert (dest / "f13.txt").read_bytes() == changed


# -- hostile and interrupted batches ----------------------------------------------------------


async def test_a_forged_byte_fails_that_file_only_and_counts_against_the_host(
        make_node, downloaders, batch_sharer, tmp_path: Path) -> None:
    files = {f"f{n:02}.bin": os.urandom(3000 + n) for n in range(20)}
    sharer = await batch_sharer(files)

    def forge(path: str, data: bytes) -> bytes:
        return data if path != "f07.bin" else data[:100] + bytes([data[100] ^ 1]) + data[101:]

    sharer.forge = forge
    fetcher = await _fetcher_of(make_node, sharer)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher, source_wait=10)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    bad = results.pop("f07.bin")
    assert bad.state is TransferState.FAILED
    assert "corrupt" in (bad.error or ""), bad.error  # the host was dropped for it
    assert downloader.given_up(fetcher.files_for("f07.bin")[0])
    assert not (dest / "f07.bin").exists()
    assert {p: r.state for p, r in results.items()} == dict.fromkeys(results, TransferState.DONE)
    assert {p: (dest / p).read_bytes() for p in results} == {p: files[p] for p in results}
    assert not list(dest.rglob(f"*{PARTIAL_SUFFIX}"))
    assert len(sharer.batches) >= 2  # the bad file was asked for again (then given up)


async def test_a_misnumbered_reply_breaks_the_table_and_counts_against_the_host(
        make_node, downloaders, batch_sharer, tmp_path: Path) -> None:
    files = {f"f{n:02}.bin": os.urandom(1000) for n in range(5)}
    sharer = await batch_sharer(files)
    sharer.misnumber = True
    fetcher = await _fetcher_of(make_node, sharer)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher, source_wait=10)
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    assert {r.state for r in results.values()} == {TransferState.FAILED}
    assert all("every host offering it failed" in (r.error or "") for r in results.values())
    assert all(downloader.given_up(fetcher.files_for(p)[0]) for p in files)
    assert read_tree(dest) == {}  # nothing landed, nothing partial
    assert len(sharer.batches) >= 3  # (each attempt a new connection: the broken one closed)


async def test_a_stalled_batch_loses_its_turn_to_a_host_that_delivers(
        make_node, downloaders, batch_sharer, tmp_path: Path) -> None:
    files = {f"f{n:02}.bin": os.urandom(3000) for n in range(24)}
    staller = await batch_sharer(files)
    staller.hold = asyncio.Event()  # never set: every batch it is asked for stalls
    share = await asyncio.to_thread(make_tree, tmp_path / "share", files)
    for path in files:  # the same time as the staller's: one offer, two hosts
        os.utime(share / path, ns=(staller.mtime_ns, staller.mtime_ns))
    await make_node(share_dir=share)
    fetcher = await make_node(wants=True, static_peers=(("127.0.0.1", staller.server.port),))
    await wait_for(lambda: all([len(f.hosts) for f in fetcher.files_for(p)] == [2]
                               for p in files), 15)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    started = time.monotonic()
    results = await _run(downloader, *(DownloadJob(p, dest) for p in files))
    assert {p: r.state for p, r in results.items()} == dict.fromkeys(files, TransferState.DONE)
    assert await asyncio.to_thread(read_tree, dest) == files
    assert staller.batches  # some files chose it first ...
    assert time.monotonic() - started < 15  # ... and went on from the honest host (grace: 2 s)


async def test_a_file_cancelled_in_its_batch_is_not_landed(make_node, downloaders,
                                                           batch_sharer, tmp_path: Path) -> None:
    files = {f"f{n:02}.bin": os.urandom(2000) for n in range(10)}
    sharer = await batch_sharer(files)
    sharer.hold = asyncio.Event()
    fetcher = await _fetcher_of(make_node, sharer)
    await _offered(fetcher, *files)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = downloaders(fetcher)
    for path in files:
        assert downloader.add(DownloadJob(path, dest))
    await wait_for(lambda: sharer.batches, 10)  # a batch is under way, its answer held back
    assert downloader.cancel((dest, "f03.bin"))
    await asyncio.sleep(0.1)
    sharer.hold.set()
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    results = {r.job.path: r for r in downloader.results}
    assert results.pop("f03.bin").state is TransferState.CANCELLED
    assert {p: r.state for p, r in results.items()} == dict.fromkeys(results, TransferState.DONE)
    assert read_tree(dest) == {p: files[p] for p in results}  # f03 dropped, nothing partial
    assert sum(len(b.files) for b in sharer.batches) == len(files)  # nothing asked again


# -- the server side --------------------------------------------------------------------------


async def test_server_refuses_oversize_batches_without_reading(make_node, monkeypatch,
                                                               tmp_path: Path) -> None:
    content = os.urandom(5000)
    sharer = await make_node(share_dir=make_tree(tmp_path / "share", {"f.bin": content}),
                             discovery=False)
    cid = sharer.share.get("f.bin").hashes.content_id
    reads: list[int] = []
    original = serve_files._read_all
    monkeypatch.setattr(serve_files, "_read_all",
                        lambda found: reads.append(len(found)) or original(found))

    async def connect(capabilities: tuple[str, ...]) -> SecureChannel:
        return await open_channel("127.0.0.1", sharer.server.port, Identity.generate(),
                                  hello=Hello(capabilities=capabilities, name="probe"),
                                  authorize=_trust_all, timeout=5)

    async def answer(channel: SecureChannel, request: GetFilesRequest) -> Message:
        await channel.send(request)
        return await channel.receive(timeout=5)

    without = await connect(())
    try:
        refusal = await answer(without, GetFilesRequest((WantedFile("f.bin", cid, 5000),)))
        assert isinstance(refusal, ErrorMessage) and refusal.code is ErrorCode.BAD_REQUEST
    finally:
        await without.close()
    channel = await connect((FILES_CAPABILITY,))
    try:
        over_a_block = GetFilesRequest((WantedFile("f.bin", cid, MAX_BATCH_FILE_SIZE + 1),))
        refusal = await answer(channel, over_a_block)
        assert isinstance(refusal, ErrorMessage) and refusal.code is ErrorCode.BAD_REQUEST
        count = MAX_BATCH_BYTES // MAX_BATCH_FILE_SIZE + 1  # 16 MiB + one block in all
        over_the_total = GetFilesRequest((WantedFile("f.bin", cid, MAX_BATCH_FILE_SIZE),) * count)
        refusal = await answer(channel, over_the_total)
        assert isinstance(refusal, ErrorMessage) and refusal.code is ErrorCode.BAD_REQUEST
        assert reads == []  # refused before anything was read
        # The same channel still serves a batch, with a per-file answer for each file.
        wanted = (WantedFile("f.bin", cid, 5000), WantedFile("nope.bin", cid, 5),
                  WantedFile("f.bin", bytes(32), 5000), WantedFile("f.bin", cid, 4999))
        got = [a async for a in fetch_files(channel, wanted)]
        assert got[0] == (0, content)
        assert [(i, a.code) for i, a in got[1:] if isinstance(a, ErrorMessage)] == [
            (1, ErrorCode.NOT_FOUND), (2, ErrorCode.CHANGED), (3, ErrorCode.BAD_REQUEST)]
        assert reads == [1]  # one trip for the whole batch
    finally:
        await channel.close()
