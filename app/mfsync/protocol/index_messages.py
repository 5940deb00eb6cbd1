"""The index messages: ``IndexRequest`` and the ``IndexChunk``s that answer it.

An index is the list of a folder's files, each with its size, modification time, content id
and version vector, sent in chunks that each fit one message (``chunk_index``). Every count is
checked against its cap and against the bytes left before anything is allocated; a large chunk
can be decoded in slices (``decode_index_chunk_in_steps``) so that an event loop keeps running.

An index asked for ``since_generation`` G > 0 may be answered as a *delta* (PROTOCOL.md 3.3,
3.4): chunks flagged ``DELTA`` that carry only the entries changed since G and the paths that
left the index since G (``removed``). A server that cannot answer from G answers the whole
index, as for 0. A chunk can carry its own encoding (``with_wire_body``), so that a server
sending the same index to many peers encodes it once.
"""

import struct
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import ClassVar

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.folder_messages import read_folder_id
from mfsync.protocol.names import MAX_PATH_BYTES
from mfsync.protocol.tags import CONTENT_ID_SIZE, MAX_MESSAGE_SIZE, Tag, check_size
from mfsync.protocol.version import (
    EMPTY_VERSION,
    MAX_COUNTER,
    MAX_VERSION_ENTRIES,
    VersionVector,
)
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "INDEX_DELTA",
    "INDEX_LAST",
    "MAX_INDEX_ENTRIES",
    "REMOVED_SEPARATOR",
    "IndexChunk",
    "IndexEntry",
    "IndexRequest",
    "chunk_index",
    "decode_index_chunk_in_steps",
    "read_version",
    "write_version",
]

