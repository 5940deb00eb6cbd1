"""Every peer endpoint we know of, kept fresh: announcements, static peers, expiry, indexes.

How it works: announcements of sharing hosts create or refresh entries in the peer table, keyed
by endpoint (address and TCP port; see ``peers`` for how the table keeps room for hosts that
proved their key). A new endpoint, a restart (new instance id) or a new share-set generation
marks the entry dirty, and a dirty entry's index is fetched (see ``index_fetches``, which caps
and rate-limits the fetches). Static peers (``--peer`` and remembered hosts) announce nothing:
they are polled instead. Announced peers expire after missing ``EXPIRY_BEATS`` of their beats,
a beat counting as at most ``MAX_BEAT`` whatever a peer claims. Only the indexes of peers
listed as connected are offered: whenever a peer's state changes (a fetch ends, it expires, the
trust list changes), the others' are forgotten. A connected peer that lists a folder without
ANNOUNCED is fetched again every ``FOLDER_POLL`` (its folder list, then the indexes whose
generation moved). ``remote_folders`` gathers the folders the connected peers list, by id.
"""

import asyncio
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable

from mfsync.crypto.keys import short_key
from mfsync.engine.channel_pool import ChannelPool
from mfsync.engine.dialer import Dialer
from mfsync.engine.index_fetches import IndexFetches
from mfsync.engine.peers import Endpoint, Peer, PeerTable
from mfsync.engine.remote_index import RemoteIndexes
from mfsync.engine.status import HostRef, PeerSnapshot, PeerState, RemoteFile, RemoteFolder
from mfsync.engine.trust import TrustList
from mfsync.net.discovery import EXPIRY_BEATS, MAX_BEAT
from mfsync.protocol.announce import Announcement, Flags
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import FolderFlags, FolderInfo
from mfsync.store.known_hosts import KnownHosts

__all__ = ["ANNOUNCED_PUBLISH_GAP", "MAINTENANCE_TICK", "MIN_PEER_BEAT", "PeerDirectory"]

log = logging.getLogger("mfsync.engine")

#: The beat a peer claims counts as at most this many milliseconds (see MAX_BEAT).
MAX_PEER_BEAT_MS = int(MAX_BEAT * 1000)
#: What announcements change (a new endpoint, a name) is published at most this often: a
#: status is rebuilt from every peer, and rebuilt for each datagram of a flood of claims it
#: held the event loop to a few thousand datagrams a second, the real host's among the lost.
ANNOUNCED_PUBLISH_GAP = 0.05
#: How often peers are looked at: expired, polled, their waiting fetches started.
MAINTENANCE_TICK = 0.25
#: A peer's announced beat counts as at least this long when we decide it is gone.
MIN_PEER_BEAT = 0.2

#: Told that something for the status changed; the argument is the least gap (seconds) since
#: the last status (see ``Publisher.changed``).
Changed = Callable[[float], None]


