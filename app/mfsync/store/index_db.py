"""The per-folder index database: cached hashes, version vectors and local deletions.

How it works: one SQLite file per shared folder (``~/.mfsync/folders/<hash>.sqlite``) holds a
``files`` table keyed by the wire name and a small ``meta`` key/value table. Hashes are cached so
a restart does not rehash unchanged files; versions and tombstones are what the folder remembers
between runs. Block hashes are one BLOB (32 bytes each, concatenated) and a version vector is a
BLOB of (32-byte key, 8-byte big-endian counter) pairs, so a row is a handful of columns and a
full load is one table scan.

The database is a cache plus versions, never worth a crash: a file that is not a database, is
damaged, or carries a newer schema is renamed aside (``<name>.corrupt-YYYYmmdd-HHMMSS``) with a
warning and a fresh one is created. Rows with bad lengths are skipped on load with a warning.
Only a location that cannot be written at all raises :class:`IndexDBError`.

One connection is shared by every thread (the engine calls in through ``asyncio.to_thread``),
guarded by a lock: SQLite serialises writers anyway, and one connection keeps WAL simple.
"""

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.version import MAX_COUNTER, VersionVector

__all__ = ["HASH_SIZE", "KEY_SIZE", "FileRecord", "IndexDB", "IndexDBError"]

log = logging.getLogger("mfsync.store")

#: Size of a block hash and of a content id (SHA-256).
HASH_SIZE = 32
#: Size of a host key in a version vector.
KEY_SIZE = 32
_COUNTER_SIZE = 8
_ENTRY_SIZE = KEY_SIZE + _COUNTER_SIZE
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_COUNTER_MAX = 2**64 - 1
#: How long a call waits for another process holding the database before giving up (seconds).
_BUSY_TIMEOUT = 10.0
#: Primary SQLite result codes that mean "this file is not a usable database".
_DAMAGED_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

