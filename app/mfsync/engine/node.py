"""The engine: one mfsync host on the network, headless, on plain asyncio.

How it works: a ``Node`` owns the identity, the trust list, its shared folders (share sets, each
with a watcher; they can be added and removed while it runs), the TCP server and the discovery
service. Announcements of sharing hosts create or refresh entries in the peers table, keyed by
endpoint (address and TCP port; see ``peers`` for how the table keeps room for hosts that proved
their key); a new endpoint, a restart (new instance id) or a new share-set generation marks the
entry dirty, and a dirty entry's index is fetched over the secure channel, at a rate limited
per address and with at most ``MAX_FETCHES`` fetches at once (``MAX_UNPROVEN_FETCHES`` of them
for endpoints nobody has proven yet), so that spoofed announcements can take neither the file
descriptors nor the fetches of real hosts. Static peers (``--peer`` and remembered hosts) are
polled instead. Announced peers expire after missing ``EXPIRY_BEATS`` of their beats, a beat
counting as at most ``MAX_BEAT`` whatever a peer claims.
Every change publishes a new immutable ``NodeStatus`` to the observers.

What we offer is the union of the shared folders (see ``FileServer``). The announced generation
is the sum of the folders' generations plus a count of other changes (a folder added, removed,
gone unreadable or back; the trust list changed; a removed folder's generation is added to that
count, so the sum never goes back): it changes whenever what a peer may fetch from us does, and
peers then fetch our index again. Trust changes apply at once: channels (ours and our server's)
to keys no longer trusted are dropped, and every peer is looked at again.
"""

import asyncio
import collections
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mfsync.crypto.keys import Identity, short_key
from mfsync.engine.channel_pool import ChannelPool
from mfsync.engine.peers import MAX_PEERS, PeerTable, is_proven
from mfsync.engine.remote_index import Endpoint, RemoteIndexes
from mfsync.engine.serve import FileServer, refuse
from mfsync.engine.status import (
    FolderSnapshot,
    HostRef,
    NodeStatus,
    PeerSnapshot,
    PeerState,
    Refusal,
    RemoteFile,
)
from mfsync.net.channel import (
    HANDSHAKE_TIMEOUT,
    ChannelError,
    NotTrusted,
    PeerRefused,
    SecureChannel,
    open_channel,
)
from mfsync.net.discovery import (
    DEFAULT_BEAT,
    DEFAULT_GROUP,
    DEFAULT_TTL,
    DEFAULT_UDP_PORT,
    EXPIRY_BEATS,
    MAX_BEAT,
    DiscoveryService,
)
from mfsync.net.ratelimit import RateLimiter
from mfsync.net.server import DEFAULT_TCP_PORT, Server
from mfsync.net.sockets import choose_interfaces, list_interfaces
from mfsync.protocol.announce import Announcement, Flags, Kind
from mfsync.protocol.messages import (
    BlocksRequest,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    Hello,
    IndexRequest,
    Message,
    chunk_index,
)
from mfsync.store.index_db import IndexDB, IndexDBError
from mfsync.store.known_hosts import KnownHosts
from mfsync.store.shareset import ShareSet, ShareSetError
from mfsync.watch.watcher import FolderWatcher

__all__ = ["MAX_PEERS", "MAX_REFUSALS", "Node", "NodeOptions", "StatusObserver"]

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
#: The beat a peer claims counts as at most this many milliseconds (see MAX_BEAT).
MAX_PEER_BEAT_MS = int(MAX_BEAT * 1000)
#: What announcements change (a new endpoint, a name) is published at most this often: a
#: status is rebuilt from every peer, and rebuilt for each datagram of a flood of claims it
#: held the event loop to a few thousand datagrams a second, the real host's among the lost.
ANNOUNCED_PUBLISH_GAP = 0.05
#: Seconds between two log lines saying that fetches from one address are being held back.
RATE_LIMIT_LOG_INTERVAL = 60.0
#: Static peers are polled this often; unreachable ones back off to the longer interval.
STATIC_POLL = DEFAULT_BEAT
STATIC_RETRY = 30.0
#: How often the share set is rescanned when nothing else tells us of changes.
RESCAN_INTERVAL = 30.0
#: A file modified less than this long ago may still be being written: it is offered once it
#: has been quiet that long, so nobody downloads it half done.
SETTLE_AGE = 0.3
#: stop() waits at most this long for its tasks to end.
STOP_TIMEOUT = 5.0
_TICK = 0.25
#: A peer's announced beat counts as at least this long when we decide it is gone.
MIN_PEER_BEAT = 0.2
#: The status keeps this many of the latest refusals.
MAX_REFUSALS = 20
CAPABILITIES = ("index",)

