"""A rescan limited to the paths the watcher named: it looks at those paths only, keeps the rest
as it was, takes a file that is done (closed, moved in) without waiting for it to settle, and
leaves tombstones only for what it covered."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mfsync.store import folder_scan
from mfsync.store.shareset import ShareSet

KEY = b"K" * 32
SETTLE = 30.0  # far longer than any test: a recent file is only taken when it is done


def _tree(root: Path) -> None:
    for rel in ("top.txt", "a/one.txt", "a/b/two.txt", "z/three.txt", "z/four.txt"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode())
        old = time.time() - 3600
        os.utime(path, (old, old))


async def _share(root: Path) -> ShareSet:
    _tree(root)
    share = ShareSet(root, local_key=KEY, settle_age=SETTLE)
    await share.rescan()
    return share


def _listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders the walker lists from now on."""
    listed: list[str] = []
    real = os.scandir

    def scandir(path: str) -> os.ScandirIterator[os.DirEntry[str]]:
        listed.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(folder_scan.os, "scandir", scandir)
    return listed


async def test_a_done_file_is_taken_at_once_and_nothing_else_is_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = await _share(tmp_path)
    before = share.files
    (tmp_path / "a" / "b" / "new.txt").write_bytes(b"just saved")  # mtime: now
    listed = _listed(monkeypatch)
    assert await share.rescan(["a/b/new.txt"], done=["a/b/new.txt"])
    assert listed == [str(tmp_path / "a" / "b")]
    assert "a/b/new.txt" in share.files
    assert not share.unsettled
    assert {k: v for k, v in share.files.items() if k != "a/b/new.txt"} == before


async def test_a_recent_file_not_done_still_settles(tmp_path: Path) -> None:
    share = await _share(tmp_path)
    (tmp_path / "being-written.bin").write_bytes(b"part")
    assert not await share.rescan(["being-written.bin"])
    assert "being-written.bin" not in share.files
    assert share.unsettled


async def test_a_deleted_file_and_folder_leave_tombstones_only_for_themselves(
    tmp_path: Path,
) -> None:
    share = await _share(tmp_path)
    (tmp_path / "top.txt").unlink()
    for name in ("three.txt", "four.txt"):
        (tmp_path / "z" / name).unlink()
    (tmp_path / "z").rmdir()
    (tmp_path / "a" / "one.txt").unlink()  # not named: a limited rescan does not see it
    assert await share.rescan(["top.txt", "z"])
    assert sorted(share.files) == ["a/b/two.txt", "a/one.txt"]
    for gone in ("top.txt", "z/three.txt", "z/four.txt"):
        record = share.record(gone)
        assert record is not None and record.deleted
    await share.rescan()  # a whole rescan sees the rest
    assert sorted(share.files) == ["a/b/two.txt"]


async def test_a_folder_named_is_walked_whole(tmp_path: Path) -> None:
    share = await _share(tmp_path)
    (tmp_path / "new" / "deep").mkdir(parents=True)
    (tmp_path / "new" / "deep" / "x.txt").write_bytes(b"x")
    (tmp_path / "new" / "y.txt").write_bytes(b"y")
    assert not await share.rescan(["new"], done=["new"])
    # (the files below were not named done: they settle)
    assert share.unsettled
    old = time.time() - 3600
    for rel in ("new/deep/x.txt", "new/y.txt"):
        os.utime(tmp_path / rel, (old, old))
    assert await share.rescan(["new"])
    assert {"new/deep/x.txt", "new/y.txt"} <= share.files.keys()


async def test_a_new_folder_named_with_its_files_finds_each_file_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The watcher names a new folder and the files found in it together (they may have been
    # written before the folder was watched): the walk of the folder must not meet them again
    # as "another file with the same name".
    share = await _share(tmp_path)
    (tmp_path / "new" / "deep").mkdir(parents=True)
    names = ["new/y.txt", "new/deep/x.txt"]
    for rel in names:
        (tmp_path / rel).write_bytes(rel.encode())
    assert await share.rescan(["new", "new/deep", *names], done=names)
    assert set(names) <= share.files.keys()
    assert not [r for r in caplog.records if "same name" in r.getMessage()]


async def test_a_path_below_a_symlink_or_an_ignored_folder_is_not_taken(tmp_path: Path) -> None:
    root = tmp_path / "share"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not shared")
    share = await _share(root)
    (root / "link").symlink_to(outside)
    (root / "build").mkdir()
    (root / "build" / "out.o").write_bytes(b"o")
    (root / ".mfsyncignore").write_text("build/\n")
    await share.rescan()  # the rules are read
    assert not await share.rescan(["link/secret.txt", "build/out.o"],
                                  done=["link/secret.txt", "build/out.o"])
    assert "link/secret.txt" not in share.files and "build/out.o" not in share.files


async def test_changed_ignore_rules_walk_everything(tmp_path: Path) -> None:
    share = await _share(tmp_path)
    (tmp_path / ".mfsyncignore").write_text("z/\n")
    assert await share.rescan(["top.txt"])
    assert not any(name.startswith("z/") for name in share.files)
