"""Transfer control (pause, resume, cancel) and the discovery beat, on real nodes over loopback.

Downloads are slowed down by making every received block take a moment to write (in the worker
thread), so that a control can land in the middle of a transfer; the delay is lifted once the
control under test has been checked, so that the rest runs at full speed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from loopback import make_tree, read_tree

from mfsync.engine.node import Node
from mfsync.engine.status import PeerState
from mfsync.engine.sync import Syncer
from mfsync.engine.transfer_status import TransferSnapshot, TransferState
from mfsync.engine.transfers import Downloader, DownloadJob, DownloadResult
from mfsync.net.discovery import MAX_BEAT
from mfsync.store.safe_paths import PARTIAL_SUFFIX, partial_path_for
from waiting import wait_for

MIB = 1024 * 1024
JOIN_TIMEOUT = 30.0


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


def _transfer(downloader: Downloader, path: str) -> TransferSnapshot:
    return next(t for t in downloader.status.transfers if t.path == path)


def _partials(root: Path) -> list[Path]:
    return list(root.rglob(f"*{PARTIAL_SUFFIX}"))


async def _sharer_and_fetcher(make_node, tmp_path: Path, files: dict[str, bytes]):
    # written off the loop: megabytes take longer than a callback may hold it
    sharer = await make_node(share_dir=await asyncio.to_thread(make_tree, tmp_path / "share",
                                                               files))
    fetcher = await make_node(wants=True)
    await wait_for(lambda: all(fetcher.files_for(p) for p in files), 15.0)
    dest = tmp_path / "dest"
    dest.mkdir()
    return sharer, fetcher, dest


async def test_pause_frees_the_worker_and_resume_continues(make_node, downloaders, throttle,
                                                           tmp_path: Path) -> None:
    files = {"big.bin": os.urandom(16 * MIB), "small.txt": b"small file\n"}
    _, fetcher, dest = await _sharer_and_fetcher(make_node, tmp_path, files)
    downloader = downloaders(fetcher, concurrency=1)
    big = DownloadJob("big.bin", dest)
    assert downloader.add(big)
    await wait_for(lambda: _transfer(downloader, "big.bin").done > 0)

    assert downloader.pause(big.key)
    assert _transfer(downloader, "big.bin").state is TransferState.PAUSED
    assert not downloader.pause(big.key)  # already paused
    # The only worker is free again: another file goes through while the big one waits.
    assert downloader.add(DownloadJob("small.txt", dest))
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)  # paused jobs do not hold join()
    assert (dest / "small.txt").read_bytes() == files["small.txt"]
    before = _transfer(downloader, "big.bin")
    assert before.state is TransferState.PAUSED
    assert before.key == big.key and before.target == dest / "big.bin"
    assert 0 < before.done < len(files["big.bin"])
    assert partial_path_for(dest / "big.bin").exists()
    assert not (dest / "big.bin").exists()
    assert downloader.busy(dest, "big.bin")
    assert not downloader.add(big)  # a paused job is still the job for that file
    assert [r.job.path for r in downloader.results] == ["small.txt"]
    await asyncio.sleep(0.5)
    assert _transfer(downloader, "big.bin").done == before.done  # really stopped

    throttle.delay = 0
    assert downloader.resume(big.key)
    assert not downloader.resume(big.key)
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    after = _transfer(downloader, "big.bin")
    assert after.state is TransferState.DONE
    assert read_tree(dest) == files  # no partial left
    # It continued from the partial file: what was verified before was not fetched again.
    assert after.fetched - before.fetched <= len(files["big.bin"]) - before.done


async def test_pause_everything_holds_new_jobs_until_resume(make_node, downloaders, throttle,
                                                            tmp_path: Path) -> None:
    files = {"big.bin": os.urandom(16 * MIB), "later.txt": b"added while paused\n"}
    _, fetcher, dest = await _sharer_and_fetcher(make_node, tmp_path, files)
    downloader = downloaders(fetcher)
    assert not downloader.paused
    assert downloader.add(DownloadJob("big.bin", dest))
    await wait_for(lambda: _transfer(downloader, "big.bin").done > 0)

    assert downloader.pause()
    assert downloader.paused
    assert downloader.add(DownloadJob("later.txt", dest))
    assert _transfer(downloader, "later.txt").state is TransferState.PAUSED
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    status = downloader.status
    assert {t.path for t in status.paused} == {"big.bin", "later.txt"}
    assert not status.active
    await asyncio.sleep(0.5)
    assert not (dest / "later.txt").exists()
    assert downloader.results == []

    throttle.delay = 0
    assert downloader.resume()
    assert not downloader.paused
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    assert {r.job.path: r.state for r in downloader.results} == {
        "big.bin": TransferState.DONE, "later.txt": TransferState.DONE}
    assert read_tree(dest) == files


async def test_cancel_removes_the_partial_and_reports(make_node, throttle,
                                                      tmp_path: Path) -> None:
    files = {"big.bin": os.urandom(16 * MIB), "queued.bin": os.urandom(MIB)}
    _, fetcher, dest = await _sharer_and_fetcher(make_node, tmp_path, files)
    outcomes: list[DownloadResult] = []
    downloader = Downloader(fetcher, concurrency=1, on_done=outcomes.append)
    try:
        big = DownloadJob("big.bin", dest)
        queued = DownloadJob("queued.bin", dest)
        # A partial from an earlier run of the queued file goes too when it is cancelled.
        partial_path_for(dest / "queued.bin").write_bytes(files["queued.bin"][: MIB // 2])
        assert downloader.add(big) and downloader.add(queued)
        await wait_for(lambda: _transfer(downloader, "big.bin").done > 0)
        assert partial_path_for(dest / "big.bin").exists()
        assert _transfer(downloader, "queued.bin").state is TransferState.QUEUED

        assert downloader.cancel(queued.key)
        assert downloader.cancel(big.key)
        assert not downloader.cancel(big.key)
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        assert {r.job.path: r.state for r in outcomes} == {
            "big.bin": TransferState.CANCELLED, "queued.bin": TransferState.CANCELLED}
        assert {t.path: t.state for t in downloader.status.transfers} == {
            "big.bin": TransferState.CANCELLED, "queued.bin": TransferState.CANCELLED}
        assert not _partials(dest) and not any(dest.iterdir())
        assert not downloader.busy(dest, "big.bin")

        # A cancelled file may be asked for again, and then arrives whole.
        throttle.delay = 0
        assert downloader.add(big)
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        assert outcomes[-1].state is TransferState.DONE
        assert (dest / "big.bin").read_bytes() == files["big.bin"]
    finally:
        await downloader.stop()


async def test_cancel_a_paused_job(make_node, downloaders, throttle, tmp_path: Path) -> None:
    files = {"big.bin": os.urandom(16 * MIB)}
    _, fetcher, dest = await _sharer_and_fetcher(make_node, tmp_path, files)
    downloader = downloaders(fetcher)
    job = DownloadJob("big.bin", dest)
    assert downloader.add(job)
    await wait_for(lambda: _transfer(downloader, "big.bin").done > 0)
    assert downloader.pause(job.key)
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    assert partial_path_for(dest / "big.bin").exists()
    assert downloader.cancel(job.key)
    assert not downloader.resume(job.key)
    await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    assert [r.state for r in downloader.results] == [TransferState.CANCELLED]
    assert not _partials(dest)


async def test_sync_does_not_fetch_a_cancelled_file_again(make_node, throttle,
                                                          tmp_path: Path) -> None:
    origin = await asyncio.to_thread(make_tree, tmp_path / "origin",
                                     {"big.bin": os.urandom(16 * MIB)})
    await make_node(share_dir=origin)
    here = tmp_path / "here"
    here.mkdir()
    node = await make_node(share_dir=here, wants=True)
    syncer = Syncer(node)
    syncer.start()
    try:
        downloader = syncer.downloader
        await wait_for(lambda: any(t.path == "big.bin" and t.done > 0
                                   for t in downloader.status.transfers), 15.0)
        [transfer] = downloader.status.transfers
        assert transfer.key == (here, "big.bin") and transfer.target == here / "big.bin"
        assert downloader.cancel(transfer.key)
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        # Several rounds of the policy later, it has not been queued again.
        for _ in range(3):
            syncer.schedule()
            await asyncio.sleep(0.5)
        assert [t.state for t in downloader.status.transfers] == [TransferState.CANCELLED]
        assert [r.state for r in downloader.results] == [TransferState.CANCELLED]
        assert not (here / "big.bin").exists() and not _partials(here)

        # A new version of the file is a new decision.
        throttle.delay = 0
        newer = os.urandom(MIB)
        (origin / "big.bin").write_bytes(newer)
        await wait_for(lambda: (here / "big.bin").exists()
                       and (here / "big.bin").read_bytes() == newer, 20.0)
    finally:
        await syncer.stop()


# -- the discovery beat ---------------------------------------------------------------------------


async def test_set_beat_slows_announcements_without_losing_peers(make_node,
                                                                 tmp_path: Path) -> None:
    sharer = await make_node(share_dir=make_tree(tmp_path / "share", {"a.txt": b"a"}))
    watcher = await make_node(wants=True)
    await wait_for(lambda: any(p.state is PeerState.CONNECTED for p in watcher.status.peers))
    assert sharer.discovery is not None

    with pytest.raises(ValueError):
        sharer.set_beat(0)
    await asyncio.sleep(1.0)  # the start-up queries (and their answers) are over
    sharer.set_beat(3.0)
    assert sharer.discovery.announcement.beat_ms == 3000
    assert sharer.discovery.beat == sharer.options.beat == 3.0
    sent = sharer.discovery.stats.sent
    # Well past three of the old beats (0.5 s): the peer knows of the new beat and keeps us.
    await asyncio.sleep(2.5)
    assert sharer.discovery.stats.sent - sent <= 1  # no beat of 0.5 s any more
    assert any(p.port == sharer.server.port for p in watcher.status.peers)

    sent = sharer.discovery.stats.sent
    sharer.set_beat(0.5)
    assert sharer.discovery.stats.sent > sent  # a faster beat is announced at once too
    await asyncio.sleep(1.6)
    assert sharer.discovery.stats.sent - sent >= 3

    sharer.set_beat(10_000)  # more than a datagram can carry: the longest it can
    assert sharer.discovery.beat == MAX_BEAT