MAX_INDEX_ENTRIES = 16384
#: ``IndexChunk`` flags: the last chunk of the reply; a chunk of a delta (3.4).
INDEX_LAST = 0x01
INDEX_DELTA = 0x02
#: What separates the removed paths of a delta chunk on the wire (no wire path contains it).
REMOVED_SEPARATOR = "\0"
_VERSION_ITEM_SIZE = 32 + 8
#: path length u16, size u64, mtime i64, content id, version count u16.
_MIN_ENTRY_SIZE = 2 + 8 + 8 + CONTENT_ID_SIZE + 2
#: The fixed fields of an index entry after its path: size u64, mtime i64, content id. Read and
#: written in one step: field by field, decoding an index of 100,000 files took most of a
#: second of the receiver's time.
_ENTRY_FIXED = struct.Struct(f">Qq{CONTENT_ID_SIZE}s")
_U16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """Ask for the index of the peer's folder ``folder``; ``since_generation`` 0 asks for all
    of it. On the wire the folder id comes first (the field is last here only so that it can
    default to the default folder)."""

    TAG: ClassVar[Tag] = Tag.INDEX_REQUEST
    since_generation: int = 0
    folder: FolderId = DEFAULT_FOLDER

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.folder.raw).u64(self.since_generation)

    @classmethod
    def decode_body(cls, r: Reader) -> "IndexRequest":
        """Read the body."""
        folder = read_folder_id(r)
        return cls(r.u64(), folder)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One shared file as a peer describes it."""

    path: str
    size: int
    mtime_ns: int
    content_id: bytes
    version: VersionVector = EMPTY_VERSION

    def __post_init__(self) -> None:
        if len(self.content_id) != CONTENT_ID_SIZE:
            raise ValueError("content_id must be 32 bytes")
        if self.size < 0:
            raise ValueError("size must not be negative")

    @property
    def wire_size(self) -> int:
        """Bytes this entry takes in an ``IndexChunk``."""
        return (_MIN_ENTRY_SIZE + len(self.path.encode("utf-8"))
                + _VERSION_ITEM_SIZE * len(self.version.counters))


@dataclass(frozen=True, slots=True)
class IndexChunk:
    """Part of an index; the one with ``last`` set ends the reply to an ``IndexRequest``.

    Entry paths are only checked for size and UTF-8 here; whether a name may be used is the
    receiver's decision (``mfsync.protocol.names.check_wire_path``), made per entry so that one
    bad name does not hide the rest of a peer's files. A ``delta`` chunk answers a request with
    a since generation: its entries are what changed since then, ``removed`` the paths that
    left the index since then; a whole index's chunks have no ``removed``.
    """

    TAG: ClassVar[Tag] = Tag.INDEX_CHUNK
    generation: int
    entries: tuple[IndexEntry, ...]
    last: bool
    delta: bool = False
    #: The removed paths of a delta, joined by ``REMOVED_SEPARATOR`` as on the wire (one
    #: string: a chunk of many short paths decodes without an object per path); see
    #: ``removed``.
    removed_paths: str = ""
    #: The body as encoded once (``with_wire_body``); empty: encoded when sent.
    wire_body: bytes = field(default=b"", compare=False, repr=False)
    #: How many entries ``wire_body`` holds, when the entries were let go (``with_wire_body``).
    encoded_entries: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.removed_paths and not self.delta:
            raise ValueError("only a delta chunk names removed paths")

    @property
    def count(self) -> int:
        """How many entries the chunk carries (also when only its encoded body is kept)."""
        return len(self.entries) or self.encoded_entries

    def read_entries(self) -> tuple[IndexEntry, ...]:
        """The entries, decoded again from the body when they were let go."""
        if self.entries or not self.encoded_entries:
            return self.entries
        return IndexChunk.decode_body(Reader(self.wire_body)).entries

    @property
    def removed(self) -> tuple[str, ...]:
        """The paths that left the index (a delta's; none for a whole index's chunk)."""
        return tuple(self.removed_paths.split(REMOVED_SEPARATOR)) if self.removed_paths else ()

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        if self.wire_body:
            w.raw(self.wire_body)
            return
        if len(self.entries) > MAX_INDEX_ENTRIES:
            raise LocalProtocolError(f"more than {MAX_INDEX_ENTRIES} entries in one chunk")
        flags = (INDEX_LAST if self.last else 0) | (INDEX_DELTA if self.delta else 0)
        w.u64(self.generation).u8(flags).u32(len(self.entries))
        versions: dict[VersionVector, bytes] = {}  # most files of an index share a few
        for e in self.entries:
            w.text16(e.path, MAX_PATH_BYTES)
            # IndexEntry checked the content id's length; struct checks the numbers' ranges.
            w.raw(_ENTRY_FIXED.pack(e.size, e.mtime_ns, e.content_id))
            encoded = versions.get(e.version)
            if encoded is None:
                version_writer = Writer()
                write_version(version_writer, e.version)
                encoded = versions[e.version] = version_writer.getvalue()
            w.raw(encoded)
        if self.delta:
            removed = self.removed_paths.encode("utf-8")
            _check_removed(removed, LocalProtocolError)
            w.u32(len(removed)).raw(removed)

    def with_wire_body(self) -> "IndexChunk":
        """The same chunk as its encoded body, to be sent many times at the cost of one
        encoding. Its ``entries`` are let go (``count`` still says how many there are): a
        cached index of 100,000 files held them beside its bytes, ~8 MB more."""
        if self.wire_body:
            return self  # (encoded already: its entries may be gone)
        w = Writer()
        self.encode_body(w)
        return replace(self, entries=(), wire_body=w.getvalue(), encoded_entries=self.count)

    @classmethod
    def decode_body(cls, r: Reader) -> "IndexChunk":
        """Read the body."""
        steps = _index_chunk_steps(r, MAX_INDEX_ENTRIES)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                chunk: IndexChunk = done.value
                return chunk


def _index_chunk_steps(r: Reader, step: int) -> Generator[None, None, IndexChunk]:
    """Read an IndexChunk body, pausing (yielding) after every ``step`` entries."""
    generation = r.u64()
    flags = r.u8()
    if flags & ~(INDEX_LAST | INDEX_DELTA):
        raise RemoteProtocolError("unknown index chunk flags")
    count = r.count(MAX_INDEX_ENTRIES, _MIN_ENTRY_SIZE)
    entries = []
    versions: dict[bytes, VersionVector] = {}  # one object per distinct vector
    # The fields of each entry are read in this one loop, every bound checked here, rather
    # than through a Reader call per field: that halved the cost of taking a large index.
    buf, pos = r.buffer()
    end = len(buf)
    u16_at = _U16.unpack_from
    fixed_at = _ENTRY_FIXED.unpack_from
    fixed_size = _ENTRY_FIXED.size
    for n in range(count):
        if pos + 2 > end:
            raise RemoteProtocolError(f"truncated: needed 2 bytes, {end - pos} left")
        (length,) = u16_at(buf, pos)
        if length > MAX_PATH_BYTES:
            raise RemoteProtocolError(
                f"field of {length} bytes exceeds the cap of {MAX_PATH_BYTES}")
        start, pos = pos + 2, pos + 2 + length
        if pos > end:
            raise RemoteProtocolError(f"truncated: needed {length} bytes, {end - start} left")
        try:
            path = str(buf[start:pos], "utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"invalid UTF-8: {exc.reason}") from None
        if pos + fixed_size > end:
            raise RemoteProtocolError(f"truncated: needed {fixed_size} bytes, {end - pos} left")
        size, mtime_ns, content_id = fixed_at(buf, pos)
        pos += fixed_size
        if pos + 2 > end:
            raise RemoteProtocolError(f"truncated: needed 2 bytes, {end - pos} left")
        (items,) = u16_at(buf, pos)
        pos += 2
        if items > MAX_VERSION_ENTRIES:
            raise RemoteProtocolError(f"version vector of {items} entries")
        stop = pos + items * _VERSION_ITEM_SIZE
        if stop > end:
            raise RemoteProtocolError(
                f"truncated: needed {stop - pos} bytes, {end - pos} left")
        data = bytes(buf[pos:stop])
        pos = stop
        version = versions.get(data)
        if version is None:
            version = _version_of(data, items, versions)
        entries.append(IndexEntry(path, size, mtime_ns, content_id, version))
        if n % step == step - 1 and n + 1 < count:
            r.seek(pos)  # (the caller may look at the reader between steps)
            yield
            buf, pos = r.buffer()
    r.seek(pos)
    removed = ""
    if flags & INDEX_DELTA:
        data = r.raw(r.count(MAX_MESSAGE_SIZE, 1))
        _check_removed(data, RemoteProtocolError)
        try:
            removed = str(data, "utf-8")
        except UnicodeDecodeError:
            raise RemoteProtocolError("removed paths are not valid UTF-8") from None
    return IndexChunk(generation, tuple(entries), bool(flags & INDEX_LAST),
                      bool(flags & INDEX_DELTA), removed)


def _check_removed(data: bytes, error: type[Exception]) -> None:
    """Raise ``error`` unless ``data`` (the removed paths as on the wire) is empty or paths of
    1 to ``MAX_PATH_BYTES`` bytes joined by single NUL bytes, at most ``MAX_INDEX_ENTRIES``:
    checked on the bytes, without an object per path."""
    if not data:
        return
    separator = REMOVED_SEPARATOR.encode()
    if data.count(separator) >= MAX_INDEX_ENTRIES:
        raise error(f"more than {MAX_INDEX_ENTRIES} removed paths in one chunk")
    start = 0
    while True:
        end = data.find(separator, start)
        stop = len(data) if end < 0 else end
        if not 0 < stop - start <= MAX_PATH_BYTES:
            raise error("a removed path is empty or longer than the wire allows")
        if end < 0:
            return
        start = end + 1


def decode_index_chunk_in_steps(data: bytes, step: int) -> Generator[None, None, IndexChunk]:
    """Decode the record plaintext ``data`` of an IndexChunk as ``decode_message`` would (the
    same checks, ``RemoteProtocolError`` for the same faults), pausing after every ``step``
    entries: a full chunk takes tens of milliseconds to decode, which an event loop does
    better in slices. The chunk is the generator's return value."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise RemoteProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    if not data or data[0] != Tag.INDEX_CHUNK:
        raise RemoteProtocolError("not an index chunk")
    r = Reader(memoryview(data)[1:])
    chunk = yield from _index_chunk_steps(r, step)
    r.end()
    return chunk


