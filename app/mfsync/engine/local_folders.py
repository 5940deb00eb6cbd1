"""Our shared folders: their share sets, scans, watchers and the generation we announce.

How it works: each folder is a ``ShareSet`` (its index, kept in a database under the state
directory) with a ``FolderWatcher``; a change the watcher sees, the periodic rescan or a file
server that found a file changed asks for a rescan (``rescan_soon``), and one task scans the
folders asked for until no more are. A file modified a moment ago is offered once it has been
quiet for ``SETTLE_AGE``. A folder that cannot be scanned (gone, unmounted) is not scanned (that
would mark every file deleted): it is reported and offers nothing until a scan succeeds again.

The generation (what we announce) is the sum of the folders' generations plus a count of other
changes of what we offer (a folder added, removed, gone unreadable or back; ``bump`` for the
trust list); a removed folder's generation is added to that count, so the sum never goes back.
"""

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from mfsync.engine.status import FolderSnapshot
from mfsync.store.index_db import IndexDB, IndexDBError
from mfsync.store.shareset import ShareSet, ShareSetError
from mfsync.watch.watcher import FolderWatcher

__all__ = ["MIN_RESCAN_INTERVAL", "RESCAN_INTERVAL", "SETTLE_AGE", "LocalFolders"]

log = logging.getLogger("mfsync.engine")

#: How often the share set is rescanned when nothing else tells us of changes.
RESCAN_INTERVAL = 30.0
#: The periodic rescan waits at least this long between two rounds, whatever it is told.
MIN_RESCAN_INTERVAL = 0.25
#: A file modified less than this long ago may still be being written: it is offered once it
#: has been quiet that long, so nobody downloads it half done.
SETTLE_AGE = 0.3


