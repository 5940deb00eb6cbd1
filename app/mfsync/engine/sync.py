"""The sync policy: what ``sync DIR`` downloads, replaces, keeps and sets aside.

How it works: after every change of the network's files (and of our own; spaced out under load,
see ``engine.sync_pace``), each path offered by others is compared with what our share set
holds, by version vector:

- not here at all: download it (then share it, so files spread host to host);
- deleted here (a tombstone): leave it, unless someone changed it after our deletion;
- same content: nothing moves; differing versions are merged;
- theirs descends from ours: download theirs, verify, then replace ours in one rename;
- ours descends from theirs: keep ours (they will take it from us);
- neither (a conflict): the winner is the version with the newer modification time, then the
  higher key of the host that made it. The loser is kept as
  ``name.sync-conflict-YYYYMMDD-HHMMSS-xxxxxx.ext`` (named from the loser, so every host picks
  the same name) and synced like any file; the winner takes the name, with the merged version.
  Nothing is replaced before the loser is safe: if ours loses, ours is renamed first; if ours
  wins, theirs is first downloaded under the conflict name, and only then is our version merged.
  A conflict copy itself is never copied again (Syncthing's rule): a conflict on a conflict
  copy's name is won as any other, but the losing version is dropped, not kept under a copy of
  the copy's name (the copies would multiply host after host).

A download the user cancels is not queued again by the policy while the network offers that same
content under that name; once the content changes (or ``forget_cancelled``), it is fair game.
Likewise a content whose every host was dropped by the downloader (they kept failing, see
``engine.sources``) is not queued again until a new host offers it, a dropped host restarts, or
the content changes: retrying those hosts would only fail the same way, for ever.
"""

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from mfsync.engine.batches import LoopBatcher
from mfsync.engine.folder_sources import FolderSources
from mfsync.engine.node import Node
from mfsync.engine.status import NodeStatus, RemoteFile
from mfsync.engine.sync_memo import PolicyMemo
from mfsync.engine.sync_pace import EVALUATE_DELAY, EVALUATE_SOON, PolicyPace
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.transfers import (
    DEFAULT_CONCURRENCY,
    Downloader,
    DownloadJob,
    DownloadResult,
)
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.version import EMPTY_VERSION, Order, VersionVector
from mfsync.store.adoption import Landed
from mfsync.store.conflicts import conflict_name, is_conflict_name
from mfsync.store.shareset import LocalFile, ShareSet

__all__ = ["EVALUATE_DELAY", "EVALUATE_SOON", "SYNC_HISTORY", "SYNC_WINDOW", "Syncer",
           "choose_offer", "winner"]

log = logging.getLogger("mfsync.sync")

#: A sync download waits this long for a source before it gives up (the policy will queue it
#: again when a host offers the file), so that jobs for vanished hosts do not hold every worker.
SYNC_SOURCE_WAIT = 30.0
#: Finished downloads a sync folder remembers (its rows in the transfers' status), the oldest
#: forgotten first: a folder that syncs for months must not hold a row per file it ever fetched
#: (100,000 small files held about 300 MB of rows and results).
SYNC_HISTORY = 1000
#: Downloads a sync folder has queued at most; the policy queues more as they finish. A folder
#: that arrives with 100,000 new files held a job, a record and a status row for each of them
#: at once (about 2 KB a file); a few seconds of work queued ahead keeps the transfers busy.
SYNC_WINDOW = 4096
#: A download that failed (a full disk, say) is queued again after this long, doubling with
#: each failure of the same content up to RETRY_MAX: a lasting problem is retried calmly, not in
#: a loop that reconnects and logs several times a second for as long as it lasts.
RETRY_MIN = 2.0
RETRY_MAX = 30.0


@dataclass(frozen=True)
class _After:
    """What to record once a download completes: the version the stored file gets, and a
    version to merge into another path (the winner) once the loser is safe."""

    version: VersionVector
    merge_path: str | None = None
    merge_version: VersionVector | None = None


async def _adopt(share: ShareSet, landed: list[Landed]) -> list[None]:
    await share.adopt(landed)
    return [None] * len(landed)


def _writer(version: VersionVector) -> bytes:
    return version.last_writer() or b""


