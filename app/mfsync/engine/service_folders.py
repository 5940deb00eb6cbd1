"""The service's folders: which it serves, the lock of each, and the changes the user asks for.

How it works: a ``FolderDesk`` holds the service's list of folders (``FolderConfig``), the lock
of each folder it serves (one process per folder, ``store.folder_lock``), and the changes a
front end asks for: add, remove, switch mode, set devices. Each change goes to the node (what
is served), to ``Transfers`` (a syncer per sync folder) and, through ``save``, to the config
file.

A folder another process serves (``mfsync share`` of the same folder, say) is *busy*. A
command-line run or the daemon refuses to start then (``FolderInUse``); the desktop app
(``wait_when_busy``) starts without it, shows it as busy with the other process named, and
takes it over once that process lets it go (tried every ``BUSY_RETRY`` seconds). Locks touch
the disk, so they are taken in worker threads.
"""

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mfsync.audience import Audience
from mfsync.config import FolderConfig
from mfsync.defaults import FolderMode
from mfsync.engine.folder_rules import check_addition, find_folder
from mfsync.engine.node import Node
from mfsync.engine.service_status import BusyFolder, ServiceError
from mfsync.engine.service_transfers import Transfers
from mfsync.folder_config import new_folder_id
from mfsync.protocol.folder_id import FolderId
from mfsync.reports import Report
from mfsync.store.folder_lock import FolderInUse, FolderLocks
from mfsync.store.shareset import ShareSet, ShareSetError

__all__ = ["BUSY_RETRY", "FolderDesk", "check_folder"]

log = logging.getLogger("mfsync.service")

#: How often (seconds) the app tries again to take over a folder another process serves.
BUSY_RETRY = 5.0


