"""Typed messages carried inside the encrypted channel, one encode/decode pair each.

A message is one encrypted record whose plaintext is a one-byte type tag and a body. Every
length and count in a body is checked against a cap before anything is sliced or allocated;
``decode_message`` raises ``RemoteProtocolError`` for anything malformed.
"""

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.names import MAX_PATH_BYTES, clean_label, has_control
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "CONTENT_ID_SIZE",
    "MAX_CAPABILITIES",
    "MAX_ERROR_TEXT",
    "MAX_INDEX_ENTRIES",
    "MAX_MESSAGE_SIZE",
    "PROTOCOL_VERSIONS",
    "ErrorCode",
    "ErrorMessage",
    "Hello",
    "IndexChunk",
    "IndexEntry",
    "IndexRequest",
    "Message",
    "chunk_index",
    "decode_message",
    "encode_message",
]

#: Protocol versions this build speaks, newest last.
PROTOCOL_VERSIONS: tuple[int, ...] = (1,)
#: Largest plaintext of one record (type tag included).
MAX_MESSAGE_SIZE = 1 << 20
CONTENT_ID_SIZE = 32
MAX_CAPABILITIES = 32
MAX_VERSIONS = 16
MAX_CAPABILITY_BYTES = 32
MAX_HOST_NAME_BYTES = 63
MAX_ERROR_TEXT = 1024
MAX_INDEX_ENTRIES = 16384
#: path length u16, size u64, mtime i64, content id.
_MIN_ENTRY_SIZE = 2 + 8 + 8 + CONTENT_ID_SIZE


class Tag(enum.IntEnum):
    """One-byte type tags of the messages."""

    HELLO = 0x01
    INDEX_REQUEST = 0x02
    INDEX_CHUNK = 0x03
    ERROR = 0x7F


class ErrorCode(enum.IntEnum):
    """Why a peer refused or ended something."""

    NOT_TRUSTED = 1
    UNSUPPORTED_VERSION = 2
    BAD_REQUEST = 3
    NOT_FOUND = 4
    BUSY = 5
    INTERNAL = 6


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

    def __post_init__(self) -> None:
        if len(self.content_id) != CONTENT_ID_SIZE:
            raise ValueError("content_id must be 32 bytes")
        if self.size < 0:
            raise ValueError("size must not be negative")

    @property
    def wire_size(self) -> int:
        """Bytes this entry takes in an ``IndexChunk``."""
        return _MIN_ENTRY_SIZE + len(self.path.encode("utf-8"))


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
        for e in self.entries:
            w.text16(e.path, MAX_PATH_BYTES).u64(e.size).i64(e.mtime_ns).raw(e.content_id)

    @classmethod
    def decode_body(cls, r: Reader) -> "IndexChunk":
        """Read the body."""
        generation = r.u64()
        flags = r.u8()
        if flags > 1:
            raise RemoteProtocolError("unknown index chunk flags")
        count = r.count(MAX_INDEX_ENTRIES, _MIN_ENTRY_SIZE)
        entries = []
        for _ in range(count):
            path = r.text16(MAX_PATH_BYTES)
            size = r.u64()
            mtime_ns = r.i64()
            entries.append(IndexEntry(path, size, mtime_ns, r.raw(CONTENT_ID_SIZE)))
        return cls(generation, tuple(entries), bool(flags))


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


Message = Hello | IndexRequest | IndexChunk | ErrorMessage

_DECODERS: dict[int, type[Hello] | type[IndexRequest] | type[IndexChunk] | type[ErrorMessage]] = {
    cls.TAG: cls for cls in (Hello, IndexRequest, IndexChunk, ErrorMessage)
}


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
