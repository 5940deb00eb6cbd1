"""The folder messages: a client asks which folders it may see, the server lists them.

``FoldersRequest`` has an empty body. ``FolderList`` lists the folders the asking peer may see
(never the others: the server filters, PROTOCOL.md 3.11), at most ``MAX_FOLDERS``, each with its
id, label, flags and what the folder holds. Every cap is checked before anything is allocated:
the count against the cap and against the bytes left, each label against ``MAX_LABEL_BYTES``
and ``check_label``, the flags against the bits defined, the ids for repeats.
"""

import enum
from dataclasses import dataclass
from typing import ClassVar

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_id import (
    DEFAULT_FOLDER,
    FOLDER_ID_BYTES,
    MAX_LABEL_BYTES,
    FolderId,
    check_label,
)
from mfsync.protocol.tags import Tag
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "MAX_FOLDERS",
    "FolderFlags",
    "FolderInfo",
    "FolderList",
    "FoldersRequest",
    "read_folder_id",
]

#: Folders in one FolderList: far more than a person shares, few enough to bound the message.
MAX_FOLDERS = 256
#: id, label length u8 (the label itself may not be empty), flags u8, generation u64,
#: files u32, bytes u64.
_MIN_FOLDER_SIZE = FOLDER_ID_BYTES + 1 + 1 + 1 + 8 + 4 + 8


class FolderFlags(enum.IntFlag):
    """What a ``FolderInfo`` says about its folder (PROTOCOL.md 3.11)."""

    NONE = 0
    #: The host takes changes into this folder (it syncs it), not only offers it.
    SYNC = 1
    #: Its changes count in the host's announced generation: a client need not poll it.
    ANNOUNCED = 2


#: (an int: inverting an IntFlag keeps only the bits it defines)
_KNOWN_FLAGS = int(FolderFlags.SYNC | FolderFlags.ANNOUNCED)


def read_folder_id(r: Reader) -> FolderId:
    """The 5-byte folder id that opens a request."""
    return FolderId(r.raw(FOLDER_ID_BYTES))


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """One folder of a ``FolderList``: its identity and what it holds (``generation``: its
    index's generation, which moves whenever the folder's index changes)."""

    id: FolderId
    label: str
    flags: FolderFlags
    generation: int
    files: int
    size: int  #: bytes of the folder's files together

    def write(self, w: Writer) -> None:
        """Write the entry."""
        try:
            check_label(self.label)
        except ValueError as exc:
            raise LocalProtocolError(f"folder {self.id}: {exc}") from None
        if self.flags & ~_KNOWN_FLAGS:
            raise LocalProtocolError(f"unknown folder flags {int(self.flags):#x}")
        w.raw(self.id.raw).text8(self.label, MAX_LABEL_BYTES).u8(self.flags)
        w.u64(self.generation).u32(self.files).u64(self.size)

    @classmethod
    def read(cls, r: Reader) -> "FolderInfo":
        """Read one entry; ``RemoteProtocolError`` for a bad label or unknown flags."""
        folder = read_folder_id(r)
        label = r.text8(MAX_LABEL_BYTES)
        try:
            check_label(label)
        except ValueError as exc:
            raise RemoteProtocolError(f"folder {folder}: {exc}") from None
        flags = r.u8()
        if flags & ~_KNOWN_FLAGS:
            raise RemoteProtocolError(f"unknown folder flags {flags:#x}")
        return cls(folder, label, FolderFlags(flags), r.u64(), r.u32(), r.u64())


@dataclass(frozen=True, slots=True)
class FoldersRequest:
    """Ask which folders the server lets us see (its answer: one ``FolderList``)."""

    TAG: ClassVar[Tag] = Tag.FOLDERS_REQUEST

    def encode_body(self, w: Writer) -> None:
        """Write the body (empty)."""

    @classmethod
    def decode_body(cls, r: Reader) -> "FoldersRequest":
        """Read the body (empty)."""
        del r
        return cls()


@dataclass(frozen=True, slots=True)
class FolderList:
    """The folders the asking peer may see, each id once (the answer to ``FoldersRequest``)."""

    TAG: ClassVar[Tag] = Tag.FOLDER_LIST
    folders: tuple[FolderInfo, ...]

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        if len(self.folders) > MAX_FOLDERS:
            raise LocalProtocolError(f"more than {MAX_FOLDERS} folders in one list")
        if len({f.id for f in self.folders}) != len(self.folders):
            raise LocalProtocolError("a folder id appears twice in a folder list")
        w.u16(len(self.folders))
        for folder in self.folders:
            folder.write(w)

    @classmethod
    def decode_body(cls, r: Reader) -> "FolderList":
        """Read the body."""
        count = r.u16()
        if count > MAX_FOLDERS:
            raise RemoteProtocolError(f"folder list of {count} folders (at most {MAX_FOLDERS})")
        if count * _MIN_FOLDER_SIZE > r.remaining:
            raise RemoteProtocolError(f"{count} folders cannot fit in {r.remaining} bytes")
        folders = tuple(FolderInfo.read(r) for _ in range(count))
        if len({f.id for f in folders}) != count:
            raise RemoteProtocolError("a folder id appears twice in the folder list")
        return cls(folders)

    def get(self, folder: FolderId = DEFAULT_FOLDER) -> FolderInfo | None:
        """The entry of ``folder``, if listed."""
        return next((f for f in self.folders if f.id == folder), None)
