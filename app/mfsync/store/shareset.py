"""The share set: the files of a shared folder, with their hashes and versions, as an index.

It keeps the folder's files in step with the disk and the index database: a rescan walks the
folder in a worker thread (store/folder_scan.py: symlinks not followed, ignore rules, wire names,
NFC names, hashing only what changed since the last scan or since the index database last saw it,
so a restart does not rehash), then gives the files their versions (store/scan_versions.py: ours
bumped for a change made here, tombstones for what disappeared, the version a download came with
for what landed) and saves what changed. Files that arrive by download are ``adopt``ed with the
version they came with. Each change of the set bumps ``generation``, which the discovery datagram
carries so that peers fetch the index again.

The folder's identity (its id and label) is kept in its index database, written once: a folder
made on the command line keeps its id across runs that way (``folder_id``, ``label``). A folder
whose database records none is the default folder, labelled after its name.

The root's own identity (device and inode) is recorded at its first scan, and every scan checks
it first: an unmounted drive leaves an empty mount point, and a folder deleted and made again is
another folder; scanning either would read as "every file deleted" and spread the deletions. So
a root that is not the one recorded, and holds none of the files the index knows, is *paused*
(``paused`` says why, ``RootChanged`` is raised): nothing is scanned, no tombstone made, until it
is back (or ``rebind`` records the new one, when the user shares it again). A root that is
another inode but still holds files the index knows (a drive mounted under another device
number, a folder restored from a backup) is the same folder: its new identity is recorded
(store/root_identity.py).
"""

import asyncio
import itertools
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId, label_from_name
from mfsync.protocol.messages import IndexEntry
from mfsync.protocol.version import EMPTY_VERSION, VersionVector
from mfsync.store.adoption import Landed, look_landed
from mfsync.store.change_log import ChangeLog
from mfsync.store.dirfd import rename_below, unlink_below
from mfsync.store.folder_scan import FolderWalker
from mfsync.store.index_db import FileRecord, FolderIdentity, IndexDB
from mfsync.store.local_file import LocalFile
from mfsync.store.root_identity import (
    ROOT_META_KEY,
    RootChanged,
    RootIdentity,
    ShareSetError,
)
from mfsync.store.scan_versions import stamp_limited, stamp_versions

#: ``LocalFile`` lives in store/local_file.py; it is re-exported here, where callers import it.
__all__ = ["ROOT_META_KEY", "LocalFile", "RootChanged", "ShareSet", "ShareSetError"]

log = logging.getLogger("mfsync.store")


#: How many of the files the index knows are looked for when the root's identity changed.
_ROOT_SAMPLE = 16


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