class PeerDirectory:
    """The peers we know (announced, named with ``--peer``, remembered) and their indexes.

    ``changed(gap)`` is told of every change the status shows; ``pool`` keeps the channels
    of index fetches for the next fetch (see ``IndexFetches``).
    """

    def __init__(self, trust: TrustList, dialer: Dialer, known_hosts: KnownHosts,
                 changed: Changed, *, pool: ChannelPool | None = None) -> None:
        self._trust = trust
        self._changed = changed
        self._table: PeerTable[Peer] = PeerTable()
        #: Every peer's index, within one memory budget; the files of the status.
        self.indexes = RemoteIndexes(lambda: changed(0.0), self._index_dropped)
        self.fetches = IndexFetches(self._table, self.indexes, dialer, trust, known_hosts,
                                    pool=pool, on_change=lambda: changed(0.0),
                                    on_ended=lambda _peer: self._keep_connected_indexes())
        self._maintenance: asyncio.Task[None] | None = None
        #: Endpoints added for offers (``add_temporary``), with how many offers each.
        self._temporary: dict[Endpoint, int] = {}

    def __len__(self) -> int:
        return len(self._table)

    @property
    def files(self) -> tuple[RemoteFile, ...]:
        """Every file the connected peers offer (see ``RemoteIndexes.files``)."""
        return self.indexes.files

    def start(self) -> None:
        """Fetch announced peers from now on, and look after the table every tick."""
        self.fetches.started = True
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())

    def cancel(self) -> list[asyncio.Task[None]]:
        """Stop looking after the table and cancel every fetch; returns the tasks, to be
        awaited."""
        tasks = self.fetches.cancel()
        if self._maintenance is not None:
            self._maintenance.cancel()
            tasks.append(self._maintenance)
        return tasks

    def close(self) -> None:
        """Stop merging indexes (the node stops)."""
        self.indexes.close()

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until no index fetch is under way and the files of the
        status reflect every index."""
        deadline = time.monotonic() + timeout
        await self.fetches.settle(deadline)
        await self.indexes.settled(max(0.0, deadline - time.monotonic()))

    async def add_static(self, host: str, port: int, *, remembered: bool = False) -> None:
        """Poll the peer at ``host:port`` (named with ``--peer``; ``remembered`` from an earlier
        run: not shown until it answers)."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, family=socket.AF_INET, type=socket.SOCK_STREAM
            )
            address = str(infos[0][4][0])
        except (OSError, IndexError) as exc:
            log.warning("cannot resolve peer %s: %s", host, exc)
            return
        endpoint = (address, port)
        if endpoint not in self._table:
            self._table[endpoint] = Peer(address, port, static=True, remembered=remembered)
        peer = self._table[endpoint]
        peer.static = True
        peer.remembered = peer.remembered and remembered
        peer.temporary = False  # named by the user (or remembered): it stays

    def add_temporary(self, address: str, port: int) -> None:
        """Fetch the peer at ``address:port`` now, and poll it as a static peer until
        ``remove_temporary`` (a host whose offer we accepted: its folder list names the offer's
        folder). Never remembered in the known hosts; counted, for several offers at once."""
        endpoint = (address, port)
        self._temporary[endpoint] = self._temporary.get(endpoint, 0) + 1
        peer = self._table.get(endpoint)
        if peer is None:
            peer = self._table[endpoint] = Peer(address, port, static=True, temporary=True)
        peer.dirty = True
        self.fetches.maybe_fetch(peer)

    def remove_temporary(self, address: str, port: int) -> None:
        """The offer that added ``address:port`` ended: a peer we added only for offers leaves
        the table (and its files the status) once its last offer ends."""
        endpoint = (address, port)
        left = self._temporary.get(endpoint, 0) - 1
        if left > 0:
            self._temporary[endpoint] = left
            return
        self._temporary.pop(endpoint, None)
        peer = self._table.get(endpoint)
        if peer is not None and peer.temporary:
            del self._table[endpoint]
            self._keep_connected_indexes()
            self._changed(0.0)
        elif peer is not None:
            peer.dirty = True  # what it lists to us changed (the offer's folder went)

    def on_announcement(self, msg: Announcement, addr: tuple[str, int]) -> None:
        """A datagram of discovery: a host that shares tells us its endpoint and generation."""
        if not msg.flags & Flags.SHARES:
            return  # a host that only downloads has nothing for us to fetch
        endpoint = (addr[0], msg.tcp_port)
        peer = self._table.get(endpoint)
        # A status holds every file of every peer: built again for a heartbeat that changes
        # nothing in it, it cost a 100,000-file network most of a core.
        seen = None if peer is None else (peer.remembered, peer.announced_key, peer.name)
        if peer is None:
            peer = self._table.admit(endpoint, lambda: Peer(addr[0], msg.tcp_port))
            if peer is None:
                log.debug("peer table full of proven hosts and fetches; ignoring %s:%d",
                          *endpoint)
                return
            # A claim, not news yet (the index fetch says who it is): and a flood of claims
            # must not flood the log.
            log.debug("discovered %s at %s:%d (announced key %s)", msg.name or "a host",
                      addr[0], msg.tcp_port, short_key(msg.public_key))
        else:
            self._table.heard(endpoint)
        if peer.instance_id != msg.instance_id or peer.announced_generation != msg.generation:
            peer.dirty = True
        peer.instance_id = msg.instance_id
        peer.remembered = False
        peer.announced_key = msg.public_key
        peer.announced_generation = msg.generation
        peer.name = msg.name or peer.name
        # A peer cannot make us remember it (and its claims) longer than we would announce.
        peer.beat_ms = min(msg.beat_ms, MAX_PEER_BEAT_MS)
        peer.last_seen = time.monotonic()
        if peer.state is PeerState.UNREACHABLE and not peer.fetching:
            peer.dirty = True  # it announces again, so try again
        if peer.dirty:
            self.fetches.maybe_fetch(peer)
        if seen != (peer.remembered, peer.announced_key, peer.name):
            self._changed(ANNOUNCED_PUBLISH_GAP)

    def refresh(self, endpoint: Endpoint) -> None:
        """Fetch the index of the peer at ``endpoint`` again soon."""
        peer = self._table.get(endpoint)
        if peer is not None:
            peer.dirty = True

    def trust_changed(self) -> None:
        """The trust list changed: peers whose key is no longer trusted fail, and every peer
        is fetched again (so hosts become untrusted, or connected again)."""
        for peer in self._table.values():
            if peer.key is not None and not self._trust.is_trusted(peer.key):
                self.fetches.fail(peer, PeerState.UNTRUSTED,
                                  f"key {short_key(peer.key)} is not trusted")
            peer.dirty = True
        self._keep_connected_indexes()

    def name_of(self, key: bytes) -> str:
        """What a host with ``key`` calls itself, as far as we heard; empty if nothing."""
        return next((p.name for p in self._table.values()
                     if key in (p.key, p.announced_key) and p.name), "")

    def snapshot(self) -> tuple[PeerSnapshot, ...]:
        """Every peer worth showing, by endpoint."""
        peers = []
        for peer in sorted(self._table.values(), key=lambda p: (p.address, p.port)):
            if (peer.remembered or peer.temporary) and peer.key is None:
                continue
            key = peer.key or peer.announced_key
            peers.append(PeerSnapshot(
                address=peer.address, port=peer.port, name=peer.name,
                announced_key=peer.announced_key, key=peer.key, state=peer.state,
                files=self.indexes.count(peer.endpoint), trusted=self._trust.is_listed(key),
                error=peer.error, static=peer.static,
            ))
        return tuple(peers)

    def remote_folders(self) -> tuple[RemoteFolder, ...]:
        """The folders the peers whose indexes we offer list to us (as ``files``: a fetch
        under way shows what it brought so far), by id (see ``RemoteFolder`` for how what
        several hosts say of one folder is put together)."""
        listed: dict[FolderId, list[tuple[HostRef, FolderInfo]]] = {}
        for peer in sorted(self._table.values(), key=lambda p: (p.address, p.port)):
            if peer.key is None or self.indexes.count(peer.endpoint) is None:
                continue
            host = HostRef(peer.key, peer.address, peer.port, peer.instance_id or b"")
            for info in peer.folders:
                listed.setdefault(info.id, []).append((host, info))
        folders = []
        for folder in sorted(listed):
            hosts = listed[folder]
            labels = Counter(info.label for _, info in hosts)
            label = min(labels, key=lambda text: (-labels[text], text))
            folders.append(RemoteFolder(
                folder, label, tuple(host for host, _ in hosts),
                max(info.files for _, info in hosts), max(info.size for _, info in hosts),
                any(info.flags & FolderFlags.SYNC for _, info in hosts)))
        return tuple(folders)

    # -- upkeep ---------------------------------------------------------------------------

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_TICK)
            now = time.monotonic()
            gone = False
            for endpoint, peer in list(self._table.items()):
                beat = max(peer.beat_ms / 1000.0, MIN_PEER_BEAT)  # 0 must not mean "forever"
                if not peer.static and now - peer.last_seen > EXPIRY_BEATS * beat:
                    log.info("%s:%d (%s) is gone", peer.address, peer.port, peer.name)
                    del self._table[endpoint]
                    gone = True
                    continue
                if peer.static and now >= peer.next_poll and not peer.fetching:
                    peer.dirty = True
                if (peer.next_folder_poll is not None and now >= peer.next_folder_poll
                        and not peer.fetching and peer.state is PeerState.CONNECTED):
                    peer.next_folder_poll = None  # the fetch sets the next one
                    peer.dirty = True
            if gone:
                self._keep_connected_indexes()
                self._changed(0.0)
            self.fetches.fetch_waiting()

    def _index_dropped(self, endpoint: Endpoint, reason: str) -> None:
        """The budget dropped a peer's index to make room: fetch it again once held back."""
        peer = self._table.get(endpoint)
        if peer is not None:
            peer.state, peer.error, peer.dirty = PeerState.UNREACHABLE, reason, True

    def _keep_connected_indexes(self) -> None:
        """Offer only the indexes of peers listed as connected: forget those of peers gone,
        failed or no longer trusted."""
        self.indexes.keep_only({endpoint for endpoint, peer in self._table.items()
                                if peer.state is PeerState.CONNECTED and peer.key})
