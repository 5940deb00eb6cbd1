"""``store.placement`` and conflict copies: a download that meets a different file of ours gets a
conflict copy's name, unless it is of a conflict copy itself: a copy of a copy is never made
(Syncthing's rule; the churn soak once found ``x.sync-conflict-A.sync-conflict-B.md``)."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import pytest

from mfsync.store import space
from mfsync.store.conflicts import conflict_name, is_conflict_name
from mfsync.store.failures import LocalFailure
from mfsync.store.placement import CopyInTheWay, Wanted, plan, plan_batch

KEY = bytes.fromhex("e9415b") + bytes(29)
MTIME = 1_796_648_547 * 10**9  # 2026-12-07 13:02:27 UTC
COPY = conflict_name("photos/IMG.md", 1_796_648_498 * 10**9, KEY)


def _wanted(root: Path, stored: str, **kw: object) -> Wanted:
    fields: dict[str, object] = dict(size=5, mtime_ns=MTIME, content_id=b"\x01" * 32, maker=KEY)
    fields.update(kw)
    return Wanted(root, stored, **fields)  # type: ignore[arg-type]


def _write(root: Path, rel: str, data: bytes) -> Path:
    path = root.joinpath(*rel.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _names(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_file_in_the_way_of_a_plain_name_makes_a_conflict_copy(tmp_path: Path) -> None:
    _write(tmp_path, "photos/IMG.md", b"ours, other content")
    placed = plan(_wanted(tmp_path, "photos/IMG.md"))
    assert placed.stored == conflict_name("photos/IMG.md", MTIME, KEY)
    assert placed.conflict_with == tmp_path / "photos" / "IMG.md"


def test_a_file_in_the_way_of_a_conflict_copy_is_kept_and_no_copy_of_it_made(
        tmp_path: Path) -> None:
    assert is_conflict_name(COPY)
    _write(tmp_path, COPY, b"ours: another content of the copy")
    with pytest.raises(CopyInTheWay):
        plan(_wanted(tmp_path, COPY))
    [failed] = plan_batch([_wanted(tmp_path, COPY)])  # as the downloader plans: a local failure
    assert isinstance(failed, LocalFailure) and "conflict copy of a conflict copy" in str(failed)
    assert _names(tmp_path) == [COPY]


def test_a_conflict_copy_changed_during_its_download_stays_and_is_not_copied(
        tmp_path: Path) -> None:
    for stored in ("photos/IMG.md", COPY):
        root = tmp_path / str(len(stored))
        ours = _write(root, stored, b"old version of ours")
        st = os.lstat(ours)
        placed = plan(_wanted(root, stored, replace=True,
                              expect_local=(st.st_size, st.st_mtime_ns, st.st_ino)))
        assert placed.destination() == ours  # unchanged: the download replaces it
        ours.write_bytes(b"edited here meanwhile, not scanned yet")
        os.utime(ours, ns=(MTIME, MTIME))
        if stored == COPY:
            with pytest.raises(CopyInTheWay):
                placed.destination()
        else:  # a plain name: the download lands beside it, as a conflict copy
            copy = conflict_name(stored, MTIME, KEY)
            assert placed.destination() == root.joinpath(*copy.split("/"))
            assert placed.stored_at(placed.destination()) == copy


def test_a_batch_that_fits_file_by_file_but_not_whole_fails_the_rest(tmp_path: Path,
                                                                    monkeypatch) -> None:
    Usage = namedtuple("Usage", "total used free")
    asked: list[object] = []

    def usage(path: object) -> Usage:
        asked.append(path)
        return Usage(1 << 40, 0, space.reserve_for(1 << 40) + 250_000)

    monkeypatch.setattr(space, "shutil", type("S", (), {"disk_usage": staticmethod(usage)}))
    items = [Wanted(tmp_path, f"f{i}.bin", 100_000, 1, bytes(32), b"k" * 32) for i in range(4)]
    outcomes = plan_batch(items)
    assert [type(o).__name__ for o in outcomes] == ["Plan", "Plan", "LocalFailure",
                                                     "LocalFailure"]
    assert "not enough free space" in str(outcomes[2])
    assert len(asked) == 1  # the file system was asked once for the batch
