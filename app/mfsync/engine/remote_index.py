"""Peers' indexes: received under one memory budget, kept per peer, merged for the status.

How it works: ``receive`` asks a peer for its index and takes it chunk by chunk (large chunks
are decoded in slices by the channel). Each chunk's entries are checked (``check_wire_path``: an
entry with a bad name is left out, the others kept) and sorted by path. Then the chunk is
charged to the budget (``IndexBudget``); when that passes it, the largest indexes are dropped,
this one too if it is the largest. Until the last chunk is in, entries are kept as plain tuples
of strings, bytes and numbers, which the garbage collector stops looking at: as objects, the
entries of an index still arriving (a bomb's, say) made every full collection longer, up to a
quarter of a second with 200,000 of them. Once the last chunk is in, the sorted runs are merged
into the peer's table of ``RemoteFile`` objects, which replaces the previous one.

A peer's table is kept per folder it lists (``receive`` takes one folder's index and replaces
that folder's table only; ``keep_folders`` forgets the folders it no longer lists), and the
budget charges the peer for all of them together. The status's list of every file on the
network (sorted by folder, path, then content id; a content offered in one folder by several
peers is one ``RemoteFile`` naming them all, a path in two folders is two entries) is the merge
of the peers' tables. It is built again only when a table changes, never for a chunk or a
heartbeat; with one table it is that table itself.

Every step that handles entries one by one is a generator that pauses after ``STEP`` of them,
run by ``in_steps``, which lets the event loop run at each pause: building the list of a million
files in one go took seconds, and every peer was starved meanwhile. (Worker threads are no
better: while one holds the interpreter lock, every socket read of the loop waits for it.)

A peer whose index was dropped is held back: ``held_back`` says not to fetch it again for
``HOLD_FIRST`` seconds, doubled each time it is dropped again, up to ``HOLD_MAX``; an index
accepted whole clears that.
"""

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter

from mfsync.engine.index_budget import IndexBudget, entry_cost, version_cost
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.net.channel import ChannelError, SecureChannel
from mfsync.net.client import iter_index
from mfsync.net.steps import Steps, in_steps, to_end
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import IndexEntry
from mfsync.protocol.names import InvalidName, WirePathChecker
from mfsync.protocol.version import VersionVector

__all__ = [
    "HOLD_FIRST",
    "HOLD_MAX",
    "STEP",
    "Endpoint",
    "IndexDropped",
    "RemoteIndexes",
    "merge_tables",
]

log = logging.getLogger("mfsync.engine")

Endpoint = tuple[str, int]
#: A dropped index's peer is not fetched again for this long (seconds); doubled each time it
#: is dropped again in a row, up to ``HOLD_MAX``. A minute: long enough that a peer sending
#: indexes too large costs us a few seconds of CPU a minute at most, short enough that an
#: honest host pushed out by others is back soon.
HOLD_FIRST = 60.0
HOLD_MAX = 3600.0
#: Entries handled between two pauses of a step-wise job: a few milliseconds of work.
STEP = 512
#: Names refused per peer that are logged one by one; the others are counted.
MAX_BAD_NAME_LOGS = 10
_FIRST = itemgetter(0)
_PATH = attrgetter("path")
#: An entry of an index still arriving: path, size, mtime_ns, content id, version counters.
_Entry = tuple[str, int, int, bytes, tuple[tuple[bytes, int], ...]]
#: The order of a table and of the merged list: a path in two folders is two entries.
_BY_FOLDER_PATH_AND_CONTENT = attrgetter("folder", "path", "content_id")


class IndexDropped(ChannelError):
    """The peer's index was dropped (or refused) to keep within the budget."""


