"""What a host sends: the files and folders given, staged as a temporary folder of ours.

How it works: ``stage(paths)`` (blocking: the outbox runs it in a worker thread) looks at each
path given. A folder is walked as a shared folder is (``store.folder_scan``: the same name
rules, ignore rules, no symlinks followed, specials skipped) and keeps its name as the top
level of what it holds (``Photos/2024/a.jpg``); a loose file is sent under its own name, flat,
wherever it came from. Every file is hashed with the store's hashing (content ids and block
lists), once, here. Two things sent under one name are an error, as is a path that is a
symlink, a special file, or a folder with nothing to send.

The staged files are served by our own file server as a folder only the receiver may see
(``StagedOffer.view``: its ``admits`` is ``key == receiver``, never announced), one
``StagedRoot`` per folder the files were found in: the server reads them from that folder's
descriptor, one component at a time, exactly as it reads a shared folder's (``ServedRoot``).
A file changed after it was staged is answered CHANGED by the server (its size and modification
time are checked at every read), and the receiver's block hashes catch anything else.
"""

import os
import stat
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mfsync.engine.folder_view import LocalFolderView
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import IndexEntry
from mfsync.protocol.names import InvalidName, check_wire_path, clean_label
from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store.folder_scan import FolderWalker
from mfsync.store.hashing import FileChanged, hash_file
from mfsync.store.local_file import LocalFile

__all__ = ["MAX_LABEL_BYTES", "StagedOffer", "StagedRoot", "StagingError", "offer_label", "stage"]

#: An offer's label is a text8 on the wire.
MAX_LABEL_BYTES = 255


class StagingError(Exception):
    """What was given cannot be sent; the message says why, for the user."""


class StagedRoot:
    """The staged files found in one folder on disk, as the file server reads them (a
    ``ServedRoot``): fixed once staged, so its generation never moves."""

    def __init__(self, root: Path, files: dict[str, LocalFile]) -> None:
        self.root = root
        self.generation = 1
        self._files = files

    @property
    def files(self) -> dict[str, LocalFile]:
        """Its files by wire name (a copy)."""
        return dict(self._files)

    @property
    def count(self) -> int:
        """How many files it holds."""
        return len(self._files)

    def get(self, path: str) -> LocalFile | None:
        """Its file with wire name ``path``, if any."""
        return self._files.get(path)

    def entries(self) -> list[IndexEntry]:
        """Its index, sorted by path."""
        return [self._files[path].to_entry() for path in sorted(self._files)]


@dataclass(frozen=True)
class StagedOffer:
    """What is sent: its label, the staged files by folder on disk, their totals."""

    label: str
    roots: tuple[StagedRoot, ...]

    @property
    def files(self) -> list[LocalFile]:
        """Every staged file, sorted by wire path."""
        every = [local for root in self.roots for local in root.files.values()]
        return sorted(every, key=lambda local: local.path)

    @property
    def entries(self) -> list[tuple[str, int, bytes]]:
        """(wire path, size, content id) of every file, sorted by path: what the offer lists."""
        return [(f.path, f.size, f.hashes.content_id) for f in self.files]

    @property
    def total_files(self) -> int:
        """How many files are sent."""
        return sum(root.count for root in self.roots)

    @property
    def total_bytes(self) -> int:
        """Their bytes together."""
        return sum(local.size for root in self.roots for local in root.files.values())

    def view(self, offer: FolderId, receiver: bytes,
             sent: Callable[[int], None]) -> LocalFolderView:
        """The folder the file server serves for offer ``offer``: seen by ``receiver`` only,
        never announced, not synced; ``sent`` hears of every byte of file data sent."""

        def admits(key: bytes) -> bool:
            return key == receiver

        return LocalFolderView(offer, self.label, self.roots, admits, 1, sync=False,
                               announced=False, sent=sent)


