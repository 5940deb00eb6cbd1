"""Where a download goes: its target, decided once, before anything is fetched.

A download asks for a wire path under a root (``Wanted``). ``plan`` decides where it lands
(``Plan``): the safe local path of that name (or of the local file's own spelling, when sync
replaces a file whose name is decomposed on disk); if a different file of ours is in the way and
the download may not replace it, a conflict copy's name instead; nothing at all if the target
already holds the content. It checks that the bytes still missing fit on the disk before a
partial file is created (opening one extends it to the full size) or a block list is asked for
(its length follows from the size a peer claims). At landing, ``Plan.destination`` decides the
last time: if sync is replacing a file of ours that changed during the download, ours stays and
the download lands under the conflict copy's name. A conflict copy is never copied again
(Syncthing's rule): when the download is itself of a conflict copy's name, a different file in
the way (or ours changed meanwhile) fails it instead (``CopyInTheWay``); the sync policy decides
again once that file of ours is scanned. Nothing else in mfsync maps a download's wire path to a
local path.

Every function here blocks (it looks at the disk): the engine calls them off the event loop.
"""

import contextlib
import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mfsync.store.conflicts import conflict_name, is_conflict_name
from mfsync.store.dirfd import open_folder
from mfsync.store.failures import LocalFailure, local
from mfsync.store.hashing import FileChanged, FileHashes, hash_file
from mfsync.store.safe_paths import partial_path_for, target_for
from mfsync.store.space import FreeSpace

__all__ = ["CopyInTheWay", "Plan", "Wanted", "check_name", "discard_partials", "plan",
           "plan_batch"]

log = logging.getLogger("mfsync.transfer")


class CopyInTheWay(FileExistsError):
    """A download of a conflict copy's name finds a different file of ours there (or ours
    changed during the download): ours stays, and theirs is not stored as a copy of the copy.
    A local failure of the download (an ``OSError``), so it is tried again later."""

    def __init__(self, target: Path) -> None:
        super().__init__(errno.EEXIST, "a different conflict copy of this name is here (not "
                         "yet scanned, or changed during the download): keeping it, and not "
                         "making a conflict copy of a conflict copy", os.fspath(target))


@dataclass(frozen=True)
class Wanted:
    """A download to place: ``stored`` (a wire path) under ``root``, of one content.

    ``maker`` is the key a conflict copy is named after. ``local_name`` is the name on disk of
    the file it replaces when that is not ``stored`` itself. ``replace`` allows replacing an
    existing file; ``expect_local`` is the (size, mtime_ns, inode) that file had when that was
    decided: if it changed meanwhile, it is kept (see ``Plan.destination``).
    """

    root: Path
    stored: str
    size: int
    mtime_ns: int
    content_id: bytes
    maker: bytes
    local_name: str | None = None
    replace: bool = False
    expect_local: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class Plan:
    """Where a download goes, decided before anything is fetched."""

    wanted: Wanted
    target: Path
    stored: str  #: the wire path written there
    same: FileHashes | None = None  #: the target already holds the content: nothing to fetch
    conflict_with: Path | None = None  #: ours, kept: the target is a conflict copy's name

    def conflict_stored(self) -> str:
        """The conflict copy's wire path, should the download not land at ``target``."""
        wanted = self.wanted
        return conflict_name(self.stored, wanted.mtime_ns, wanted.maker)

    def destination(self) -> Path:
        """Where the verified download lands, decided just before the rename (blocks): the
        target, or the conflict copy's name if sync is replacing a file of ours that changed
        during the download (ours stays)."""
        wanted = self.wanted
        if wanted.replace and wanted.expect_local is not None and not _still(
            self.target, wanted.expect_local
        ):
            if is_conflict_name(self.stored):
                raise CopyInTheWay(self.target)
            return target_for(wanted.root, self.conflict_stored())
        return self.target

    def stored_at(self, final: Path) -> str:
        """The wire path written at ``final`` (what ``destination`` returned)."""
        return self.stored if final == self.target else self.conflict_stored()


