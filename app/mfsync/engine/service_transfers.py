"""The transfers of a service: the downloads someone asks for, the sync of each folder in sync
mode (one ``Syncer`` per folder, each taking only its own folder's files), and pausing them all.

The ``Service`` owns one ``Transfers`` and hands its controls to the front ends; a command line
reads its status and results directly (``status``, ``subscribe``, ``results``). Creating a
download folder touches the disk, so it runs in a worker thread before the files are queued.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

from mfsync.engine.node import Node
from mfsync.engine.service_status import PauseReason, ServiceError
from mfsync.engine.sync import Syncer
from mfsync.engine.transfer_status import TransfersStatus
from mfsync.engine.transfers import Downloader, DownloadJob, DownloadResult
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.reports import Report

__all__ = ["Transfers", "prepare_folder"]

log = logging.getLogger("mfsync.service")

#: A transfer's key: the folder it goes to and its path on the network.
TransferKey = tuple[Path, str]


async def prepare_folder(path: Path, *, shown_as: str = "") -> Path:
    """Create ``path`` (and its parents) for downloads, in a worker thread; resolved.

    ``ServiceError`` when it cannot be created; its message names the folder ``shown_as``
    (say, as the user typed it), else by its path.
    """
    def create() -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()

    try:
        return await asyncio.to_thread(create)
    except OSError as exc:
        raise ServiceError(Report("cannot-create", path=shown_as or path,
                                  error=exc.strerror or exc)) from None


class Transfers:
    """A downloader for files asked for, a syncer per sync folder, and the pause over all."""

    def __init__(self, node: Node, *, concurrency: int, changed: Callable[[], None],
                 report_error: Callable[[str], None]) -> None:
        self._node = node
        self._concurrency = concurrency
        self._changed = changed
        self._report_error = report_error
        self.downloader = Downloader(node, concurrency=concurrency)
        #: The syncer of each folder in sync mode, by folder id.
        self.syncers: dict[FolderId, Syncer] = {}
        self.pause_reason = PauseReason.NONE
        self._tasks: set[asyncio.Task[None]] = set()
        #: The last status each downloader published, which ``everything`` combines:
        #: taking a new one per service snapshot cost a moment per job twice over.
        self._published: dict[Downloader, TransfersStatus] = {}
        #: The statuses ``everything`` combined last, and what it made of them.
        self._combined: tuple[tuple[TransfersStatus, ...], TransfersStatus] | None = None

    def start(self) -> None:
        """Follow the downloader's changes (once the node runs)."""
        self._follow(self.downloader)

    async def stop(self) -> None:
        """Stop the downloads and sync; partial files stay for a later resume. ``status``
        still shows where they stopped (a command line prints it last)."""
        for task in list(self._tasks):
            task.cancel()
        for syncer in list(self.syncers.values()):
            await syncer.stop()
        await self.downloader.stop()

    # -- what a command line reads --------------------------------------------------------

    @property
    def syncer(self) -> Syncer | None:
        """The first sync folder's syncer (a command line syncs one folder), if any."""
        return next(iter(self.syncers.values()), None)

    @property
    def status(self) -> TransfersStatus:
        """The transfers of the work at hand: sync's when a folder syncs, else the downloads'."""
        return (self.syncer or self).downloader.status

    def subscribe(self, observer: Callable[[TransfersStatus], None]) -> None:
        """Call ``observer`` with each new ``status`` (at most ten times a second)."""
        (self.syncer or self).downloader.subscribe(observer)

    @property
    def results(self) -> list[DownloadResult]:
        """Results of the finished downloads (not sync's), in order of completion."""
        return self.downloader.results

    async def join(self) -> None:
        """Wait until no download is queued or running (paused ones do not count)."""
        await self.downloader.join()

    def everything(self) -> TransfersStatus:
        """Every transfer, the downloads' and sync's."""
        statuses = tuple(self._published.get(d) or d.status for d in self._downloaders())
        # The same statuses as last time (a service snapshot after a change elsewhere, a scan
        # say): the same answer, rather than a moment per job again.
        last = self._combined
        if last is not None and len(last[0]) == len(statuses) and all(
                a is b for a, b in zip(last[0], statuses, strict=True)):
            return last[1]
        # combine, not a bare tuple of transfers: it adds the downloaders' total speeds.
        combined = TransfersStatus.combine(*statuses)
        self._combined = (statuses, combined)
        return combined

    # -- downloads ------------------------------------------------------------------------

    def download(self, paths: Iterable[str], root: Path,
                 folder: FolderId = DEFAULT_FOLDER) -> int:
        """Queue ``paths`` of the network's folder ``folder`` into ``root`` once that folder
        is created (in a worker thread); how many were not queued already. A folder that
        cannot be created is reported."""
        root = root.expanduser().absolute()
        wanted = [p for p in dict.fromkeys(paths) if not self.downloader.busy(root, p)]
        self._spawn(self._download_into(root, wanted, folder))
        return len(wanted)

    def queue(self, paths: Iterable[str], root: Path, folder: FolderId = DEFAULT_FOLDER) -> int:
        """Queue ``paths`` of the network's folder ``folder`` into ``root`` at once (a folder
        that exists, resolved: see ``prepare_folder``); how many were not queued already."""
        queued = sum(1 for path in paths
                      if self.downloader.add(DownloadJob(path, root, folder=folder)))
        self._changed()
        return queued

    def pause(self, key: TransferKey) -> None:
        """Pause one transfer (its partial file stays; resume continues it)."""
        self._downloader_for(key).pause(key)

    def resume(self, key: TransferKey) -> None:
        """Resume one paused transfer."""
        self._downloader_for(key).resume(key)

    def cancel(self, key: TransferKey) -> None:
        """Cancel one transfer and discard what it had received."""
        self._downloader_for(key).cancel(key)

    def clear_finished(self) -> int:
        """Take finished transfers off the list; how many were."""
        cleared = sum(d.clear_finished() for d in self._downloaders())
        self._changed()
        return cleared

    def pause_all(self, reason: str) -> None:
        """Pause every transfer for ``reason``, or resume them all (``PauseReason.NONE``)."""
        self.pause_reason = reason
        for downloader in self._downloaders():
            if reason:
                downloader.pause()
            else:
                downloader.resume()
        log.info("transfers %s", reason or "resumed")
        self._changed()

    # -- sync -----------------------------------------------------------------------------

    def start_syncer(self, root: Path, *, trust_hint: str = "") -> None:
        """Fetch into the shared folder ``root`` whatever the hosts its folder admits offer in
        that folder (nothing if it syncs already; an error if it is not shared).
        ``trust_hint`` is added to the warning that, without a trust list, anyone may add
        files to it."""
        share = next((s for s in self._node.shares if s.root == root), None)
        local = self._node.folder_of(share) if share is not None else None
        if share is None or local is None:
            self._report_error(f"cannot sync {root}: it is not shared")
            return
        if local.id in self.syncers:
            return
        if not self._node.options.trusted_keys:
            log.warning("no trusted keys: anyone on this network can add files to %s%s",
                        root, trust_hint)
        syncer = self.syncers[local.id] = Syncer(self._node, share=share,
                                                  concurrency=self._concurrency)
        self._follow(syncer.downloader)
        if self.pause_reason:
            syncer.downloader.pause()
        syncer.start()

    async def stop_syncer(self, folder: FolderId = DEFAULT_FOLDER) -> None:
        """Stop syncing the folder ``folder`` (it stays shared)."""
        syncer = self.syncers.pop(folder, None)
        if syncer is not None:
            self._published.pop(syncer.downloader, None)
            await syncer.stop()

    # -- helpers --------------------------------------------------------------------------

    async def _download_into(self, root: Path, paths: list[str], folder: FolderId) -> None:
        try:
            resolved = await prepare_folder(root)
        except ServiceError as exc:
            self._report_error(str(exc))
            return
        self.queue(paths, resolved, folder)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _downloader_for(self, key: TransferKey) -> Downloader:
        for syncer in self.syncers.values():
            if any(t.key == key for t in syncer.downloader.status.transfers):
                return syncer.downloader
        return self.downloader

    def _follow(self, downloader: Downloader) -> None:
        def published(status: TransfersStatus) -> None:
            if downloader in self._downloaders():  # (a stopped syncer's last word is dropped)
                self._published[downloader] = status
            self._changed()

        downloader.subscribe(published)

    def _downloaders(self) -> list[Downloader]:
        return [self.downloader, *(syncer.downloader for syncer in self.syncers.values())]
