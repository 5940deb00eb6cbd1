"""Tests for the per-folder index database (mfsync.store.index_db)."""

import hashlib
import logging
import os
import sqlite3
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.version import MAX_COUNTER, VersionVector
from mfsync.store.index_db import FileRecord, FolderIdentity, IndexDB, IndexDBError
from mfsync.store.index_records import UPSERT, encode_record

KEY_A = b"A" * 32
KEY_B = b"B" * 32
KEY_C = b"C" * 32


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def record(
    path: str,
    *,
    blocks: int = 2,
    version: VersionVector | None = None,
    deleted: bool = False,
    size: int | None = None,
    inode: int = 42,
) -> FileRecord:
    return FileRecord(
        path=path,
        disk_path=path,
        size=blocks * 1000 if size is None else size,
        mtime_ns=1_700_000_000_123_456_789,
        inode=inode,
        block_size=128 * 1024,
        block_hashes=tuple(digest(f"{path}#{i}") for i in range(blocks)),
        content_id=digest(path),
        version=VersionVector.of({KEY_A: 1}) if version is None else version,
        deleted=deleted,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "folders" / "index.sqlite"


@pytest.fixture
def db(db_path: Path) -> Iterator[IndexDB]:
    index = IndexDB(db_path)
    yield index
    index.close()


def corrupt_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


# -- round trips ---------------------------------------------------------------------------------


def test_round_trip_of_varied_records(db: IndexDB, db_path: Path) -> None:
    records = [
        record("plain.txt"),
        record("empty.bin", blocks=0, size=0),
        record("gone.txt", deleted=True, version=VersionVector.of({KEY_A: 3, KEY_B: 1})),
        record("multi/versions.txt", version=VersionVector.of({KEY_C: 7, KEY_A: 2, KEY_B: 9})),
        record("unversioned.txt", version=VersionVector()),
        record("big-inode.txt", inode=2**64 - 1),  # Windows file ids can pass 2**63
        record("naïve/ünïcode ✓.txt"),
        FileRecord(
            path="caf\u00e9.txt",  # NFC on the wire
            disk_path="cafe\u0301.txt",  # NFD on disk (macOS)
            size=5,
            mtime_ns=-1,  # before 1970: still a valid mtime
            inode=0,
            block_size=128 * 1024,
            block_hashes=(digest("x"),),
            content_id=digest("y"),
            version=VersionVector.of({KEY_B: MAX_COUNTER}),  # the largest the wire takes
        ),
    ]
    db.put_many(records)
    loaded = db.load_all()
    assert loaded == {r.path: r for r in records}
    assert loaded["empty.bin"].block_hashes == ()
    assert loaded["gone.txt"].deleted is True
    assert loaded["plain.txt"].deleted is False
    assert loaded["caf\u00e9.txt"].disk_path == "cafe\u0301.txt"


def test_a_counter_beyond_the_wire_limit_is_a_damaged_row(db: IndexDB) -> None:
    # a bump of it could never be sent, so the row is treated as damage (rehashed, new version)
    db.put_many([record("ok.txt"), record("tampered.txt",
                                          version=VersionVector.of({KEY_B: 2**64 - 1}))])
    assert set(db.load_all()) == {"ok.txt"}


def test_empty_database_loads_empty(db: IndexDB) -> None:
    assert db.load_all() == {}
    db.put_many([])
    db.remove_many([])
    assert db.load_all() == {}


def test_upsert_replaces_by_path(db: IndexDB) -> None:
    db.put_many([record("a.txt"), record("b.txt")])
    newer = record("a.txt", blocks=5, version=VersionVector.of({KEY_A: 2}), deleted=True)
    db.put_many([newer])
    loaded = db.load_all()
    assert loaded["a.txt"] == newer
    assert loaded["b.txt"] == record("b.txt")
    assert len(loaded) == 2


def test_put_many_accepts_a_generator(db: IndexDB) -> None:
    db.put_many(record(f"gen/{i}.txt") for i in range(10))
    assert len(db.load_all()) == 10


def test_remove_many(db: IndexDB) -> None:
    db.put_many([record("a"), record("b"), record("c")])
    db.remove_many(iter(["a", "c", "not-there"]))
    assert set(db.load_all()) == {"b"}


def test_bad_record_raises_before_anything_is_written(db: IndexDB) -> None:
    good = record("good.txt")
    bad_hash = replace(record("x"), block_hashes=(b"short",))
    bad_id = replace(record("y"), content_id=b"\x00" * 31)
    bad_key = replace(record("z"), version=VersionVector.of({b"k": 1}))
    huge_counter = replace(record("w"), version=VersionVector.of({KEY_A: 2**64}))
    for bad in (bad_hash, bad_id, bad_key, huge_counter):
        with pytest.raises(ValueError):
            db.put_many([good, bad])
    assert db.load_all() == {}


def test_meta(db: IndexDB) -> None:
    assert db.get_meta("generation") is None
    db.set_meta("generation", "1")
    db.set_meta("generation", "2")
    db.set_meta("other", "")
    assert db.get_meta("generation") == "2"
    assert db.get_meta("other") == ""


def test_reopen_persists(db_path: Path) -> None:
    records = [record(f"dir/{i}.txt", version=VersionVector.of({KEY_A: i + 1})) for i in range(50)]
    first = IndexDB(db_path)
    first.put_many(records)
    first.set_meta("generation", "7")
    first.close()
    second = IndexDB(db_path)
    try:
        assert second.load_all() == {r.path: r for r in records}
        assert second.get_meta("generation") == "7"
        assert corrupt_copies(db_path) == []
    finally:
        second.close()


def test_close_is_idempotent_and_later_use_raises(db_path: Path) -> None:
    index = IndexDB(db_path)
    index.close()
    index.close()
    with pytest.raises(IndexDBError, match="closed"):
        index.load_all()
    with pytest.raises(IndexDBError, match="closed"):
        index.put_many([record("a")])
    with pytest.raises(IndexDBError, match="closed"):
        index.get_meta("k")


def test_context_manager_closes(db_path: Path) -> None:
    with IndexDB(db_path) as index:
        index.set_meta("k", "v")
    with pytest.raises(IndexDBError):
        index.get_meta("k")


def test_path_for(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    path = IndexDB.path_for(tmp_path / "state", folder)
    expected = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    assert path == tmp_path / "state" / "folders" / f"{expected}.sqlite"
    # The same folder named differently maps to the same index.
    assert IndexDB.path_for(tmp_path / "state", folder / "sub" / "..") == path
    assert IndexDB.path_for(tmp_path / "state", tmp_path / "other") != path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_new_directories_and_file_are_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "index.sqlite"
    with IndexDB(path) as index:
        index.put_many([record("x")])
    for directory in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wal_mode(db: IndexDB, db_path: Path) -> None:
    db.put_many([record("a")])
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("PRAGMA user_version").fetchone()[0] == IndexDB.SCHEMA_VERSION
    other.close()


# -- damaged and foreign files -------------------------------------------------------------------


def test_garbage_file_is_moved_aside(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not a database, just some bytes\n" * 200
    db_path.write_bytes(garbage)
    stale_wal = db_path.with_name(db_path.name + "-wal")
    stale_wal.write_bytes(b"stale wal")
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        index = IndexDB(db_path)
    try:
        copies = corrupt_copies(db_path)
        assert [c.read_bytes() for c in copies if not c.name.endswith(("-wal", "-shm"))] == [
            garbage
        ]
        # The stale WAL must not be replayed into the fresh database (SQLite itself drops an
        # invalid one; a valid one is moved aside with its database).
        assert not stale_wal.exists() or stale_wal.read_bytes() != b"stale wal"
        assert any("moved aside" in r.getMessage() for r in caplog.records)
        index.put_many([record("a")])
        assert set(index.load_all()) == {"a"}
    finally:
        index.close()


@pytest.mark.parametrize("version", [99, -2])  # newer; a damaged header (found by fuzzing)
def test_a_schema_not_ours_is_moved_aside(db_path: Path, version: int) -> None:
    with IndexDB(db_path) as index:
        index.put_many([record("a")])
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    with IndexDB(db_path) as index:
        assert index.load_all() == {}  # a fresh database
        index.put_many([record("b")])
        assert set(index.load_all()) == {"b"}
    copies = [c for c in corrupt_copies(db_path) if c.name.endswith(tuple("0123456789"))]
    assert len(copies) == 1
    conn = sqlite3.connect(copies[0])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version  # (a newer mfsync's)
    conn.close()


def test_foreign_database_is_moved_aside(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE something_else (x)")
    conn.commit()
    conn.close()
    with IndexDB(db_path) as index:
        index.put_many([record("a")])
    assert corrupt_copies(db_path)


def test_damaged_pages_are_moved_aside(db_path: Path) -> None:
    with IndexDB(db_path) as index:
        index.put_many(record(f"file-{i:05d}.txt", blocks=3) for i in range(2000))
    # Fold the WAL in, then scribble over the middle of the file, keeping the header valid.
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    data = bytearray(db_path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = b"\xff" * 8192
    db_path.write_bytes(bytes(data))
    with IndexDB(db_path) as index:
        assert index.load_all() == {}
        index.put_many([record("a")])
        assert set(index.load_all()) == {"a"}
    assert corrupt_copies(db_path)


class _DamagedConnection:
    """Stands in for a connection whose file turns out damaged only when read in full."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith("SELECT path"):
            exc = sqlite3.DatabaseError("database disk image is malformed")
            exc.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
            raise exc
        return self.real.execute(sql, *args)

    def close(self) -> None:
        self.real.close()


def test_damage_found_by_load_all_starts_fresh(
    db: IndexDB, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.put_many([record("a")])
    assert db._conn is not None
    monkeypatch.setattr(db, "_conn", _DamagedConnection(db._conn))
    assert db.load_all() == {}
    assert corrupt_copies(db_path)
    db.put_many([record("b")])
    assert set(db.load_all()) == {"b"}


def test_malformed_rows_are_skipped(
    db: IndexDB, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db.put_many([record("good"), record("bad-id"), record("bad-version"), record("bad-hashes")])
    with sqlite3.connect(db_path) as other:
        other.execute("UPDATE files SET content_id = x'00' WHERE path = 'bad-id'")
        other.execute("UPDATE files SET version = x'0102' WHERE path = 'bad-version'")
        other.execute("UPDATE files SET block_hashes = 'text' WHERE path = 'bad-hashes'")
    other.close()
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        loaded = db.load_all()
    assert set(loaded) == {"good"}
    assert any("malformed" in r.getMessage() for r in caplog.records)


def test_unwritable_location_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(IndexDBError, match="cannot create"):
        IndexDB(blocker / "folders" / "index.sqlite")


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX permissions, not root"
)
def test_read_only_directory_raises(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(IndexDBError):
            IndexDB(locked / "index.sqlite")
    finally:
        locked.chmod(0o700)


# -- threads and volume --------------------------------------------------------------------------


def test_concurrent_put_many_from_threads(db: IndexDB) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def writer(n: int) -> None:
        try:
            start.wait()
            for batch in range(10):
                db.put_many(record(f"t{n}/b{batch}/{i}") for i in range(50))
                db.set_meta(f"thread-{n}", str(batch))
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    def reader() -> None:
        try:
            start.wait()
            for _ in range(10):
                db.load_all()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(db.load_all()) == 4 * 10 * 50
    assert db.get_meta("thread-3") == "9"


def test_many_records_complete(db: IndexDB) -> None:
    version = VersionVector.of({KEY_A: 3, KEY_B: 1})
    records = [
        FileRecord(
            path=f"d{i % 97}/f{i}.dat",
            disk_path=f"d{i % 97}/f{i}.dat",
            size=i,
            mtime_ns=i * 1000,
            inode=i,
            block_size=128 * 1024,
            block_hashes=(digest(str(i)),) if i else (),
            content_id=digest(f"c{i}"),
            version=version,
        )
        for i in range(20_000)
    ]
    db.put_many(records)
    loaded = db.load_all()
    assert len(loaded) == 20_000
    assert loaded[records[12345].path] == records[12345]
    db.remove_many(r.path for r in records[:10_000])
    assert len(db.load_all()) == 10_000


def test_loaded_records_share_names_and_versions(db: IndexDB) -> None:
    """What a big folder keeps in memory for as long as it is shared: a name that is the same
    on disk and on the wire is one string, and equal versions are one vector."""
    nfd = replace(record("caf\u00e9.txt"), disk_path="cafe\u0301.txt")
    db.put_many([record("a.txt"), record("b.txt"), nfd,
                 record("c.txt", version=VersionVector.of({KEY_B: 2}))])
    loaded = db.load_all()
    assert loaded["a.txt"].disk_path is loaded["a.txt"].path
    assert loaded["caf\u00e9.txt"].disk_path == "cafe\u0301.txt"
    assert loaded["a.txt"].version is loaded["b.txt"].version
    assert loaded["c.txt"].version == VersionVector.of({KEY_B: 2})


def test_malformed_rows_among_many_are_skipped_while_streaming(db: IndexDB, db_path: Path,
                                                               caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    """Rows are decoded as they are read: a bad row in the middle is skipped, the rest load."""
    db.put_many(record(f"f{i:04d}") for i in range(1000))
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE files SET content_id = x'00' WHERE path = 'f0500'")
    conn.close()
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        loaded = db.load_all()
    assert len(loaded) == 999 and "f0500" not in loaded
    assert "skipped 1 malformed row" in caplog.text


# -- the folder's identity (schema version 2) ----------------------------------------------------

#: The tables of schema version 1, exactly as index_schema.py created them before version 2
#: (mfsync 0.3 before folder ids, commit f07416a).
SCHEMA_V1 = (
    """CREATE TABLE files (
        path TEXT PRIMARY KEY NOT NULL,
        disk_path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        block_size INTEGER NOT NULL,
        block_hashes BLOB NOT NULL,
        content_id BLOB NOT NULL,
        version BLOB NOT NULL,
        deleted INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID",
)


def _version_1_database(path: Path, records: list[FileRecord]) -> None:
    """A database as version 1 wrote it: its tables, its pragmas, rows in its (unchanged)
    row format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN IMMEDIATE")
    for statement in SCHEMA_V1:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.executemany(UPSERT, [encode_record(r, {}) for r in records])
    conn.execute("INSERT INTO meta (key, value) VALUES ('generation', '7')")
    conn.execute("COMMIT")
    conn.close()


def test_folder_identity_is_written_once_and_read_back_after_a_restart(db_path: Path) -> None:
    notes = FolderIdentity(FolderId.parse("k3x9-pq2m"), "Notes")
    with IndexDB(db_path) as index:
        assert index.folder() is None
        assert index.keep_folder(notes) == notes
        other = FolderIdentity(FolderId.new(), "Other")
        assert index.keep_folder(other) == notes  # the first one stays
    with IndexDB(db_path) as index:  # a restart
        assert index.folder() == notes
        assert index.keep_folder(FolderIdentity(FolderId.new(), "Again")) == notes


def test_a_version_1_database_is_migrated_in_place_with_its_rows(
        db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [record("a.txt"), record("sub/b.bin", blocks=5), record("gone", deleted=True)]
    _version_1_database(db_path, rows)
    with caplog.at_level(logging.INFO, logger="mfsync.store"):
        index = IndexDB(db_path)
    with index:
        assert index.load_all() == {r.path: r for r in rows}
        assert index.get_meta("generation") == "7"
        assert index.folder() is None
        identity = FolderIdentity(FolderId.new(), "Photos")
        assert index.keep_folder(identity) == identity
    assert not corrupt_copies(db_path)  # migrated, not moved aside
    assert any("migrated from version 1 to 2" in r.getMessage() for r in caplog.records)
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2 == IndexDB.SCHEMA_VERSION
    conn.close()
    with IndexDB(db_path) as index:
        assert index.folder() == identity and len(index.load_all()) == 3


def test_a_damaged_folder_row_is_ignored(db_path: Path) -> None:
    with IndexDB(db_path) as index:
        index.put_many([record("a")])
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO folder (one, id, label) VALUES (1, x'0102', 'a:b')")
    conn.commit()
    conn.close()
    with IndexDB(db_path) as index:
        assert index.folder() is None
        assert set(index.load_all()) == {"a"}
