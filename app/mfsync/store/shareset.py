"""The share set: the files of a shared folder, with their hashes and versions, as an index.

A scan walks the folder without following symlinks, skips built-in junk, what the folder's
``.mfsyncignore`` names (store/ignore.py) and names that may not cross the wire (each skip logged
once), names files by their NFC form (macOS stores names decomposed; two files that collide once
normalised keep only the first), and hashes only files whose (size, mtime, inode) changed since
the last scan or since the index database last saw them, so a restart does not rehash.

Versions: a file new to us gets our counter 1; a file whose content changed gets its version
bumped by us; a file that disappeared leaves a tombstone (its version, marked deleted) so that
sync does not fetch it again. Files that arrive by download are ``adopt``ed with the version they
came with. Each change of the set bumps ``generation``, which the discovery datagram carries so
that peers fetch the index again.
"""

import asyncio
import logging
import os
import stat
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from mfsync.protocol.messages import IndexEntry
from mfsync.protocol.names import InvalidName, check_wire_path
from mfsync.protocol.version import EMPTY_VERSION, VersionVector
from mfsync.store.dirfd import rename_below, unlink_below
from mfsync.store.hashing import FileChanged, FileHashes, hash_file
from mfsync.store.ignore import IgnoreRules
from mfsync.store.index_db import FileRecord, IndexDB
from mfsync.store.safe_paths import partial_target_name

__all__ = ["LocalFile", "ShareSet", "ShareSetError"]

log = logging.getLogger("mfsync.store")


class ShareSetError(Exception):
    """The shared folder cannot be used (missing, not a folder, unreadable)."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One shared file, its hashes and its version."""

    path: str  #: the name on the wire (NFC)
    disk_path: str  #: the name on disk, relative to the root (may be NFD, as macOS writes it)
    size: int
    mtime_ns: int
    inode: int
    hashes: FileHashes
    version: VersionVector

    def to_entry(self) -> IndexEntry:
        """The index entry peers see."""
        return IndexEntry(self.path, self.size, self.mtime_ns, self.hashes.content_id,
                          self.version)

    def to_record(self) -> FileRecord:
        """The row the index database keeps."""
        return FileRecord(self.path, self.disk_path, self.size, self.mtime_ns, self.inode,
                          self.hashes.block_size, self.hashes.block_hashes,
                          self.hashes.content_id, self.version)

    @property
    def stat_key(self) -> tuple[int, int, int]:
        """(size, mtime_ns, inode): what tells that the file on disk is still this one."""
        return (self.size, self.mtime_ns, self.inode)


def _from_record(record: FileRecord) -> LocalFile:
    hashes = FileHashes(record.size, record.block_size, record.block_hashes, record.content_id)
    return LocalFile(record.path, record.disk_path, record.size, record.mtime_ns, record.inode,
                     hashes, record.version)


