"""Our shared folders: folder objects, their share sets, scans, watchers and generations.

How it works: a folder we serve is a ``LocalFolder``: its id, label, mode, audience and roots.
The default folder (what the plain commands share) may have several roots, the union of
``share A B``; a folder of ``config.json`` has one. Each root is a ``ShareSet`` (its index,
kept in a database under the state directory) with a ``FolderWatcher``; a change the watcher
sees, the periodic rescan or a file server that found a file changed asks for a rescan
(``rescan_soon``), and one task scans the roots asked for until no more are. A rescan the watcher
asks for looks only at the paths it names (``RescanScope``), so a file saved in a folder of
100,000 does not walk them all. A file modified a moment ago is offered once it has been quiet
for ``SETTLE_AGE``, unless the watcher saw it closed after writing or moved into place: then at
once. A root that cannot be scanned
(gone, unmounted) is not scanned (that would mark every file deleted): it is reported and offers
nothing until a scan succeeds again.

A folder's generation is the sum of its roots' generations plus its own count of other changes
(a root added, removed, gone unreadable or back; its mode or audience changed; ``bump`` for the
trust list); a removed root's generation is added to that count, so the sum never goes back.
The generation we announce (multicast, heard by everyone) counts only the folders whose audience
is everyone (``ANNOUNCED``): a peer learns nothing of the others from it, and polls their
``FolderList`` instead. A folder that leaves that set (removed, its audience narrowed) adds the
generation it had to the announced count, so that never goes back either.

The file server's folder views (``views``) are built from these objects, again whenever the
trust list or a folder's generation moved (checked at each request): what it serves and to whom
follows every change at once.
"""

import asyncio
import logging
from collections.abc import Callable, Collection, Container, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mfsync.audience import EVERYONE, Audience, AudienceKind
from mfsync.defaults import FolderMode
from mfsync.engine.folder_view import DEFAULT_LABEL, LocalFolderView
from mfsync.engine.rescan_scope import RescanQueue, RescanScope
from mfsync.engine.status import FolderSnapshot
from mfsync.folder_config import FolderConfig
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.store.index_db import FolderIdentity, IndexDB, IndexDBError
from mfsync.store.shareset import ShareSet, ShareSetError
from mfsync.watch.watcher import FolderWatcher

__all__ = [
    "MIN_RESCAN_INTERVAL",
    "RESCAN_INTERVAL",
    "SETTLE_AGE",
    "AnnouncedGeneration",
    "LocalFolder",
    "LocalFolders",
    "folder_views",
    "make_share",
]

log = logging.getLogger("mfsync.engine")

#: How often the share set is rescanned when nothing else tells us of changes.
RESCAN_INTERVAL = 30.0
#: The periodic rescan waits at least this long between two rounds, whatever it is told.
MIN_RESCAN_INTERVAL = 0.25
#: A file modified less than this long ago may still be being written: it is offered once it
#: has been quiet that long, so nobody downloads it half done.
SETTLE_AGE = 0.3


