"""One shared file as the share set holds it: its names, what tells it apart on disk, its hashes
and its version; and the two forms it leaves as (an index entry for peers, a row for the index
database).

A ``LocalFile`` is a thin wrapper around the ``FileRecord`` of its row: the share set keeps the
index's records (tombstones too) beside its live files, and with one object per file for both
a file costs ~100 bytes less than as a record plus a file and its ``FileHashes`` (about 10 MB
per 100,000 files, for as long as the folder is shared). ``hashes`` is built when asked for.
"""

from dataclasses import dataclass, replace

from mfsync.protocol.messages import IndexEntry
from mfsync.protocol.version import VersionVector
from mfsync.store.hashing import FileHashes
from mfsync.store.index_db import FileRecord

__all__ = ["LocalFile"]


@dataclass(frozen=True, slots=True, init=False)
class LocalFile:
    """One shared file, its hashes and its version (held as the live ``FileRecord``)."""

    record: FileRecord

    def __init__(  # noqa: PLR0917 - positional, as the fields of the dataclass it was
            self, path: str, disk_path: str, size: int, mtime_ns: int, inode: int,
            hashes: FileHashes, version: VersionVector) -> None:
        """``path``: the name on the wire (NFC); ``disk_path``: the name on disk, relative to
        the root (may be NFD, as macOS writes it)."""
        object.__setattr__(self, "record", FileRecord(
            path, disk_path, size, mtime_ns, inode, hashes.block_size, hashes.block_hashes,
            hashes.content_id, version))

    @classmethod
    def from_record(cls, record: FileRecord) -> "LocalFile":
        """The file a row of the index database describes (a live row: not a tombstone); it
        holds ``record`` itself, not a copy."""
        local: LocalFile = object.__new__(cls)
        object.__setattr__(local, "record",
                           replace(record, deleted=False) if record.deleted else record)
        return local

    @property
    def path(self) -> str:
        """The name on the wire (NFC)."""
        return self.record.path

    @property
    def disk_path(self) -> str:
        """The name on disk, relative to the root (may be NFD, as macOS writes it)."""
        return self.record.disk_path

    @property
    def size(self) -> int:
        """Bytes."""
        return self.record.size

    @property
    def mtime_ns(self) -> int:
        """Modification time as the last scan saw it."""
        return self.record.mtime_ns

    @property
    def inode(self) -> int:
        """Inode (file id) as the last scan saw it."""
        return self.record.inode

    @property
    def version(self) -> VersionVector:
        """The file's version vector."""
        return self.record.version

    @property
    def hashes(self) -> FileHashes:
        """Its block size, block hashes and content id (a new object at each call)."""
        r = self.record
        return FileHashes(r.size, r.block_size, r.block_hashes, r.content_id)

    def with_version(self, version: VersionVector) -> "LocalFile":
        """The same file with ``version``."""
        return LocalFile.from_record(replace(self.record, version=version))

    def to_entry(self) -> IndexEntry:
        """The index entry peers see."""
        r = self.record
        return IndexEntry(r.path, r.size, r.mtime_ns, r.content_id, r.version)

    def to_record(self) -> FileRecord:
        """The row the index database keeps (the record it holds: no copy)."""
        return self.record

    @property
    def stat_key(self) -> tuple[int, int, int]:
        """(size, mtime_ns, inode): what tells that the file on disk is still this one."""
        r = self.record
        return (r.size, r.mtime_ns, r.inode)
