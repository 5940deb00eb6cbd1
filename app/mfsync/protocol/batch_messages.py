"""The batch messages: many whole small files asked for in one request, answered back to back.

``GetFilesRequest`` names up to ``MAX_BATCH_FILES`` files of one folder, each by path, content
id and size, each at most one block (``MAX_BATCH_FILE_SIZE``); the server answers, in the
request's order, one ``FileData`` (the whole file) or one ``FileFailed`` (that file's error;
the reply goes on) per file, then ``End`` whose offset is the number of files (PROTOCOL.md
3.15). A file of one block is proven by its content id alone, so no block list is needed.
The messages belong to the capability ``FILES_CAPABILITY``: they are sent, and answered, only on
a session that has it.
"""

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from mfsync.protocol.content import MIN_BLOCK_SIZE
from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.folder_messages import read_folder_id
from mfsync.protocol.names import MAX_PATH_BYTES
from mfsync.protocol.tags import CONTENT_ID_SIZE, Tag, check_size
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "FILES_CAPABILITY",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_FILES",
    "MAX_BATCH_FILE_SIZE",
    "FileData",
    "GetFilesRequest",
    "WantedFile",
    "wanted_size",
]

#: The capability (PROTOCOL.md 10) under which these messages are sent: only on a session
#: whose both hellos name it; with a peer that does not, each file is asked for alone.
FILES_CAPABILITY = "files"
#: Files one GetFilesRequest may name, at most (a decoder refuses more before reading them).
MAX_BATCH_FILES = 1024
#: Bytes of file data one GetFilesRequest may ask for in all (a server refuses more with
#: BAD_REQUEST): what a server holds in memory for one reply.
MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Largest file a GetFilesRequest may name: one block of the smallest block size, the files
#: whose content id proves their bytes without a block list.
MAX_BATCH_FILE_SIZE = MIN_BLOCK_SIZE
#: Bytes of one file's entry on the wire besides its path: path length u16, content id, size.
_ENTRY_FIXED = 2 + CONTENT_ID_SIZE + 8


class WantedFile(NamedTuple):
    """One file of a ``GetFilesRequest``: its path, the content id asked for, its size."""

    path: str
    content_id: bytes
    size: int


def wanted_size(file: WantedFile) -> int:
    """Bytes ``file``'s entry takes in a ``GetFilesRequest`` (for a client filling one
    message)."""
    return _ENTRY_FIXED + len(file.path.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class GetFilesRequest:
    """Ask for the whole of each of ``files`` of folder ``folder`` (the folder id first on the
    wire, then a u16 count, then per file: path text16, content id, size u64)."""

    TAG: ClassVar[Tag] = Tag.GET_FILES
    files: tuple[WantedFile, ...]
    folder: FolderId = DEFAULT_FOLDER

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        if not 1 <= len(self.files) <= MAX_BATCH_FILES:
            raise LocalProtocolError(f"a GetFilesRequest names 1 to {MAX_BATCH_FILES} files")
        w.raw(self.folder.raw).u16(len(self.files))
        for path, content_id, size in self.files:
            w.text16(path, MAX_PATH_BYTES).raw(check_size("content_id", content_id,
                                                          CONTENT_ID_SIZE)).u64(size)

    @classmethod
    def decode_body(cls, r: Reader) -> "GetFilesRequest":
        """Read the body; the count is checked before any entry is read."""
        folder = read_folder_id(r)
        count = r.u16()
        if not 1 <= count <= MAX_BATCH_FILES:
            raise RemoteProtocolError(f"a GetFilesRequest of {count} files (1 to "
                                      f"{MAX_BATCH_FILES})")
        if count * _ENTRY_FIXED > r.remaining:
            raise RemoteProtocolError(f"{count} files cannot fit in {r.remaining} bytes")
        files = tuple(WantedFile(r.text16(MAX_PATH_BYTES), r.raw(CONTENT_ID_SIZE), r.u64())
                      for _ in range(count))
        return cls(files, folder)


@dataclass(frozen=True, slots=True)
class FileData:
    """The whole of file ``index`` (its place in the request) of a ``GetFilesRequest``."""

    TAG: ClassVar[Tag] = Tag.FILE_DATA
    index: int
    payload: bytes | memoryview

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.u32(self.index).blob32(self.payload, MAX_BATCH_FILE_SIZE)

    @classmethod
    def decode_body(cls, r: Reader) -> "FileData":
        """Read the body (the bytes are a view into the decrypted record)."""
        return cls(r.u32(), r.view32(MAX_BATCH_FILE_SIZE))