class _BatchLooks:
    """What one batch of plans has already looked at: folders found to be real folders, and
    the free space of each file system (each download's claim taken off it)."""

    def __init__(self) -> None:
        self.folders: set[tuple[object, ...]] = set()
        self.space = FreeSpace()


def plan(wanted: Wanted, looks: _BatchLooks | None = None) -> Plan:
    """Choose the target of ``wanted`` (a conflict copy's name when a different file of ours
    is in the way), see whether it already holds the content, and check that the bytes still
    missing fit on the disk."""
    looks = looks or _BatchLooks()
    stored = wanted.stored
    target = target_for(wanted.root, stored, wanted.local_name, looks.folders)
    conflict_with = None
    if not wanted.replace and os.path.lexists(target):
        same = _same_content(wanted.root, target, wanted)
        if same is not None:
            return Plan(wanted, target, stored, same)
        if is_conflict_name(stored):
            raise CopyInTheWay(target)
        conflict_with = target
        stored = conflict_name(stored, wanted.mtime_ns, wanted.maker)
        target = target_for(wanted.root, stored, None, looks.folders)
        same = _same_content(wanted.root, target, wanted)
        if same is not None:
            return Plan(wanted, target, stored, same, conflict_with)
    # Before anything is created: opening a partial extends it to the full size (and file
    # systems without sparse files, FAT say, allocate all of it right then). And before the
    # block list is asked for: its length follows from the size the peer claims, so a size
    # that cannot fit here must not make us collect hashes (an EiB is 2**36 of them).
    partial_path = partial_path_for(target)
    had = _existing_size(partial_path)
    looks.space.claim(partial_path.parent, wanted.size - min(had, wanted.size))
    return Plan(wanted, target, stored, None, conflict_with)


def plan_batch(items: list[Wanted]) -> list[Plan | LocalFailure]:
    """``plan`` for each item (one trip off the loop for many small files, each folder and
    file system looked at once); a local failure fails its own item."""
    outcomes: list[Plan | LocalFailure] = []
    looks = _BatchLooks()
    for wanted in items:
        try:
            outcomes.append(local(plan, wanted, looks))
        except LocalFailure as exc:
            outcomes.append(exc)
    return outcomes


def check_name(root: Path, stored: str) -> Path:
    """The usual target of ``stored`` under ``root``; ``UnsafePath`` for a name that can never
    be written here (checked before waiting for a host, so that it fails at once)."""
    return target_for(root, stored)


def discard_partials(root: Path, stored: str, target: Path) -> None:
    """Delete the partial files a cancelled download may have left: beside the usual target of
    ``stored`` and beside ``target``, where it last wrote (a conflict copy's name, say)."""
    targets: set[Path] = set()
    # Checked like any target, so that nothing is deleted through a symlinked folder; a name
    # that can never be written here has no partial file either.
    with contextlib.suppress(LocalFailure):
        targets.add(local(target_for, root, stored))
    if target != root.joinpath(*stored.split("/")):
        targets.add(target)  # came from target_for when the download was planned
    for where in targets:
        try:
            # In its folder opened from the root without following a symlink, as it was made.
            with open_folder(root, where.parent.relative_to(root).parts) as folder:
                folder.unlink(partial_path_for(where).name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the partial download of %s: %s", where, exc)


def _existing_size(path: Path) -> int:
    """The bytes a partial from an earlier run really holds on disk (it is sparse: its size is
    the whole file's), 0 if there is none."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return min(st.st_size, st.st_blocks * 512) if hasattr(st, "st_blocks") else st.st_size


def _same_content(root: Path, path: Path, wanted: Wanted) -> FileHashes | None:
    """The hashes of the file at ``path`` (below ``root``) if it already holds the wanted
    content."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size != wanted.size:
            return None
        hashes = hash_file(path, root)
    except (OSError, FileChanged):
        return None
    return hashes if hashes.content_id == wanted.content_id else None


def _still(path: Path, expect: tuple[int, int, int]) -> bool:
    """Whether the file at ``path`` is still the one seen as ``expect`` (size, mtime_ns,
    inode), or gone."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True  # gone: nothing of the user's to lose
    return (st.st_size, st.st_mtime_ns, st.st_ino) == expect
