"""The engine: one mfsync host on the network, headless, on plain asyncio.

How it works: a ``Node`` puts together the rooms of one host and runs them: its shared folders
(``local_folders``), the peers it knows and their indexes (``peer_directory``, which fetches
them through ``index_fetches``), the trust list (``trust``), the channels it opens (``dialer``,
kept between downloads by ``channel_pool``), the TCP server and the discovery service. It
answers connected peers' requests (the index here, block lists and ranges in ``serve``) and
publishes a new immutable ``NodeStatus`` after every change.

What we offer is the union of the shared folders (see ``FileServer``); the generation we
announce changes whenever that does (see ``local_folders``), and peers then fetch our index
again. Trust changes apply at once: channels (ours and our server's) to keys no longer trusted
are dropped, every peer is looked at again, and a new generation is announced.
"""

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mfsync.audience import Audience
from mfsync.crypto.keys import Identity
from mfsync.engine.channel_pool import ChannelPool
from mfsync.engine.dialer import Dialer
from mfsync.engine.index_fetches import FETCH_BURST, FETCH_RATE, MAX_FETCHES
from mfsync.engine.local_folders import RESCAN_INTERVAL, SETTLE_AGE, LocalFolder, LocalFolders
from mfsync.engine.offer_inbox import OfferInbox
from mfsync.engine.offer_views import OfferViews
from mfsync.engine.peer_directory import PeerDirectory
from mfsync.engine.peers import MAX_PEERS
from mfsync.engine.presence import Presence
from mfsync.engine.publisher import Publisher
from mfsync.engine.serve import FileServer
from mfsync.engine.status import HostRef, NodeStatus, RemoteFile
from mfsync.engine.trust import MAX_REFUSALS, TrustList
from mfsync.folder_config import FolderConfig
from mfsync.net.channel import HANDSHAKE_TIMEOUT, SecureChannel
from mfsync.net.discovery import (
    DEFAULT_BEAT,
    DEFAULT_GROUP,
    DEFAULT_TTL,
    DEFAULT_UDP_PORT,
    MAX_BEAT,
    DiscoveryService,
)
from mfsync.net.server import DEFAULT_TCP_PORT, Server
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import (
    FILES_CAPABILITY,
    Hello,
    Message,
)
from mfsync.store.known_hosts import KnownHosts
from mfsync.store.shareset import ShareSet

__all__ = [
    # Limits that live in the rooms, named here too for the callers that knew them here.
    "FETCH_BURST",
    "FETCH_RATE",
    "MAX_FETCHES",
    "MAX_PEERS",
    "MAX_REFUSALS",
    "SETTLE_AGE",
    "Node",
    "NodeOptions",
    "StatusObserver",
]

log = logging.getLogger("mfsync.engine")

#: stop() waits at most this long for its tasks to end.
STOP_TIMEOUT = 5.0
#: What this build names in its hellos (PROTOCOL.md 10): "files" lets a batch of small files
#: go in one request (3.15).
CAPABILITIES = ("index", FILES_CAPABILITY)

StatusObserver = Callable[[NodeStatus], None]


@dataclass(frozen=True)
class NodeOptions:
    """Everything a node needs to know at start; the CLI and the GUI build one."""

    identity: Identity
    trusted_keys: frozenset[bytes] = frozenset()
    key_names: dict[bytes, str] = field(default_factory=dict)
    share_dir: Path | None = None
    #: More folders to share, after ``share_dir``; a path in two is offered from the first.
    #: These are roots of the default folder (the plain commands' folder).
    share_dirs: tuple[Path, ...] = ()
    #: Folders to serve after those, each with its id, label, mode and devices (entries with
    #: the same id are roots of one folder; the default folder's join ``share_dirs``).
    folders: tuple[FolderConfig, ...] = ()
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


