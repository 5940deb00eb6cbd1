"""Fetching peers' indexes: a few at once, rate-limited per address, real hosts first.

How it works: a peer whose index is to be fetched (``Peer.dirty``) is fetched over a secure
channel into ``RemoteIndexes``, at a rate limited per address (``FETCH_RATE`` after a burst of
``FETCH_BURST``) and with at most ``MAX_FETCHES`` fetches at once, ``MAX_UNPROVEN_FETCHES`` of
them for endpoints nobody has proven yet: an announcement costs its sender one datagram, so
spoofed announcements must take neither our file descriptors nor the fetches of real hosts.
When slots run short, the slot that frees next goes at once to the best waiting peer (see
``PeerTable.fetch_order``), which may take the slot of an unproven fetch that has had
``UNPROVEN_PATIENCE`` to complete a handshake. A fetch that ends marks its peer connected (and
remembers the host) or failed, with the reason.

A fetch asks the peer's folder list first (kept on the peer: ``Peer.folders``), then the index
of each folder listed whose generation moved since we took its index (or that we do not hold);
the indexes of folders it no longer lists are forgotten, and a peer that lists none offers us
nothing. A fetch read to its end leaves its channel in the node's ``ChannelPool``; the next
fetch from the same host (the key it proved, the instance it announces) takes it while it is
idle, without a new connection and handshake (in a swarm every host fetches every other one's
index after each of its changes). A peer known only by address (``--peer``, announcing no
instance) has every folder's index fetched each time, as a restart there cannot be told from
the generations. A peer that lists a folder without ANNOUNCED (its changes do not move the
announced generation) is fetched again every ``FOLDER_POLL`` while it is in view (see
``peer_directory``).
"""

import asyncio
import logging
import time
from collections.abc import Callable

from mfsync.crypto.keys import short_key
from mfsync.engine.channel_pool import ChannelPool
from mfsync.engine.dialer import Dialer
from mfsync.engine.peers import MAX_PEERS, Peer, PeerTable, is_proven, polled_folders
from mfsync.engine.remote_index import RemoteIndexes
from mfsync.engine.status import HostRef, PeerState
from mfsync.engine.trust import TrustList
from mfsync.net.channel import ChannelError, NotTrusted, PeerRefused, SecureChannel
from mfsync.net.client import request_folders
from mfsync.net.discovery import DEFAULT_BEAT
from mfsync.net.ratelimit import RateLimiter
from mfsync.protocol.messages import ErrorCode, FolderList
from mfsync.store.known_hosts import KnownHosts

__all__ = [
    "FETCH_BURST",
    "FETCH_RATE",
    "FOLDER_POLL",
    "MAX_FETCHES",
    "MAX_UNPROVEN_FETCHES",
    "RATE_LIMIT_LOG_INTERVAL",
    "STATIC_POLL",
    "STATIC_RETRY",
    "UNPROVEN_PATIENCE",
    "IndexFetches",
]

log = logging.getLogger("mfsync.engine")

#: Index fetches triggered by announcements: a burst of 4 per address, then one a second.
FETCH_RATE = 1.0
FETCH_BURST = 4
#: Index fetches at once, in all: each holds a socket, and an announcement costs its sender one
#: datagram, so without a global cap spoofed announcements pointing at addresses that never
#: answer took most of our file descriptors. A fetch on a LAN takes milliseconds to a second;
#: 32 at once fetch the indexes of a hundred hosts that appear together within seconds.
MAX_FETCHES = 32
#: Of those, at most this many for endpoints that have not proven a key: proven and static
#: hosts always have the other half.
MAX_UNPROVEN_FETCHES = 16
#: An unproven endpoint still without a handshake after this many seconds gives its fetch slot
#: up to a waiting endpoint of an address that claims fewer endpoints. A host on the LAN
#: answers and completes a handshake within milliseconds (a slow Wi-Fi link: a few hundred);
#: forged addresses nobody has keep a slot until the kernel gives up (3 s for a neighbour that
#: never answers, the handshake timeout beyond the router).
UNPROVEN_PATIENCE = 1.0
#: Seconds between two log lines saying that fetches from one address are being held back.
RATE_LIMIT_LOG_INTERVAL = 60.0
#: A folder a host lists without ANNOUNCED (its changes do not move the announced generation,
#: PROTOCOL.md 1.4) is asked about again this often (seconds) while the host is in view.
FOLDER_POLL = 10.0
#: Static peers are polled this often; unreachable ones back off to the longer interval.
STATIC_POLL = DEFAULT_BEAT
STATIC_RETRY = 30.0


