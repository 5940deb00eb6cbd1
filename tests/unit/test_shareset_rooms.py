"""The share set's two rooms on their own: the folder walk (store/folder_scan.py) and the
versions a scan gives (store/scan_versions.py)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store.folder_scan import FolderWalker
from mfsync.store.hashing import hash_file
from mfsync.store.local_file import LocalFile
from mfsync.store.scan_versions import stamp_versions

OURS = b"\x01" * 32
THEIRS = b"\x02" * 32


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def _local(root: Path, name: str) -> LocalFile:
    st = (root / name).stat()
    return LocalFile(name, name, st.st_size, st.st_mtime_ns, st.st_ino, hash_file(root / name),
                     EMPTY_VERSION)


def test_a_walk_takes_unchanged_files_as_they_were(tmp_path: Path) -> None:
    _write(tmp_path, {"a.txt": b"a", "sub/b.txt": b"b"})
    walker = FolderWalker(tmp_path)
    first = walker.walk({}, settle=False)
    assert sorted(first.files) == ["a.txt", "sub/b.txt"]
    assert first.present == {"a.txt", "sub/b.txt"} and not first.unsettled
    again = walker.walk(first.files, settle=False)
    assert all(again.files[name] is first.files[name] for name in first.files)


def test_a_walk_with_settling_leaves_out_what_was_just_written(tmp_path: Path) -> None:
    walker = FolderWalker(tmp_path, settle_age=60.0)
    _write(tmp_path, {"old.txt": b"old"})
    previous = walker.walk({}, settle=True).files
    assert previous == {}  # written a moment ago: left out...
    first = walker.walk({}, settle=False)
    assert sorted(first.files) == ["old.txt"]  # ...except by a first scan
    _write(tmp_path, {"old.txt": b"rewritten", "new.txt": b"new"})
    later = walker.walk(first.files, settle=True)
    assert later.unsettled
    assert later.files == {"old.txt": first.files["old.txt"]}  # the settled content, kept
    assert later.present == {"old.txt", "new.txt"}  # neither is deleted


def test_a_walk_warns_once_about_a_name_it_cannot_share(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, {"what?.txt": b"x", "fine.txt": b"y"})
    walker = FolderWalker(tmp_path)
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        for _ in range(3):
            scan = walker.walk({}, settle=False)
            assert sorted(scan.files) == ["fine.txt"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "what?.txt" in warnings[0]


def test_stamping_gives_new_changed_landed_and_deleted_files_their_versions(
    tmp_path: Path
) -> None:
    _write(tmp_path, {"same": b"1", "changed": b"2", "new": b"3", "landed": b"4", "busy": b"5"})
    same, changed, new, landed = (_local(tmp_path, n) for n in ("same", "changed", "new", "landed"))
    theirs = EMPTY_VERSION.bump(THEIRS)
    mine = EMPTY_VERSION.bump(OURS)
    records = {
        "same": replace(same.record, version=theirs),
        "changed": replace(_local(tmp_path, "same").record, path="changed", version=theirs),
        "gone": replace(same.record, path="gone", version=mine),
        "busy": replace(_local(tmp_path, "busy").record, version=mine),
    }
    found = {"same": same, "changed": changed, "new": new, "landed": landed}
    expected = {"landed": (landed.hashes.content_id, theirs)}
    updates = stamp_versions(found, set(found) | {"busy"}, records, expected, OURS)
    assert found["same"].version == theirs  # same content: its version stays
    assert found["changed"].version == theirs.bump(OURS)  # changed here
    assert found["new"].version == mine  # new to us: our counter 1
    assert found["landed"].version == theirs  # a download landed: not a change made here
    by_path = {r.path: r for r in updates}
    assert set(by_path) == {"changed", "new", "landed", "gone"}  # "same" is as remembered
    assert by_path["gone"].deleted and by_path["gone"].version == mine
    assert "busy" not in by_path  # on disk, only still being written: no tombstone