class Node:
    """One mfsync host: serves its shared folders, discovers peers and collects their indexes."""

    def __init__(self, options: NodeOptions) -> None:
        self.options = options
        self.identity = options.identity
        self.instance_id = os.urandom(8)
        self._started = False
        self._hello = Hello(capabilities=CAPABILITIES, name=options.name or socket.gethostname())
        self._publisher: Publisher[NodeStatus] = Publisher(
            self._snapshot, NodeStatus(), name="node status")
        self._changed_event = asyncio.Event()
        #: The latest status's files by path, and the files they were built from.
        self._by_path: tuple[tuple[RemoteFile, ...],
                             dict[tuple[FolderId, str], list[RemoteFile]]] | None = None
        # First, so that files_for and wait_for_change know of a status before anyone else.
        self._publisher.subscribe(self._on_status)
        changed = self._publisher.changed
        self._trust = TrustList(options.trusted_keys, options.key_names, changed)
        self._folders = LocalFolders(
            (options.share_dir, *options.share_dirs, *options.folders),
            local_key=self.identity.public_key, state_dir=options.state_dir,
            watch=options.watch, rescan_interval=options.rescan_interval, on_change=changed,
            on_offer_changed=self.share_changed, trusted=lambda: self._trust.keys)
        #: The offers we send, each served as a temporary folder to its receiver only.
        self.offer_views = OfferViews()
        # The server's folders are the folder objects' views, taken again at every request.
        self._files = FileServer(
            lambda: self.offer_views.served(self._folders.views(), self._trust.is_trusted),
            self._folders.rescan_soon)
        self.known_hosts = KnownHosts(options.known_hosts_path)
        self._dialer = Dialer(self.identity, self._hello, timeout=options.handshake_timeout)
        self._pool = ChannelPool(self.connect)  # kept open between downloads and index fetches
        self._peers = PeerDirectory(self._trust, self._dialer, self.known_hosts, changed,
                                    pool=self._pool)
        self._presence = Presence(
            self.identity, self._hello, self.instance_id, authorize=self._authorize_client,
            handler=self._handle_request, on_refused=self._refused_client,
            on_announcement=self._peers.on_announcement)

    # -- public face ----------------------------------------------------------------------

    @property
    def status(self) -> NodeStatus:
        """The latest snapshot."""
        return self._publisher.current

    @property
    def server(self) -> Server | None:
        """Our TCP server, once it listens."""
        return self._presence.server

    @property
    def discovery(self) -> DiscoveryService | None:
        """Our discovery service, once it announces."""
        return self._presence.discovery

    @property
    def name(self) -> str:
        """The name this host announces."""
        return self._hello.name

    @property
    def offer_inbox(self) -> OfferInbox | None:
        """Who takes the offers peers send to our server and the answers, receipts and
        cancels of ours (``offer_inbox``); None (the default): offers are refused."""
        return self._files.offer_inbox

    @offer_inbox.setter
    def offer_inbox(self, inbox: OfferInbox | None) -> None:
        self._files.offer_inbox = inbox

    @property
    def share(self) -> ShareSet | None:
        """The first shared folder's share set, if any (what single-folder callers use)."""
        shares = self._folders.shares
        return shares[0] if shares else None

    @property
    def shares(self) -> tuple[ShareSet, ...]:
        """Every shared folder's share set, in order of precedence."""
        return self._folders.shares

    @property
    def generation(self) -> int:
        """What we announce as our generation: it changes whenever what we offer everyone
        does (folders with another audience are polled by the peers that see them)."""
        return self._folders.generation

    @property
    def folders(self) -> tuple[LocalFolder, ...]:
        """The folders we serve (each with its id, label, mode, audience and roots)."""
        return self._folders.folders

    def folder_of(self, share: ShareSet) -> LocalFolder | None:
        """The folder whose root ``share`` is."""
        return self._folders.folder_of(share)

    def offers(self, share: ShareSet) -> bool:
        """Whether the root ``share`` is served now: scanned, not gone, unreadable or paused
        (a sync into it waits meanwhile)."""
        return share in self._folders.offered()

    def admits(self, folder_id: FolderId, key: bytes) -> bool:
        """Whether our folder ``folder_id`` admits the host of ``key`` now (it may see the
        folder, and its changes are taken into it); False if we have no such folder."""
        return self._folders.admits(folder_id, key)

    def configure_folder(self, folder_id: FolderId, *, mode: str | None = None,
                         audience: Audience | None = None,
                         default_audience: bool = False) -> bool:
        """Change our folder's mode and/or audience (``default_audience``: back to the
        default), effective at the next request of every peer; whether it is ours."""
        return self._folders.configure(folder_id, mode=mode, audience=audience,
                                       default_audience=default_audience)

    def subscribe(self, observer: StatusObserver) -> Callable[[], None]:
        """Call ``observer`` with every new snapshot; returns a function that unsubscribes."""
        return self._publisher.subscribe(observer)

    def is_trusted(self, key: bytes) -> bool:
        """Whether ``key`` may talk to us (and we to it): always, when the trust list is empty."""
        return self._trust.is_trusted(key)

    async def start(self) -> None:
        """Scan the shared folders, listen, start discovery and begin contacting peers."""
        opts = self.options
        await self._folders.start()
        if opts.serve or (opts.serve is None and self._folders.shares):
            await self._listen()
        for host, port in opts.static_peers:
            await self._peers.add_static(host, port or DEFAULT_TCP_PORT)
        for host, port in self.known_hosts.addresses():
            await self._peers.add_static(host, port, remembered=True)
        if opts.discovery:
            await self._presence.announce(
                wants=opts.wants, generation=self.generation, interfaces=opts.interfaces,
                group=opts.group, udp_port=opts.udp_port, ttl=opts.ttl, beat=opts.beat,
                required=not len(self._peers))
        self._started = True
        self._peers.start()
        self._publisher.take_now()  # so that callers see the started state right away
        self._publisher.changed()

    async def stop(self) -> None:
        """Stop everything; safe to call more than once, and bounded in time."""
        await self._folders.stop_watching()
        tasks = self._folders.cancel() + self._peers.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                log.warning("a task did not stop within %g s: %r", STOP_TIMEOUT, task)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.debug("task ended with %r", task.exception())
        await self._pool.close()
        await self._presence.stop()
        self._publisher.close()
        self._peers.close()
        await asyncio.to_thread(self._folders.close)  # closing a database may write to it

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until no index fetch is under way."""
        await self._peers.settle(timeout)
        self._publisher.flush()  # what the merge brought is in the status now

    def files_for(self, path: str, folder: FolderId = DEFAULT_FOLDER) -> list[RemoteFile]:
        """Every distinct content of ``path`` in the network's folder ``folder``, as of the
        latest snapshot."""
        files = self._publisher.current.files
        if self._by_path is None or self._by_path[0] is not files:
            by_path: dict[tuple[FolderId, str], list[RemoteFile]] = {}
            for remote in files:
                by_path.setdefault((remote.folder, remote.path), []).append(remote)
            self._by_path = (files, by_path)
        return self._by_path[1].get((folder, path), [])

    async def wait_for_change(self, timeout: float) -> None:
        """Return at the next status change, or after ``timeout`` seconds."""
        self._changed_event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed_event.wait(), timeout)

    async def connect(self, host: HostRef) -> SecureChannel:
        """Open a channel to ``host``, insisting that it proves the key it was seen with."""
        return await self._dialer.connect(host, self._trust.is_trusted)

    def channel_to(self, host: HostRef) -> contextlib.AbstractAsyncContextManager[SecureChannel]:
        """A channel to ``host`` for one exchange (``async with``): an idle one kept from an
        earlier exchange if there is one (see ``channel_pool``), else a new one."""
        return self._pool.lease(host)

    async def open_to(self, address: str, port: int, key: bytes) -> SecureChannel:
        """A channel to ``address:port`` proving ``key`` (an offer's other side)."""
        return await self._dialer.open(address, port, lambda proven: proven == key)

    def add_temporary_peer(self, address: str, port: int) -> None:
        """Fetch ``address:port`` until removed (``PeerDirectory.add_temporary``)."""
        self._peers.add_temporary(address, port)

    def remove_temporary_peer(self, address: str, port: int) -> None:
        """The offer that added ``address:port`` ended."""
        self._peers.remove_temporary(address, port)

    def refresh(self, host: HostRef) -> None:
        """Fetch ``host``'s index again soon (say, after it answered CHANGED)."""
        self._peers.refresh((host.address, host.port))

    def set_trust(self, trusted_keys: frozenset[bytes],
                  key_names: dict[bytes, str] | None = None) -> None:
        """Replace the trust list (and, unless None, the key names), effective at once.

        Open channels, ours and our clients', to keys that are no longer trusted are dropped;
        every peer is looked at again (so hosts become untrusted, or connected again, and their
        files leave or join the status); and a new generation is announced, so that peers ask
        again too and learn whether we still serve them.
        """
        self._trust.replace(trusted_keys, key_names)
        self.options = dataclasses.replace(self.options, trusted_keys=self._trust.keys,
                                           key_names=self._trust.names)
        self._trust.drop_untrusted(self._dialer.channels | self._presence.channels)
        self._peers.trust_changed()
        self._folders.bump()
        self.share_changed()

    def set_beat(self, seconds: float) -> None:
        """Announce ourselves every ``seconds`` from now on (say, less often on battery).

        At most ``MAX_BEAT`` (the longest beat peers believe); peers are told at once.
        """
        if not seconds > 0:
            raise ValueError(f"a beat is a positive number of seconds, not {seconds!r}")
        beat = min(seconds, MAX_BEAT)
        self.options = dataclasses.replace(self.options, beat=beat)
        self._presence.set_beat(beat)

    async def add_share(self, path: Path, folder: FolderConfig | None = None) -> ShareSet:
        """Share the folder ``path`` too, as a root of ``folder`` (its id, label, mode and
        devices; the default folder when None). It is scanned before this returns; while it
        is, the status shows it as scanning. Returns its share set; the same one if it is
        shared already. ``ShareSetError`` if it cannot be shared."""
        share, new = await self._folders.add(path, folder)
        if new and self._started:
            if self.server is None and self.options.serve is not False:
                await self._listen()
            await self._folders.open(share)
            self.share_changed()
        return share

    async def remove_share(self, path: Path) -> bool:
        """Stop sharing the folder ``path`` (its files stay where they are); returns whether it
        was shared. Peers see its files go with our next index."""
        return await self._folders.remove(path)

    async def rescan(self) -> None:
        """Rescan every shared folder now, announcing a change at once."""
        await self._folders.rescan()

    def share_changed(self) -> None:
        """What we share changed (scan, download, version merge): announce it at once."""
        self._presence.set_generation(self.generation)
        self._publisher.changed()

    # -- serving ------------------------------------------------------------------------

    async def _listen(self) -> None:
        opts = self.options
        await self._presence.listen(port=opts.tcp_port, port_explicit=opts.tcp_port_explicit,
                                    host=opts.listen_host,
                                    handshake_timeout=opts.handshake_timeout)

    def _authorize_client(self, key: bytes) -> bool:
        # The receiver of an offer we send may fetch it and answer, listed or not.
        return self.offer_views.allows(key) or self._trust.authorize_client(key)

    def _refused_client(self, key: bytes, address: tuple[str, int]) -> None:
        # The client is refused before it sends its hello: name it as it announced itself.
        name = self._peers.name_of(key) or self._trust.name_of(key)
        self._trust.refused(key, address[0], name, inbound=True)

    async def _handle_request(self, channel: SecureChannel, message: Message) -> None:
        # Every request goes through the exchange table (engine/serve.py, protocol/exchange.py):
        # a new request is a row there, not a branch here.
        await self._files.answer(channel, message)

    # -- status ---------------------------------------------------------------------------

    def _on_status(self, status: NodeStatus) -> None:
        if self._by_path is not None and self._by_path[0] is not status.files:
            self._by_path = None  # not kept alive with the files of an older status
        self._changed_event.set()

    def _snapshot(self) -> NodeStatus:
        return NodeStatus(
            peers=self._peers.snapshot(), files=self._peers.files,
            local_files=self._files.count() - self.offer_views.count(),
            tcp_port=self.server.port if self.server else None,
            refusals=self._trust.refusals, folders=self._folders.snapshot(),
            remote_folders=self._peers.remote_folders(),
        )