StatusObserver = Callable[[NodeStatus], None]


@dataclass(frozen=True)
class NodeOptions:
    """Everything a node needs to know at start; the CLI and the GUI build one."""

    identity: Identity
    trusted_keys: frozenset[bytes] = frozenset()
    key_names: dict[bytes, str] = field(default_factory=dict)
    share_dir: Path | None = None
    #: More folders to share, after ``share_dir``; a path in two is offered from the first.
    share_dirs: tuple[Path, ...] = ()
    #: Run the server and announce that we share: None when any folder is shared; True even
    #: with none yet (folders may be added while the node runs).
    serve: bool | None = None
    wants: bool = False
    name: str = ""
    tcp_port: int = DEFAULT_TCP_PORT
    tcp_port_explicit: bool = False
    listen_host: str | None = None
    group: str = DEFAULT_GROUP
    udp_port: int = DEFAULT_UDP_PORT
    interfaces: tuple[str, ...] = ()
    ttl: int = DEFAULT_TTL
    beat: float = DEFAULT_BEAT
    discovery: bool = True
    static_peers: tuple[tuple[str, int | None], ...] = ()
    known_hosts_path: Path | None = None
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    rescan_interval: float = RESCAN_INTERVAL
    #: Where the share set's index database lives (None: keep it in memory only).
    state_dir: Path | None = None
    #: Watch the shared folders for changes (else only the periodic rescan notices them).
    watch: bool = True


@dataclass
class _Peer:
    address: str
    port: int
    static: bool = False
    remembered: bool = False  #: only from known_hosts: not worth showing until it answers
    name: str = ""
    announced_key: bytes | None = None
    instance_id: bytes | None = None
    announced_generation: int | None = None
    fetched_generation: int | None = None
    beat_ms: int = 0
    last_seen: float = 0.0
    next_poll: float = 0.0
    key: bytes | None = None
    state: PeerState = PeerState.ANNOUNCED
    error: str = ""
    dirty: bool = True
    fetching: bool = False


