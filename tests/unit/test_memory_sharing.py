"""What keeps a big share small: one record object per file for the share set's files and the
index's rows, one string per path across rescans, one int per block size, one key tuple per
download job; and that the thin ``LocalFile`` still behaves as the dataclass it was."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mfsync.engine.download_jobs import DownloadJob
from mfsync.protocol.content import MAX_BLOCK_SIZE, block_size_for
from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store.hashing import hash_file
from mfsync.store.index_db import IndexDB
from mfsync.store.index_records import decode_row, encode_record
from mfsync.store.local_file import LocalFile
from mfsync.store.shareset import ShareSet

KEY = b"K" * 32
OTHER = b"O" * 32


def _files(root: Path) -> list[str]:
    names = [f"d{d}/f{k}.bin" for d in range(3) for k in range(4)]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode() * 10)
    return names


def _local(root: Path, name: str) -> LocalFile:
    st = (root / name).stat()
    return LocalFile(name, name, st.st_size, st.st_mtime_ns, st.st_ino, hash_file(root / name),
                     EMPTY_VERSION.bump(KEY))


async def test_a_file_and_its_index_row_are_one_object(tmp_path: Path) -> None:
    root, db = tmp_path / "share", tmp_path / "index.sqlite"
    root.mkdir()
    names = _files(root)
    share = ShareSet(root, db=IndexDB(db), local_key=KEY)
    await share.rescan()
    for name in names:
        local = share.get(name)
        assert local is not None and local.record is share.record(name)
        assert local.to_record() is local.record
    share.close()
    restarted = ShareSet(root, db=IndexDB(db), local_key=KEY)
    assert await restarted.offer_index()
    before = {name: restarted.get(name) for name in names}
    (root / "new.txt").write_bytes(b"new")  # (a change: the walk's dict becomes the set)
    assert await restarted.rescan()  # the unchanged files stay, keyed by their own paths
    for name in names:
        local = restarted.get(name)
        assert local is before[name]
        assert local is not None and local.record is restarted.record(name)
        key = next(k for k in restarted.files if k == name)
        assert key is local.path
    restarted.close()


async def test_a_version_change_replaces_the_file_and_its_row(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_bytes(b"a")
    share = ShareSet(root, db=IndexDB(tmp_path / "index.sqlite"), local_key=KEY)
    await share.rescan()
    old = share.get("a.txt")
    assert old is not None
    newer = old.version.bump(OTHER)
    await share.set_version("a.txt", newer)
    local = share.get("a.txt")
    assert local is not None and local is not old and local.version == newer
    assert local.record is share.record("a.txt") and old.version != newer
    assert local.hashes == old.hashes and local.stat_key == old.stat_key
    share.close()


def test_local_file_keeps_the_dataclass_behaviour(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 1000)
    hashes = hash_file(tmp_path / "f")
    local = _local(tmp_path, "f")
    assert (local.path, local.disk_path, local.size) == ("f", "f", 1000)
    assert local.hashes == hashes
    assert local == _local(tmp_path, "f") and hash(local) == hash(_local(tmp_path, "f"))
    assert local != local.with_version(EMPTY_VERSION.bump(OTHER))
    assert local.with_version(local.version) == local
    entry = local.to_entry()
    assert (entry.path, entry.size, entry.content_id, entry.version) == (
        "f", 1000, hashes.content_id, local.version)
    assert LocalFile.from_record(local.to_record()).record is local.record
    tombstone = replace(local.record, deleted=True)
    assert not LocalFile.from_record(tombstone).record.deleted  # (a live file, as before)
    assert LocalFile.from_record(tombstone) == local


def test_block_sizes_are_shared_int_objects(tmp_path: Path) -> None:
    big = 3_000_000_000
    assert block_size_for(big) is block_size_for(big + 1)
    assert block_size_for(1 << 50) == MAX_BLOCK_SIZE
    (tmp_path / "f").write_bytes(b"y" * 10)
    record = replace(_local(tmp_path, "f").record, block_size=int("1048576"))
    row = encode_record(record)
    one, two = decode_row(row, {}), decode_row(row, {})
    assert one is not None and two is not None
    assert one == record and one.block_size is two.block_size


def test_a_download_job_makes_its_key_once(tmp_path: Path) -> None:
    job = DownloadJob("a/b.txt", tmp_path)
    assert job.key == (tmp_path, "a/b.txt") and job.key is job.key  # (one tuple, kept)
    assert job.key[1] is job.path
    copy = replace(job, store_as="a/b (copy).txt")
    assert copy.key == (tmp_path, "a/b (copy).txt") and copy.stored is copy.key[1]
    assert job == DownloadJob("a/b.txt", tmp_path) and hash(job) == hash(
        DownloadJob("a/b.txt", tmp_path))
    assert "key" not in repr(job)
