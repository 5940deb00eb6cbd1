"""Typed messages carried inside the encrypted channel, one encode/decode pair each.

A message is one encrypted record whose plaintext is a one-byte type tag and a body. Every
length and count in a body is checked against a cap before anything is sliced or allocated;
``decode_message`` raises ``RemoteProtocolError`` for anything malformed.
"""

import enum
import struct
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.names import MAX_PATH_BYTES, clean_label, has_control
from mfsync.protocol.version import (
    EMPTY_VERSION,
    MAX_COUNTER,
    MAX_VERSION_ENTRIES,
    VersionVector,
)
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "CONTENT_ID_SIZE",
    "MAX_CAPABILITIES",
    "MAX_DATA",
    "MAX_ERROR_TEXT",
    "MAX_HASHES_PER_MESSAGE",
    "MAX_INDEX_ENTRIES",
    "MAX_MESSAGE_SIZE",
    "PROTOCOL_VERSIONS",
    "BlockList",
    "BlocksRequest",
    "Data",
    "End",
    "ErrorCode",
    "ErrorMessage",
    "GetRequest",
    "Hello",
    "IndexChunk",
    "IndexEntry",
    "IndexRequest",
    "Message",
    "chunk_index",
    "decode_index_chunk_in_steps",
    "decode_message",
    "encode_message",
]

#: Protocol versions this build speaks, newest last.
PROTOCOL_VERSIONS: tuple[int, ...] = (1,)
#: Largest plaintext of one record (type tag included).
MAX_MESSAGE_SIZE = (1 << 20) + 1024
CONTENT_ID_SIZE = 32
MAX_CAPABILITIES = 32
MAX_VERSIONS = 16
MAX_CAPABILITY_BYTES = 32
MAX_HOST_NAME_BYTES = 63
MAX_ERROR_TEXT = 1024
MAX_INDEX_ENTRIES = 16384
#: Largest payload of one Data message.
MAX_DATA = 1 << 20
#: Block hashes per BlockList message.
MAX_HASHES_PER_MESSAGE = 16384
HASH_SIZE = 32
_VERSION_ITEM_SIZE = 32 + 8
#: path length u16, size u64, mtime i64, content id, version count u16.
_MIN_ENTRY_SIZE = 2 + 8 + 8 + CONTENT_ID_SIZE + 2
#: The fixed fields of an index entry after its path: size u64, mtime i64, content id. Read and
#: written in one step: field by field, decoding an index of 100,000 files took most of a
#: second of the receiver's time.
_ENTRY_FIXED = struct.Struct(f">Qq{CONTENT_ID_SIZE}s")


class Tag(enum.IntEnum):
    """One-byte type tags of the messages."""

    HELLO = 0x01
    INDEX_REQUEST = 0x02
    INDEX_CHUNK = 0x03
    BLOCKS_REQUEST = 0x04
    BLOCK_LIST = 0x05
    GET = 0x06
    DATA = 0x07
    END = 0x08
    ERROR = 0x7F


class ErrorCode(enum.IntEnum):
    """Why a peer refused or ended something."""

    NOT_TRUSTED = 1
    UNSUPPORTED_VERSION = 2
    BAD_REQUEST = 3
    NOT_FOUND = 4
    BUSY = 5
    INTERNAL = 6
    CHANGED = 7  #: the file is no longer the content asked for