@dataclass(eq=False)
class LocalFolder:
    """One folder we serve: its identity, mode, who may see it, and the share sets of its roots
    (in order of precedence: a path in two is offered from the first)."""

    id: FolderId
    label: str
    mode: str = FolderMode.SHARE
    #: Who may see it; None: the default (``audience_for``).
    audience: Audience | None = None
    roots: list[ShareSet] = field(default_factory=list)
    #: Changes of what it offers besides its roots' own (see the module's docstring).
    bumps: int = 0

    @property
    def generation(self) -> int:
        """Moves whenever what the folder offers (or to whom) changes; never goes back."""
        return sum(root.generation for root in self.roots) + self.bumps

    def audience_for(self, trusted: frozenset[bytes]) -> Audience:
        """Who may see it now, ``trusted`` being the trust list in force. A folder naming no
        audience: the default folder is everyone's past the trust list (the plain commands'
        folder, as before folders existed); any other takes ``Audience.default_for``."""
        if self.audience is not None:
            return self.audience
        return EVERYONE if self.id == DEFAULT_FOLDER else Audience.default_for(trusted)

    def admits(self, key: bytes, trusted: frozenset[bytes]) -> bool:
        """Whether the host of ``key`` may see the folder (and its changes are taken)."""
        return self.audience_for(trusted).admits(key, trusted)

    def announced(self, trusted: frozenset[bytes]) -> bool:
        """Whether its changes count in the generation we announce (everyone may see it)."""
        return self.audience_for(trusted).kind is AudienceKind.EVERYONE

    @classmethod
    def of(cls, config: FolderConfig) -> "LocalFolder":
        """The (still empty) folder ``config`` describes; the default folder is listed under
        ``DEFAULT_LABEL``, whatever its root is called."""
        label = DEFAULT_LABEL if config.id == DEFAULT_FOLDER else config.label
        return cls(config.id, label, config.mode, config.devices)


class AnnouncedGeneration:
    """The generation we announce: the sum of the generations of the folders everyone may see,
    plus a count that grows whenever a folder leaves or joins that set (or ``bump``), so that it
    never goes back and moves with every such change."""

    def __init__(self) -> None:
        self._base = 0
        #: The announced folders with the generation each had when the sum was last taken.
        self._last: dict[LocalFolder, int] = {}

    def bump(self) -> None:
        """Count a change that concerns every peer (the trust list)."""
        self._base += 1

    def take(self, folders: Iterable[LocalFolder], trusted: frozenset[bytes]) -> int:
        """The generation to announce now, ``folders`` being ours and ``trusted`` the trust
        list in force."""
        now = {f: f.generation for f in folders if f.announced(trusted)}
        for folder, generation in self._last.items():
            if folder not in now:
                self._base += generation + 1  # it left: what it counted stays counted
        self._base += sum(1 for folder in now if folder not in self._last)
        self._last = now
        return sum(now.values()) + self._base


def folder_views(folders: Iterable[LocalFolder], unreadable: Container[ShareSet],
                 trusted: Callable[[], frozenset[bytes]]) -> list[LocalFolderView]:
    """The file server's views of ``folders``: each with the roots it can offer (not those
    ``unreadable``), its audience checked against ``trusted()`` as it stands when a peer asks.
    A folder none of whose roots can be offered is not listed."""
    keys = trusted()
    views: list[LocalFolderView] = []
    for folder in folders:
        roots = tuple(s for s in folder.roots if s not in unreadable)
        if not roots:
            continue
        def admits(key: bytes, folder: LocalFolder = folder) -> bool:
            return folder.admits(key, trusted())

        views.append(LocalFolderView(
            folder.id, folder.label, roots, admits, folder.generation,
            sync=folder.mode == FolderMode.SYNC, announced=folder.announced(keys)))
    return views


def make_share(folder: Path, config: FolderConfig, state_dir: Path | None,
               local_key: bytes) -> ShareSet:
    """The share set of ``folder``, a root of the folder ``config``, its index kept under
    ``state_dir`` (None: in memory); touches no disk (``ShareSet.open_index`` opens the index,
    in a worker thread). A named folder's id and label are recorded in its index database (a
    command-line folder keeps its id there)."""

    def open_db() -> IndexDB:
        assert state_dir is not None
        return IndexDB(IndexDB.path_for(state_dir, folder))

    identity = (None if config.id == DEFAULT_FOLDER
                else FolderIdentity(config.id, LocalFolder.of(config).label))
    return ShareSet(folder, open_db=open_db if state_dir is not None else None,
                    local_key=local_key, settle_age=SETTLE_AGE, identity=identity)


