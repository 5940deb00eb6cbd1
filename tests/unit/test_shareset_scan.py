"""The share set's walk of a folder: names relative to the root, partial downloads in
sub-folders, versions shared between files, and a restart that hashes nothing."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store import folder_scan
from mfsync.store.hashing import FileHashes, hash_file
from mfsync.store.index_db import IndexDB
from mfsync.store.safe_paths import partial_path_for
from mfsync.store.shareset import ShareSet

KEY = b"K" * 32


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "top.txt": b"top",
        "a/one.txt": b"1",
        "a/b/two.txt": b"22",
        "a/b/c/d/deep.bin": b"deep" * 100,
        "z/empty": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


async def test_names_are_relative_posix_paths_at_any_depth(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    share = ShareSet(tmp_path, local_key=KEY)
    assert await share.rescan()
    assert sorted(share.files) == sorted(files)
    for rel, data in files.items():
        local = share.files[rel]
        assert local.disk_path == rel
        assert local.size == len(data)
        assert local.hashes == hash_file(tmp_path / rel)


async def test_a_decomposed_name_in_a_sub_folder_keeps_its_disk_name(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Müsli/Grüße.txt")
    (tmp_path / nfd).parent.mkdir()
    (tmp_path / nfd).write_bytes(b"x")
    share = ShareSet(tmp_path)
    await share.rescan()
    (name,) = share.files
    assert name == unicodedata.normalize("NFC", nfd)
    assert share.files[name].disk_path == nfd


async def test_partial_downloads_in_sub_folders_are_found(tmp_path: Path) -> None:
    _tree(tmp_path)
    partial = partial_path_for(tmp_path / "a" / "b" / "coming.iso")
    partial.write_bytes(b"half")
    share = ShareSet(tmp_path)
    await share.rescan()
    assert share.has_partial("a/b/coming.iso")
    assert not share.has_partial("coming.iso") and not share.has_partial("a/coming.iso")
    assert "a/b/.coming.iso.mfsync-part" not in share.files
    await share.discard_partial("a/b/coming.iso")
    assert not partial.exists()


async def test_new_files_share_one_version_and_changes_bump_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    share = ShareSet(tmp_path, local_key=KEY)
    await share.rescan()
    versions = {id(f.version) for f in share.files.values()}
    assert len(versions) == 1  # one object, however many files
    first = share.files["top.txt"].version
    assert first == EMPTY_VERSION.bump(KEY)
    (tmp_path / "top.txt").write_bytes(b"changed")
    (tmp_path / "a" / "one.txt").write_bytes(b"changed too")
    await share.rescan()
    assert share.files["top.txt"].version == first.bump(KEY)
    assert share.files["a/one.txt"].version is share.files["top.txt"].version
    assert share.files["a/b/two.txt"].version is first


async def test_a_restart_hashes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "share"
    root.mkdir()
    _tree(root)
    db_path = IndexDB.path_for(tmp_path / "state", root)
    with IndexDB(db_path) as db:
        first = ShareSet(root, db=db, local_key=KEY)
        await first.rescan()
        before = first.files

    hashed: list[Path] = []

    def counting_hash(path: Path, root: Path | None = None) -> FileHashes:
        hashed.append(path)
        return hash_file(path, root)

    monkeypatch.setattr(folder_scan, "hash_file", counting_hash)
    with IndexDB(db_path) as db:
        again = ShareSet(root, db=db, local_key=KEY)
        await again.rescan()
        assert hashed == []
        assert again.files == before
        (root / "a" / "b" / "two.txt").write_bytes(b"new")
        await again.rescan()
        assert hashed == [root / "a" / "b" / "two.txt"]
