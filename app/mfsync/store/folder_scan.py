"""The walk of one shared folder: which files are there now, hashed only where they changed.

A walk does not follow symlinks, skips built-in junk, what the folder's ``.mfsyncignore`` names
(store/ignore.py) and names that may not cross the wire (each skip logged once, not again at
every scan), names files by their NFC form (macOS stores names decomposed; two files that
collide once normalised keep only the first), and hashes only files whose (name on disk, size,
mtime, inode) differ from the previous files it is given, so that a rescan of an unchanged folder,
or a restart whose previous files come from the index database, reads no file. It also notes the
partial downloads it passes. It runs in a worker thread (it is all disk work) and gives versions
to nothing: that is store/scan_versions.py, once the walk is back.

A walk may be limited to some paths (``only``: what the watcher says changed), so that one file
closed in a folder of 100,000 does not walk all of them: each path is looked up in its parent
folder (a folder path is walked whole), after checking that every folder above it is a real
folder (not a symlink) that the ignore rules do not leave out. Paths the watcher names as done
(``done``: closed after writing, moved into place) are taken even if they were modified a moment
ago: nothing is writing them any more.
"""

import logging
import os
import stat
import time
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.names import InvalidName, check_wire_path
from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store.hashing import FileChanged, hash_file
from mfsync.store.ignore import IgnoreRules
from mfsync.store.local_file import LocalFile
from mfsync.store.safe_paths import partial_target_name

__all__ = ["FolderScan", "FolderWalker", "WalkScope", "outermost"]

log = logging.getLogger("mfsync.store")


@dataclass(frozen=True, slots=True)
class FolderScan:
    """What one walk of a shared folder found."""

    #: The files to offer, by wire name: unchanged ones are the previous objects themselves; new
    #: or changed ones are freshly hashed and carry ``EMPTY_VERSION`` until versions are given.
    files: dict[str, LocalFile]
    #: Wire names of every regular file on disk, including those left out because they were
    #: still being written: such a file is not deleted, and must not get a tombstone.
    present: set[str]
    #: Wire name of a file -> its partial download on disk (relative to the root).
    partials: dict[str, str]
    #: Whether some file was left out (or kept at its previous content) because it changed a
    #: moment ago or while it was hashed: the caller should look again once it is quiet.
    unsettled: bool
    #: The paths the walk was limited to (wire names, NFC), or None: it walked everything. A
    #: name in ``covers`` is one of them or lies below one of them.
    scope: "WalkScope | None" = None


@dataclass(frozen=True, slots=True)
class WalkScope:
    """The part of a folder a limited walk looked at."""

    #: The paths named (wire names); each a file, a folder (all below it) or nothing now.
    paths: frozenset[str]
    #: Those of them that may hold more below them (a folder now, or gone: it may have been
    #: one). A known file that is still a file is not among them, so finding what it covers
    #: needs no pass over every name.
    folders: frozenset[str]

    def covers(self, names: Collection[str]) -> set[str]:
        """The ``names`` the walk looked at (named, or below a folder named)."""
        inside = {path for path in self.paths if path in names}
        if self.folders:
            prefixes = tuple(path + "/" for path in self.folders)
            inside.update(name for name in names if name.startswith(prefixes))
        return inside