def winner(a_mtime: int, a_version: VersionVector, b_mtime: int,
           b_version: VersionVector) -> bool:
    """Whether version A wins a conflict against B: newer mtime, then the higher writer key."""
    return (a_mtime, _writer(a_version)) > (b_mtime, _writer(b_version))


def choose_offer(offers: list[RemoteFile]) -> RemoteFile:
    """The offer that sync should consider: one that no other offer descends from, and among
    those the conflict winner."""
    best = offers[0]
    for offer in offers[1:]:
        order = offer.version.compare(best.version)
        if order is Order.NEWER or (order is Order.CONCURRENT and winner(
            offer.mtime_ns, offer.version, best.mtime_ns, best.version
        )):
            best = offer
    return best


class Syncer:
    """Applies the sync policy to one of a node's share sets (``share``, by default the node's
    first), through a downloader of its own. It takes only the files of its folder (the one
    whose root ``share`` is) from the hosts that folder's audience admits (``FolderSources``)."""

    def __init__(self, node: Node, *, share: ShareSet | None = None,
                 concurrency: int = DEFAULT_CONCURRENCY,
                 source_wait: float = SYNC_SOURCE_WAIT) -> None:
        share = share if share is not None else node.share
        assert share is not None, "sync needs a shared folder"
        self._node = node
        self._share: ShareSet = share
        local = node.folder_of(share)
        folder: FolderId = local.id if local is not None else DEFAULT_FOLDER
        #: The network as this folder sees it: its own files, from the hosts it admits.
        self.sources = FolderSources(node, folder, lambda key: node.admits(folder, key))
        self.downloader = self._downloader = Downloader(
            self.sources, concurrency=concurrency, source_wait=source_wait,
            on_done=self.on_done, history=SYNC_HISTORY)
        self._after: dict[tuple[object, str], _After] = {}
        #: job key -> the name whose evaluation queued it; those names wait for their job.
        self._pending: dict[tuple[object, str], str] = {}
        #: name -> the content id of a download of it the user cancelled: not queued again
        #: while that is what the network offers under the name.
        self._cancelled: dict[str, bytes] = {}
        #: name -> (content id, when to try again, the delay used) after a failed download.
        self._failed: dict[str, tuple[bytes, float, float]] = {}
        self._retries: set[asyncio.TimerHandle] = set()
        #: When the policy runs next (a multiple of its last run's length after it).
        self._pace = PolicyPace(self._evaluate_all,
                                lambda: len(self._pending) < SYNC_WINDOW // 2)
        self._unsubscribe: Callable[[], None] | None = None
        #: Paths for which a worn-out version was ignored (warned about once).
        self._worn_out: set[str] = set()
        #: name -> the content id that no host left may be asked for (warned about once).
        self._given_up: dict[str, bytes] = {}
        #: Files that landed together are taken into the share set together.
        self._adopter = LoopBatcher(functools.partial(_adopt, share))
        #: What the policy saw at its last runs: the offer by name, the names settled.
        self._memo = PolicyMemo(self.sources)
        #: Downloads queued so far (tells a run whether a name queued one).
        self._queued = 0

    def start(self) -> None:
        """Evaluate now and after every change."""
        self._unsubscribe = self._node.subscribe(lambda _status: self.schedule())
        self.schedule()

    async def stop(self) -> None:
        """Stop reacting to changes and stop the downloads (partials stay for later)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._pace.cancel()
        for retry in self._retries:
            retry.cancel()
        self._retries.clear()
        await self._downloader.stop()

    @property
    def share(self) -> ShareSet:
        """The share set this syncer fills."""
        return self._share

    @property
    def folder(self) -> FolderId:
        """The id of the folder this syncer fills."""
        return self.sources.folder

    def forget_cancelled(self, path: str | None = None) -> None:
        """Let the policy fetch ``path`` (None: all) again though the user cancelled it."""
        if path is None:
            self._cancelled.clear()
        else:
            self._cancelled.pop(path, None)
        self.schedule()

    def schedule(self) -> None:
        """Run the policy soon (changes arriving meanwhile are handled in the same run; see
        ``engine.sync_pace``)."""
        self._pace.schedule()

    async def _evaluate_all(self) -> None:
        await self._evaluate(self._node.status)

    async def _evaluate(self, status: NodeStatus) -> None:
        if not self._node.offers(self._share):
            return  # gone, unreadable or paused (unmounted?): nothing is fetched into it
        by_path = self._memo.by_path(status.files)
        pending = set(self._pending.values())
        for path in self._memo.to_look_at(by_path, self._share):
            offers = by_path[path]
            if path in pending:
                continue  # a download for this name (or its conflict copy) is under way
            if len(self._pending) >= SYNC_WINDOW:
                break  # the rest stays unsettled: looked at again as downloads finish
            if self._memo.settled(path, offers, self._share.get(path), self._share.record(path)):
                continue  # decided before, and neither side has changed since
            queued = self._queued
            if self._share.ignores(path):
                continue  # left out of this folder by its ignore rules: not fetched either
            sane = [offer for offer in offers if not offer.version.worn_out()]
            if len(sane) < len(offers) and path not in self._worn_out:
                self._worn_out.add(path)
                log.warning("ignoring an offer of %s whose version counters are near their "
                            "limit (only a broken or hostile host sends those)", path)
            if not sane:
                continue
            offer = choose_offer(sane)
            why = self._downloader.given_up(offer)
            if why:
                if self._given_up.get(path) != offer.content_id:
                    self._given_up[path] = offer.content_id
                    log.warning("not fetching %s: every host offering it failed: %s", path, why)
                continue
            self._given_up.pop(path, None)
            cancelled = self._cancelled.get(path)
            if cancelled is not None:
                if cancelled == offer.content_id:
                    continue  # the user cancelled this very download
                del self._cancelled[path]  # it changed since: the policy decides afresh
            failed = self._failed.get(path)
            if failed is not None and failed[0] == offer.content_id:
                if asyncio.get_running_loop().time() < failed[1]:
                    continue  # failed a moment ago: a retry is scheduled
            elif failed is not None:
                del self._failed[path]  # it changed since: no reason to wait
            await self._consider(path, offer)
            if self._share.has_partial(path) and (self._share.root, path) not in self._pending:
                # Nothing to fetch under this name: a partial download left for it (by a run
                # stopped mid-way, for a version that has lost since) would stay for ever.
                await self._share.discard_partial(path)
            if self._queued == queued:
                # Nothing to fetch: the answer stays until the offers or our copy change.
                self._memo.settle(path, offers, self._share.get(path), self._share.record(path))
        else:
            self._memo.completed()  # (no break: the next run may look at what changed only)

    async def _consider(self, path: str, theirs: RemoteFile) -> None:
        ours = self._share.get(path)
        record = self._share.record(path)
        if ours is None:
            if record is not None and record.deleted:
                if theirs.version.compare(record.version) is not Order.NEWER:
                    return  # deleted here, and nobody changed it since: leave it deleted
                log.info("%s was deleted here but changed elsewhere since: fetching it", path)
            self._download(path, theirs, _After(theirs.version))
            return
        if ours.hashes.content_id == theirs.content_id:
            merged = ours.version.merge(theirs.version)
            if merged != ours.version:
                await self._share.set_version(path, merged)
                self._node.share_changed()
            return
        order = theirs.version.compare(ours.version)
        if order is Order.NEWER:
            log.info("%s changed on another host: fetching the new version", path)
            self._download(path, theirs, _After(theirs.version), replace_ours=ours)
        elif order is Order.CONCURRENT:
            await self._conflict(path, ours, theirs)

    async def _conflict(self, path: str, ours: LocalFile, theirs: RemoteFile) -> None:
        merged = ours.version.merge(theirs.version)
        if is_conflict_name(path):
            await self._copy_conflict(path, ours, theirs, merged)
            return
        if winner(theirs.mtime_ns, theirs.version, ours.mtime_ns, ours.version):
            loser = conflict_name(path, ours.mtime_ns, _writer(ours.version))
            log.warning("conflict on %s: the other version wins; ours is kept as %s", path, loser)
            try:
                await self._share.move_aside(path, loser)
            except OSError as exc:
                log.error("cannot set %s aside as %s: %s", path, loser, exc)
                return
            self._node.share_changed()
            self._download(path, theirs, _After(merged))
        else:
            loser = conflict_name(path, theirs.mtime_ns, _writer(theirs.version))
            if self._share.get(loser) is not None:
                await self._share.set_version(path, merged)  # the loser is safe already
                self._node.share_changed()
                return
            log.warning("conflict on %s: our version wins; theirs is kept as %s", path, loser)
            self._download(path, theirs, _After(EMPTY_VERSION.bump(self._share.local_key),
                                                merge_path=path, merge_version=merged),
                           store_as=loser)

    async def _copy_conflict(self, path: str, ours: LocalFile, theirs: RemoteFile,
                             merged: VersionVector) -> None:
        """A conflict on a conflict copy's name: the winner takes the name, the loser is not
        kept (no copy of a copy). Two hosts that both stored one loser hold the same content
        under concurrent versions (merged above, never here); this is an edit of the copy on one
        host against an older content of it, or two edits at once."""
        if winner(theirs.mtime_ns, theirs.version, ours.mtime_ns, ours.version):
            log.info("conflict on the conflict copy %s: the other version wins and replaces "
                     "ours (a conflict copy is not copied again)", path)
            self._download(path, theirs, _After(merged), replace_ours=ours)
        else:
            log.info("conflict on the conflict copy %s: our version wins (a conflict copy is "
                     "not copied again)", path)
            await self._share.set_version(path, merged)
            self._node.share_changed()

    def _download(self, path: str, theirs: RemoteFile, after: _After, *,
                  replace_ours: LocalFile | None = None, store_as: str | None = None) -> None:
        job = DownloadJob(
            path, self._share.root, content_id=theirs.content_id, store_as=store_as,
            folder=theirs.folder,
            replace=replace_ours is not None,
            expect_local=replace_ours.stat_key if replace_ours is not None else None,
            local_name=replace_ours.disk_path if replace_ours is not None else None,
        )
        if self._downloader.add(job):
            self._queued += 1
            self._after[job.key] = after
            self._pending[job.key] = path
            if store_as is None:
                self._share.expect(path, theirs.content_id, after.version)

    async def on_done(self, result: DownloadResult) -> None:
        """Record a finished download in the share set (and so announce it)."""
        # The name stays pending until the file is in the share set: a policy run in between
        # (adopting waits for a worker thread) would find neither a download under way nor
        # the file, and queue it again (each file was fetched up to four times).
        try:
            await self._record_done(result)
        finally:
            self._pending.pop(result.job.key, None)
        self.schedule()

    async def _record_done(self, result: DownloadResult) -> None:
        after = self._after.pop(result.job.key, None)
        path = self._pending.get(result.job.key)
        if result.job.store_as is None and (
                result.state is not TransferState.DONE
                or result.stored_as != result.job.path):
            self._share.forget_expected(result.job.path)  # nothing of it landed there
        if result.state is TransferState.CANCELLED and path is not None:
            if result.job.content_id is not None:
                self._cancelled[path] = result.job.content_id
            log.info("%s: download cancelled; not fetching this version again by itself", path)
        if path is not None:
            self._note_outcome(path, result)
        if after is None or result.state not in (TransferState.DONE, TransferState.SKIPPED):
            return
        if result.remote is not None and result.hashes is not None and result.stored_as:
            version = after.version
            if result.stored_as != (result.job.store_as or result.job.path):
                version = EMPTY_VERSION.bump(self._share.local_key)  # kept as a conflict copy
            await self._adopter.run(Landed(result.stored_as, result.hashes, version,
                                           result.local_path))
        if after.merge_path is not None and after.merge_version is not None:
            await self._share.set_version(after.merge_path, after.merge_version)
        self._node.share_changed()

    def _note_outcome(self, path: str, result: DownloadResult) -> None:
        """Remember a failed download of ``path`` so that it is retried after a growing delay
        (and evaluate again then); forget it once a download of the name succeeds."""
        content_id = result.job.content_id
        if result.state is not TransferState.FAILED or content_id is None:
            if result.state in (TransferState.DONE, TransferState.SKIPPED):
                self._failed.pop(path, None)
            return
        loop = asyncio.get_running_loop()
        before = self._failed.get(path)
        delay = RETRY_MIN if before is None or before[0] != content_id else min(
            before[2] * 2, RETRY_MAX)
        self._failed[path] = (content_id, loop.time() + delay, delay)
        log.info("%s: trying again in %g s", path, delay)

        def retry() -> None:
            self._retries.discard(handle)
            self.schedule()

        handle = loop.call_later(delay, retry)
        self._retries.add(handle)