_SCHEMA = (
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
# Spelled out rather than built from a column list: fixed SQL, nothing interpolated.
_SELECT_ALL = (
    "SELECT path, disk_path, size, mtime_ns, inode, block_size, block_hashes, content_id,"
    " version, deleted FROM files"
)
_UPSERT = (
    "INSERT OR REPLACE INTO files (path, disk_path, size, mtime_ns, inode, block_size,"
    " block_hashes, content_id, version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_Row = tuple[str, str, int, int, int | bytes, int, bytes, bytes, bytes, int]


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file as the index remembers it."""

    path: str  #: wire name (NFC, relative POSIX)
    disk_path: str  #: name on disk relative to the folder root (may differ: NFD on macOS)
    size: int
    mtime_ns: int
    inode: int
    block_size: int
    block_hashes: tuple[bytes, ...]  #: 32 bytes each
    content_id: bytes  #: 32 bytes
    version: VersionVector
    #: Tombstone: deleted locally; the version is kept so the file is not fetched again.
    deleted: bool = False


class IndexDBError(Exception):
    """The index database cannot be used (unwritable location, closed, failed write)."""


class IndexDB:
    """The index database of one shared folder; safe to call from any thread."""

    SCHEMA_VERSION = 1

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        _make_private_dirs(path.parent)
        self._conn = self._open()

    @staticmethod
    def path_for(state_dir: Path, folder: Path) -> Path:
        """Where the index of ``folder`` lives: named by a hash of its resolved path, so any
        folder name (and any later rename of the state directory) is a safe file name."""
        # surrogateescape: a name that is not valid UTF-8 (POSIX bytes) still hashes.
        name = str(folder.resolve()).encode("utf-8", "surrogateescape")
        digest = hashlib.sha256(name).hexdigest()[:16]
        return state_dir / "folders" / f"{digest}.sqlite"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def load_all(self) -> dict[str, FileRecord]:
        """Every record, by wire name; rows that do not decode are skipped with a warning."""
        records: dict[str, FileRecord] = {}
        versions: dict[bytes, VersionVector] = {}
        skipped = 0
        with self._lock:
            conn = self._connection()
            try:
                # Row by row, not fetchall(): a list of every raw row beside the records
                # raised the peak memory of a start by ~20 MB at 100,000 files.
                for row in conn.execute(_SELECT_ALL):
                    record = _decode_row(row, versions)
                    if record is None:
                        skipped += 1
                        if skipped <= 5:  # one bad row per file could otherwise flood the log
                            log.warning("index %s: skipping malformed row for %r", self._path,
                                        row[0])
                        continue
                    records[record.path] = record
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                if not _is_damage(exc):
                    raise IndexDBError(f"cannot read index {self._path}: {exc}") from exc
                # Damage found past the open-time checks: start over rather than fail a
                # folder forever; the cost is a rehash and forgotten tombstones.
                self._conn = None
                conn.close()
                self._move_aside(f"damaged ({exc})")
                self._conn = self._open()
                return {}
        if skipped:
            log.warning("index %s: skipped %d malformed row(s)", self._path, skipped)
        return records

    def put_many(self, records: Iterable[FileRecord]) -> None:
        """Insert or replace records by path, in one transaction.

        Raises ValueError for a record with bad lengths or out-of-range numbers (a caller's
        bug), before anything is written.
        """
        # Encode before taking the lock: other threads wait only for the write itself.
        versions: dict[VersionVector, bytes] = {}  # most records share a few versions
        rows = [_encode_record(record, versions) for record in records]
        if not rows:
            return
        with self._lock:
            self._write(lambda conn: conn.executemany(_UPSERT, rows))

    def remove_many(self, paths: Iterable[str]) -> None:
        """Forget these paths (absent ones are ignored), in one transaction."""
        params = [(path,) for path in paths]
        if not params:
            return
        with self._lock:
            self._write(lambda conn: conn.executemany("DELETE FROM files WHERE path = ?", params))

    def get_meta(self, key: str) -> str | None:
        """A value of the small key/value table, or None."""
        with self._lock:
            conn = self._connection()
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                raise IndexDBError(f"cannot read index {self._path}: {exc}") from exc
        if row is None or not isinstance(row[0], str):
            return None
        return row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the small key/value table (e.g. the share-set generation)."""
        with self._lock:
            self._write(
                lambda conn: conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
                )
            )

    def close(self) -> None:
        """Close the database; later calls to close do nothing, other calls raise."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def __enter__(self) -> "IndexDB":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise IndexDBError(f"index {self._path} is closed")
        return self._conn

    def _write(self, action: Callable[[sqlite3.Connection], object]) -> None:
        """Run ``action`` in one transaction; the caller holds the lock."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                action(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise IndexDBError(f"cannot write index {self._path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        """Open (and if need be create) the database; move a bad one aside first."""
        try:
            return self._try_open()
        except _Unusable as exc:
            self._move_aside(str(exc))
        try:
            return self._try_open()
        except _Unusable as exc:  # a fresh file that is still unusable: not our content
            raise IndexDBError(f"cannot create index {self._path}: {exc}") from exc

    def _try_open(self) -> sqlite3.Connection:
        _create_private_file(self._path)
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=_BUSY_TIMEOUT,
                isolation_level=None,  # transactions are explicit (BEGIN/COMMIT in _write)
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise IndexDBError(f"cannot open index {self._path}: {exc}") from exc
        # A damaged file can hold TEXT that is not UTF-8; the default factory fails the whole
        # read for it (the folder's index would never load again) instead of skipping a row.
        conn.text_factory = _text_or_bytes
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the file and bring it to the current schema; raise _Unusable if it is not
        a database of ours that this version can read."""
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > self.SCHEMA_VERSION:
                raise _Unusable(f"schema version {version} is newer than {self.SCHEMA_VERSION}")
            # quick_check reads every page once: cheap next to the rehash it saves, and it
            # turns damage into a fresh start here instead of an error mid-sync.
            check = conn.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise _Unusable(f"integrity check failed: {check[0][0]}")
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if version == 0 and tables:
                names = ", ".join(sorted(str(name) for name in tables))
                raise _Unusable(f"not an mfsync index (tables: {names})")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                # Some network file systems cannot share memory for WAL: still correct, slower.
                log.info("index %s: journal mode %s (WAL unavailable)", self._path, mode)
            conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable except on power loss
            if version == 0:
                conn.execute("BEGIN IMMEDIATE")
                # Read again under the write lock: another process may have just created it.
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")
                conn.execute("COMMIT")
            else:
                # Preparing these reads fails with "no such column/table" if the shape is off.
                conn.execute(_SELECT_ALL + " LIMIT 0").fetchall()
                conn.execute("SELECT key, value FROM meta LIMIT 0").fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if _is_damage(exc) or (
                isinstance(exc, sqlite3.OperationalError) and "no such" in str(exc)
            ):
                raise _Unusable(str(exc)) from exc
            raise IndexDBError(f"cannot use index {self._path}: {exc}") from exc

    def _move_aside(self, reason: str) -> None:
        """Rename the database (and its WAL and shared-memory files) out of the way."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self._path.with_name(f"{self._path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():  # two in one second: keep both
            n += 1
            target = self._path.with_name(f"{self._path.name}.corrupt-{stamp}-{n}")
        try:
            os.replace(self._path, target)
            # A leftover WAL would be replayed into the fresh database: move it with its db,
            # under the names SQLite expects, so the copy can still be opened for inspection.
            for suffix in ("-wal", "-shm"):
                side = self._path.with_name(self._path.name + suffix)
                if side.exists():
                    os.replace(side, target.with_name(target.name + suffix))
        except OSError as exc:
            raise IndexDBError(f"cannot move unusable index {self._path} aside: {exc}") from exc
        log.warning(
            "index %s is unusable (%s); moved aside to %s and starting a fresh one"
            " (files will be rehashed; remembered deletions are forgotten)",
            self._path,
            reason,
            target.name,
        )


def _text_or_bytes(data: bytes) -> str | bytes:
    """A TEXT value as str; as bytes when it is not UTF-8, which no reader takes for text (a
    row with such a path is skipped, a meta value ignored, a table name only shown)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


class _Unusable(Exception):
    """The file is not a database this version can use (internal: it gets moved aside)."""


def _is_damage(exc: sqlite3.Error | UnicodeDecodeError) -> bool:
    if isinstance(exc, UnicodeDecodeError):
        # Python raises this in place of SQLite's error when the message quotes bytes of a
        # damaged file that are not UTF-8 ("malformed database schema (\x80tabl)").
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGED_CODES
    text = str(exc)
    return "not a database" in text or "malformed" in text


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and missing parents with mode 0700 (mkdir(parents=True) would
    give the parents default permissions, and file names are private)."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    try:
        for part in reversed(missing):
            part.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise IndexDBError(f"cannot create index directory {directory}: {exc}") from exc


def _create_private_file(path: Path) -> None:
    """Create an empty database file readable only by us (SQLite gives its WAL and shared
    memory files the same mode); an empty file is a valid, empty database."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError as exc:
        raise IndexDBError(f"cannot create index {path}: {exc}") from exc
    os.close(fd)


def _encode_record(
    record: FileRecord, versions: dict[VersionVector, bytes] | None = None
) -> _Row:
    """The row of ``record``; ``versions`` caches encoded version vectors between calls."""
    for name, number in (
        ("size", record.size),
        ("mtime_ns", record.mtime_ns),
        ("block_size", record.block_size),
    ):
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise ValueError(f"{record.path!r}: {name} {number} is out of range")
    if record.size < 0 or record.block_size < 0:
        raise ValueError(f"{record.path!r}: negative size or block size")
    if any(len(block) != HASH_SIZE for block in record.block_hashes):
        raise ValueError(f"{record.path!r}: block hashes must be {HASH_SIZE} bytes each")
    if len(record.content_id) != HASH_SIZE:
        raise ValueError(f"{record.path!r}: content id must be {HASH_SIZE} bytes")
    # Windows file ids can pass 2**63 (and ReFS ids 2**64): store those as a BLOB, which
    # SQLite never converts (text in an INTEGER column would turn into a lossy REAL).
    inode: int | bytes = record.inode
    if not _INT64_MIN <= record.inode <= _INT64_MAX:
        if record.inode < 0:
            raise ValueError(f"{record.path!r}: inode {record.inode} is out of range")
        inode = record.inode.to_bytes((record.inode.bit_length() + 7) // 8, "big")
    return (
        record.path,
        record.disk_path,
        record.size,
        record.mtime_ns,
        inode,
        record.block_size,
        b"".join(record.block_hashes),
        bytes(record.content_id),
        _cached_version(record.path, record.version, versions),
        int(record.deleted),
    )


def _cached_version(path: str, version: VersionVector,
                    cache: dict[VersionVector, bytes] | None) -> bytes:
    if cache is None:
        return _encode_version(path, version)
    encoded = cache.get(version)
    if encoded is None:
        encoded = cache[version] = _encode_version(path, version)
    return encoded


def _encode_version(path: str, version: VersionVector) -> bytes:
    parts: list[bytes] = []
    for key, counter in version.counters:
        if len(key) != KEY_SIZE:
            raise ValueError(f"{path!r}: version keys must be {KEY_SIZE} bytes")
        if not 0 <= counter <= _COUNTER_MAX:
            raise ValueError(f"{path!r}: version counter {counter} is out of range")
        parts.append(key + counter.to_bytes(_COUNTER_SIZE, "big"))
    return b"".join(parts)


def _decode_row(row: tuple[object, ...], versions: dict[bytes, VersionVector]) -> FileRecord | None:
    """A record from a row, or None when any column has the wrong type or length.

    ``versions`` caches decoded vectors by their bytes: most files of a folder share a few
    versions, and building a vector is most of the cost of a load.
    """
    (path, disk_path, size, mtime_ns, inode, block_size, hashes, content_id, version, deleted) = row
    if not (isinstance(path, str) and isinstance(disk_path, str)):
        return None
    if not (
        isinstance(size, int)
        and isinstance(mtime_ns, int)
        and isinstance(block_size, int)
        and isinstance(deleted, int)
    ):
        return None
    if isinstance(inode, bytes):
        inode = int.from_bytes(inode, "big")
    if not isinstance(inode, int):
        return None
    if not (
        isinstance(hashes, bytes) and isinstance(content_id, bytes) and isinstance(version, bytes)
    ):
        return None
    if len(hashes) % HASH_SIZE or len(content_id) != HASH_SIZE or len(version) % _ENTRY_SIZE:
        return None
    if size < 0 or block_size < 0 or deleted not in (0, 1):
        return None
    decoded = _decode_version(version, versions)
    if any(counter > MAX_COUNTER for _, counter in decoded.counters):
        return None  # tampered: a bump could no longer be encoded
    return FileRecord(
        path=path,
        # Nearly always the same name: one string object for both saves ~7 MB per 100,000
        # files for as long as the folder is shared.
        disk_path=path if disk_path == path else disk_path,
        size=size,
        mtime_ns=mtime_ns,
        inode=inode,
        block_size=block_size,
        block_hashes=tuple([hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]),
        content_id=content_id,
        version=decoded,
        deleted=bool(deleted),
    )


def _decode_version(data: bytes, cache: dict[bytes, VersionVector]) -> VersionVector:
    version = cache.get(data)
    if version is None:
        version = VersionVector.of(
            (data[i : i + KEY_SIZE], int.from_bytes(data[i + KEY_SIZE : i + _ENTRY_SIZE], "big"))
            for i in range(0, len(data), _ENTRY_SIZE)
        )
        cache[data] = version
    return version