class ShareSet:
    """The files under one shared folder, kept in step with the disk and the index database."""

    def __init__(self, root: Path, *, db: IndexDB | None = None,
                 open_db: Callable[[], IndexDB] | None = None, local_key: bytes = bytes(32),
                 settle_age: float = 0.0, identity: FolderIdentity | None = None) -> None:
        """``db`` is an index database opened already; ``open_db`` opens one, and is called
        in a worker thread by ``open_index`` (or the first ``rescan``), so that building a
        share set touches no disk (the desktop app builds it on its GUI thread).
        ``identity`` is recorded in the index database when it opens, if the database records
        none yet (the first identity written stays)."""
        self.root = root
        self.generation = 0
        self.local_key = local_key
        #: Set by a scan that skipped files modified too recently; the caller rescans later.
        self.unsettled = False
        self._db = db
        self._open_db = open_db if db is None else None
        self._files: dict[str, LocalFile] = {}
        self._records: dict[str, FileRecord] | None = None
        #: name of a file -> its partial download on disk (relative), as the last scan found.
        self._partials: dict[str, str] = {}
        #: path -> (content id, version) of a download on its way there (see ``expect``).
        self._expected: dict[str, tuple[bytes, VersionVector]] = {}
        self._lock = asyncio.Lock()
        self._walker = FolderWalker(root, settle_age=settle_age)
        self._wanted_identity = identity
        self._root_identity = RootIdentity(root)
        self._identity: FolderIdentity | None = identity if self._open_db is None else None
        self._changes = ChangeLog()  # for deltas: what changed in which generation
        if db is not None:  # opened already by the caller, on its thread: read it there too
            self._identity = self._read_identity(db)

    check_root = staticmethod(check_root)

    @property
    def paused(self) -> str:
        """Why the share set is paused (its root is not the folder shared); empty when not."""
        return self._root_identity.paused

    @property
    def folder_id(self) -> FolderId:
        """The folder's id as its index database records it (once open); the default
        folder's when it records none."""
        return self._identity.id if self._identity is not None else DEFAULT_FOLDER

    @property
    def label(self) -> str:
        """The folder's label as its index database records it (once open); made from the
        folder's name when it records none."""
        return (self._identity.label if self._identity is not None
                else label_from_name(self.root.name))

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
        return self._walker.ignore.is_ignored(path, is_dir=False)

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

    async def open_index(self) -> None:
        """Open the index database (if there is one to open, and it is not open yet) in a
        worker thread; ``IndexDBError`` if it cannot be used. ``rescan`` opens it too: calling
        this first lets the caller tell an unusable index from a folder that cannot be
        scanned."""
        async with self._lock:
            await self._open()

    def close(self) -> None:
        """Close the index database."""
        self._open_db = None  # closed for good: a later rescan must not reopen it
        if self._db is not None:
            self._db.close()

    async def _open(self) -> None:
        if self._db is None and self._open_db is not None:
            self._db = await asyncio.to_thread(self._open_db)
            self._open_db = None
            self._identity = await asyncio.to_thread(self._read_identity, self._db)

    def _read_identity(self, db: IndexDB) -> FolderIdentity | None:
        if self._wanted_identity is not None:
            return db.keep_folder(self._wanted_identity)
        return db.folder()

    async def rebind(self) -> None:
        """Record the folder now at the root as the one shared (the user shared it again):
        a share set paused for a changed root scans it from now on."""
        async with self._lock:
            await self._open()
            await asyncio.to_thread(self._check_root_id, rebind=True)

    def _check_root_id(self, *, rebind: bool = False, known: list[str] | None = None) -> None:
        self._root_identity.check(self._db, rebind=rebind, known=known)  # (a worker thread)

    async def offer_index(self) -> bool:
        """Offer the files the index database holds before any walk (a restart); whether it
        did (not when it holds none, or was loaded already). The caller walks soon after
        (``rescan``); meanwhile a file served is checked against the disk as it is read
        (engine/serve.py). ``RootChanged`` if the root is not the folder shared."""
        async with self._lock:
            if self._records is not None:
                return False
            await self._load()
            if not self._files:
                return False
            known = [f.disk_path for f in itertools.islice(self._files.values(), _ROOT_SAMPLE)]
            await asyncio.to_thread(self._check_root_id, known=known)
            self.generation += 1
            self._note((), ())
            log.info("share set: %d files from the index; walking the folder", self.count)
            return True

    async def _load(self) -> None:
        """Read the index database into the set (in a worker thread)."""
        await self._open()
        self._records = await asyncio.to_thread(self._db.load_all) if self._db else {}
        self._files = {p: LocalFile.from_record(r) for p, r in self._records.items()
                       if not r.deleted}

    async def rescan(self, only: Iterable[str] | None = None, done: Iterable[str] = ()) -> bool:
        """Bring the set up to date with the folder; whether anything changed. ``only``: the
        disk paths to look at (None: all); ``done``: those nothing writes any more, taken
        without settling (store/folder_scan.py). ``RootChanged`` if the root is not the one."""
        async with self._lock:
            if self._records is None:
                await self._load()
                only = None  # the first scan looks at everything
            assert self._records is not None
            known = [f.disk_path for f in itertools.islice(self._files.values(), _ROOT_SAMPLE)]
            await asyncio.to_thread(self._check_root_id, known=known)
            self.unsettled = False
            # (a settle age only after the first scan: a start must show the folder as it is)
            scan = await asyncio.to_thread(
                self._walker.walk, self._files, settle=bool(self.generation),
                only=None if only is None else frozenset(only), done=frozenset(done))
            self.unsettled = scan.unsettled
            if scan.scope is None:
                self._partials = scan.partials
                found = scan.files
                updates = stamp_versions(found, scan.present, self._records, self._expected,
                                         self.local_key, previous=self._files)
            else:
                found, updates = stamp_limited(scan, self._files, self._records,
                                               self._expected, self.local_key)
                assert scan.scope is not None
                for name in scan.scope.covers(self._partials):
                    del self._partials[name]
                self._partials.update(scan.partials)
            if not updates and found.keys() == self._files.keys() and self.generation:
                return False
            await self._save(updates)
            changed = {r.path for r in updates if r.path in found}
            if self.generation:
                changed |= found.keys() - self._files.keys()
            gone = self._files.keys() - found.keys()
            self._files = found
            self.generation += 1
            self._note(changed, gone)
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

    async def adopt(self, landed: list[Landed]) -> None:
        """Take files that downloads just put in place into the set, with their versions: one
        lock, one worker-thread trip and one save for the batch (``store/adoption.py``)."""
        async with self._lock:
            found = await asyncio.to_thread(look_landed, self.root, landed)
            records: list[FileRecord] = []
            changed: set[str] = set()
            for item, local in zip(landed, found, strict=True):
                self._expected.pop(item.path, None)
                if isinstance(local, FileRecord):
                    records.append(local)  # deleted since it arrived: a tombstone
                elif self._files.get(item.path) != local:  # (else a scan took it in first)
                    records.append(local.to_record())
                    self._files[item.path] = local
                    changed.add(item.path)
            await self._save(records)
            if changed:
                self.generation += 1
                self._note(changed, ())

    async def set_version(self, path: str, version: VersionVector) -> None:
        """Record that our copy of ``path`` now has ``version`` (same content)."""
        async with self._lock:
            local = self._files.get(path)
            if local is None or local.version == version:
                return
            local = local.with_version(version)
            await self._save([local.to_record()])
            self._files[path] = local
            self.generation += 1
            self._note({path}, ())

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
            self._note({new_path}, {path})

    def changes_since(self, generation: int) -> tuple[set[str], set[str]] | None:
        """What changed after ``generation`` of this process (a delta, PROTOCOL.md 3.3): the
        paths added or changed, those that left; None when that cannot be told."""
        return self._changes.since(generation, self.generation)

    def _note(self, changed: Iterable[str], gone: Iterable[str]) -> None:
        self._changes.note(self.generation, changed, gone)

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
