"""Opening a folder's index database: its file, its schema, and moving a bad one aside.

How it works: :func:`open_index` creates the file private to us (and its directories), checks
it (``quick_check``, the schema version, the shape of the tables), switches it to WAL and, for
a new file, creates the tables. The database is a cache plus versions, never worth a crash: a
file that is not a database, is damaged, or carries a newer schema is renamed aside
(``<name>.corrupt-YYYYmmdd-HHMMSS``, see :func:`move_aside`) with a warning and a fresh one is
created. Only a location that cannot be written at all raises :class:`IndexDBError`.

A new schema version adds its migration to ``_MIGRATIONS`` (from each older ``user_version``
to the next, in one transaction with the version bump); a file from a newer mfsync is moved
aside rather than misread. Version 2 added the ``folder`` table: the folder's id and label, one
row written once (see ``IndexDB.keep_folder``), so that a folder made on the command line keeps
its identity across runs.
"""

import logging
import os
import sqlite3
import time
from pathlib import Path

from mfsync.store.index_records import SELECT_ALL

__all__ = ["SCHEMA_VERSION", "IndexDBError", "is_damage", "make_private_dirs", "move_aside",
           "open_index"]

log = logging.getLogger("mfsync.store")

#: The schema this version writes (SQLite's ``user_version``).
SCHEMA_VERSION = 2
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
#: The folder's identity: at most one row (``one`` is always 1), written once.
_FOLDER_TABLE = ("CREATE TABLE folder (one INTEGER PRIMARY KEY CHECK (one = 1), "
                 "id BLOB NOT NULL, label TEXT NOT NULL)")
#: What brings a file of each older version to the next one (tables added, rows kept).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (_FOLDER_TABLE,),
}
#: Reads that fail to prepare ("no such table/column") when a file's shape is not ours.
_SHAPE_CHECKS = (
    SELECT_ALL + " LIMIT 0",
    "SELECT key, value FROM meta LIMIT 0",
    "SELECT id, label FROM folder LIMIT 0",
)


class IndexDBError(Exception):
    """The index database cannot be used (unwritable location, closed, failed write)."""


def open_index(path: Path) -> sqlite3.Connection:
    """A connection to the index at ``path``, created if need be; a file that is not a usable
    index of ours is moved aside first and a fresh one made in its place."""
    try:
        return _try_open(path)
    except _Unusable as exc:
        move_aside(path, str(exc))
    try:
        return _try_open(path)
    except _Unusable as exc:  # a fresh file that is still unusable: not our content
        raise IndexDBError(f"cannot create index {path}: {exc}") from exc


def move_aside(path: Path, reason: str) -> None:
    """Rename the database (and its WAL and shared-memory files) out of the way."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():  # two in one second: keep both
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
        # A leftover WAL would be replayed into the fresh database: move it with its db,
        # under the names SQLite expects, so the copy can still be opened for inspection.
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
    except OSError as exc:
        raise IndexDBError(f"cannot move unusable index {path} aside: {exc}") from exc
    log.warning(
        "index %s is unusable (%s); moved aside to %s and starting a fresh one"
        " (files will be rehashed; remembered deletions are forgotten)",
        path,
        reason,
        target.name,
    )


def is_damage(exc: sqlite3.Error | UnicodeDecodeError) -> bool:
    """Whether ``exc`` says the file is damaged or no database (rather than, say, busy)."""
    if isinstance(exc, UnicodeDecodeError):
        # Python raises this in place of SQLite's error when the message quotes bytes of a
        # damaged file that are not UTF-8 ("malformed database schema (\x80tabl)").
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGED_CODES
    text = str(exc)
    return "not a database" in text or "malformed" in text


def make_private_dirs(directory: Path) -> None:
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


class _Unusable(Exception):
    """The file is not a database this version can use (internal: it gets moved aside)."""


def _try_open(path: Path) -> sqlite3.Connection:
    _create_private_file(path)
    try:
        conn = sqlite3.connect(
            path,
            timeout=_BUSY_TIMEOUT,
            isolation_level=None,  # transactions are explicit (BEGIN/COMMIT in IndexDB._write)
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise IndexDBError(f"cannot open index {path}: {exc}") from exc
    # A damaged file can hold TEXT that is not UTF-8; the default factory fails the whole
    # read for it (the folder's index would never load again) instead of skipping a row.
    conn.text_factory = _text_or_bytes
    try:
        _prepare(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check the file and bring it to the current schema; raise _Unusable if it is not a
    database of ours that this version can read."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _Unusable(f"schema version {version} is newer than {SCHEMA_VERSION}")
        if version < 0:  # (a damaged header: no version of ours was ever negative)
            raise _Unusable(f"schema version {version} is not one of ours")
        # quick_check reads every page once: cheap next to the rehash it saves, and it
        # turns damage into a fresh start here instead of an error mid-sync.
        check = conn.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise _Unusable(f"integrity check failed: {check[0][0]}")
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if version == 0 and tables:
            names = ", ".join(sorted(str(name) for name in tables))
            raise _Unusable(f"not an mfsync index (tables: {names})")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            # Some network file systems cannot share memory for WAL: still correct, slower.
            log.info("index %s: journal mode %s (WAL unavailable)", path, mode)
        conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable except on power loss
        if version < SCHEMA_VERSION:
            _upgrade(conn, path)
        # Preparing these reads fails with "no such column/table" if the shape is off.
        for check_shape in _SHAPE_CHECKS:
            conn.execute(check_shape).fetchall()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        if is_damage(exc) or (isinstance(exc, sqlite3.OperationalError) and "no such" in str(exc)):
            raise _Unusable(str(exc)) from exc
        raise IndexDBError(f"cannot use index {path}: {exc}") from exc


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new file, or migrate an older one step by step, in one
    transaction (a crash half way leaves the file as it was)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have just done it.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            for statement in (*_SCHEMA, _FOLDER_TABLE):
                conn.execute(statement)
        elif version < SCHEMA_VERSION:
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
            log.info("index %s: schema migrated from version %d to %d", path, version,
                     SCHEMA_VERSION)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _create_private_file(path: Path) -> None:
    """Create an empty database file readable only by us (SQLite gives its WAL and shared
    memory files the same mode); an empty file is a valid, empty database."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError as exc:
        raise IndexDBError(f"cannot create index {path}: {exc}") from exc
    os.close(fd)


def _text_or_bytes(data: bytes) -> str | bytes:
    """A TEXT value as str; as bytes when it is not UTF-8, which no reader takes for text (a
    row with such a path is skipped, a meta value ignored, a table name only shown)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data