class ShareSet:
    """The files under one shared folder, kept in step with the disk and the index database."""

    def __init__(self, root: Path, *, db: IndexDB | None = None, local_key: bytes = bytes(32),
                 settle_age: float = 0.0) -> None:
        self.root = root
        self.generation = 0
        self.local_key = local_key
        #: Set by a scan that skipped files modified too recently; the caller rescans later.
        self.unsettled = False
        self._db = db
        self._settle_age = settle_age
        self._files: dict[str, LocalFile] = {}
        self._records: dict[str, FileRecord] | None = None
        self._warned: set[str] = set()
        #: name of a file -> its partial download on disk (relative), as the last scan found.
        self._partials: dict[str, str] = {}
        #: path -> (content id, version) of a download on its way there (see ``expect``).
        self._expected: dict[str, tuple[bytes, VersionVector]] = {}
        self._lock = asyncio.Lock()
        self._ignore = IgnoreRules.load(root)

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
        """The current files by wire name (a copy)."""
        return dict(self._files)

    @property
    def count(self) -> int:
        """How many files are shared (without copying the set, as ``files`` does)."""
        return len(self._files)

    def get(self, path: str) -> LocalFile | None:
        """The shared file with wire name ``path``, if any."""
        return self._files.get(path)

    def record(self, path: str) -> FileRecord | None:
        """What the index remembers of ``path``, tombstones included."""
        return (self._records or {}).get(path)

    def ignores(self, path: str) -> bool:
        """Whether the ignore rules (built-in and ``.mfsyncignore``, as of the last scan) leave
        ``path`` out of this folder: such a file is neither offered nor fetched by sync."""
        return self._ignore.is_ignored(path, is_dir=False)

    def has_partial(self, path: str) -> bool:
        """Whether the last scan found a partial download of ``path`` (of an earlier run, or
        of a download that failed)."""
        return path in self._partials

    async def discard_partial(self, path: str) -> None:
        """Delete the partial download of ``path`` that the last scan found: no download will
        ever finish it (the caller knows none is under way, and none is wanted)."""
        rel = self._partials.pop(path, None)
        if rel is None:
            return
        try:
            await asyncio.to_thread(unlink_below, self.root, rel)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the partial download %s: %s", rel, exc.strerror)
        else:
            log.info("removed the partial download of %s: that version is not wanted any more",
                     path)

    def entries(self) -> list[IndexEntry]:
        """The index, sorted by path."""
        return [self._files[p].to_entry() for p in sorted(self._files)]

    def close(self) -> None:
        """Close the index database."""
        if self._db is not None:
            self._db.close()

    async def rescan(self) -> bool:
        """Bring the set up to date with the folder; returns whether anything changed."""
        async with self._lock:
            if self._records is None:
                self._records = await asyncio.to_thread(self._db.load_all) if self._db else {}
                self._files = {p: _from_record(r) for p, r in self._records.items()
                               if not r.deleted}
            self.unsettled = False
            found, present = await asyncio.to_thread(self._scan, self._files)
            updates = self._apply_versions(found, present)
            if not updates and found.keys() == self._files.keys() and self.generation:
                return False
            await self._save(updates)
            self._files = found
            self.generation += 1
            log.info("share set: %d files (generation %d)", len(found), self.generation)
            return True

    def expect(self, path: str, content_id: bytes, version: VersionVector) -> None:
        """A download will put ``content_id`` at ``path`` with ``version``: a scan that finds
        it there before ``adopt`` (the watcher sees the rename first) takes that version, rather
        than stamping the file as changed here, which would spread to every host."""
        self._expected[path] = (content_id, version)

    def forget_expected(self, path: str) -> None:
        """The download ``expect`` announced ended without a file (failed, cancelled)."""
        self._expected.pop(path, None)

    async def adopt(self, path: str, hashes: FileHashes, version: VersionVector, *,
                    local_path: Path | None = None) -> None:
        """Take a file that a download just put at ``path`` into the set, with its version.

        ``local_path`` is where the download wrote it, when that is not ``path`` itself (the
        decomposed name a file of ours had on disk).
        """
        async with self._lock:
            self._expected.pop(path, None)
            disk = path
            if local_path is not None and local_path.is_relative_to(self.root):
                disk = local_path.relative_to(self.root).as_posix()
            full = self.root.joinpath(*disk.split("/"))
            try:
                st = await asyncio.to_thread(os.stat, full)
            except FileNotFoundError:
                # Deleted in the moment since it arrived: remember that, so it is not fetched
                # again by itself.
                record = FileRecord(path, disk, hashes.size, 0, 0, hashes.block_size,
                                    hashes.block_hashes, hashes.content_id, version, deleted=True)
                await self._save([record])
                return
            local = LocalFile(path, disk, st.st_size, st.st_mtime_ns, st.st_ino, hashes, version)
            await self._save([local.to_record()])
            self._files[path] = local
            self.generation += 1

    async def set_version(self, path: str, version: VersionVector) -> None:
        """Record that our copy of ``path`` now has ``version`` (same content)."""
        async with self._lock:
            local = self._files.get(path)
            if local is None or local.version == version:
                return
            local = replace(local, version=version)
            await self._save([local.to_record()])
            self._files[path] = local
            self.generation += 1

    async def move_aside(self, path: str, new_path: str) -> None:
        """Rename our copy of ``path`` to ``new_path`` (a conflict copy), which becomes a new
        file of ours; ``path`` is left free for the winning version."""
        async with self._lock:
            local = self._files.get(path)
            if local is None:
                return
            source = self.root / local.disk_path
            target = self.root.joinpath(*new_path.split("/"))
            folder, _, name = new_path.rpartition("/")
            if folder == path.rpartition("/")[0]:
                target = source.with_name(name)  # beside it, in its folder as named on disk
            disk = target.relative_to(self.root).as_posix()
            if await asyncio.to_thread(os.path.lexists, target):
                raise FileExistsError(f"{target} already exists")
            # (through the folders held open, so a folder swapped for a symlink meanwhile
            # cannot move our file out of the share, nor another one in)
            await asyncio.to_thread(rename_below, self.root, local.disk_path, disk)
            st = await asyncio.to_thread(os.stat, target)
            moved = LocalFile(new_path, disk, st.st_size, st.st_mtime_ns, st.st_ino,
                              local.hashes, EMPTY_VERSION.bump(self.local_key))
            await self._save([moved.to_record()], remove=[path])
            del self._files[path]
            self._files[new_path] = moved
            self.generation += 1

    async def _save(self, records: list[FileRecord], remove: list[str] | None = None) -> None:
        assert self._records is not None
        for record in records:
            self._records[record.path] = record
        for path in remove or ():
            self._records.pop(path, None)
        if self._db is not None and (records or remove):
            await asyncio.to_thread(self._db.put_many, records)
            if remove:
                await asyncio.to_thread(self._db.remove_many, remove)

    def _apply_versions(self, found: dict[str, LocalFile], present: set[str]) -> list[FileRecord]:
        assert self._records is not None
        updates: list[FileRecord] = []
        # Equal versions are one shared object (they are immutable): a first scan gives every
        # file the same new version, and 100,000 copies of it were ~20 MB.
        bumped: dict[VersionVector, VersionVector] = {}
        for path, scanned in found.items():
            local = scanned
            old = self._records.get(path)
            expected = self._expected.get(path)
            if expected is not None and expected[0] == local.hashes.content_id:
                version = expected[1]  # a download landed: not a change made here
            elif old is not None and not old.deleted and old.content_id == local.hashes.content_id:
                version = old.version
            else:
                # changed here, or re-created (a tombstone's version is bumped), or new
                base = old.version if old is not None else EMPTY_VERSION
                if base not in bumped:
                    bumped[base] = base.bump(self.local_key)
                version = bumped[base]
            if local.version != version:
                local = found[path] = replace(local, version=version)
            record = local.to_record()
            if record != old:
                updates.append(record)
        for path, old in self._records.items():
            if path not in found and path not in present and not old.deleted:
                updates.append(replace(old, deleted=True))
                log.info("%s was deleted here; it will not be fetched again by itself", path)
        return updates

    def _scan(self, previous: dict[str, LocalFile]) -> tuple[dict[str, LocalFile], set[str]]:
        self._ignore.reload_if_changed()
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
        self._partials = partials
        return found, present

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
        if self._ignore.is_ignored(rel, is_dir):
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
        # The first scan takes everything (a start must show the folder as it is); later ones
        # leave out what was modified a moment ago, as it may still be being written.
        if (self.generation and self._settle_age
                and time.time() - st.st_mtime_ns / 1e9 < self._settle_age):
            self.unsettled = True  # maybe still being written: look again once it is quiet
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
            self.unsettled = True
            if old is not None:
                found[name] = old
            return
        except OSError as exc:
            self._warn_once(rel, "cannot read %s: %s", rel, exc.strerror)
            return
        found[name] = LocalFile(name, rel, hashes.size, st.st_mtime_ns, st.st_ino, hashes,
                                EMPTY_VERSION)

    def _warn_once(self, key: str, fmt: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(fmt, *args)