def _prepare(entries: Iterable[IndexEntry]
             ) -> Steps[tuple[list[_Entry], list[tuple[str, str]], int]]:
    """The entries with valid names (as ``_Entry`` tuples) sorted by path, the refused names
    with the reason, and the estimated memory of what is kept (``entry_cost``, and
    ``version_cost`` once per distinct vector: the decoder makes one object of each)."""
    kept: list[_Entry] = []
    refused: list[tuple[str, str]] = []
    cost = 0
    versions: set[int] = set()
    check = WirePathChecker().check
    for n, entry in enumerate(entries, 1):
        if n % STEP == 0:
            yield
        try:
            check(entry.path)
        except InvalidName as exc:
            refused.append((entry.path, str(exc)))
            continue
        counters = entry.version.counters
        kept.append((entry.path, entry.size, entry.mtime_ns, entry.content_id, counters))
        cost += entry_cost(entry.path)
        if counters and id(counters) not in versions:
            versions.add(id(counters))
            cost += version_cost(len(counters))
    kept.sort(key=_FIRST)
    return kept, refused, cost


def _merge_runs(runs: list[list[_Entry]], hosts: tuple[HostRef, ...], folder: FolderId
                ) -> Steps[tuple[RemoteFile, ...]]:
    """One peer's sorted runs as its table sorted by path, offered by ``hosts`` in their folder
    ``folder``; of two entries with the same path (a peer should not send them), the later
    one."""
    table: list[RemoteFile] = []
    versions: dict[tuple[tuple[bytes, int], ...], VersionVector] = {}  # one object per vector
    # heapq.merge is stable: entries with the same path come in the order they arrived.
    for n, (path, size, mtime_ns, content_id, counters) in enumerate(
            heapq.merge(*runs, key=_FIRST), 1):
        if n % STEP == 0:
            yield
        version = versions.get(counters)
        if version is None:
            version = versions[counters] = VersionVector(counters)
        remote = RemoteFile(path, size, mtime_ns, content_id, hosts, version, folder)
        if table and table[-1].path == path:
            table[-1] = remote
        else:
            table.append(remote)
    return tuple(table)


def _apply_delta(files: tuple[RemoteFile, ...], changed: tuple[RemoteFile, ...],
                 removed: set[str]) -> Steps[tuple[tuple[RemoteFile, ...], int]]:
    """A held table (sorted by path) with a delta applied: the files of ``changed`` (sorted by
    path) in place of those of their paths, those of ``removed`` gone; and the estimated memory
    of the entries it dropped (``entry_cost``). Unchanged files stay the same objects."""
    replaced = removed.union(remote.path for remote in changed)
    kept: list[RemoteFile] = []
    dropped = 0
    for n, remote in enumerate(files, 1):
        if n % STEP == 0:
            yield
        if remote.path in replaced:
            dropped += entry_cost(remote.path)
        else:
            kept.append(remote)
    table: list[RemoteFile] = []
    for n, remote in enumerate(heapq.merge(kept, changed, key=_PATH), 1):
        if n % STEP == 0:
            yield
        table.append(remote)
    return tuple(table), dropped


def merge_tables(tables: list[tuple[RemoteFile, ...]]) -> Steps[tuple[RemoteFile, ...]]:
    """Every file of every table (each sorted by folder and path, one peer's), sorted by
    folder, path and content id; the same content of a path in one folder from several tables
    becomes one ``RemoteFile`` with the hosts in table order, the first one's size and time,
    and the versions merged."""
    tables = [table for table in tables if table]
    if len(tables) <= 1:
        return tables[0] if tables else ()
    files: list[RemoteFile] = []
    group: list[RemoteFile] = []

    def flush() -> None:
        if len(group) == 1:
            files.append(group[0])
        elif group:
            first = group[0]
            version = first.version
            # (in a settled network every host offers a content with the same version: merging
            # equal vectors, built again at every table change, was most of a swarm's merges)
            if any(remote.version != version for remote in group):
                version = VersionVector.of(c for remote in group for c in remote.version.counters)
            files.append(RemoteFile(
                first.path, first.size, first.mtime_ns, first.content_id,
                tuple(host for remote in group for host in remote.hosts), version, first.folder))
        group.clear()

    for n, remote in enumerate(heapq.merge(*tables, key=_BY_FOLDER_PATH_AND_CONTENT), 1):
        if n % STEP == 0:
            yield
        if group and (group[0].path != remote.path or group[0].content_id != remote.content_id
                      or group[0].folder != remote.folder):
            flush()
        group.append(remote)
    flush()
    return tuple(files)


