"""One shared file as the share set holds it: its names, what tells it apart on disk, its hashes
and its version; and the two forms it leaves as (an index entry for peers, a row for the index
database)."""

from dataclasses import dataclass

from mfsync.protocol.messages import IndexEntry
from mfsync.protocol.version import VersionVector
from mfsync.store.hashing import FileHashes
from mfsync.store.index_db import FileRecord

__all__ = ["LocalFile"]


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One shared file, its hashes and its version."""

    path: str  #: the name on the wire (NFC)
    disk_path: str  #: the name on disk, relative to the root (may be NFD, as macOS writes it)
    size: int
    mtime_ns: int
    inode: int
    hashes: FileHashes
    version: VersionVector

    @classmethod
    def from_record(cls, record: FileRecord) -> "LocalFile":
        """The file a row of the index database describes (a live row: not a tombstone)."""
        hashes = FileHashes(record.size, record.block_size, record.block_hashes,
                            record.content_id)
        return cls(record.path, record.disk_path, record.size, record.mtime_ns, record.inode,
                   hashes, record.version)

    def to_entry(self) -> IndexEntry:
        """The index entry peers see."""
        return IndexEntry(self.path, self.size, self.mtime_ns, self.hashes.content_id,
                          self.version)

    def to_record(self) -> FileRecord:
        """The row the index database keeps."""
        return FileRecord(self.path, self.disk_path, self.size, self.mtime_ns, self.inode,
                          self.hashes.block_size, self.hashes.block_hashes,
                          self.hashes.content_id, self.version)

    @property
    def stat_key(self) -> tuple[int, int, int]:
        """(size, mtime_ns, inode): what tells that the file on disk is still this one."""
        return (self.size, self.mtime_ns, self.inode)