def write_version(w: Writer, version: VersionVector) -> None:
    """Write a version vector (a u16 count, then key and counter per entry)."""
    if len(version.counters) > MAX_VERSION_ENTRIES:
        raise LocalProtocolError("version vector too long")
    w.u16(len(version.counters))
    for key, counter in version.counters:
        w.raw(check_size("a version key", key, 32)).u64(counter)


def read_version(r: Reader, cache: dict[bytes, VersionVector] | None = None) -> VersionVector:
    """A version vector; ``cache`` maps the bytes of vectors already decoded to them, so that
    the same vector in many entries is checked and built once."""
    count = r.u16()
    if count > MAX_VERSION_ENTRIES:
        raise RemoteProtocolError(f"version vector of {count} entries")
    data = r.raw(count * _VERSION_ITEM_SIZE)
    if cache is not None and (known := cache.get(data)) is not None:
        return known
    return _version_of(data, count, cache)


def _version_of(data: bytes, count: int,
                cache: dict[bytes, VersionVector] | None) -> VersionVector:
    """The version vector of ``count`` items encoded as ``data`` (checked), kept in
    ``cache``."""
    items = [
        (data[i : i + 32], int.from_bytes(data[i + 32 : i + _VERSION_ITEM_SIZE], "big"))
        for i in range(0, len(data), _VERSION_ITEM_SIZE)
    ]
    if (any(not 0 < counter <= MAX_COUNTER for _, counter in items)
            or len({k for k, _ in items}) != count):
        raise RemoteProtocolError("malformed version vector")
    version = VersionVector.of(items)
    if cache is not None:
        cache[data] = version
    return version


def chunk_index(entries: Iterable[IndexEntry], generation: int, *,
                removed: Iterable[str] | None = None) -> Iterator[IndexChunk]:
    """Split an index into chunks that each fit one message; always yields at least one.
    With ``removed`` (a delta, even if empty), the chunks are delta chunks and carry those
    paths after the entries."""
    delta = removed is not None
    budget = MAX_MESSAGE_SIZE - 64 - (4 if delta else 0)
    batch: list[IndexEntry] = []
    used = 0
    for entry in entries:
        size = entry.wire_size
        if batch and (used + size > budget or len(batch) == MAX_INDEX_ENTRIES):
            yield IndexChunk(generation, tuple(batch), last=False, delta=delta)
            batch, used = [], 0
        batch.append(entry)
        used += size
    gone: list[str] = []
    for path in removed or ():
        size = 1 + len(path.encode("utf-8"))
        if (batch or gone) and (used + size > budget or len(gone) == MAX_INDEX_ENTRIES):
            yield IndexChunk(generation, tuple(batch), False, delta,
                             REMOVED_SEPARATOR.join(gone))
            batch, gone, used = [], [], 0
        gone.append(path)
        used += size
    yield IndexChunk(generation, tuple(batch), True, delta, REMOVED_SEPARATOR.join(gone))
