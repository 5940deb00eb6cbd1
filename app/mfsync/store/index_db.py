"""The per-folder index database: cached hashes, version vectors and local deletions.

How it works: one SQLite file per shared folder (``~/.mfsync/folders/<hash>.sqlite``) holds a
``files`` table keyed by the wire name, a small ``meta`` key/value table, and the folder's
identity (``folder``: its id and label, written once). Hashes are cached so
a restart does not rehash unchanged files; versions and tombstones are what the folder remembers
between runs. This module reads and writes; a record's row is :mod:`mfsync.store.index_records`,
opening the file, its schema and moving a damaged one aside are :mod:`mfsync.store.index_schema`.

The database is a cache plus versions, never worth a crash: damage found while reading starts a
fresh database too, and rows with bad lengths are skipped on load with a warning. Only a
location that cannot be written at all raises :class:`IndexDBError`.

One connection is shared by every thread (the engine calls in through ``asyncio.to_thread``),
guarded by a lock: SQLite serialises writers anyway, and one connection keeps WAL simple.
"""

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.folder_id import FOLDER_ID_BYTES, FolderId, check_label
from mfsync.protocol.version import VersionVector
from mfsync.store.index_records import (
    HASH_SIZE,
    KEY_SIZE,
    SELECT_ALL,
    UPSERT,
    FileRecord,
    decode_row,
    encode_record,
)
from mfsync.store.index_schema import (
    SCHEMA_VERSION,
    IndexDBError,
    is_damage,
    make_private_dirs,
    move_aside,
    open_index,
)
from mfsync.store.locations import folder_digest

__all__ = ["HASH_SIZE", "KEY_SIZE", "FileRecord", "FolderIdentity", "IndexDB", "IndexDBError"]

log = logging.getLogger("mfsync.store")


@dataclass(frozen=True)
class FolderIdentity:
    """What a folder's index database remembers of the folder itself: its id and label."""

    id: FolderId
    label: str


class IndexDB:
    """The index database of one shared folder; safe to call from any thread."""

    #: The schema this version writes (kept here for callers that ask the class).
    SCHEMA_VERSION = SCHEMA_VERSION

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        make_private_dirs(path.parent)
        self._conn = open_index(path)

    @staticmethod
    def path_for(state_dir: Path, folder: Path) -> Path:
        """Where the index of ``folder`` lives: named by a hash of its resolved path, so any
        folder name (and any later rename of the state directory) is a safe file name."""
        return state_dir / "folders" / f"{folder_digest(folder)}.sqlite"

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
                for row in conn.execute(SELECT_ALL):
                    record = decode_row(row, versions)
                    if record is None:
                        skipped += 1
                        if skipped <= 5:  # one bad row per file could otherwise flood the log
                            log.warning("index %s: skipping malformed row for %r", self._path,
                                        row[0])
                        continue
                    records[record.path] = record
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                if not is_damage(exc):
                    raise IndexDBError(f"cannot read index {self._path}: {exc}") from exc
                # Damage found past the open-time checks: start over rather than fail a
                # folder forever; the cost is a rehash and forgotten tombstones.
                self._conn = None
                conn.close()
                move_aside(self._path, f"damaged ({exc})")
                self._conn = open_index(self._path)
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
        rows = [encode_record(record, versions) for record in records]
        if not rows:
            return
        with self._lock:
            self._write(lambda conn: conn.executemany(UPSERT, rows))

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

    def folder(self) -> FolderIdentity | None:
        """The folder's identity as recorded (``keep_folder``), or None if none is (or the
        row cannot be read: a damaged row is not worth a crash, the caller decides again)."""
        with self._lock:
            conn = self._connection()
            try:
                row = conn.execute("SELECT id, label FROM folder").fetchone()
            except sqlite3.Error as exc:
                raise IndexDBError(f"cannot read index {self._path}: {exc}") from exc
        if row is None:
            return None
        raw, label = row
        try:
            if not isinstance(raw, bytes) or len(raw) != FOLDER_ID_BYTES:
                raise ValueError(f"a folder id is {FOLDER_ID_BYTES} bytes")
            if not isinstance(label, str):
                raise ValueError("the label is not text")
            return FolderIdentity(FolderId(raw), check_label(label))
        except ValueError as exc:
            log.warning("index %s: ignoring the recorded folder identity: %s", self._path, exc)
            return None

    def keep_folder(self, identity: FolderIdentity) -> FolderIdentity:
        """Record ``identity`` as the folder's if none is recorded yet, and return the one
        recorded: the first written stays (a folder's id never changes under it)."""
        check_label(identity.label)
        with self._lock:
            self._write(lambda conn: conn.execute(
                "INSERT OR IGNORE INTO folder (one, id, label) VALUES (1, ?, ?)",
                (identity.id.raw, identity.label)))
        return self.folder() or identity

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