class FolderWalker:
    """Walks one shared folder, again and again, with its ignore rules and its memory of the
    names it already warned about."""

    def __init__(self, root: Path, *, settle_age: float = 0.0) -> None:
        self.root = root
        #: The folder's ignore rules, reloaded at each walk when ``.mfsyncignore`` changed.
        self.ignore = IgnoreRules.load(root)
        self._settle_age = settle_age
        self._warned: set[str] = set()
        # Per walk (a walker serves one walk at a time; the share set's lock sees to that).
        self._settle_now = 0.0
        self._unsettled = False
        self._done: frozenset[str] = frozenset()

    def walk(self, previous: dict[str, LocalFile], *, settle: bool,
             only: Iterable[str] | None = None, done: Iterable[str] = ()) -> FolderScan:
        """Walk the folder (blocking: call it in a worker thread).

        ``previous`` are the files as last known (by wire name); one whose name on disk, size,
        mtime and inode are unchanged is taken as it is, without hashing. With ``settle``, files
        modified less than the settle age ago are left out (their previous form is kept, if
        any): the first scan takes everything, as a start must show the folder as it is. Files
        at the disk paths ``done`` are taken however recently modified. ``only``: the relative
        disk paths to look at (a folder: all below it; ``""``: everything); None: everything.
        The ignore rules changed since the last walk: everything is walked, whatever ``only``.
        """
        if self.ignore.reload_if_changed() or (only is not None and "" in only):
            only = None  # new rules apply to every file
        self._settle_now = self._settle_age if settle else 0.0
        self._unsettled = False
        self._done = frozenset(done)
        found: dict[str, LocalFile] = {}
        present: set[str] = set()
        partials: dict[str, str] = {}
        # (folder on disk, its name relative to the root with a trailing "/"): names are
        # joined as strings, not through pathlib, which cost more than the rest of a rescan of
        # an unchanged folder of 100,000 files.
        stack: list[tuple[str, str]] = []
        scope = None
        if only is None:
            stack.append((str(self.root), ""))
        else:
            scope = self._visit_only(set(only), stack, previous=previous, found=found,
                                     present=present, partials=partials)
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                self._warn_once(folder, "cannot read folder %s: %s", folder, exc.strerror)
                continue
            for entry in entries:
                rel = prefix + entry.name
                of = partial_target_name(entry.name)
                if of is not None:
                    target = prefix + of
                    partials[unicodedata.normalize("NFC", target)] = rel
                self._visit(entry, rel, stack, previous=previous, found=found,
                            present=present)
        return FolderScan(found, present, partials, self._unsettled, scope)

    def _visit_only(
        self, only: set[str], stack: list[tuple[str, str]], *, previous: dict[str, LocalFile],
        found: dict[str, LocalFile], present: set[str], partials: dict[str, str],
    ) -> WalkScope:
        """Visit the entries at the disk paths ``only`` (folders go on ``stack``), each read
        from a listing of its parent folder; what they cover, as a ``WalkScope``."""
        wanted: dict[str, set[str]] = {}  # parent folder (relative, "" or "a/b/") -> names
        for rel in outermost(only):
            parent, _, name = rel.rpartition("/")
            if self._reachable(parent):
                wanted.setdefault(parent + "/" if parent else "", set()).add(name)
        seen_files: set[str] = set()
        for prefix, names in wanted.items():
            folder = str(self.root)
            if prefix:
                folder = os.path.join(folder, *prefix[:-1].split("/"))
            try:
                entries = [e for e in os.scandir(folder)
                           if e.name in names or partial_target_name(e.name) in names]
            except OSError:
                continue  # gone meanwhile: what it held is covered, and no longer there
            for entry in entries:
                rel = prefix + entry.name
                of = partial_target_name(entry.name)
                if of is not None:
                    partials[unicodedata.normalize("NFC", prefix + of)] = rel
                if entry.name not in names:
                    continue
                before = len(stack)
                self._visit(entry, rel, stack, previous=previous, found=found, present=present)
                if len(stack) == before:
                    seen_files.add(unicodedata.normalize("NFC", rel))
        paths = frozenset(unicodedata.normalize("NFC", rel) for rel in only)
        # A path that is a file now and was one before covers nothing below it.
        folders = frozenset(p for p in paths if not (p in seen_files and p in previous))
        return WalkScope(paths, folders)

    def _reachable(self, parent: str) -> bool:
        """Whether the folder ``parent`` (relative, "" for the root) is one a whole walk would
        enter: every folder on the way a real folder, not a symlink, nor ignored."""
        if not parent:
            return True
        rel = ""
        for name in parent.split("/"):
            rel = f"{rel}/{name}" if rel else name
            try:
                st = os.lstat(os.path.join(str(self.root), *rel.split("/")))
            except OSError:
                return False
            if not stat.S_ISDIR(st.st_mode) or self.ignore.is_ignored(rel, True):
                return False
        return True

    def _visit(
        self, entry: "os.DirEntry[str]", rel: str, stack: list[tuple[str, str]], *,
        previous: dict[str, LocalFile], found: dict[str, LocalFile], present: set[str],
    ) -> None:
        """Look at one entry; ``rel`` is its name relative to the root (POSIX separators)."""
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False  # the stat below reports why
        # Decided before descending, so an ignored directory is never walked.
        if self.ignore.is_ignored(rel, is_dir):
            return
        try:
            if entry.is_symlink():
                log.debug("not following symlink %s", rel)
                return
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            self._warn_once(rel, "cannot read %s: %s", rel, exc.strerror)
            return
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            self._warn_once(rel, "skipping %r: its name is not valid UTF-8", rel)
            return
        if stat.S_ISDIR(st.st_mode):
            stack.append((entry.path, rel + "/"))
            return
        if not stat.S_ISREG(st.st_mode):
            return
        old = previous.get(rel)
        if old is not None and old.disk_path == rel:
            # A file known under this very disk name: its name was normalised and checked when
            # it was first found (a rescan of 100,000 known files spent a third of its time
            # checking them again). (Its own string: a rescan keeps one object per path.)
            name = old.path
        else:
            name = unicodedata.normalize("NFC", rel)
            try:
                check_wire_path(name)
            except InvalidName as exc:
                self._warn_once(rel, "not sharing %r: %s", rel, exc)
                return
            old = previous.get(name)
        if name in found:
            self._warn_once(rel, "not sharing %r: another file has the same name once normalised "
                            "(%r)", rel, found[name].disk_path)
            return
        present.add(name)
        # Later scans leave out what was modified a moment ago, as it may still be being written.
        if (self._settle_now and time.time() - st.st_mtime_ns / 1e9 < self._settle_now
                and rel not in self._done):
            self._unsettled = True  # maybe still being written: look again once it is quiet
            if old is not None:
                found[name] = old  # keep offering what we had until the new content settles
            return
        if old and (old.disk_path, old.size, old.mtime_ns, old.inode) == (
            rel, st.st_size, st.st_mtime_ns, st.st_ino
        ):
            found[name] = old
            return
        try:
            hashes = hash_file(Path(entry.path), self.root)
        except FileChanged as exc:
            log.debug("%s; will retry", exc)
            self._unsettled = True
            if old is not None:
                found[name] = old
            return
        except OSError as exc:
            self._warn_once(rel, "cannot read %s: %s", rel, exc.strerror)
            return
        found[name] = LocalFile(name, rel, hashes.size, st.st_mtime_ns, st.st_ino, hashes,
                                EMPTY_VERSION)

    def _warn_once(self, key: str, fmt: str, *args: object) -> None:
        # A file that cannot be shared stays so scan after scan: say it once, not every 30 s.
        if key not in self._warned:
            self._warned.add(key)
            log.warning(fmt, *args)


def outermost(paths: Iterable[str]) -> set[str]:
    """The relative paths of ``paths`` that lie below no other one of them (a folder named
    covers all below it: the watcher collapses its batches with this, and a limited walk
    visits only these, or a new folder and the files in it, named together, would have each
    file found twice)."""
    unique = set(paths)
    kept = set()
    for path in unique:
        parent = path.rpartition("/")[0]
        while parent and parent not in unique:
            parent = parent.rpartition("/")[0]
        if not parent:
            kept.add(path)
    return kept