class IndexFetches:
    """Starts, caps and finishes the index fetches of the peers in ``table``.

    ``on_change`` is called when a fetch ends (a peer's state changed); ``on_ended(peer)``
    after that, for the peer table's own bookkeeping.
    """

    def __init__(self, table: PeerTable[Peer], indexes: RemoteIndexes, dialer: Dialer,
                 trust: TrustList, known_hosts: KnownHosts, *, pool: ChannelPool | None = None,
                 on_change: Callable[[], None], on_ended: Callable[[Peer], None]) -> None:
        self._table = table
        self._pool = pool
        self._indexes = indexes
        self._dialer = dialer
        self._trust = trust
        self._known_hosts = known_hosts
        self._on_change = on_change
        self._on_ended = on_ended
        self._limiter = RateLimiter(FETCH_RATE, FETCH_BURST)
        #: When we last logged that the limiter held back fetches from an address.
        self._rate_limited: dict[str, float] = {}
        self._fetches: set[asyncio.Task[None]] = set()
        #: Those of ``_fetches`` for endpoints that had not proven a key when they began: their
        #: peer, and when they began.
        self._unproven: dict[asyncio.Task[None], tuple[Peer, float]] = {}
        #: A dirty peer found no free fetch slot since the last fetch ended: the next slot that
        #: frees goes to the best waiting peer at once (see ``_done``).
        self._slots_short = False
        #: Announced peers are fetched once the node has started (static ones before).
        self.started = False
        self._stopping = False

    @property
    def running(self) -> int:
        """How many fetches are under way."""
        return len(self._fetches)

    def maybe_fetch(self, peer: Peer, *, preempt: bool = False) -> None:
        """Start fetching ``peer``'s index if a slot and the rate limit allow; with ``preempt``
        (only for the best waiting peer, see ``fetch_waiting``), a stale unproven fetch may
        make room."""
        if peer.fetching or (not self.started and not peer.static) or self._indexes.held_back(
                peer.endpoint):
            return
        proven = is_proven(peer)
        if len(self._fetches) >= MAX_FETCHES or (
                not proven and len(self._unproven) >= MAX_UNPROVEN_FETCHES
                and not (preempt and self._take_unproven_slot(peer))):
            self._slots_short = True
            return  # it stays dirty: a slot that frees up goes to the best waiting peer
        if not self._limiter.allow(peer.address):
            self._say_rate_limited(peer.address)
            return
        peer.fetching = True
        peer.dirty = False
        task = asyncio.get_running_loop().create_task(self._fetch(peer))
        self._fetches.add(task)
        if not proven:
            self._unproven[task] = (peer, time.monotonic())
        task.add_done_callback(self._done)

    def fetch_waiting(self) -> None:
        """Start the fetches of dirty peers while there are slots, the best first (see
        ``PeerTable.fetch_order``). Only here may a waiting peer take the slot of a stale
        unproven fetch: in that order, not in the order a flood's datagrams arrive."""
        if len(self._fetches) >= MAX_FETCHES:
            return
        waiting = [p for p in self._table.values() if p.dirty and not p.fetching]
        for peer in self._table.fetch_order(waiting):
            if len(self._fetches) >= MAX_FETCHES:
                return
            self.maybe_fetch(peer, preempt=True)

    def fail(self, peer: Peer, state: PeerState, reason: str) -> None:
        """``peer`` failed (``state``, with ``reason``): its index is no longer offered, and a
        key we refused is recorded."""
        level = logging.DEBUG if peer.static and state is PeerState.UNREACHABLE else logging.INFO
        if (peer.state, peer.error) != (state, reason):
            log.log(level, "%s:%d: %s", peer.address, peer.port, reason)
        if state is PeerState.UNTRUSTED and peer.key is not None:
            self._trust.refused(peer.key, peer.address, peer.name, inbound=False)
        peer.state = state
        peer.error = reason
        peer.folders, peer.next_folder_poll = (), None
        self._indexes.discard(peer.endpoint)

    async def settle(self, deadline: float) -> None:
        """Wait until no fetch is under way, or until ``time.monotonic()`` passes
        ``deadline``."""
        while self._fetches and time.monotonic() < deadline:
            await asyncio.wait(set(self._fetches), timeout=deadline - time.monotonic())

    def cancel(self) -> list[asyncio.Task[None]]:
        """Cancel every fetch (the node stops); returns them, to be awaited."""
        self._stopping = True
        tasks = list(self._fetches)
        for task in tasks:
            task.cancel()
        return tasks

    # -- one fetch ------------------------------------------------------------------------

    async def _fetch(self, peer: Peer) -> None:
        channel: SecureChannel | None = None

        def authorize(key: bytes) -> bool:
            peer.key = key
            return self._trust.is_trusted(key)

        try:
            listing: FolderList | None = None
            channel = self._kept_channel(peer)
            if channel is not None:
                try:
                    listing = await request_folders(channel)
                except ChannelError:  # (closed by the host while it was idle: a new one)
                    channel.abort()
                    channel = None
            if channel is None:
                channel = await self._dialer.open(peer.address, peer.port, authorize)
                listing = await request_folders(channel)
            assert listing is not None
            if channel.peer_hello is not None and channel.peer_hello.name:
                peer.name = channel.peer_hello.name
            host = HostRef(channel.remote_key, peer.address, peer.port, peer.instance_id or b"")
            count = await self._take_folders(channel, peer, host, listing)
            peer.state = PeerState.CONNECTED
            peer.error = ""
            self._trust.accepted(channel.remote_key, inbound=False)
            if not peer.temporary and self._known_hosts.remember(
                    channel.remote_key, peer.address, peer.port):
                await asyncio.to_thread(self._known_hosts.save)
            log.info("%s:%d (%s, key %s): %d files", peer.address, peer.port, peer.name,
                     short_key(channel.remote_key), count)
            if self._pool is not None and host.instance:
                # Read to its end: kept for the next fetch (or a download) from this host.
                self._pool.give_back(host, channel)
                channel = None
        except NotTrusted as exc:
            self.fail(peer, PeerState.UNTRUSTED, str(exc))
        except PeerRefused as exc:
            refused = exc.code is ErrorCode.NOT_TRUSTED
            state = PeerState.REFUSED if refused else PeerState.UNREACHABLE
            self.fail(peer, state, exc.text or exc.code.name)
        except (ChannelError, OSError) as exc:
            self.fail(peer, PeerState.UNREACHABLE, str(exc) or type(exc).__name__)
        finally:
            if channel is not None:
                await channel.close()
            peer.fetching = False
            peer.next_poll = time.monotonic() + (
                STATIC_RETRY if peer.state is PeerState.UNREACHABLE else STATIC_POLL
            )
            self._on_ended(peer)
            self._on_change()

    def _kept_channel(self, peer: Peer) -> SecureChannel | None:
        """A channel kept open from an earlier exchange with this very host (the key it proved
        last time, still trusted, and the instance it announces now), if one is idle: the
        fetch then skips the TCP connection and the handshake. None: open a new one."""
        if self._pool is None or peer.key is None or not peer.instance_id:
            return None
        if not self._trust.is_trusted(peer.key):
            return None  # (a new channel says so properly: NotTrusted)
        return self._pool.take(HostRef(peer.key, peer.address, peer.port, peer.instance_id))

    async def _take_folders(self, channel: SecureChannel, peer: Peer, host: HostRef,
                            listing: FolderList) -> int:
        """Keep ``listing`` as ``peer``'s folders and fetch the index of each folder in it
        whose generation moved; the number of files the peer now offers us in all."""
        listed = {info.id for info in listing.folders}
        self._indexes.keep_folders(peer.endpoint, listed)
        peer.folders = listing.folders
        peer.next_folder_poll = (time.monotonic() + FOLDER_POLL
                                 if polled_folders(listing.folders) else None)
        for info in listing.folders:
            if host.instance and self._indexes.holds(peer.endpoint, info.id, host,
                                                     info.generation):
                continue  # unchanged since we took it
            try:
                await self._indexes.receive(channel, peer.endpoint, host, peer.name, info.id)
            except PeerRefused as exc:
                if exc.code is not ErrorCode.NO_SUCH_FOLDER:
                    raise
                # Removed, or no longer shown to us, since it listed it: as if not listed.
                listed.discard(info.id)
                self._indexes.keep_folders(peer.endpoint, listed)
                peer.folders = tuple(f for f in peer.folders if f.id != info.id)
        return self._indexes.count(peer.endpoint) or 0

    def _done(self, task: asyncio.Task[None]) -> None:
        self._fetches.discard(task)
        self._unproven.pop(task, None)
        # When slots ran short (a flood, or a crowd of new hosts), the slot goes to the best
        # waiting peer now rather than at the next tick. Otherwise the tick restarts dirty
        # peers as before: a peer announced again during its own fetch waits up to a tick, so
        # the announcements of a busy host (a sync swarm) are taken in one fetch, not several.
        if self._slots_short and not self._stopping:
            self._slots_short = False
            self.fetch_waiting()

    # -- slots and rates ------------------------------------------------------------------

    def _take_unproven_slot(self, peer: Peer) -> bool:
        """Cancel the oldest fetch of an unproven endpoint that has had ``UNPROVEN_PATIENCE``
        to complete a handshake and is of an address claiming more endpoints than ``peer``'s;
        whether one was (its slot is free at once)."""
        limit = time.monotonic() - UNPROVEN_PATIENCE
        claims = self._table.endpoints_at(peer.address)
        stale = [(began, task) for task, (other, began) in self._unproven.items()
                 if began <= limit and not is_proven(other)
                 and self._table.endpoints_at(other.address) > claims]
        if not stale:
            return False
        _, task = min(stale, key=lambda item: item[0])
        other, _ = self._unproven.pop(task)
        self._fetches.discard(task)
        log.debug("%s:%d gave its fetch slot up to %s:%d: no handshake after %g s",
                  other.address, other.port, peer.address, peer.port, UNPROVEN_PATIENCE)
        task.cancel()
        return True

    def _say_rate_limited(self, address: str) -> None:
        # The maintenance tick retries dirty peers. Said at most once a minute per address,
        # not on every tick: it is what a flood of spoofed announcements pointing at that
        # address looks like.
        now = time.monotonic()
        if now - self._rate_limited.get(address, -RATE_LIMIT_LOG_INTERVAL) >= (
                RATE_LIMIT_LOG_INTERVAL):
            if len(self._rate_limited) >= MAX_PEERS:
                self._rate_limited.clear()  # bounded: at worst a line is said again
            self._rate_limited[address] = now
            log.info("index fetches from %s are rate-limited: its announcements ask for "
                     "more than %d at once and %g a second", address, FETCH_BURST, FETCH_RATE)
