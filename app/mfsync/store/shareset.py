"""The share set: the files of a shared folder, with their hashes, as an index to serve.

A scan walks the folder without following symlinks, skips built-in junk and names that may not
cross the wire (each skip logged once), names files by their NFC form (macOS stores names
decomposed; two files that collide once normalised keep only the first), and hashes only files
whose (size, mtime, inode) changed since the last scan. Each change of the set bumps
``generation``, which the discovery datagram carries so that peers fetch the index again.
"""

import asyncio
import fnmatch
import logging
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.messages import IndexEntry
from mfsync.protocol.names import InvalidName, check_wire_path
from mfsync.store.hashing import FileChanged, FileHashes, hash_file

__all__ = ["BUILTIN_IGNORES", "LocalFile", "ShareSet", "ShareSetError"]

log = logging.getLogger("mfsync.store")

#: Never shared: our own partial downloads, OS litter and editor swap files.
BUILTIN_IGNORES = (
    ".*.mfsync-part", "*.mfsync-part", ".DS_Store", "Thumbs.db", "desktop.ini",
    ".*.swp", "*~", ".#*", ".mfsync", ".mfsyncignore",
)


class ShareSetError(Exception):
    """The shared folder cannot be used (missing, not a folder, unreadable)."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One shared file and its hashes; ``key`` is what the hash cache is checked against."""

    path: str  #: the name on the wire (NFC)
    disk_path: str  #: the name on disk, relative to the root (may be NFD, as macOS writes it)
    size: int
    mtime_ns: int
    inode: int
    hashes: FileHashes

    def to_entry(self) -> IndexEntry:
        """The index entry peers see."""
        return IndexEntry(self.path, self.size, self.mtime_ns, self.hashes.content_id)


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in BUILTIN_IGNORES)


class ShareSet:
    """The files under one shared folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        self._files: dict[str, LocalFile] = {}
        self._warned: set[str] = set()
        self._lock = asyncio.Lock()

    @staticmethod
    def check_root(root: Path) -> Path:
        """Resolve ``root`` and make sure it is a readable folder."""
        try:
            resolved = root.expanduser().resolve(strict=True)
        except FileNotFoundError:
            raise ShareSetError(f"{root} does not exist") from None
        except OSError as exc:
            raise ShareSetError(f"cannot open {root}: {exc.strerror or exc}") from None
        if not resolved.is_dir():
            raise ShareSetError(f"{root} is not a folder")
        if not os.access(resolved, os.R_OK | os.X_OK):
            raise ShareSetError(f"{root} is not readable")
        return resolved

    @property
    def files(self) -> dict[str, LocalFile]:
        """The current files by relative path (a copy)."""
        return dict(self._files)

    def get(self, path: str) -> LocalFile | None:
        """The shared file with wire name ``path``, if any."""
        return self._files.get(path)

    def entries(self) -> list[IndexEntry]:
        """The index, sorted by path."""
        return [self._files[p].to_entry() for p in sorted(self._files)]

    async def rescan(self) -> bool:
        """Bring the set up to date with the folder; returns whether anything changed."""
        async with self._lock:
            previous = self._files
            found = await asyncio.to_thread(self._scan, previous)
            if found.keys() == previous.keys() and all(
                found[p] is previous[p] for p in found
            ):
                return False
            self._files = found
            self.generation += 1
            log.info("share set: %d files (generation %d)", len(found), self.generation)
            return True

    def _scan(self, previous: dict[str, LocalFile]) -> dict[str, LocalFile]:
        found: dict[str, LocalFile] = {}
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                self._warn_once(str(folder), "cannot read folder %s: %s", folder, exc.strerror)
                continue
            for entry in entries:
                self._visit(entry, stack, previous, found)
        return found

    def _visit(
        self, entry: "os.DirEntry[str]", stack: list[Path], previous: dict[str, LocalFile],
        found: dict[str, LocalFile],
    ) -> None:
        if _ignored(entry.name):
            return
        full = Path(entry.path)
        rel = full.relative_to(self.root).as_posix()
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
            stack.append(full)
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
        old = previous.get(name)
        if old and (old.disk_path, old.size, old.mtime_ns, old.inode) == (
            rel, st.st_size, st.st_mtime_ns, st.st_ino
        ):
            found[name] = old
            return
        try:
            hashes = hash_file(full)
        except FileChanged as exc:
            log.debug("%s; will retry", exc)
            return
        except OSError as exc:
            self._warn_once(rel, "cannot read %s: %s", rel, exc.strerror)
            return
        found[name] = LocalFile(name, rel, hashes.size, st.st_mtime_ns, st.st_ino, hashes)

    def _warn_once(self, key: str, fmt: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(fmt, *args)