class ServedViews:
    """The file server's views of our folders (``folder_views``), built again only when the
    trust list or a folder's generation moved: every change a view shows (a scan or download,
    the mode, the audience, a root added, removed, unreadable or back) moves its folder's
    generation. Checked at each request: 1 us, where building them took 3.6."""

    def __init__(self) -> None:
        self._cached: tuple[frozenset[bytes], tuple[tuple[LocalFolder, int], ...],
                            list[LocalFolderView]] | None = None

    def get(self, folders: Collection[LocalFolder], unreadable: Container[ShareSet],
            trusted: Callable[[], frozenset[bytes]]) -> list[LocalFolderView]:
        """The views of ``folders`` now (see ``folder_views``)."""
        keys = trusted()
        generations = tuple([(f, f.generation) for f in folders])
        cached = self._cached
        if cached is None or cached[1] != generations or (
                cached[0] is not keys and cached[0] != keys):
            cached = self._cached = (keys, generations,
                                     folder_views(folders, unreadable, trusted))
        return cached[2]


class LocalFolders:
    """The folders we serve (``LocalFolder``) and their roots. ``folders``: paths (roots of the
    default folder) or ``FolderConfig``s (those of one id are one folder's roots); ``trusted()``:
    the trust list in force. ``on_change`` is told of what the status shows (a scan began or
    ended, an error); ``on_offer_changed`` when what we offer changed (peers are to be told)."""

    def __init__(self, folders: Sequence[Path | FolderConfig | None], *, local_key: bytes,
                 state_dir: Path | None, watch: bool, rescan_interval: float,
                 on_change: Callable[[], None], on_offer_changed: Callable[[], None],
                 trusted: Callable[[], frozenset[bytes]] = frozenset) -> None:
        self._local_key = local_key
        self._state_dir = state_dir
        self._watch_folders = watch
        self._rescan_interval = max(rescan_interval, MIN_RESCAN_INTERVAL)
        self._on_change = on_change
        self._on_offer_changed = on_offer_changed
        self._trusted = trusted
        self._folders: dict[FolderId, LocalFolder] = {}
        #: Every root's share set, in order of precedence, and the folder it belongs to.
        self._shares: list[ShareSet] = []
        self._folder_of: dict[ShareSet, LocalFolder] = {}
        for entry in (f for f in folders if f is not None):
            config = entry if isinstance(entry, FolderConfig) else FolderConfig(entry)
            if all(s.root != config.path for s in self._shares):
                share = make_share(config.path, config, state_dir, local_key)
                self._attach(self._folder_for(config), share)
        self._watchers: dict[ShareSet, FolderWatcher] = {}
        self._locks: dict[ShareSet, asyncio.Lock] = {}
        self._scanning: set[ShareSet] = set()
        self._scanned: set[ShareSet] = set()
        self._errors: dict[ShareSet, str] = {}
        self._announced = AnnouncedGeneration()
        self._rescan_task: asyncio.Task[None] | None = None
        self._rescan_wanted: RescanQueue[ShareSet] = RescanQueue()
        self._periodic: asyncio.Task[None] | None = None
        self._stopping = False
        self._views = ServedViews()

    @property
    def shares(self) -> tuple[ShareSet, ...]:
        """Every root's share set, in order of precedence."""
        return tuple(self._shares)

    @property
    def folders(self) -> tuple[LocalFolder, ...]:
        """Every folder we serve, in the order they were added."""
        return tuple(self._folders.values())

    def folder_of(self, share: ShareSet) -> LocalFolder | None:
        """The folder whose root ``share`` is."""
        return self._folder_of.get(share)

    def admits(self, folder_id: FolderId, key: bytes) -> bool:
        """Whether our folder ``folder_id`` admits the host of ``key`` now (False: no such
        folder)."""
        folder = self._folders.get(folder_id)
        return folder is not None and folder.admits(key, self._trusted())

    @property
    def generation(self) -> int:
        """What we announce (see ``AnnouncedGeneration``); it never goes back."""
        return self._announced.take(self._folders.values(), self._trusted())

    def offered(self) -> list[ShareSet]:
        """The roots whose files we offer (those that can be scanned)."""
        return [s for s in self._shares if s not in self._errors]

    def views(self) -> list[LocalFolderView]:
        """The folders as the file server serves them now (see ``ServedViews``)."""
        return self._views.get(self._folders.values(), self._errors.keys(), self._trusted)

    def bump(self) -> None:
        """Something besides the folders changed what peers may fetch (the trust list): count
        it in the generation we announce and in those of the folders it leaves out (their
        peers poll their generations; a folder everyone sees offers the same as before)."""
        self._announced.bump()
        for folder in (f for f in self._folders.values() if not f.announced(self._trusted())):
            folder.bumps += 1

    def configure(self, folder_id: FolderId, *, mode: str | None = None,
                  audience: Audience | None = None, default_audience: bool = False) -> bool:
        """Change a folder's mode, audience (``default_audience``: back to the default); whether
        it is ours."""
        folder = self._folders.get(folder_id)
        if folder is not None:
            folder.mode = mode if mode is not None else folder.mode
            folder.audience = audience if audience or default_audience else folder.audience
            folder.bumps += 1
            self._on_offer_changed()
        return folder is not None

    def snapshot(self) -> tuple[FolderSnapshot, ...]:
        """Each root as the status shows it."""
        return tuple(FolderSnapshot(s.root, s.count, s in self._scanning, self._errors.get(s, ""))
                     for s in self._shares)

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

    async def add(self, path: Path, config: FolderConfig | None = None
                  ) -> tuple[ShareSet, bool]:
        """Share the folder ``path`` too, as a root of the folder ``config`` describes (the
        default folder when None); not scanned yet (see ``open``). Its share set, and whether it
        is new (a folder shared already gives its own). ``ShareSetError`` if it cannot be
        shared."""
        root = await asyncio.to_thread(ShareSet.check_root, path)
        for share in self._shares:
            if share.root == root:
                return share, False
        config = config if config is not None else FolderConfig(root)
        share = make_share(root, config, self._state_dir, self._local_key)
        await self._open_index(share)
        await share.rebind()  # shared again by the user: this is the folder, mounted or not
        folder = self._folder_for(config)
        self._attach(folder, share)
        folder.bumps += 1
        log.info("sharing %s too (folder %s)", root, folder.id)
        self._on_change()
        return share, True

    async def remove(self, path: Path) -> bool:
        """Stop sharing the folder ``path`` (its files stay where they are: nothing here
        touches them); whether it was shared. A folder left without roots goes."""
        share = next((s for s in self._shares if s.root == path), None)
        if share is None:
            resolved = await asyncio.to_thread(path.expanduser().resolve)
            share = next((s for s in self._shares if s.root == resolved), None)
        if share is None:
            return False
        async with self._lock(share):  # not in the middle of a scan of it
            self._shares.remove(share)
            folder = self._folder_of.pop(share)
            folder.roots.remove(share)
            folder.bumps += share.generation + 1  # so the folder's sum still grows
            if not folder.roots:
                del self._folders[folder.id]
            watcher = self._watchers.pop(share, None)
            self._scanning.discard(share)
            self._scanned.discard(share)
            self._errors.pop(share, None)
            self._rescan_wanted.discard(share)
        self._locks.pop(share, None)
        if watcher is not None:
            await watcher.aclose()
        await asyncio.to_thread(share.close)  # closing a database may write to it (its WAL)
        log.info("no longer sharing %s", share.root)
        self._on_offer_changed()
        return True

    async def rescan(self) -> None:
        """Rescan every folder now; peers are told at once of what changed."""
        await self._rescan(list(self._shares))

    def rescan_soon(self, share: ShareSet | None = None,
                    scope: RescanScope | None = None) -> None:
        """Rescan ``share`` (all: None) in the background, soon; ``scope`` (None: all) of it."""
        if self._stopping:
            return
        self._rescan_wanted.add(self._shares if share is None else (share,), scope)
        if self._rescan_task is not None and not self._rescan_task.done():
            return  # the scan under way takes it on next (a change during a scan: scan again)
        self._rescan_task = asyncio.get_running_loop().create_task(self._rescan_until_quiet())

    async def stop_watching(self) -> None:
        """Stop the watchers; no rescan starts from now on (the node stops)."""
        self._stopping = True
        watchers = list(self._watchers.values())
        self._watchers.clear()
        for watcher in watchers:
            await watcher.aclose()

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

    # -- folders and scanning -------------------------------------------------------------

    def _folder_for(self, config: FolderConfig) -> LocalFolder:
        """Our folder of ``config.id``, made from ``config`` if we have none yet."""
        folder = self._folders.get(config.id)
        if folder is None:
            folder = self._folders[config.id] = LocalFolder.of(config)
        return folder

    def _attach(self, folder: LocalFolder, share: ShareSet) -> None:
        folder.roots.append(share)
        self._shares.append(share)
        self._folder_of[share] = folder

    @staticmethod
    async def _open_index(share: ShareSet) -> None:
        """Open the index of ``share``; ``ShareSetError`` if it cannot be used."""
        try:
            await share.open_index()
        except IndexDBError as exc:
            share.close()
            raise ShareSetError(f"cannot share {share.root}: {exc}") from None

    def _bump_folder_of(self, share: ShareSet) -> None:
        folder = self._folder_of.get(share)
        if folder is not None:
            folder.bumps += 1

    def _lock(self, share: ShareSet) -> asyncio.Lock:
        return self._locks.setdefault(share, asyncio.Lock())

    def _watch(self, share: ShareSet) -> None:
        if not self._watch_folders or share in self._watchers or self._stopping:
            return
        def changed(paths: frozenset[str], done: frozenset[str]) -> None:
            self.rescan_soon(share, RescanScope(paths, done))

        watcher = FolderWatcher(share.root, changed, loop=asyncio.get_running_loop())
        watcher.start()
        self._watchers[share] = watcher

    async def _rescan_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._rescan_interval)
            if self._shares:
                self.rescan_soon()  # in its own task: a long scan must not stall the peers

    async def _rescan_until_quiet(self) -> None:
        while self._rescan_wanted:
            wanted = self._rescan_wanted.take(self._shares)
            await self._rescan(list(wanted), wanted)

    async def _rescan(self, shares: list[ShareSet],
                      scopes: dict[ShareSet, RescanScope | None] | None = None) -> None:
        changed = False
        for share in shares:
            scope = (scopes or {}).get(share)
            changed = await self._scan(share, scope) or changed
            if share.unsettled:  # modified a moment ago: look again once it has been quiet
                again = None if scope is None else RescanScope(scope.paths, frozenset())
                asyncio.get_running_loop().call_later(SETTLE_AGE, self.rescan_soon, share, again)
        if changed:
            self._on_offer_changed()

    async def _scan(self, share: ShareSet, scope: RescanScope | None = None) -> bool:
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
                if first and await share.offer_index():  # offered at once, walked soon
                    self.rescan_soon(share)
                    return True
                changed = (await share.rescan() if scope is None
                           else await share.rescan(scope.paths, scope.done))
            except (ShareSetError, IndexDBError, OSError) as exc:
                error = str(exc)
                offered = share not in self._errors
                if self._errors.get(share) != error:
                    log.warning("cannot scan %s: %s; not offering its files", share.root, error)
                    self._errors[share] = error
                    self._on_change()
                if offered:
                    self._bump_folder_of(share)  # its files leave the offer
                return offered
            finally:
                self._scanning.discard(share)
                self._scanned.add(share)
                if first:
                    self._on_change()
            if self._errors.pop(share, None) is not None:
                log.info("%s can be scanned again", share.root)
                self._bump_folder_of(share)  # its files are offered again
                return True
            return changed