class FolderDesk:
    """The folders of one service and every change to them (see the module)."""

    def __init__(self, node: Node, transfers: Transfers, folders: tuple[FolderConfig, ...],
                 locks: FolderLocks, *, save: Callable[[tuple[FolderConfig, ...]], None],
                 changed: Callable[[], None], trust_hint: str = "",
                 wait_when_busy: bool = False) -> None:
        self._node = node
        self._transfers = transfers
        self.folders = folders
        self._locks = locks
        self._save = save
        self._changed = changed
        self._trust_hint = trust_hint
        self._wait_when_busy = wait_when_busy
        #: Folders another process serves, by path, with why (its pid and command).
        self._busy: dict[Path, str] = {}
        self._retry: asyncio.Task[None] | None = None
        self._started = False

    @property
    def busy(self) -> tuple[BusyFolder, ...]:
        """The folders another process serves now (the app takes them over later)."""
        return tuple(BusyFolder(path, reason) for path, reason in self._busy.items())

    # -- life -----------------------------------------------------------------------------

    async def lock(self) -> None:
        """Take the lock of every folder, before the node starts. ``FolderInUse`` if one is
        busy, unless this desk waits: then the busy ones are set aside (not served, not
        synced) until their lock comes free."""
        paths = [f.path for f in self.folders]
        if not self._wait_when_busy:
            await asyncio.to_thread(self._locks.take_all, paths)
            return
        for path in paths:
            try:
                await asyncio.to_thread(self._locks.take, path)
            except FolderInUse as exc:
                log.warning("%s; it is served here once that process lets it go", exc)
                self._busy[path] = _holder(exc)
                await self._node.remove_share(path)  # (not started yet: nothing was read)

    async def start(self) -> None:
        """Sync each folder in sync mode that we serve (the node runs), and watch the busy
        ones."""
        self._started = True
        for folder in self.folders:
            if folder.mode == FolderMode.SYNC and folder.path not in self._busy:
                self._start_syncer(folder.path)
        if self._busy:
            self._retry = asyncio.get_running_loop().create_task(self._take_over())

    async def stop(self) -> None:
        """Stop watching busy folders and let every lock go (the node has stopped)."""
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        await asyncio.to_thread(self._locks.release_all)

    # -- changes --------------------------------------------------------------------------

    async def add(self, root: Path, mode: str = FolderMode.SHARE, *,
                  folder_id: FolderId | None = None, label: str = "") -> FolderConfig:
        """Share the checked folder ``root`` (and sync it, in sync mode) as a new folder, or
        as the folder ``folder_id`` (labelled ``label``); saved."""
        check_addition(self.folders, root)
        if folder_id is not None and any(f.id == folder_id for f in self.folders):
            raise ServiceError(Report("folder-here-already", folder=folder_id))
        folder = FolderConfig(root, mode, folder_id or new_folder_id(self.folders, mode), label)
        try:
            await asyncio.to_thread(self._locks.take, root)
        except FolderInUse as exc:
            raise ServiceError(str(exc)) from None
        try:
            await self._node.add_share(root, folder)
        except BaseException:
            self._locks.release(root)  # (closing a file: quick, and safe while cancelled)
            raise
        self._set((*self.folders, folder))
        if mode == FolderMode.SYNC and self._started:
            self._start_syncer(root)
        self._changed()
        return folder

    async def remove(self, path: Path) -> None:
        """Stop sharing ``path`` (its files stay where they are)."""
        folder = find_folder(self.folders, path)
        if self._busy.pop(folder.path, None) is None:
            if folder.mode == FolderMode.SYNC:
                await self._transfers.stop_syncer(folder.id)
            await self._node.remove_share(folder.path)
            await asyncio.to_thread(self._locks.release, folder.path)
        self._set(tuple(f for f in self.folders if f.path != folder.path))
        self._changed()

    async def set_mode(self, path: Path, mode: str) -> None:
        """Switch a folder between share only and sync."""
        folder = find_folder(self.folders, path)
        if folder.mode == mode:
            return
        if folder.path not in self._busy:
            self._node.configure_folder(folder.id, mode=mode)
            if mode == FolderMode.SYNC:
                self._start_syncer(folder.path)
            else:
                await self._transfers.stop_syncer(folder.id)
        self._replace(folder, mode=mode)
        self._changed()

    def set_devices(self, path: Path, devices: Audience | None) -> None:
        """Set who may see a folder and whose changes it takes (None: the default)."""
        folder = find_folder(self.folders, path)
        self._replace(folder, devices=devices)
        self._node.configure_folder(folder.id, audience=devices, default_audience=not devices)
        self._changed()

    # -- helpers --------------------------------------------------------------------------

    def _set(self, folders: tuple[FolderConfig, ...]) -> None:
        self._save(folders)
        self.folders = folders

    def _replace(self, folder: FolderConfig, **changes: Any) -> None:
        self._set(tuple(dataclasses.replace(f, **changes) if f.path == folder.path else f
                        for f in self.folders))

    def _start_syncer(self, root: Path) -> None:
        self._transfers.start_syncer(root, trust_hint=self._trust_hint)

    async def _take_over(self) -> None:
        """Serve each busy folder as soon as the process that serves it lets it go."""
        while self._busy:
            await asyncio.sleep(BUSY_RETRY)
            for path in list(self._busy):
                try:
                    await asyncio.to_thread(self._locks.take, path)
                except FolderInUse as exc:
                    self._busy[path] = _holder(exc)  # (another process may have taken it)
                    continue
                folder = next((f for f in self.folders if f.path == path), None)
                if self._busy.pop(path, None) is None or folder is None:  # removed meanwhile
                    await asyncio.to_thread(self._locks.release, path)
                    continue
                log.info("%s is free again: serving it", path)
                try:
                    await self._node.add_share(path, folder)
                except Exception as exc:
                    self._busy[path] = Report("cannot-serve", error=exc)
                    await asyncio.to_thread(self._locks.release, path)
                    continue
                folder = next((f for f in self.folders if f.path == path), None)
                if folder is None:  # removed while it was being added
                    await self._node.remove_share(path)
                    await asyncio.to_thread(self._locks.release, path)
                    continue
                if folder.mode == FolderMode.SYNC:  # (as it is now: it may have switched)
                    self._start_syncer(path)
                self._changed()


async def check_folder(path: Path) -> Path:
    """``path`` resolved, if it is a readable folder to share; ``ServiceError`` says why not.

    The check touches the disk, so it runs in a worker thread.
    """
    try:
        return await asyncio.to_thread(ShareSet.check_root, path)
    except (ShareSetError, OSError) as exc:  # both mean "cannot use this"
        raise ServiceError(str(exc)) from None


def _holder(exc: FolderInUse) -> Report:
    """Who serves a busy folder, for people: ``served by `mfsync share` (pid 1234)``."""
    if not exc.command:
        return (Report("served-by-other") if exc.pid is None
                else Report("served-by-other-pid", pid=exc.pid))
    command = f"`{exc.command}`"
    return (Report("served-by", command=command) if exc.pid is None
            else Report("served-by-pid", command=command, pid=exc.pid))
