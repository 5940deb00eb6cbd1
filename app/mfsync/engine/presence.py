"""How peers find and reach us: the TCP server we listen on and the announcements we send.

The server is started once we share something (or are told to serve with nothing yet); the
announcement says whether we share, on which port, with which generation, and is updated as
those change. The server asks ``authorize`` about each client's proven key and hands each
request to ``handler``.
"""

import logging
from collections.abc import Awaitable, Callable

from mfsync.crypto.keys import Identity
from mfsync.net.channel import SecureChannel
from mfsync.net.discovery import DiscoveryService
from mfsync.net.server import Server
from mfsync.net.sockets import choose_interfaces, list_interfaces
from mfsync.protocol.announce import Announcement, Flags, Kind
from mfsync.protocol.messages import Hello, Message

__all__ = ["Presence"]

log = logging.getLogger("mfsync.engine")

Handler = Callable[[SecureChannel, Message], Awaitable[None]]


class Presence:
    """Our server and our discovery service, each None until started."""

    def __init__(self, identity: Identity, hello: Hello, instance_id: bytes, *,
                 authorize: Callable[[bytes], bool], handler: Handler,
                 on_refused: Callable[[bytes, tuple[str, int]], None],
                 on_announcement: Callable[[Announcement, tuple[str, int]], None]) -> None:
        self._identity = identity
        self._hello = hello
        self._instance_id = instance_id
        self._authorize = authorize
        self._handler = handler
        self._on_refused = on_refused
        self._on_announcement = on_announcement
        self.server: Server | None = None
        self.discovery: DiscoveryService | None = None

    @property
    def channels(self) -> frozenset[SecureChannel]:
        """The server's open channels (our clients')."""
        return self.server.channels if self.server is not None else frozenset()

    async def listen(self, *, port: int, port_explicit: bool, host: str | None,
                     handshake_timeout: float) -> None:
        """Start the server (``PortInUse`` if an explicit ``port`` is taken); if we already
        announce, say from now on that we share, and where."""
        server = Server(
            self._identity, hello=self._hello, authorize=self._authorize, handler=self._handler,
            port=port, port_explicit=port_explicit, host=host,
            handshake_timeout=handshake_timeout, on_refused=self._on_refused,
        )
        await server.start()
        self.server = server
        if self.discovery is not None:  # we shared nothing so far: say that we do now
            self.discovery.update(flags=self.discovery.announcement.flags | Flags.SHARES,
                                  tcp_port=server.port)

    async def announce(self, *, wants: bool, generation: int, interfaces: tuple[str, ...],
                       group: str, udp_port: int, ttl: int, beat: float,
                       required: bool) -> None:
        """Start announcing ourselves (and hearing others). ``OSError`` if there is no
        interface, or if multicast fails and it is ``required`` (we know no peer otherwise);
        else that failure is logged and we go on without discovery."""
        flags = Flags.NONE
        if self.server is not None:
            flags |= Flags.SHARES
        if wants:
            flags |= Flags.WANTS
        announcement = Announcement(
            kind=Kind.ANNOUNCE, flags=flags, instance_id=self._instance_id,
            public_key=self._identity.public_key,
            tcp_port=self.server.port if self.server is not None else 0,
            beat_ms=0, generation=generation, name=self._hello.name,
        )
        chosen = choose_interfaces(interfaces, list_interfaces())
        if not chosen:
            raise OSError("no network interface with an IPv4 address for discovery")
        self.discovery = DiscoveryService(
            announcement=announcement, interfaces=chosen, on_announcement=self._on_announcement,
            group=group, port=udp_port, ttl=ttl, beat=beat,
        )
        try:
            await self.discovery.start()
        except OSError as exc:
            self.discovery = None
            if required:
                raise OSError(f"multicast discovery failed: {exc}") from exc
            log.warning("multicast discovery failed (%s); using --peer addresses only", exc)

    def set_generation(self, generation: int) -> None:
        """Announce ``generation`` at once (if we announce)."""
        if self.discovery is not None:
            self.discovery.update(generation=generation)

    def set_beat(self, beat: float) -> None:
        """Announce ourselves every ``beat`` seconds from now on (if we announce)."""
        if self.discovery is not None:
            self.discovery.set_beat(beat)

    async def stop(self) -> None:
        """Stop announcing, then stop the server."""
        if self.discovery is not None:
            await self.discovery.stop()
        if self.server is not None:
            await self.server.stop()