def offer_label(names: Sequence[str], files: int) -> str:
    """What an offer is called: the name of the one thing sent, else "N files"."""
    label = names[0] if len(names) == 1 else f"{files} files"
    return clean_label(label, MAX_LABEL_BYTES)


def stage(paths: Sequence[Path]) -> StagedOffer:
    """Stage ``paths`` (files and folders) for sending: walk, check and hash them (blocking:
    run it in a worker thread). ``StagingError`` says what cannot be sent."""
    if not paths:
        raise StagingError("nothing to send")
    by_root: dict[Path, dict[str, LocalFile]] = {}
    seen: dict[str, Path] = {}  # wire path (or top-level name) -> what it came from
    names: list[str] = []
    for given in paths:
        path = Path(os.path.abspath(given))
        name = _top_name(path)
        if name.casefold() in seen:
            raise StagingError(f"{given} and {seen[name.casefold()]} would be sent under one "
                               f"name, {name!r}")
        seen[name.casefold()] = path
        names.append(name)
        try:
            st = path.lstat()
        except OSError as exc:
            raise StagingError(f"cannot read {given}: {exc.strerror or exc}") from None
        files = by_root.setdefault(path.parent, {})
        if stat.S_ISLNK(st.st_mode):
            raise StagingError(f"{given} is a symbolic link: send what it points to")
        if stat.S_ISDIR(st.st_mode):
            found = _stage_folder(path, name)
            if not found:
                raise StagingError(f"{given} holds no file that can be sent")
            files.update(found)
        elif stat.S_ISREG(st.st_mode):
            files[name] = _stage_file(path, name, st)
        else:
            raise StagingError(f"{given} is not a file or a folder")
    roots = tuple(StagedRoot(root, files) for root, files in by_root.items() if files)
    staged = StagedOffer("", roots)
    return StagedOffer(offer_label(names, staged.total_files), roots)


def _top_name(path: Path) -> str:
    """The wire name ``path`` is sent under (its own name, NFC); ``StagingError`` if that name
    may not cross the wire."""
    name = unicodedata.normalize("NFC", path.name)
    try:
        return check_wire_path(name)
    except InvalidName as exc:
        raise StagingError(f"cannot send {path}: {exc}") from None


def _stage_folder(folder: Path, name: str) -> dict[str, LocalFile]:
    """Every file under ``folder`` as the walk of a shared folder finds it, named below
    ``name`` and relative to the folder's parent (where the server reads them from)."""
    scan = FolderWalker(folder).walk({}, settle=False)
    if scan.unsettled:  # a file changed while it was hashed: it was left out
        raise StagingError(f"files in {folder} changed while they were read: try again once "
                           f"they are written")
    prefix_disk = folder.name + "/"
    staged: dict[str, LocalFile] = {}
    for local in scan.files.values():
        path = f"{name}/{local.path}"
        try:
            check_wire_path(path)  # the walk checked the part below the folder
        except InvalidName as exc:
            raise StagingError(f"cannot send {folder / local.disk_path}: {exc}") from None
        staged[path] = LocalFile(path, prefix_disk + local.disk_path, local.size,
                                 local.mtime_ns, local.inode, local.hashes, EMPTY_VERSION)
    return staged


def _stage_file(path: Path, name: str, st: os.stat_result) -> LocalFile:
    """``path`` hashed, named ``name``; it must not change while it is read."""
    try:
        hashes = hash_file(path, path.parent)
        after = path.lstat()
    except FileChanged as exc:
        raise StagingError(f"{exc}: try again once it is written") from None
    except OSError as exc:
        raise StagingError(f"cannot read {path}: {exc.strerror or exc}") from None
    if (after.st_size, after.st_mtime_ns, after.st_ino) != (st.st_size, st.st_mtime_ns,
                                                           st.st_ino):
        raise StagingError(f"{path} changed while it was read: try again once it is written")
    return LocalFile(name, path.name, hashes.size, st.st_mtime_ns, st.st_ino, hashes,
                     EMPTY_VERSION)
