"""The folders we serve, as the file server sees them: one small typed interface from the node.

How it works: the node hands the file server a function (``FolderViews``) that returns the
folders it serves now, each a frozen ``LocalFolderView``: the folder's id and label, whether it
syncs, whether its changes count in the announced generation, its generation, the share sets
that hold its files (in order of precedence: a path in two is offered from the first) and the
check of who may see it (``admits(peer_key)``). ``FolderOffers`` answers, per folder, what it
offers: its index, a file by path, and how many files and bytes it holds, built again only when
one of its share sets changed.

The views are built from the node's folder objects (``local_folders.folder_views``), taken again
at every request, so that a change of a folder's audience applies to the very next one.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import FolderFlags, FolderInfo, IndexEntry
from mfsync.store.local_file import LocalFile

__all__ = [
    "DEFAULT_LABEL",
    "FolderOffers",
    "FolderViews",
    "LocalFolderView",
    "ServedRoot",
    "admit_everyone",
]

log = logging.getLogger("mfsync.serve")

#: The label the default folder is listed under.
DEFAULT_LABEL = "default"


def admit_everyone(peer_key: bytes) -> bool:
    """The audience check of a folder every peer may see (past the trust list)."""
    del peer_key
    return True


class ServedRoot(Protocol):
    """What the file server reads of one root of a folder: a ``ShareSet`` (a shared folder),
    or the staged files of an offer (``offer_files.StagedRoot``)."""

    @property
    def root(self) -> Path:
        """The folder every file's ``disk_path`` is relative to (opened from its descriptor)."""
        ...

    @property
    def generation(self) -> int:
        """Moves whenever what the root holds changes."""
        ...

    @property
    def files(self) -> dict[str, LocalFile]:
        """Its files by wire name (a copy)."""
        ...

    @property
    def count(self) -> int:
        """How many files it holds."""
        ...

    def get(self, path: str) -> LocalFile | None:
        """Its file with wire name ``path``, if any."""
        ...

    def entries(self) -> list[IndexEntry]:
        """Its index, sorted by path."""
        ...


def _nothing_sent(length: int) -> None:
    del length


@dataclass(frozen=True, slots=True)
class LocalFolderView:
    """One folder we serve: its identity, who may see it and the share sets holding it."""

    id: FolderId
    label: str
    #: Its share sets, in order of precedence (a path in two is offered from the first).
    shares: tuple[ServedRoot, ...]
    #: Whether the peer with this proven key may see the folder (learn that it exists).
    admits: Callable[[bytes], bool]
    #: The folder's generation: it moves whenever the folder's index changes.
    generation: int
    #: We take changes into it (it syncs), not only offer it.
    sync: bool = False
    #: Its changes count in the generation we announce (its audience is everyone).
    announced: bool = True
    #: Told of the bytes of file data the server sent from it (an offer counts its progress).
    sent: Callable[[int], None] = _nothing_sent

    @property
    def flags(self) -> FolderFlags:
        """The flags of its ``FolderInfo``."""
        flags = FolderFlags.NONE
        if self.sync:
            flags |= FolderFlags.SYNC
        if self.announced:
            flags |= FolderFlags.ANNOUNCED
        return flags


#: What the node gives the file server: the folders served now.
FolderViews = Callable[[], Sequence[LocalFolderView]]


class FolderOffers:
    """What each folder offers: the union of its share sets, looked up and totalled."""

    def __init__(self) -> None:
        self._shadowed: set[str] = set()  # paths offered by several share sets, logged once
        #: Per folder: the share sets' generations the totals were counted at, and the totals.
        self._totals: dict[FolderId, tuple[tuple[tuple[int, int], ...], int, int]] = {}

    def find(self, view: LocalFolderView, path: str) -> tuple[ServedRoot, LocalFile] | None:
        """The share set of ``view`` that offers ``path`` (the earliest that has it) and its
        file there."""
        for share in view.shares:
            local = share.get(path)
            if local is not None:
                return share, local
        return None

    def entries(self, view: LocalFolderView) -> list[IndexEntry]:
        """The folder's index: every share set's together, sorted by path."""
        shares = view.shares
        if len(shares) == 1:
            return shares[0].entries()
        union: dict[str, IndexEntry] = {}
        for share in shares:
            for entry in share.entries():
                if entry.path not in union:
                    union[entry.path] = entry
                elif entry.path not in self._shadowed:
                    self._shadowed.add(entry.path)
                    log.debug("%s is in more than one shared folder; offering it from the "
                              "first, not from %s", entry.path, share.root)
        return [union[path] for path in sorted(union)]

    def totals(self, view: LocalFolderView) -> tuple[int, int]:
        """How many files the folder offers and their bytes together (counted again only when
        one of its share sets changed)."""
        key = tuple((id(share), share.generation) for share in view.shares)
        known = self._totals.get(view.id)
        if known is not None and known[0] == key:
            return known[1], known[2]
        offered: dict[str, LocalFile] = {}
        for share in view.shares:
            for path, local in share.files.items():
                offered.setdefault(path, local)
        files, size = len(offered), sum(local.size for local in offered.values())
        if len(self._totals) > 1024:
            self._totals.clear()  # bounded: folders come and go
        self._totals[view.id] = (key, files, size)
        return files, size

    def info(self, view: LocalFolderView) -> FolderInfo:
        """The folder as a ``FolderList`` lists it."""
        files, size = self.totals(view)
        return FolderInfo(view.id, view.label, view.flags, view.generation, files, size)
