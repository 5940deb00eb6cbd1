"""Typed messages carried inside the encrypted channel, one encode/decode pair each.

A message is one encrypted record whose plaintext is a one-byte type tag and a body. Every
length and count in a body is checked against a cap before anything is sliced or allocated;
``decode_message`` raises ``RemoteProtocolError`` for anything malformed.

This module is the face of the messages: it defines the ones of the session itself (``Hello``,
``ErrorMessage``) and the codec, and re-exports the others from the modules that define them,
by exchange: ``index_messages``, ``transfer_messages``, ``batch_messages``, ``folder_messages``
and ``offer_messages``. ``FileFailed`` (a batch's per-file error) lives here, beside the
``ErrorMessage`` whose body it carries.
"""

from dataclasses import dataclass
from typing import ClassVar

from mfsync.protocol.batch_messages import (
    FILES_CAPABILITY,
    MAX_BATCH_BYTES,
    MAX_BATCH_FILE_SIZE,
    MAX_BATCH_FILES,
    FileData,
    GetFilesRequest,
    WantedFile,
)
from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_messages import (
    MAX_FOLDERS,
    FolderFlags,
    FolderInfo,
    FolderList,
    FoldersRequest,
)
from mfsync.protocol.index_messages import (
    MAX_INDEX_ENTRIES,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    chunk_index,
    decode_index_chunk_in_steps,
)
from mfsync.protocol.names import clean_label, has_control
from mfsync.protocol.offer_messages import (
    MAX_OFFER_ENTRIES_PER_PART,
    MAX_OFFER_PARTS,
    Ack,
    AnswerRequest,
    CancelRequest,
    OfferEntry,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
)
from mfsync.protocol.tags import (
    CONTENT_ID_SIZE,
    MAX_MESSAGE_SIZE,
    PROTOCOL_VERSIONS,
    ErrorCode,
    Tag,
)
from mfsync.protocol.transfer_messages import (
    DATA_HEADER,
    MAX_DATA,
    MAX_HASHES_PER_MESSAGE,
    BlockList,
    BlocksRequest,
    Data,
    End,
    GetRequest,
)
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "CONTENT_ID_SIZE",
    "DATA_HEADER",
    "FILES_CAPABILITY",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_FILES",
    "MAX_BATCH_FILE_SIZE",
    "MAX_CAPABILITIES",
    "MAX_DATA",
    "MAX_ERROR_TEXT",
    "MAX_FOLDERS",
    "MAX_HASHES_PER_MESSAGE",
    "MAX_INDEX_ENTRIES",
    "MAX_MESSAGE_SIZE",
    "MAX_OFFER_ENTRIES_PER_PART",
    "MAX_OFFER_PARTS",
    "PROTOCOL_VERSIONS",
    "Ack",
    "AnswerRequest",
    "BlockList",
    "BlocksRequest",
    "CancelRequest",
    "Data",
    "End",
    "ErrorCode",
    "ErrorMessage",
    "FileData",
    "FileFailed",
    "FolderFlags",
    "FolderInfo",
    "FolderList",
    "FoldersRequest",
    "GetFilesRequest",
    "GetRequest",
    "Hello",
    "IndexChunk",
    "IndexEntry",
    "IndexRequest",
    "Message",
    "OfferEntry",
    "OfferReply",
    "OfferRequest",
    "OfferStatus",
    "ReceiptRequest",
    "Tag",
    "WantedFile",
    "chunk_index",
    "decode_index_chunk_in_steps",
    "decode_message",
    "encode_message",
]

MAX_CAPABILITIES = 32
MAX_VERSIONS = 16
MAX_CAPABILITY_BYTES = 32
MAX_HOST_NAME_BYTES = 63
MAX_ERROR_TEXT = 1024


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


@dataclass(frozen=True, slots=True)
class FileFailed:
    """File ``index`` of a ``GetFilesRequest`` is not sent, for ``error`` (NOT_FOUND, CHANGED,
    BAD_REQUEST): the body is the index (u32), then an ``ErrorMessage``'s body. The reply goes
    on with the next file."""

    TAG: ClassVar[Tag] = Tag.FILE_FAILED
    index: int
    error: ErrorMessage

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.u32(self.index)
        self.error.encode_body(w)

    @classmethod
    def decode_body(cls, r: Reader) -> "FileFailed":
        """Read the body."""
        return cls(r.u32(), ErrorMessage.decode_body(r))


Message = (
    Hello | IndexRequest | IndexChunk | BlocksRequest | BlockList | GetRequest | Data | End
    | FoldersRequest | FolderList | OfferRequest | OfferReply | AnswerRequest | ReceiptRequest
    | CancelRequest | Ack | GetFilesRequest | FileData | FileFailed | ErrorMessage
)
_MESSAGE_CLASSES: tuple[type[Message], ...] = (
    Hello, IndexRequest, IndexChunk, BlocksRequest, BlockList, GetRequest, Data, End,
    FoldersRequest, FolderList, OfferRequest, OfferReply, AnswerRequest, ReceiptRequest,
    CancelRequest, Ack, GetFilesRequest, FileData, FileFailed, ErrorMessage,
)
_DECODERS: dict[int, type[Message]] = {cls.TAG: cls for cls in _MESSAGE_CLASSES}


def encode_message(msg: Message) -> bytes | memoryview:
    """Encode a message as a record plaintext: the tag byte, then the body (for a ``Data``
    framed in place, the buffer it was framed in)."""
    if type(msg) is Data and msg.plaintext is not None:
        return msg.plaintext
    w = Writer().u8(msg.TAG)
    msg.encode_body(w)
    data = w.getvalue()
    if len(data) > MAX_MESSAGE_SIZE:
        raise LocalProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    return data


def decode_message(data: bytes | memoryview) -> Message:
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
