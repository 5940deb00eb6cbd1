"""How one file's record is stored: ``FileRecord`` and its row in the index's ``files`` table.

Block hashes are one BLOB (32 bytes each, concatenated) and a version vector is a BLOB of
(32-byte key, 8-byte big-endian counter) pairs, so a row is a handful of columns and a full load
is one table scan. Encoding refuses what a row cannot hold (a caller's bug); decoding returns
None for a row that does not decode (a damaged or tampered file), which the reader skips.
Pure functions: no SQLite here beyond the two statements that name the columns in order.
"""

from dataclasses import dataclass

from mfsync.protocol.version import MAX_COUNTER, VersionVector

__all__ = [
    "HASH_SIZE",
    "KEY_SIZE",
    "SELECT_ALL",
    "UPSERT",
    "FileRecord",
    "Row",
    "decode_row",
    "decode_version",
    "encode_record",
]

#: Size of a block hash and of a content id (SHA-256).
HASH_SIZE = 32
#: Size of a host key in a version vector.
KEY_SIZE = 32
_COUNTER_SIZE = 8
_ENTRY_SIZE = KEY_SIZE + _COUNTER_SIZE
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_COUNTER_MAX = 2**64 - 1
#: Every block size a row can hold (powers of two) as one int object each: an int read from a
#: row is a new object (28 bytes) per file otherwise.
_BLOCK_SIZES = {1 << n: 1 << n for n in range(63)}

# Spelled out rather than built from a column list: fixed SQL, nothing interpolated. Both name
# the columns in the order of ``Row``.
#: Every row of the ``files`` table.
SELECT_ALL = (
    "SELECT path, disk_path, size, mtime_ns, inode, block_size, block_hashes, content_id,"
    " version, deleted FROM files"
)
#: Insert or replace one row, by path.
UPSERT = (
    "INSERT OR REPLACE INTO files (path, disk_path, size, mtime_ns, inode, block_size,"
    " block_hashes, content_id, version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: A row as stored: path, disk_path, size, mtime_ns, inode (a BLOB past 64 bits), block_size,
#: block_hashes, content_id, version, deleted.
Row = tuple[str, str, int, int, int | bytes, int, bytes, bytes, bytes, int]


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



def encode_record(
    record: FileRecord, versions: dict[VersionVector, bytes] | None = None
) -> Row:
    """The row of ``record``; ValueError for bad lengths or out-of-range numbers.

    ``versions`` caches encoded version vectors between calls.
    """
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


def decode_row(row: tuple[object, ...], versions: dict[bytes, VersionVector]) -> FileRecord | None:
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
    decoded = versions.get(version)
    if decoded is None:
        decoded = decode_version(version, versions)
        if any(counter > MAX_COUNTER for _, counter in decoded.counters):
            del versions[version]  # (only vectors that passed are cached, so checked once)
            return None  # tampered: a bump could no longer be encoded
    return FileRecord(
        path=path,
        # Nearly always the same name: one string object for both saves ~7 MB per 100,000
        # files for as long as the folder is shared.
        disk_path=path if disk_path == path else disk_path,
        size=size,
        mtime_ns=mtime_ns,
        inode=inode,
        block_size=_BLOCK_SIZES.get(block_size, block_size),
        block_hashes=tuple([hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]),
        content_id=content_id,
        version=decoded,
        deleted=bool(deleted),
    )


def decode_version(data: bytes, cache: dict[bytes, VersionVector]) -> VersionVector:
    """The version vector stored as ``data`` (whole entries: the caller checks the length);
    ``cache`` keeps decoded vectors by their bytes between calls."""
    version = cache.get(data)
    if version is None:
        version = VersionVector.of(
            (data[i : i + KEY_SIZE], int.from_bytes(data[i + KEY_SIZE : i + _ENTRY_SIZE], "big"))
            for i in range(0, len(data), _ENTRY_SIZE)
        )
        cache[data] = version
    return version
