"""Landing downloads in batches (``engine.landing``, ``store.durable``) on real files: data
flushed before any rename, each landing failing alone, a failed flush renaming nothing."""

import asyncio
import os
from pathlib import Path

import pytest

import mfsync.engine.landing as landing_module
from mfsync.engine.landing import Lander, Landing, land_batch
from mfsync.protocol.content import block_hash, block_size_for
from mfsync.store import dirfd, durable
from mfsync.store.partial import PartialFile
from mfsync.store.safe_paths import partial_path_for

MTIME = 1_600_000_000_123_456_789


def _landing(root: Path, name: str, content: bytes, final: Path | None = None) -> Landing:
    target = root / name
    hashes = (block_hash(content),) if content else ()
    partial = PartialFile(target, len(content), block_size_for(len(content)), hashes, root)
    return Landing(root, partial, MTIME, lambda: final or target, content)


def test_a_batch_lands_every_file_with_its_time(tmp_path: Path) -> None:
    items = [_landing(tmp_path, f"sub/{i}.txt", os.urandom(i * 100)) for i in range(20)]
    outcomes = land_batch(items)
    assert outcomes == [item.partial.target for item in items]
    for item in items:
        assert item.partial.target.read_bytes() == item.content
        assert item.partial.target.stat().st_mtime_ns == MTIME
        assert not partial_path_for(item.partial.target).exists()


def test_one_bad_landing_fails_alone(tmp_path: Path) -> None:
    good = _landing(tmp_path, "good.txt", b"good")
    # its destination's folder does not exist: the rename fails, for it only
    bad = _landing(tmp_path, "bad.txt", b"bad", final=tmp_path / "missing" / "bad.txt")
    outcomes = land_batch([bad, good])
    assert isinstance(outcomes[0], FileNotFoundError)
    assert outcomes[1] == tmp_path / "good.txt"
    assert (tmp_path / "good.txt").read_bytes() == b"good"
    # the partial of the failed one stays, complete, for the next attempt
    assert partial_path_for(tmp_path / "bad.txt").read_bytes() == b"bad"
    for item in (good, bad):
        item.partial.close()


def test_a_failed_flush_renames_nothing(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.txt").write_bytes(b"the good old file")

    def full_disk(_fds: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(landing_module, "sync_files", full_disk)
    items = [_landing(tmp_path, "a.txt", b"new"), _landing(tmp_path, "b.txt", b"new too")]
    outcomes = land_batch(items)
    assert all(isinstance(o, OSError) and o.errno == 28 for o in outcomes)
    assert (tmp_path / "a.txt").read_bytes() == b"the good old file"
    assert not (tmp_path / "b.txt").exists()
    for item in items:
        item.partial.close()


def test_sync_files_flushes_many_files_and_reports_errors(tmp_path: Path) -> None:
    fds = [os.open(tmp_path / f"{i}", os.O_RDWR | os.O_CREAT)
           for i in range(durable.SYNCFS_FROM)]
    try:
        for fd in fds:
            os.write(fd, b"x")
        durable.sync_files(fds)  # many at once: a syncfs on Linux
        durable.sync_files(fds[:1])  # one: an fsync
    finally:
        for fd in fds:
            os.close(fd)
    with pytest.raises(OSError):
        durable.sync_files([fds[0]])  # closed: the error is not swallowed


async def test_landings_that_arrive_together_share_a_batch(tmp_path: Path) -> None:
    lander = Lander()
    items = [_landing(tmp_path, f"{i}.txt", os.urandom(64)) for i in range(50)]
    finals = await asyncio.gather(*(lander.run(item) for item in items))
    assert finals == [item.partial.target for item in items]
    assert lander.items == 50
    assert lander.batches <= 2  # the first alone (nothing else had queued yet), then the rest
    for item in items:
        assert item.partial.target.read_bytes() == item.content


def test_a_batch_opens_each_folder_once(tmp_path: Path, monkeypatch) -> None:
    opened: list[str] = []
    real_step = dirfd._step

    def counting_step(parent: int, part: str, where: Path, *, create: bool) -> int:
        opened.append(part)
        return real_step(parent, part, where, create=create)

    monkeypatch.setattr(dirfd, "_step", counting_step)
    items = [_landing(tmp_path, f"d{i % 3}/deep/{i}.txt", os.urandom(50)) for i in range(30)]
    outcomes = land_batch(items)
    assert outcomes == [item.partial.target for item in items]
    # 3 folders, each with one folder below it: 6 opens for 30 files, not 60
    assert sorted(opened) == sorted(["d0", "d1", "d2"] + ["deep"] * 3)
    fds = len(os.listdir("/proc/self/fd"))
    assert all(item.partial.target.read_bytes() == item.content for item in items)
    land_batch([_landing(tmp_path, "d0/deep/again.txt", b"x")])
    assert len(os.listdir("/proc/self/fd")) == fds  # the batch's folders were all closed


def test_a_folder_swapped_for_a_symlink_is_refused_in_a_batch(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    items = [_landing(root, "sub/ok.txt", b"ok"), _landing(root, "link/evil.txt", b"evil"),
             _landing(root, "sub/ok2.txt", b"ok2")]
    outcomes = land_batch(items)
    assert outcomes[0] == root / "sub" / "ok.txt" and outcomes[2] == root / "sub" / "ok2.txt"
    assert isinstance(outcomes[1], OSError) and "symlink" in str(outcomes[1])
    assert list(outside.iterdir()) == []
    for item in items:
        item.partial.close()
