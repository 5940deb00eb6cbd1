"""The transfer messages: block lists and byte ranges of one file, and their answers.

``BlocksRequest`` is answered by ``BlockList`` parts, ``GetRequest`` by ``Data`` covering the
range and an ``End`` (PROTOCOL.md 3). The requests name the folder first; the answers belong
to the request they follow and do not repeat it.
"""

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.folder_messages import read_folder_id
from mfsync.protocol.names import MAX_PATH_BYTES
from mfsync.protocol.tags import CONTENT_ID_SIZE, HASH_SIZE, Tag, check_size
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "DATA_HEADER",
    "MAX_DATA",
    "MAX_HASHES_PER_MESSAGE",
    "BlockList",
    "BlocksRequest",
    "Data",
    "End",
    "GetRequest",
]

#: Largest payload of one Data message.
MAX_DATA = 1 << 20
#: Block hashes per BlockList message.
MAX_HASHES_PER_MESSAGE = 16384
#: Bytes of a Data message's plaintext before its payload: the type tag, the offset (u64) and
#: the payload's length (u32). A sender that reads file data this far into a buffer has the
#: message framed around it in place (``Data.framed``): no copy of the payload to encode it.
_DATA_FRAME = struct.Struct(">BQI")
DATA_HEADER = _DATA_FRAME.size


@dataclass(frozen=True, slots=True)
class BlocksRequest:
    """Ask for the block hashes of ``path`` of folder ``folder`` at content ``content_id``
    (the folder id comes first on the wire)."""

    TAG: ClassVar[Tag] = Tag.BLOCKS_REQUEST
    path: str
    content_id: bytes
    folder: FolderId = DEFAULT_FOLDER

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.folder.raw).text16(self.path, MAX_PATH_BYTES).raw(
            check_size("content_id", self.content_id, CONTENT_ID_SIZE))

    @classmethod
    def decode_body(cls, r: Reader) -> "BlocksRequest":
        """Read the body."""
        folder = read_folder_id(r)
        return cls(r.text16(MAX_PATH_BYTES), r.raw(CONTENT_ID_SIZE), folder)


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
        w.raw(check_size("content_id", self.content_id, CONTENT_ID_SIZE)).u64(self.size)
        w.u32(self.block_size).u32(self.first)
        w.u8(1 if self.last else 0).u32(len(self.hashes))
        for h in self.hashes:
            w.raw(check_size("a block hash", h, HASH_SIZE))

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
    """Ask for ``length`` bytes of ``path`` of folder ``folder`` (content ``content_id``) from
    ``offset`` on (the folder id comes first on the wire).

    The server answers with Data messages covering the range in order, then ``End``; or an
    ``ErrorMessage`` (NOT_FOUND, CHANGED, BAD_REQUEST) instead.
    """

    TAG: ClassVar[Tag] = Tag.GET
    path: str
    content_id: bytes
    offset: int
    length: int
    folder: FolderId = DEFAULT_FOLDER

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.folder.raw).text16(self.path, MAX_PATH_BYTES).raw(
            check_size("content_id", self.content_id, CONTENT_ID_SIZE))
        w.u64(self.offset).u64(self.length)

    @classmethod
    def decode_body(cls, r: Reader) -> "GetRequest":
        """Read the body."""
        folder = read_folder_id(r)
        return cls(r.text16(MAX_PATH_BYTES), r.raw(CONTENT_ID_SIZE), r.u64(), r.u64(), folder)


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes of a file at ``offset``."""

    TAG: ClassVar[Tag] = Tag.DATA
    offset: int
    payload: bytes | memoryview
    #: The whole plaintext, header and payload in one buffer, when framed in place
    #: (``framed``): what ``encode_message`` returns for it, without a copy.
    plaintext: memoryview | None = field(default=None, compare=False, repr=False)

    @classmethod
    def framed(cls, buffer: memoryview, offset: int) -> "Data":
        """The Data message of the bytes at ``buffer[DATA_HEADER:]`` (at ``offset`` of the
        file): its header is written into the first ``DATA_HEADER`` bytes of ``buffer``, which
        then holds the message's whole plaintext. The buffer must not change until the message
        is sent."""
        payload = buffer[DATA_HEADER:]
        if len(payload) > MAX_DATA:
            raise LocalProtocolError(f"field of {len(payload)} bytes exceeds the cap of {MAX_DATA}")
        _DATA_FRAME.pack_into(buffer, 0, Tag.DATA, offset, len(payload))
        return cls(offset, payload, buffer)

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