@dataclass(frozen=True, slots=True)
class _FolderIndex:
    """One folder's index as a peer gave it: its table (sorted by path), what the budget
    charges for it, and the generation the peer sent it at."""

    files: tuple[RemoteFile, ...]
    cost: int
    generation: int
    host: HostRef  #: who gave it (its key and instance): a restart starts again


class RemoteIndexes:
    """The indexes of every peer, keyed by endpoint and folder, within one ``IndexBudget``
    (which charges a peer for all its folders together).

    ``on_change`` is called when ``files`` changed; ``on_drop(endpoint, reason)`` when a peer's
    complete index was dropped to make room (a fetch under way fails with ``IndexDropped``
    instead).
    """

    def __init__(self, on_change: Callable[[], None],
                 on_drop: Callable[[Endpoint, str], None],
                 budget: IndexBudget[Endpoint] | None = None) -> None:
        self._on_change = on_change
        self._on_drop = on_drop
        self.budget: IndexBudget[Endpoint] = budget if budget is not None else IndexBudget()
        #: Per peer, per folder it lists that we took: its index. A peer listed here with no
        #: folder offers us nothing (an empty table, not an unknown one).
        self._tables: dict[Endpoint, dict[FolderId, _FolderIndex]] = {}
        #: Fetches under way: entries received so far.
        self._receiving: dict[Endpoint, int] = {}
        #: Fetches under way whose index was dropped meanwhile: they stop at their next step.
        self._dropped: set[Endpoint] = set()
        #: endpoint -> (not before this time.monotonic(), the hold it served).
        self._held: dict[Endpoint, tuple[float, float]] = {}
        self._bad_names: dict[Endpoint, set[str]] = {}
        #: What each peer calls itself, for the log.
        self._names: dict[Endpoint, str] = {}
        #: Every file on the network, as of the last merge.
        self.files: tuple[RemoteFile, ...] = ()
        self._build: asyncio.Task[None] | None = None
        self._stale = False

    def count(self, endpoint: Endpoint) -> int | None:
        """Files in ``endpoint``'s indexes, every folder's together; None when we hold none."""
        folders = self._tables.get(endpoint)
        return None if folders is None else sum(len(f.files) for f in folders.values())

    def holds(self, endpoint: Endpoint, folder: FolderId, host: HostRef,
              generation: int) -> bool:
        """Whether we hold ``endpoint``'s index of ``folder`` as ``host`` (the same key and
        instance) gave it at ``generation``: then fetching it again would bring nothing new."""
        held = self._tables.get(endpoint, {}).get(folder)
        return (held is not None and held.generation == generation
                and held.host == host)

    def _cost(self, endpoint: Endpoint) -> int:
        return sum(f.cost for f in self._tables.get(endpoint, {}).values())

    def held_back(self, endpoint: Endpoint) -> bool:
        """Whether ``endpoint``'s index was dropped a moment ago: do not fetch it yet."""
        hold = self._held.get(endpoint)
        return hold is not None and time.monotonic() < hold[0]

    def keep_only(self, endpoints: Collection[Endpoint]) -> None:
        """Discard the index of every peer not in ``endpoints`` (gone, failed, not trusted)."""
        for endpoint in [e for e in self._tables if e not in endpoints]:
            self.discard(endpoint)
        # A hold is remembered for HOLD_MAX after it ends, so that a peer dropped again is
        # held back longer; then forgotten.
        now = time.monotonic()
        if any(until + HOLD_MAX < now for until, _ in self._held.values()):
            self._held = {e: h for e, h in self._held.items() if h[0] + HOLD_MAX >= now}
        for names in (self._bad_names, self._names):
            for endpoint in [e for e in names if e not in endpoints and e not in self._receiving]:
                del names[endpoint]

    def discard(self, endpoint: Endpoint) -> None:
        """Forget ``endpoint``'s index (a fetch under way for it goes on)."""
        if endpoint in self._tables:
            self.budget.reduce(endpoint, self._cost(endpoint))
            del self._tables[endpoint]
            self._rebuild()

    def keep_folders(self, endpoint: Endpoint, folders: Collection[FolderId]) -> None:
        """``endpoint`` lists ``folders`` now: forget its index of any other folder. A peer
        that lists none offers nothing: its table is empty, as a host sharing an empty
        folder's would be."""
        held = self._tables.get(endpoint)
        if held is None:
            if folders:
                return  # nothing held yet: what it offers is unknown until an index arrives
            self._tables[endpoint] = {}
            self._held.pop(endpoint, None)
            self._rebuild()
            return
        gone = [folder for folder in held if folder not in folders]
        if gone:
            self.budget.reduce(endpoint, sum(held.pop(folder).cost for folder in gone))
            self._rebuild()

    async def settled(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until ``files`` reflects every table."""
        if self._build is not None and not self._build.done():
            await asyncio.wait({self._build}, timeout=timeout)

    def close(self) -> None:
        """Stop building (the node stops)."""
        if self._build is not None:
            self._build.cancel()

    async def receive(self, channel: SecureChannel, endpoint: Endpoint, host: HostRef,
                      name: str, folder: FolderId = DEFAULT_FOLDER) -> tuple[int, int]:
        """Fetch the index of the peer's folder ``folder`` at ``endpoint`` over ``channel``
        (``host`` is its proven key and endpoint; ``name`` is for the log) and make it that
        peer's table; returns its generation and number of files. ``IndexDropped`` when the
        budget would not hold it; ``ChannelError`` for anything else that went wrong.

        When we hold that folder's index as the same host gave it (the same key and instance:
        a restarted host's generations start again), we ask for what changed since its
        generation; a delta answer is merged into the table we hold."""
        held = self._tables.get(endpoint, {}).get(folder)
        since = held.generation if held is not None and host.instance and held.host == host \
            else 0
        runs: list[list[_Entry]] = []
        removed: set[str] = set()
        cost = generation = 0
        delta = False
        self._receiving[endpoint] = 0
        self._dropped.discard(endpoint)
        self._names[endpoint] = name
        try:
            async for chunk in iter_index(channel, since, folder=folder):
                kept, refused, more = await in_steps(_prepare(chunk.entries))
                self._log_refused(endpoint, refused)
                self._stop_if_dropped(endpoint)
                self._receiving[endpoint] += len(kept)
                self._charge(endpoint, more)
                cost += more
                runs.append(kept)
                removed.update(chunk.removed)
                delta = chunk.delta  # (the exchange table holds every chunk to one kind)
                if chunk.last:
                    generation = chunk.generation
            dropped_cost = 0
            table = await in_steps(_merge_runs(runs, (host,), folder))
            if delta:
                # (the table asked from is still the one held: fetches of a peer are one at a
                # time; checked all the same, as a merge into another table would be wrong)
                if held is None or self._tables.get(endpoint, {}).get(folder) is not held:
                    raise ChannelError("the index changed while a delta of it was fetched")
                if table or removed:
                    table, dropped_cost = await in_steps(_apply_delta(held.files, table, removed))
                else:
                    table = held.files  # nothing changed: the same table, nothing to rebuild
            self._stop_if_dropped(endpoint)
        except BaseException:
            if endpoint not in self._dropped:
                self.budget.reduce(endpoint, cost)  # what the old index holds stays charged
            raise
        finally:
            del self._receiving[endpoint]
            self._dropped.discard(endpoint)
        folders = self._tables.setdefault(endpoint, {})
        old = folders.get(folder)
        if delta and old is not None:
            self.budget.reduce(endpoint, dropped_cost)  # the entries the delta replaced go
            cost += old.cost - dropped_cost
        else:
            self.budget.reduce(endpoint, old.cost if old is not None else 0)  # the old goes
        folders[folder] = _FolderIndex(table, cost, generation, host)
        self._held.pop(endpoint, None)  # taken whole: it starts clean
        if old is None or table is not old.files:
            self._rebuild()
        return generation, len(table)

    # -- the budget ---------------------------------------------------------------------------

    def _charge(self, endpoint: Endpoint, amount: int) -> None:
        charge = self.budget.charge(endpoint, amount)
        for other in charge.evicted:
            self._drop(other, "it was the largest index when together they passed")
        if not charge.accepted:
            why = ("on its own it passes" if charge.alone else
                   "it was the largest index when together they passed")
            reason = self._drop(endpoint, why)
            raise IndexDropped(reason)

    def _drop(self, endpoint: Endpoint, why: str) -> str:
        """Drop ``endpoint``'s index (the budget has released it already) and hold it back;
        the reason, as logged."""
        table = self._tables.pop(endpoint, None)
        entries = self._receiving.get(endpoint, 0) + sum(
            len(f.files) for f in (table or {}).values())
        if endpoint in self._receiving:
            self._dropped.add(endpoint)
        previous = self._held.get(endpoint)
        hold = min(previous[1] * 2, HOLD_MAX) if previous is not None else HOLD_FIRST
        self._held[endpoint] = (time.monotonic() + hold, hold)
        reason = (f"index dropped ({entries} files): {why} the index budget of "
                  f"{self.budget.limit >> 20} MiB; not fetched again for {hold:g} s")
        log.warning("%s:%d (%s): %s", *endpoint, self._names.get(endpoint, ""), reason)
        if table is not None:
            self._rebuild()
            if endpoint not in self._receiving:
                self._on_drop(endpoint, reason)
        return reason

    def _stop_if_dropped(self, endpoint: Endpoint) -> None:
        if endpoint in self._dropped:
            raise IndexDropped("index dropped to keep within the index budget")

    def _log_refused(self, endpoint: Endpoint, refused: list[tuple[str, str]]) -> None:
        if not refused:
            return
        logged = self._bad_names.setdefault(endpoint, set())
        quiet = 0
        for path, reason in refused:
            if path in logged:
                continue
            if len(logged) >= MAX_BAD_NAME_LOGS:
                quiet += 1
                continue
            logged.add(path)
            log.warning("%s:%d offers a file with a refused name %r: %s", *endpoint, path, reason)
        if quiet:
            log.warning("%s:%d offers %d more files with refused names", *endpoint, quiet)

    # -- the merged list ------------------------------------------------------------------------

    def _rebuild(self) -> None:
        self._stale = True
        if self._build is not None and not self._build.done():
            return  # the build under way goes round once more
        if sum(self.count(e) or 0 for e in self._tables) <= STEP or len(self._tables) <= 1:
            self._stale = False  # done at once: no pause
            self.files = to_end(merge_tables(self._peer_tables()))
            self._on_change()
            return
        self._build = asyncio.get_running_loop().create_task(self._run_build())

    async def _run_build(self) -> None:
        while self._stale:
            self._stale = False
            self.files = await in_steps(merge_tables(self._peer_tables()))
            self._on_change()

    def _peer_tables(self) -> list[tuple[RemoteFile, ...]]:
        """Each peer's table (by endpoint): its folders' tables one after the other, in the
        order of their ids, so sorted by folder and path."""
        tables: list[tuple[RemoteFile, ...]] = []
        for endpoint in sorted(self._tables):
            folders = self._tables[endpoint]
            if len(folders) == 1:
                tables.extend(f.files for f in folders.values())  # no copy of the usual case
            elif folders:
                tables.append(tuple(chain.from_iterable(
                    folders[folder].files for folder in sorted(folders))))
        return tables