class LocalFolders:
    """The folders we share, in order of precedence (a path in two is offered from the first).

    ``on_change`` is told of what the status shows (a scan began or ended, an error);
    ``on_offer_changed`` when what we offer changed (peers are to be told at once).
    """

    def __init__(self, folders: tuple[Path | None, ...], *, local_key: bytes,
                 state_dir: Path | None, watch: bool, rescan_interval: float,
                 on_change: Callable[[], None], on_offer_changed: Callable[[], None]) -> None:
        self._local_key = local_key
        self._state_dir = state_dir
        self._watch_folders = watch
        self._rescan_interval = max(rescan_interval, MIN_RESCAN_INTERVAL)
        self._on_change = on_change
        self._on_offer_changed = on_offer_changed
        self._shares: list[ShareSet] = []
        for folder in folders:
            if folder is not None and all(s.root != folder for s in self._shares):
                self._shares.append(self._make_share(folder))
        self._watchers: dict[ShareSet, FolderWatcher] = {}
        self._locks: dict[ShareSet, asyncio.Lock] = {}
        self._scanning: set[ShareSet] = set()
        self._scanned: set[ShareSet] = set()
        self._errors: dict[ShareSet, str] = {}
        #: Added to the folders' generations (see the module's docstring).
        self._generation_base = 0
        self._rescan_task: asyncio.Task[None] | None = None
        self._rescan_wanted: set[ShareSet] = set()
        self._periodic: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def shares(self) -> tuple[ShareSet, ...]:
        """Every shared folder's share set, in order of precedence."""
        return tuple(self._shares)

    @property
    def generation(self) -> int:
        """What we announce as our generation: it changes whenever what we offer does."""
        return sum(share.generation for share in self._shares) + self._generation_base

    def offered(self) -> list[ShareSet]:
        """The share sets whose files we offer: those that can be scanned (the files of one
        that cannot could not be served)."""
        return [s for s in self._shares if s not in self._errors]

    def bump(self) -> None:
        """Something besides the folders changed what peers may fetch (the trust list): count
        it in the generation."""
        self._generation_base += 1

    def snapshot(self) -> tuple[FolderSnapshot, ...]:
        """Each folder as the status shows it."""
        return tuple(FolderSnapshot(share.root, share.count, share in self._scanning,
                                    self._errors.get(share, ""))
                     for share in self._shares)

    async def start(self) -> None:
        """Open every folder's index (``ShareSetError`` if one cannot be used), watch and scan
        every folder, then rescan them every ``rescan_interval``."""
        for share in list(self._shares):
            await self._open_index(share)
        for share in list(self._shares):
            await self.open(share)
        self._periodic = asyncio.get_running_loop().create_task(self._rescan_periodically())

    async def open(self, share: ShareSet) -> None:
        """Watch ``share`` and scan it. Watched from before the first scan, so that what
        changes while it runs (it can take long) is rescanned at once, not at the next
        periodic rescan."""
        self._watch(share)
        await self._scan(share)

    async def add(self, path: Path) -> tuple[ShareSet, bool]:
        """Share the folder ``path`` too (not scanned yet: see ``open``); its share set, and
        whether it is new (a folder shared already gives its own). ``ShareSetError`` if it
        cannot be shared."""
        root = await asyncio.to_thread(ShareSet.check_root, path)
        for share in self._shares:
            if share.root == root:
                return share, False
        share = self._make_share(root)
        await self._open_index(share)
        self._shares.append(share)
        self._generation_base += 1
        log.info("sharing %s too", root)
        self._on_change()
        return share, True

    async def remove(self, path: Path) -> bool:
        """Stop sharing the folder ``path`` (its files stay where they are); whether it was
        shared."""
        share = next((s for s in self._shares if s.root == path), None)
        if share is None:
            resolved = await asyncio.to_thread(path.expanduser().resolve)
            share = next((s for s in self._shares if s.root == resolved), None)
        if share is None:
            return False
        async with self._lock(share):  # not in the middle of a scan of it
            self._shares.remove(share)
            self._generation_base += share.generation + 1  # so the sum still grows
            watcher = self._watchers.pop(share, None)
            self._scanning.discard(share)
            self._scanned.discard(share)
            self._errors.pop(share, None)
            self._rescan_wanted.discard(share)
        self._locks.pop(share, None)
        if watcher is not None:
            await asyncio.to_thread(watcher.stop)
        await asyncio.to_thread(share.close)  # closing a database may write to it (its WAL)
        log.info("no longer sharing %s", share.root)
        self._on_offer_changed()
        return True

    async def rescan(self) -> None:
        """Rescan every folder now; peers are told at once of what changed."""
        await self._rescan(list(self._shares))

    def rescan_soon(self, share: ShareSet | None = None) -> None:
        """Rescan ``share`` (every folder: None) in the background, soon."""
        if self._stopping:
            return
        self._rescan_wanted.update(self._shares if share is None else (share,))
        if self._rescan_task is not None and not self._rescan_task.done():
            return  # the scan under way takes it on next (a change during a scan: scan again)
        self._rescan_task = asyncio.get_running_loop().create_task(self._rescan_until_quiet())

    async def stop_watching(self) -> None:
        """Stop the watchers; no rescan starts from now on (the node stops)."""
        self._stopping = True
        watchers = list(self._watchers.values())
        self._watchers.clear()
        for watcher in watchers:
            await asyncio.to_thread(watcher.stop)

    def cancel(self) -> list[asyncio.Task[None]]:
        """Cancel the scans and the periodic rescan; returns the tasks, to be awaited."""
        tasks = [t for t in (self._rescan_task, self._periodic) if t is not None]
        for task in tasks:
            task.cancel()
        return tasks

    def close(self) -> None:
        """Close every share set (their databases; it touches the disk: an event loop calls
        it in a worker thread)."""
        for share in self._shares:
            share.close()

    # -- scanning -------------------------------------------------------------------------

    def _make_share(self, folder: Path) -> ShareSet:
        """The share set of ``folder``; touches no disk (its index is opened by
        ``_open_index``, in a worker thread)."""
        state_dir = self._state_dir

        def open_db() -> IndexDB:
            assert state_dir is not None
            return IndexDB(IndexDB.path_for(state_dir, folder))

        return ShareSet(folder, open_db=open_db if state_dir is not None else None,
                        local_key=self._local_key, settle_age=SETTLE_AGE)

    @staticmethod
    async def _open_index(share: ShareSet) -> None:
        """Open the index of ``share``; ``ShareSetError`` if it cannot be used."""
        try:
            await share.open_index()
        except IndexDBError as exc:
            share.close()
            raise ShareSetError(f"cannot share {share.root}: {exc}") from None

    def _lock(self, share: ShareSet) -> asyncio.Lock:
        return self._locks.setdefault(share, asyncio.Lock())

    def _watch(self, share: ShareSet) -> None:
        if not self._watch_folders or share in self._watchers or self._stopping:
            return
        watcher = FolderWatcher(share.root, lambda _paths: self.rescan_soon(share),
                                loop=asyncio.get_running_loop())
        watcher.start()
        self._watchers[share] = watcher

    async def _rescan_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._rescan_interval)
            if self._shares:
                self.rescan_soon()  # in its own task: a long scan must not stall the peers

    async def _rescan_until_quiet(self) -> None:
        while self._rescan_wanted:
            wanted = [share for share in self._shares if share in self._rescan_wanted]
            self._rescan_wanted.clear()
            await self._rescan(wanted)

    async def _rescan(self, shares: list[ShareSet]) -> None:
        changed = False
        for share in shares:
            changed = await self._scan(share) or changed
            if share.unsettled:
                # Something was modified a moment ago: look again once it has been quiet.
                asyncio.get_running_loop().call_later(SETTLE_AGE, self.rescan_soon, share)
        if changed:
            self._on_offer_changed()

    async def _scan(self, share: ShareSet) -> bool:
        """Rescan one folder; returns whether what it offers changed. A folder that is gone or
        unreadable is reported in the status and offers nothing until a scan succeeds again."""
        async with self._lock(share):
            if share not in self._shares:
                return False  # removed meanwhile
            first = share not in self._scanned
            self._scanning.add(share)
            if first:
                self._on_change()  # a first scan may take long: show it
            try:
                await asyncio.to_thread(ShareSet.check_root, share.root)
                changed = await share.rescan()
            except (ShareSetError, IndexDBError, OSError) as exc:
                error = str(exc)
                offered = share not in self._errors
                if self._errors.get(share) != error:
                    log.warning("cannot scan %s: %s; not offering its files", share.root, error)
                    self._errors[share] = error
                    self._on_change()
                if offered:
                    self._generation_base += 1  # its files leave the offer
                return offered
            finally:
                self._scanning.discard(share)
                self._scanned.add(share)
                if first:
                    self._on_change()
            if self._errors.pop(share, None) is not None:
                log.info("%s can be scanned again", share.root)
                self._generation_base += 1  # its files are offered again
                return True
            return changed
