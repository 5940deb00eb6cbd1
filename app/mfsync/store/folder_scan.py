"""The walk of one shared folder: which files are there now, hashed only where they changed.

A walk does not follow symlinks, skips built-in junk, what the folder's ``.mfsyncignore`` names
(store/ignore.py) and names that may not cross the wire (each skip logged once, not again at
every scan), names files by their NFC form (macOS stores names decomposed; two files that
collide once normalised keep only the first), and hashes only files whose (name on disk, size,
mtime, inode) differ from the previous files it is given, so that a rescan of an unchanged folder,
or a restart whose previous files come from the index database, reads no file. It also notes the
partial downloads it passes. It runs in a worker thread (it is all disk work) and gives versions
to nothing: that is store/scan_versions.py, once the walk is back.
"""

import logging
import os
import stat
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.names import InvalidName, check_wire_path
from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store.hashing import FileChanged, hash_file
from mfsync.store.ignore import IgnoreRules
from mfsync.store.local_file import LocalFile
from mfsync.store.safe_paths import partial_target_name

__all__ = ["FolderScan", "FolderWalker"]

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

    def walk(self, previous: dict[str, LocalFile], *, settle: bool) -> FolderScan:
        """Walk the folder (blocking: call it in a worker thread).

        ``previous`` are the files as last known (by wire name); one whose name on disk, size,
        mtime and inode are unchanged is taken as it is, without hashing. With ``settle``, files
        modified less than the settle age ago are left out (their previous form is kept, if
        any): the first scan takes everything, as a start must show the folder as it is.
        """
        self.ignore.reload_if_changed()
        self._settle_now = self._settle_age if settle else 0.0
        self._unsettled = False
        found: dict[str, LocalFile] = {}
        present: set[str] = set()
        partials: dict[str, str] = {}
        # (folder on disk, its name relative to the root with a trailing "/"): names are
        # joined as strings, not through pathlib, which cost more than the rest of a rescan of
        # an unchanged folder of 100,000 files.
        stack: list[tuple[str, str]] = [(str(self.root), "")]
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
        return FolderScan(found, present, partials, self._unsettled)

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
        name = unicodedata.normalize("NFC", rel)
        try:
            check_wire_path(name)
        except InvalidName as exc:
            self._warn_once(rel, "not sharing %r: %s", rel, exc)
            return
        if name in found:
            self._warn_once(rel, "not sharing %r: another file has the same name once normalised "
                            "(%r)", rel, found[name].disk_path)
            return
        present.add(name)
        old = previous.get(name)
        # Later scans leave out what was modified a moment ago, as it may still be being written.
        if self._settle_now and time.time() - st.st_mtime_ns / 1e9 < self._settle_now:
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