class Node:
    """One mfsync host: serves its share set, discovers peers and collects their indexes."""

    def __init__(self, options: NodeOptions) -> None:
        self.options = options
        self.identity = options.identity
        self.instance_id = os.urandom(8)
        self._shares: list[ShareSet] = []
        for folder in (options.share_dir, *options.share_dirs):
            if folder is not None and all(s.root != folder for s in self._shares):
                self._shares.append(self._make_share(folder))
        self._watchers: dict[ShareSet, FolderWatcher] = {}
        self._share_locks: dict[ShareSet, asyncio.Lock] = {}
        self._scanning: set[ShareSet] = set()
        self._scanned: set[ShareSet] = set()
        self._share_errors: dict[ShareSet, str] = {}
        #: Added to the folders' generations in what we announce (see the module's docstring).
        self._generation_base = 0
        # A folder that cannot be scanned (gone, unmounted) is not offered: its files could
        # not be served.
        self._files = FileServer(
            lambda: [s for s in self._shares if s not in self._share_errors], self._rescan_soon)
        self._rescan_task: asyncio.Task[None] | None = None
        self._rescan_wanted: set[ShareSet] = set()
        self._stopping = False
        self._changed_event = asyncio.Event()
        self._files_by_path: dict[str, list[RemoteFile]] | None = None
        #: Every peer's index, within one memory budget; the files of the status.
        self._remote = RemoteIndexes(self._changed, self._index_dropped)
        self.server: Server | None = None
        self.discovery: DiscoveryService | None = None
        self.known_hosts = KnownHosts(options.known_hosts_path)
        self._peers: PeerTable[_Peer] = PeerTable()
        self._limiter = RateLimiter(FETCH_RATE, FETCH_BURST)
        #: When we last logged that the limiter held back fetches from an address.
        self._rate_limited: dict[str, float] = {}
        self._observers: list[StatusObserver] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._fetches: set[asyncio.Task[None]] = set()
        #: Those of ``_fetches`` for endpoints that had not proven a key when they began: their
        #: peer, and when they began.
        self._unproven_fetches: dict[asyncio.Task[None], tuple[_Peer, float]] = {}
        #: A dirty peer found no free fetch slot since the last fetch ended: the next slot that
        #: frees goes to the best waiting peer at once (see ``_fetch_done``).
        self._slots_short = False
        self._publish_handle: asyncio.Handle | None = None
        self._announced_handle: asyncio.TimerHandle | None = None
        #: Open channels we opened (index fetches, ``connect``); the server tracks its own.
        self._channels: set[SecureChannel] = set()
        #: Channels kept open between downloads (still in _channels while they are).
        self._pool = ChannelPool(self.connect)
        self._refusals: collections.deque[Refusal] = collections.deque(maxlen=MAX_REFUSALS)
        self._refusal_seq = 0
        #: (key, inbound) refused since the trust list last changed: recorded once, not on
        #: every retry or poll.
        self._refused: set[tuple[bytes, bool]] = set()
        self._status = NodeStatus()
        self._hello = Hello(capabilities=CAPABILITIES, name=options.name or socket.gethostname())
        self._started = False

    # -- public face ----------------------------------------------------------------------

    @property
    def status(self) -> NodeStatus:
        """The latest snapshot."""
        return self._status

    @property
    def name(self) -> str:
        """The name this host announces."""
        return self._hello.name

    @property
    def share(self) -> ShareSet | None:
        """The first shared folder's share set, if any (what single-folder callers use)."""
        return self._shares[0] if self._shares else None

    @property
    def shares(self) -> tuple[ShareSet, ...]:
        """Every shared folder's share set, in order of precedence."""
        return tuple(self._shares)

    @property
    def generation(self) -> int:
        """What we announce as our share-set generation: it changes whenever our offer does."""
        return sum(share.generation for share in self._shares) + self._generation_base

    def subscribe(self, observer: StatusObserver) -> Callable[[], None]:
        """Call ``observer`` with every new snapshot; returns a function that unsubscribes."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def is_trusted(self, key: bytes) -> bool:
        """Whether ``key`` may talk to us (and we to it): always, when the trust list is empty."""
        return not self.options.trusted_keys or key in self.options.trusted_keys

    async def start(self) -> None:
        """Scan the shared folders, listen, start discovery and begin contacting peers."""
        opts = self.options
        for share in list(self._shares):
            # Watched from before the first scan, so that what changes while it runs (it can
            # take long) is rescanned at once, not at the next periodic rescan.
            self._watch(share)
            await self._scan(share)
        if opts.serve or (opts.serve is None and self._shares):
            await self._start_server()
        for host, port in opts.static_peers:
            await self._add_static(host, port or DEFAULT_TCP_PORT)
        for host, port in self.known_hosts.addresses():
            await self._add_static(host, port, remembered=True)
        if opts.discovery:
            await self._start_discovery()
        self._started = True
        self._spawn(self._maintain())
        self._status = self._snapshot()  # so that callers see the started state right away
        self._changed()

    async def stop(self) -> None:
        """Stop everything; safe to call more than once, and bounded in time."""
        self._stopping = True
        watchers = list(self._watchers.values())
        self._watchers.clear()
        for watcher in watchers:
            await asyncio.to_thread(watcher.stop)
        tasks = list(self._tasks) + list(self._fetches)
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                log.warning("a task did not stop within %g s: %r", STOP_TIMEOUT, task)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.debug("task ended with %r", task.exception())
        await self._pool.close()
        if self.discovery is not None:
            await self.discovery.stop()
        if self.server is not None:
            await self.server.stop()
        if self._publish_handle is not None:
            self._publish_handle.cancel()
        self._remote.close()
        if self._announced_handle is not None:
            self._announced_handle.cancel()
        for share in self._shares:
            share.close()

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until no index fetch is under way."""
        deadline = time.monotonic() + timeout
        while self._fetches and time.monotonic() < deadline:
            await asyncio.wait(set(self._fetches), timeout=deadline - time.monotonic())
        await self._remote.settled(max(0.0, deadline - time.monotonic()))
        if self._publish_handle is not None:  # what the merge brought is in the status now
            self._publish_handle.cancel()
            self._publish()

    def files_for(self, path: str) -> list[RemoteFile]:
        """Every distinct content of ``path`` on the network, as of the latest snapshot."""
        if self._files_by_path is None:
            by_path: dict[str, list[RemoteFile]] = {}
            for remote in self._status.files:
                by_path.setdefault(remote.path, []).append(remote)
            self._files_by_path = by_path
        return self._files_by_path.get(path, [])

    async def wait_for_change(self, timeout: float) -> None:
        """Return at the next status change, or after ``timeout`` seconds."""
        self._changed_event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed_event.wait(), timeout)

    async def connect(self, host: HostRef) -> SecureChannel:
        """Open a channel to ``host``, insisting that it proves the key it was seen with."""
        def authorize(key: bytes) -> bool:
            return key == host.key and self.is_trusted(key)

        channel = await open_channel(host.address, host.port, self.identity, hello=self._hello,
                                     authorize=authorize, timeout=self.options.handshake_timeout)
        self._track(channel)
        return channel

    def channel_to(self, host: HostRef) -> contextlib.AbstractAsyncContextManager[SecureChannel]:
        """A channel to ``host`` for one exchange (``async with``): an idle one kept from an
        earlier exchange if there is one (see ``channel_pool``), else a new one."""
        return self._pool.lease(host)

    def refresh(self, host: HostRef) -> None:
        """Fetch ``host``'s index again soon (say, after it answered CHANGED)."""
        peer = self._peers.get((host.address, host.port))
        if peer is not None:
            peer.dirty = True

    def set_trust(self, trusted_keys: frozenset[bytes],
                  key_names: dict[bytes, str] | None = None) -> None:
        """Replace the trust list (and, unless None, the key names), effective at once.

        Open channels, ours and our clients', to keys that are no longer trusted are dropped;
        every peer is looked at again (so hosts become untrusted, or connected again, and their
        files leave or join the status); and a new generation is announced, so that peers ask
        again too and learn whether we still serve them.
        """
        if key_names is None:
            self.options = dataclasses.replace(self.options, trusted_keys=frozenset(trusted_keys))
        else:
            self.options = dataclasses.replace(self.options, trusted_keys=frozenset(trusted_keys),
                                               key_names=dict(key_names))
        channels = set(self._channels) | (self.server.channels if self.server else frozenset())
        for channel in channels:
            if not channel.closed and not self.is_trusted(channel.remote_key):
                log.info("dropping the connection with %s (key %s): no longer trusted",
                         channel.peer_address[0], short_key(channel.remote_key))
                channel.abort()
        self._refused.clear()  # a refusal under the new list is news again
        for peer in self._peers.values():
            if peer.key is not None and not self.is_trusted(peer.key):
                self._fail(peer, PeerState.UNTRUSTED, f"key {short_key(peer.key)} is not trusted")
            peer.dirty = True
        self._generation_base += 1
        self.share_changed()

    def set_beat(self, seconds: float) -> None:
        """Announce ourselves every ``seconds`` from now on (say, less often on battery).

        At most ``MAX_BEAT`` (the longest beat peers believe); peers are told at once.
        """
        if not seconds > 0:
            raise ValueError(f"a beat is a positive number of seconds, not {seconds!r}")
        beat = min(seconds, MAX_BEAT)
        self.options = dataclasses.replace(self.options, beat=beat)
        if self.discovery is not None:
            self.discovery.set_beat(beat)

    async def add_share(self, path: Path) -> ShareSet:
        """Share the folder ``path`` too (it is scanned before this returns; while it is, the
        status shows it as scanning). Returns its share set; the same one if it is shared
        already. ``ShareSetError`` if it cannot be shared."""
        root = await asyncio.to_thread(ShareSet.check_root, path)
        for share in self._shares:
            if share.root == root:
                return share
        try:
            share = await asyncio.to_thread(self._make_share, root)
        except IndexDBError as exc:
            raise ShareSetError(f"cannot share {root}: {exc}") from None
        self._shares.append(share)
        self._generation_base += 1
        log.info("sharing %s too", root)
        self._changed()
        if self._started:
            if self.server is None and self.options.serve is not False:
                await self._start_server()
            self._watch(share)  # before the scan, as in start()
            await self._scan(share)
            self.share_changed()
        return share

    async def remove_share(self, path: Path) -> bool:
        """Stop sharing the folder ``path`` (its files stay where they are); returns whether it
        was shared. Peers see its files go with our next index."""
        share = next((s for s in self._shares if s.root == path), None)
        if share is None:
            resolved = await asyncio.to_thread(path.expanduser().resolve)
            share = next((s for s in self._shares if s.root == resolved), None)
        if share is None:
            return False
        async with self._share_lock(share):  # not in the middle of a scan of it
            self._shares.remove(share)
            self._generation_base += share.generation + 1  # so the sum still grows
            watcher = self._watchers.pop(share, None)
            self._scanning.discard(share)
            self._scanned.discard(share)
            self._share_errors.pop(share, None)
            self._rescan_wanted.discard(share)
        self._share_locks.pop(share, None)
        if watcher is not None:
            await asyncio.to_thread(watcher.stop)
        share.close()
        log.info("no longer sharing %s", share.root)
        self.share_changed()
        return True

    def _make_share(self, folder: Path) -> ShareSet:
        state_dir = self.options.state_dir
        db = IndexDB(IndexDB.path_for(state_dir, folder)) if state_dir is not None else None
        return ShareSet(folder, db=db, local_key=self.identity.public_key, settle_age=SETTLE_AGE)

    def _share_lock(self, share: ShareSet) -> asyncio.Lock:
        return self._share_locks.setdefault(share, asyncio.Lock())

    def _watch(self, share: ShareSet) -> None:
        if not self.options.watch or share in self._watchers or self._stopping:
            return
        watcher = FolderWatcher(share.root, lambda _paths: self._rescan_soon(share),
                                loop=asyncio.get_running_loop())
        watcher.start()
        self._watchers[share] = watcher

    async def _start_server(self) -> None:
        opts = self.options
        server = Server(
            self.identity, hello=self._hello, authorize=self._authorize_client,
            handler=self._handle_request, port=opts.tcp_port,
            port_explicit=opts.tcp_port_explicit, host=opts.listen_host,
            handshake_timeout=opts.handshake_timeout, on_refused=self._refused_client,
        )
        await server.start()
        self.server = server
        if self.discovery is not None:  # we shared nothing so far: say that we do now
            self.discovery.update(flags=self.discovery.announcement.flags | Flags.SHARES,
                                  tcp_port=server.port)

    def _rescan_soon(self, share: ShareSet | None = None) -> None:
        if self._stopping:
            return
        self._rescan_wanted.update(self._shares if share is None else (share,))
        if self._rescan_task is not None and not self._rescan_task.done():
            return  # the scan under way takes it on next (a change during a scan: scan again)
        self._rescan_task = asyncio.get_running_loop().create_task(self._rescan_until_quiet())
        self._tasks.add(self._rescan_task)
        self._rescan_task.add_done_callback(self._tasks.discard)

    async def _rescan_until_quiet(self) -> None:
        while self._rescan_wanted:
            wanted = [share for share in self._shares if share in self._rescan_wanted]
            self._rescan_wanted.clear()
            await self._rescan(wanted)

    async def rescan(self) -> None:
        """Rescan every shared folder now, announcing a change at once."""
        await self._rescan(list(self._shares))

    async def _rescan(self, shares: list[ShareSet]) -> None:
        changed = False
        for share in shares:
            changed = await self._scan(share) or changed
            if share.unsettled:
                # Something was modified a moment ago: look again once it has been quiet.
                asyncio.get_running_loop().call_later(SETTLE_AGE, self._rescan_soon, share)
        if changed:
            self.share_changed()

    async def _scan(self, share: ShareSet) -> bool:
        """Rescan one folder; returns whether what it offers changed. A folder that is gone or
        unreadable is not scanned (which would mark every file deleted): it is reported in the
        status and offers nothing until a scan succeeds again."""
        async with self._share_lock(share):
            if share not in self._shares:
                return False  # removed meanwhile
            first = share not in self._scanned
            self._scanning.add(share)
            if first:
                self._changed()  # a first scan may take long: show it
            try:
                await asyncio.to_thread(ShareSet.check_root, share.root)
                changed = await share.rescan()
            except (ShareSetError, IndexDBError, OSError) as exc:
                error = str(exc)
                offered = share not in self._share_errors
                if self._share_errors.get(share) != error:
                    log.warning("cannot scan %s: %s; not offering its files", share.root, error)
                    self._share_errors[share] = error
                    self._changed()
                if offered:
                    self._generation_base += 1  # its files leave the offer
                return offered
            finally:
                self._scanning.discard(share)
                self._scanned.add(share)
                if first:
                    self._changed()
            if self._share_errors.pop(share, None) is not None:
                log.info("%s can be scanned again", share.root)
                self._generation_base += 1  # its files are offered again
                return True
            return changed

    def share_changed(self) -> None:
        """What we share changed (scan, download, version merge): announce it at once."""
        if self.discovery is not None:
            self.discovery.update(generation=self.generation)
        self._changed()

    # -- discovery ------------------------------------------------------------------------

    async def _start_discovery(self) -> None:
        opts = self.options
        flags = Flags.NONE
        if self.server is not None:
            flags |= Flags.SHARES
        if opts.wants:
            flags |= Flags.WANTS
        announcement = Announcement(
            kind=Kind.ANNOUNCE, flags=flags, instance_id=self.instance_id,
            public_key=self.identity.public_key,
            tcp_port=self.server.port if self.server is not None else 0,
            beat_ms=0, generation=self.generation, name=self.name,
        )
        interfaces = choose_interfaces(opts.interfaces, list_interfaces())
        if not interfaces:
            raise OSError("no network interface with an IPv4 address for discovery")
        self.discovery = DiscoveryService(
            announcement=announcement, interfaces=interfaces,
            on_announcement=self._on_announcement, group=opts.group, port=opts.udp_port,
            ttl=opts.ttl, beat=opts.beat,
        )
        try:
            await self.discovery.start()
        except OSError as exc:
            self.discovery = None
            if not self._peers:
                raise OSError(f"multicast discovery failed: {exc}") from exc
            log.warning("multicast discovery failed (%s); using --peer addresses only", exc)

    def _on_announcement(self, msg: Announcement, addr: tuple[str, int]) -> None:
        if not msg.flags & Flags.SHARES:
            return  # a host that only downloads has nothing for us to fetch
        endpoint = (addr[0], msg.tcp_port)
        peer = self._peers.get(endpoint)
        # A status holds every file of every peer: built again for a heartbeat that changes
        # nothing in it, it cost a 100,000-file network most of a core.
        seen = None if peer is None else (peer.remembered, peer.announced_key, peer.name)
        if peer is None:
            peer = self._peers.admit(endpoint, lambda: _Peer(addr[0], msg.tcp_port))
            if peer is None:
                log.debug("peer table full of proven hosts and fetches; ignoring %s:%d",
                          *endpoint)
                return
            # A claim, not news yet (the index fetch says who it is): and a flood of claims
            # must not flood the log.
            log.debug("discovered %s at %s:%d (announced key %s)", msg.name or "a host",
                      addr[0], msg.tcp_port, short_key(msg.public_key))
        else:
            self._peers.heard(endpoint)
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
            self._maybe_fetch(peer)
        if seen != (peer.remembered, peer.announced_key, peer.name):
            self._announced_changed()

    def _announced_changed(self) -> None:
        if self._announced_handle is None:
            self._announced_handle = asyncio.get_running_loop().call_later(
                ANNOUNCED_PUBLISH_GAP, self._publish_announced)

    def _publish_announced(self) -> None:
        self._announced_handle = None
        self._changed()

    # -- peers ----------------------------------------------------------------------------

    async def _add_static(self, host: str, port: int, *, remembered: bool = False) -> None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, family=socket.AF_INET, type=socket.SOCK_STREAM
            )
            address = str(infos[0][4][0])
        except (OSError, IndexError) as exc:
            log.warning("cannot resolve peer %s: %s", host, exc)
            return
        endpoint = (address, port)
        if endpoint not in self._peers:
            self._peers[endpoint] = _Peer(address, port, static=True, remembered=remembered)
        peer = self._peers[endpoint]
        peer.static = True
        peer.remembered = peer.remembered and remembered

    def _maybe_fetch(self, peer: _Peer, *, preempt: bool = False) -> None:
        """Start fetching ``peer``'s index if a slot and the rate limit allow; with ``preempt``
        (only for the best waiting peer, see ``_fetch_waiting``), a stale unproven fetch may
        make room."""
        if peer.fetching or (not self._started and not peer.static) or self._remote.held_back(
                (peer.address, peer.port)):
            return
        proven = is_proven(peer)
        if len(self._fetches) >= MAX_FETCHES or (
                not proven and len(self._unproven_fetches) >= MAX_UNPROVEN_FETCHES
                and not (preempt and self._take_unproven_slot(peer))):
            self._slots_short = True
            return  # it stays dirty: a slot that frees up goes to the best waiting peer
        if not self._limiter.allow(peer.address):
            # The maintenance tick retries dirty peers. Said at most once a minute per address,
            # not on every tick: it is what a flood of spoofed announcements pointing at that
            # address looks like.
            now = time.monotonic()
            if now - self._rate_limited.get(peer.address, -RATE_LIMIT_LOG_INTERVAL) >= (
                    RATE_LIMIT_LOG_INTERVAL):
                if len(self._rate_limited) >= MAX_PEERS:
                    self._rate_limited.clear()  # bounded: at worst a line is said again
                self._rate_limited[peer.address] = now
                log.info("index fetches from %s are rate-limited: its announcements ask for "
                         "more than %d at once and %g a second", peer.address, FETCH_BURST,
                         FETCH_RATE)
            return
        peer.fetching = True
        peer.dirty = False
        task = asyncio.get_running_loop().create_task(self._fetch(peer))
        self._fetches.add(task)
        if not proven:
            self._unproven_fetches[task] = (peer, time.monotonic())
        task.add_done_callback(self._fetch_done)

    def _take_unproven_slot(self, peer: _Peer) -> bool:
        """Cancel the oldest fetch of an unproven endpoint that has had ``UNPROVEN_PATIENCE``
        to complete a handshake and is of an address claiming more endpoints than ``peer``'s;
        whether one was (its slot is free at once)."""
        limit = time.monotonic() - UNPROVEN_PATIENCE
        claims = self._peers.endpoints_at(peer.address)
        stale = [(began, task) for task, (other, began) in self._unproven_fetches.items()
                 if began <= limit and not is_proven(other)
                 and self._peers.endpoints_at(other.address) > claims]
        if not stale:
            return False
        _, task = min(stale, key=lambda item: item[0])
        other, _ = self._unproven_fetches.pop(task)
        self._fetches.discard(task)
        log.debug("%s:%d gave its fetch slot up to %s:%d: no handshake after %g s",
                  other.address, other.port, peer.address, peer.port, UNPROVEN_PATIENCE)
        task.cancel()
        return True

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        self._fetches.discard(task)
        self._unproven_fetches.pop(task, None)
        # When slots ran short (a flood, or a crowd of new hosts), the slot goes to the best
        # waiting peer now rather than at the next tick. Otherwise the tick restarts dirty
        # peers as before: a peer announced again during its own fetch waits up to a tick, so
        # the announcements of a busy host (a sync swarm) are taken in one fetch, not several.
        if self._slots_short and not self._stopping:
            self._slots_short = False
            self._fetch_waiting()

    def _fetch_waiting(self) -> None:
        """Start the fetches of dirty peers while there are slots, the best first (see
        ``PeerTable.fetch_order``). Only here may a waiting peer take the slot of a stale
        unproven fetch: in that order, not in the order a flood's datagrams arrive."""
        if len(self._fetches) >= MAX_FETCHES:
            return
        waiting = [p for p in self._peers.values() if p.dirty and not p.fetching]
        for peer in self._peers.fetch_order(waiting):
            if len(self._fetches) >= MAX_FETCHES:
                return
            self._maybe_fetch(peer, preempt=True)

    async def _fetch(self, peer: _Peer) -> None:
        channel: SecureChannel | None = None

        def authorize(key: bytes) -> bool:
            peer.key = key
            return self.is_trusted(key)

        try:
            channel = await open_channel(
                peer.address, peer.port, self.identity, hello=self._hello, authorize=authorize,
                timeout=self.options.handshake_timeout,
            )
            self._track(channel)
            if channel.peer_hello is not None and channel.peer_hello.name:
                peer.name = channel.peer_hello.name
            generation, count = await self._remote.receive(
                channel, (peer.address, peer.port),
                HostRef(channel.remote_key, peer.address, peer.port, peer.instance_id or b""),
                peer.name)
            peer.fetched_generation = generation
            peer.state = PeerState.CONNECTED
            peer.error = ""
            self._refused.discard((channel.remote_key, False))
            if self.known_hosts.remember(channel.remote_key, peer.address, peer.port):
                await asyncio.to_thread(self.known_hosts.save)
            log.info("%s:%d (%s, key %s): %d files", peer.address, peer.port, peer.name,
                     short_key(channel.remote_key), count)
        except NotTrusted as exc:
            self._fail(peer, PeerState.UNTRUSTED, str(exc))
        except PeerRefused as exc:
            refused = exc.code is ErrorCode.NOT_TRUSTED
            state = PeerState.REFUSED if refused else PeerState.UNREACHABLE
            self._fail(peer, state, exc.text or exc.code.name)
        except (ChannelError, OSError) as exc:
            self._fail(peer, PeerState.UNREACHABLE, str(exc) or type(exc).__name__)
        finally:
            if channel is not None:
                await channel.close()
            peer.fetching = False
            peer.next_poll = time.monotonic() + (
                STATIC_RETRY if peer.state is PeerState.UNREACHABLE else STATIC_POLL
            )
            self._changed()

    def _fail(self, peer: _Peer, state: PeerState, reason: str) -> None:
        level = logging.DEBUG if peer.static and state is PeerState.UNREACHABLE else logging.INFO
        if (peer.state, peer.error) != (state, reason):
            log.log(level, "%s:%d: %s", peer.address, peer.port, reason)
        if state is PeerState.UNTRUSTED and peer.key is not None:
            self._record_refusal(peer.key, peer.address, peer.name, inbound=False)
        peer.state = state
        peer.error = reason
        self._remote.discard((peer.address, peer.port))

    def _index_dropped(self, endpoint: Endpoint, reason: str) -> None:
        """The budget dropped a peer's index to make room: fetch it again once held back."""
        peer = self._peers.get(endpoint)
        if peer is not None:
            peer.state, peer.error, peer.dirty = PeerState.UNREACHABLE, reason, True

    async def _maintain(self) -> None:
        last_rescan = time.monotonic()
        while True:
            await asyncio.sleep(_TICK)
            now = time.monotonic()
            for endpoint, peer in list(self._peers.items()):
                beat = max(peer.beat_ms / 1000.0, MIN_PEER_BEAT)  # 0 must not mean "forever"
                if not peer.static and now - peer.last_seen > EXPIRY_BEATS * beat:
                    log.info("%s:%d (%s) is gone", peer.address, peer.port, peer.name)
                    del self._peers[endpoint]
                    self._changed()
                    continue
                if peer.static and now >= peer.next_poll and not peer.fetching:
                    peer.dirty = True
            self._fetch_waiting()
            if self._shares and now - last_rescan >= self.options.rescan_interval:
                last_rescan = now
                self._rescan_soon()  # in its own task: a long scan must not stall the peers

    # -- serving --------------------------------------------------------------------------

    def _authorize_client(self, key: bytes) -> bool:
        if self.is_trusted(key):
            self._refused.discard((key, True))
            return True
        log.info("refused a client with untrusted key %s", short_key(key))
        return False

    def _refused_client(self, key: bytes, address: tuple[str, int]) -> None:
        # The client is refused before it sends its hello: name it as it announced itself.
        name = next((p.name for p in self._peers.values()
                     if key in (p.key, p.announced_key) and p.name), "")
        self._record_refusal(key, address[0], name or self.options.key_names.get(key, ""),
                             inbound=True)

    def _record_refusal(self, key: bytes, address: str, name: str, *, inbound: bool) -> None:
        if (key, inbound) in self._refused:
            return
        self._refused.add((key, inbound))
        self._refusal_seq += 1
        self._refusals.append(Refusal(self._refusal_seq, key, address, name, inbound))
        self._changed()

    def _track(self, channel: SecureChannel) -> None:
        self._channels.add(channel)
        channel.when_closed(self._channels.discard)

    async def _handle_request(self, channel: SecureChannel, message: Message) -> None:
        if isinstance(message, IndexRequest):
            for chunk in chunk_index(self._files.entries(), self.generation):
                await channel.send(chunk)
        elif isinstance(message, BlocksRequest):
            await self._files.send_blocks(channel, message)
        elif isinstance(message, GetRequest):
            await self._files.send_range(channel, message)
        elif isinstance(message, ErrorMessage):
            log.info("peer %s reports: %s", channel.peer_address[0], message.text)
        else:
            await refuse(channel, ErrorMessage(
                ErrorCode.BAD_REQUEST, f"unsupported request {type(message).__name__}"))

    # -- status ---------------------------------------------------------------------------

    def _spawn(self, coro: "asyncio._CoroutineLike[None]") -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _changed(self) -> None:
        if self._publish_handle is None:
            self._publish_handle = asyncio.get_running_loop().call_soon(self._publish)

    def _publish(self) -> None:
        self._publish_handle = None
        files = self._status.files
        self._status = self._snapshot()
        if self._status.files is not files:
            self._files_by_path = None
        self._changed_event.set()
        for observer in list(self._observers):
            try:
                observer(self._status)
            except Exception:
                log.exception("status observer failed")

    def _snapshot(self) -> NodeStatus:
        peers = []
        # The files are the merge of the tables of the peers listed as connected (see
        # remote_index): built when a table changes, not here.
        self._remote.keep_only({endpoint for endpoint, peer in self._peers.items()
                                if peer.state is PeerState.CONNECTED and peer.key})
        for peer in sorted(self._peers.values(), key=lambda p: (p.address, p.port)):
            if peer.remembered and peer.key is None:
                continue
            key = peer.key or peer.announced_key
            peers.append(PeerSnapshot(
                address=peer.address, port=peer.port, name=peer.name,
                announced_key=peer.announced_key, key=peer.key, state=peer.state,
                files=self._remote.count((peer.address, peer.port)),
                trusted=key is not None and key in self.options.trusted_keys,
                error=peer.error, static=peer.static,
            ))
        folders = tuple(
            FolderSnapshot(share.root, share.count, share in self._scanning,
                           self._share_errors.get(share, ""))
            for share in self._shares
        )
        return NodeStatus(
            peers=tuple(peers), files=self._remote.files, local_files=self._files.count(),
            tcp_port=self.server.port if self.server else None,
            refusals=tuple(self._refusals), folders=folders,
        )