@dataclass(frozen=True, slots=True)
class Hello:
    """First message each way: the versions and capabilities a side supports, and its name."""

    TAG: ClassVar[Tag] = Tag.HELLO
    versions: tuple[int, ...] = PROTOCOL_VERSIONS
    capabilities: tuple[str, ...] = ()
    name: str = ""

    def encode_body(self, w: Writer) -> None:
        """Write the body (everything after the tag)."""
        if not 1 <= len(self.versions) <= MAX_VERSIONS or len(self.capabilities) > MAX_CAPABILITIES:
            raise LocalProtocolError("hello needs 1 to 16 versions and at most 32 capabilities")
        w.u8(len(self.versions))
        for version in self.versions:
            w.u16(version)
        w.u8(len(self.capabilities))
        for cap in self.capabilities:
            w.text8(cap, MAX_CAPABILITY_BYTES)
        w.text8(clean_label(self.name, MAX_HOST_NAME_BYTES), MAX_HOST_NAME_BYTES)

    @classmethod
    def decode_body(cls, r: Reader) -> "Hello":
        """Read the body."""
        count = r.u8()
        if not 1 <= count <= MAX_VERSIONS:
            raise RemoteProtocolError("hello must list 1 to 16 versions")
        versions = tuple(r.u16() for _ in range(count))
        n_caps = r.u8()
        if n_caps > MAX_CAPABILITIES:
            raise RemoteProtocolError("too many capabilities")
        caps = tuple(r.text8(MAX_CAPABILITY_BYTES) for _ in range(n_caps))
        name = r.text8(MAX_HOST_NAME_BYTES)
        if has_control(name):
            raise RemoteProtocolError("control characters in the host name")
        return cls(versions, caps, name)


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """Ask for the peer's index; ``since_generation`` 0 asks for all of it."""

    TAG: ClassVar[Tag] = Tag.INDEX_REQUEST
    since_generation: int = 0

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.u64(self.since_generation)

    @classmethod
    def decode_body(cls, r: Reader) -> "IndexRequest":
        """Read the body."""
        return cls(r.u64())


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
    bad name does not hide the rest of a peer's files.
    """

    TAG: ClassVar[Tag] = Tag.INDEX_CHUNK
    generation: int
    entries: tuple[IndexEntry, ...]
    last: bool

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        if len(self.entries) > MAX_INDEX_ENTRIES:
            raise LocalProtocolError(f"more than {MAX_INDEX_ENTRIES} entries in one chunk")
        w.u64(self.generation).u8(1 if self.last else 0).u32(len(self.entries))
        versions: dict[VersionVector, bytes] = {}  # most files of an index share a few
        for e in self.entries:
            w.text16(e.path, MAX_PATH_BYTES)
            # IndexEntry checked the content id's length; struct checks the numbers' ranges.
            w.raw(_ENTRY_FIXED.pack(e.size, e.mtime_ns, e.content_id))
            encoded = versions.get(e.version)
            if encoded is None:
                version_writer = Writer()
                _write_version(version_writer, e.version)
                encoded = versions[e.version] = version_writer.getvalue()
            w.raw(encoded)

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
    if flags > 1:
        raise RemoteProtocolError("unknown index chunk flags")
    count = r.count(MAX_INDEX_ENTRIES, _MIN_ENTRY_SIZE)
    entries = []
    versions: dict[bytes, VersionVector] = {}  # one object per distinct vector
    for n in range(count):
        path = r.text16(MAX_PATH_BYTES)
        size, mtime_ns, content_id = r.unpack(_ENTRY_FIXED)
        entries.append(IndexEntry(path, size, mtime_ns, content_id, _read_version(r, versions)))
        if n % step == step - 1 and n + 1 < count:
            yield
    return IndexChunk(generation, tuple(entries), bool(flags))


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


def _check_size(name: str, value: bytes, size: int) -> bytes:
    if len(value) != size:
        raise LocalProtocolError(f"{name} must be {size} bytes, not {len(value)}")
    return value


def _write_version(w: Writer, version: VersionVector) -> None:
    if len(version.counters) > MAX_VERSION_ENTRIES:
        raise LocalProtocolError("version vector too long")
    w.u16(len(version.counters))
    for key, counter in version.counters:
        w.raw(_check_size("a version key", key, 32)).u64(counter)


def _read_version(r: Reader, cache: dict[bytes, VersionVector] | None = None) -> VersionVector:
    """A version vector; ``cache`` maps the bytes of vectors already decoded to them, so that
    the same vector in many entries is checked and built once."""
    count = r.u16()
    if count > MAX_VERSION_ENTRIES:
        raise RemoteProtocolError(f"version vector of {count} entries")
    data = r.raw(count * _VERSION_ITEM_SIZE)
    if cache is not None and (known := cache.get(data)) is not None:
        return known
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


@dataclass(frozen=True, slots=True)
class BlocksRequest:
    """Ask for the block hashes of ``path`` at content ``content_id``."""

    TAG: ClassVar[Tag] = Tag.BLOCKS_REQUEST
    path: str
    content_id: bytes

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.text16(self.path, MAX_PATH_BYTES).raw(
            _check_size("content_id", self.content_id, CONTENT_ID_SIZE))

    @classmethod
    def decode_body(cls, r: Reader) -> "BlocksRequest":
        """Read the body."""
        return cls(r.text16(MAX_PATH_BYTES), r.raw(CONTENT_ID_SIZE))


@dataclass(frozen=True, slots=True)
class BlockList:
    """Part of a file's block hashes, from block ``first`` on; ``last`` ends the list."""

    TAG: ClassVar[Tag] = Tag.BLOCK_LIST
    content_id: bytes
    size: int
    block_size: int
    first: int
    hashes: tuple[bytes, ...]
    last: bool

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        if len(self.hashes) > MAX_HASHES_PER_MESSAGE:
            raise LocalProtocolError("too many hashes in one message")
        if self.block_size <= 0 or self.block_size & (self.block_size - 1):
            raise LocalProtocolError("block size must be a power of two")
        w.raw(_check_size("content_id", self.content_id, CONTENT_ID_SIZE)).u64(self.size)
        w.u32(self.block_size).u32(self.first)
        w.u8(1 if self.last else 0).u32(len(self.hashes))
        for h in self.hashes:
            w.raw(_check_size("a block hash", h, HASH_SIZE))

    @classmethod
    def decode_body(cls, r: Reader) -> "BlockList":
        """Read the body."""
        content_id = r.raw(CONTENT_ID_SIZE)
        size = r.u64()
        block_size = r.u32()
        first = r.u32()
        flags = r.u8()
        if flags > 1:
            raise RemoteProtocolError("unknown block list flags")
        count = r.count(MAX_HASHES_PER_MESSAGE, HASH_SIZE)
        if block_size == 0 or block_size & (block_size - 1):
            raise RemoteProtocolError(f"block size {block_size} is not a power of two")
        hashes = tuple(r.raw(HASH_SIZE) for _ in range(count))
        return cls(content_id, size, block_size, first, hashes, bool(flags))


@dataclass(frozen=True, slots=True)
class GetRequest:
    """Ask for ``length`` bytes of ``path`` (content ``content_id``) from ``offset`` on.

    The server answers with Data messages covering the range in order, then ``End``; or an
    ``ErrorMessage`` (NOT_FOUND, CHANGED, BAD_REQUEST) instead.
    """

    TAG: ClassVar[Tag] = Tag.GET
    path: str
    content_id: bytes
    offset: int
    length: int

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.text16(self.path, MAX_PATH_BYTES).raw(
            _check_size("content_id", self.content_id, CONTENT_ID_SIZE))
        w.u64(self.offset).u64(self.length)

    @classmethod
    def decode_body(cls, r: Reader) -> "GetRequest":
        """Read the body."""
        return cls(r.text16(MAX_PATH_BYTES), r.raw(CONTENT_ID_SIZE), r.u64(), r.u64())


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes of a file at ``offset``."""

    TAG: ClassVar[Tag] = Tag.DATA
    offset: int
    payload: bytes | memoryview

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.u64(self.offset).blob32(self.payload, MAX_DATA)

    @classmethod
    def decode_body(cls, r: Reader) -> "Data":
        """Read the body."""
        # A view into the decrypted record: file data is not copied once more.
        return cls(r.u64(), r.view32(MAX_DATA))


@dataclass(frozen=True, slots=True)
class End:
    """The range of a ``GetRequest`` is complete, up to ``offset``."""

    TAG: ClassVar[Tag] = Tag.END
    offset: int

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.u64(self.offset)

    @classmethod
    def decode_body(cls, r: Reader) -> "End":
        """Read the body."""
        return cls(r.u64())


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """A refusal or failure, with a code for programs and a text for people."""

    TAG: ClassVar[Tag] = Tag.ERROR
    code: ErrorCode
    text: str = ""

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        text = clean_label(self.text, MAX_ERROR_TEXT)
        w.u16(self.code).text16(text, MAX_ERROR_TEXT)

    @classmethod
    def decode_body(cls, r: Reader) -> "ErrorMessage":
        """Read the body; unknown codes are kept as INTERNAL so that new codes do not break us."""
        raw_code = r.u16()
        known = raw_code in ErrorCode._value2member_map_
        code = ErrorCode(raw_code) if known else ErrorCode.INTERNAL
        text = r.text16(MAX_ERROR_TEXT)
        return cls(code, clean_label(text, MAX_ERROR_TEXT, strict=True))


Message = (
    Hello | IndexRequest | IndexChunk | BlocksRequest | BlockList | GetRequest | Data | End
    | ErrorMessage
)
_MESSAGE_CLASSES: tuple[type[Message], ...] = (
    Hello, IndexRequest, IndexChunk, BlocksRequest, BlockList, GetRequest, Data, End, ErrorMessage,
)
_DECODERS: dict[int, type[Message]] = {cls.TAG: cls for cls in _MESSAGE_CLASSES}


def encode_message(msg: Message) -> bytes:
    """Encode a message as a record plaintext: the tag byte, then the body."""
    w = Writer().u8(msg.TAG)
    msg.encode_body(w)
    data = w.getvalue()
    if len(data) > MAX_MESSAGE_SIZE:
        raise LocalProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    return data


def decode_message(data: bytes) -> Message:
    """Decode one record plaintext, or raise ``RemoteProtocolError``."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise RemoteProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    if not data:
        raise RemoteProtocolError("empty message")
    decoder = _DECODERS.get(data[0])
    if decoder is None:
        raise RemoteProtocolError(f"unknown message type 0x{data[0]:02x}")
    r = Reader(memoryview(data)[1:])
    msg = decoder.decode_body(r)
    r.end()
    return msg


def chunk_index(entries: Iterable[IndexEntry], generation: int) -> Iterator[IndexChunk]:
    """Split an index into chunks that each fit one message; always yields at least one."""
    budget = MAX_MESSAGE_SIZE - 64
    batch: list[IndexEntry] = []
    used = 0
    for entry in entries:
        size = entry.wire_size
        if batch and (used + size > budget or len(batch) == MAX_INDEX_ENTRIES):
            yield IndexChunk(generation, tuple(batch), last=False)
            batch, used = [], 0
        batch.append(entry)
        used += size
    yield IndexChunk(generation, tuple(batch), last=True)
