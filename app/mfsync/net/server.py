"""The TCP server: accepts connections, runs the handshake, checks trust, dispatches requests.

A connection that fails the handshake (garbage, truncation, silence, an oversized length, an
untrusted key) is dropped with one logged reason; the server keeps serving everyone else. The
number of connections at once is capped, so a flood of idle sockets cannot exhaust us.

Connections still in their handshake cost an attacker nothing but a few bytes, so they have a
smaller quota of their own, per address and in all, and are the first to go when a new
connection needs room: the oldest one of the address that holds the most of them (a host
flooding us from a few addresses evicts its own connections, never the one of an honest host
that has a single handshake under way). Established connections that wait for a request come
next; a connection in the middle of a request is never evicted.
"""

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Awaitable, Callable

from mfsync.crypto.keys import Identity, short_key
from mfsync.net.channel import (
    HANDSHAKE_TIMEOUT,
    REQUEST_TIMEOUT,
    Authorize,
    ChannelClosed,
    ChannelError,
    NotTrusted,
    SecureChannel,
    accept_channel,
)
from mfsync.protocol.endpoints import DEFAULT_TCP_PORT
from mfsync.protocol.messages import Hello, Message

__all__ = [
    "DEFAULT_TCP_PORT",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_ADDRESS",
    "MAX_HANDSHAKES",
    "MAX_HANDSHAKES_PER_ADDRESS",
    "PortInUse",
    "RefusalHandler",
    "RequestHandler",
    "Server",
]

log = logging.getLogger("mfsync.net")

MAX_CONNECTIONS = 64
#: One address may hold at most this many of them, so one host cannot take every slot.
MAX_CONNECTIONS_PER_ADDRESS = 16
#: Of MAX_CONNECTIONS, at most this many may be in their handshake at once: half, so that
#: established connections always have the other half. A handshake on a LAN takes one round
#: trip and about a millisecond of CPU, so 32 is 32 hosts connecting in the same instant.
MAX_HANDSHAKES = 32
#: At most this many handshakes at once from one address: an mfsync host opens up to four
#: connections to one server at once (three downloads and an index fetch), twice that leaves
#: room for two of them behind one address (a NAT, two users of one machine).
MAX_HANDSHAKES_PER_ADDRESS = 8

RequestHandler = Callable[[SecureChannel, Message], Awaitable[None]]
#: Told of every client refused because ``authorize`` said no: its key and (address, port).
RefusalHandler = Callable[[bytes, tuple[str, int]], None]


class _Handshakes:
    """The connections in their handshake, by address, oldest first: which one goes to make
    room for a new connection."""

    def __init__(self) -> None:
        self._address: dict[asyncio.Task[None], str] = {}
        #: address -> {task: when its handshake began}, oldest first.
        self._by_address: dict[str, dict[asyncio.Task[None], float]] = {}

    def __len__(self) -> int:
        return len(self._address)

    def add(self, address: str, task: asyncio.Task[None]) -> None:
        """``task`` from ``address`` begins its handshake now."""
        self._address[task] = address
        self._by_address.setdefault(address, {})[task] = time.monotonic()

    def discard(self, task: asyncio.Task[None]) -> tuple[str, float] | None:
        """``task`` is past its handshake, or gone: its address and when it began, if it was
        in one."""
        address = self._address.pop(task, None)
        if address is None:
            return None
        tasks = self._by_address[address]
        since = tasks.pop(task)
        if not tasks:
            del self._by_address[address]
        return address, since

    def count(self, address: str) -> int:
        """How many handshakes ``address`` has under way."""
        return len(self._by_address.get(address, ()))

    def victim(self, address: str | None) -> asyncio.Task[None] | None:
        """The handshake to end for room: the oldest of ``address``, or (None) the oldest of
        the address with the most under way; None when there is none."""
        if address is None:
            if not self._by_address:
                return None
            address = max(self._by_address, key=lambda a: (
                len(self._by_address[a]), -next(iter(self._by_address[a].values()))))
        tasks = self._by_address.get(address)
        return next(iter(tasks)) if tasks else None


class PortInUse(OSError):
    """The TCP port the user asked for is taken."""


class Server:
    """Serves mfsync requests on one TCP port, on all addresses."""

    def __init__(
        self, identity: Identity, *, hello: Hello, authorize: Authorize, handler: RequestHandler,
        port: int = DEFAULT_TCP_PORT, port_explicit: bool = False, host: str | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT, request_timeout: float = REQUEST_TIMEOUT,
        on_refused: RefusalHandler | None = None,
    ) -> None:
        self._identity = identity
        self._hello = hello
        self._authorize = authorize
        self._handler = handler
        self._port = port
        self._port_explicit = port_explicit
        self._host = host
        self._handshake_timeout = handshake_timeout
        self._request_timeout = request_timeout
        self._server: asyncio.Server | None = None
        self._on_refused = on_refused
        self._connections: set[asyncio.Task[None]] = set()
        self._channels: set[SecureChannel] = set()
        #: Connections waiting for their next request, and since when.
        self._idle: dict[SecureChannel, float] = {}
        #: The address of every connection counted against the caps.
        self._counted: dict[asyncio.Task[None], str] = {}
        self._per_address: dict[str, int] = {}
        self._handshakes = _Handshakes()
        #: Handshakes evicted to make room, and why (their task is cancelled).
        self._evicted: dict[asyncio.Task[None], str] = {}
        #: Connections dropped before or in their handshake, and those past it (for tests,
        #: benchmarks and the status).
        self.dropped = 0
        self.accepted = 0
        #: How many of the dropped were handshakes evicted to make room for newer connections.
        self.evicted = 0
        self._bound = 0

    @property
    def channels(self) -> frozenset[SecureChannel]:
        """The connections past their handshake that are open now."""
        return frozenset(self._channels)

    @property
    def handshaking(self) -> int:
        """How many connections are in their handshake now."""
        return len(self._handshakes)

    @property
    def port(self) -> int:
        """The port actually listened on (kept once the server has stopped)."""
        assert self._server is not None
        if self._server.sockets:
            self._bound = int(self._server.sockets[0].getsockname()[1])
        return self._bound

    async def start(self) -> None:
        """Listen; a taken default port falls back to a free one, a taken explicit port raises."""
        try:
            self._server = await self._listen(self._port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            if self._port_explicit:
                raise PortInUse(
                    errno.EADDRINUSE, f"TCP port {self._port} is already in use"
                ) from None
            log.info("TCP port %d is taken; using a free port instead", self._port)
            self._server = await self._listen(0)
        log.info("serving on TCP port %d", self.port)

    async def _listen(self, port: int) -> asyncio.Server:
        return await asyncio.start_server(
            self._on_connection, host=self._host, port=port, family=socket.AF_INET,
            reuse_address=True, limit=256 * 1024,
        )

    async def stop(self) -> None:
        """Stop listening and end every open connection."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername") or ("?", 0)
        address = str(peer[0])
        if not self._make_room(address):
            log.warning("dropped a connection from %s: too many connections open", address)
            self.dropped += 1
            writer.close()
            return
        self._connections.add(task)
        self._counted[task] = address
        self._per_address[address] = self._per_address.get(address, 0) + 1
        self._handshakes.add(address, task)
        try:
            await self._serve(reader, writer, peer)
        except asyncio.CancelledError:
            reason = self._evicted.pop(task, None)
            if reason is None:
                writer.close()  # stop() cancelled us: the server is going away
                return
            task.uncancel()  # we cancelled it ourselves, to make room: that is not an error
            self.dropped += 1
            self.evicted += 1
            log.info("dropped a connection from %s:%d: %s", peer[0], peer[1], reason)
            writer.transport.abort()
        except Exception:
            log.exception("error while serving %s", peer[0])
            writer.close()
        finally:
            self._connections.discard(task)
            self._evicted.pop(task, None)
            self._handshakes.discard(task)
            self._uncount(task)

    def _make_room(self, address: str) -> bool:
        """Make room for a new connection from ``address`` under every cap; whether there is.

        What goes first is a connection still in its handshake (the oldest of the address that
        holds the most), then one waiting for a request; the new connection is refused only
        when every other one is busy with a request.
        """
        if self._per_address.get(address, 0) >= MAX_CONNECTIONS_PER_ADDRESS and not (
                self._evict_handshake(address) or self._let_idle_go(address)):
            return False
        if len(self._counted) >= MAX_CONNECTIONS and not (
                self._evict_handshake(None) or self._let_idle_go(None)):
            return False
        if self._handshakes.count(address) >= MAX_HANDSHAKES_PER_ADDRESS:
            self._evict_handshake(address)
        elif len(self._handshakes) >= MAX_HANDSHAKES:
            self._evict_handshake(None)
        return True

    def _evict_handshake(self, address: str | None) -> bool:
        """End the oldest handshake of ``address`` (None: of the address with the most under
        way) to make room; whether there was one. It stops counting against the caps at once,
        its task logs why it went."""
        task = self._handshakes.victim(address)
        if task is None:
            return False
        begun = self._handshakes.discard(task)
        assert begun is not None
        held = self._handshakes.count(begun[0]) + 1
        self._evicted[task] = (
            f"evicted to make room: handshake not completed after "
            f"{time.monotonic() - begun[1]:.1f} s, {held} under way from {begun[0]}")
        self._uncount(task)
        task.cancel()
        return True

    def _uncount(self, task: asyncio.Task[None]) -> None:
        address = self._counted.pop(task, None)
        if address is None:
            return
        left = self._per_address.pop(address) - 1
        if left:
            self._per_address[address] = left

    def _let_idle_go(self, address: str | None) -> bool:
        """Close the connection (from ``address``, or any) that has waited longest for a
        request, to make room for a new one; whether there was one.

        Clients keep connections open between downloads (``engine/channel_pool.py``); twenty
        hosts doing so must not lock a twenty-first out. The client sees the end of the stream
        and opens a new connection next time.
        """
        # (not one whose request is arriving, however slowly: the request timeout deals
        # with those, and says so)
        idle = [c for c in self._idle if (address is None or c.peer_address[0] == address)
                and not c.mid_message]
        if not idle:
            return False
        oldest = min(idle, key=self._idle.__getitem__)
        self._idle.pop(oldest, None)
        log.debug("letting an idle connection from %s go to make room", oldest.peer_address[0])
        oldest.close_soon()
        return True

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[str, int]
    ) -> None:
        try:
            channel = await accept_channel(
                reader, writer, self._identity, hello=self._hello, authorize=self._authorize,
                timeout=self._handshake_timeout,
            )
        except ChannelError as exc:
            self.dropped += 1
            log.info("dropped a connection from %s:%d: %s", peer[0], peer[1], exc)
            if isinstance(exc, NotTrusted) and self._on_refused is not None:
                try:
                    self._on_refused(exc.key, peer)
                except Exception:
                    log.exception("refusal callback failed")
            return
        # Past its handshake: it can no longer be evicted as one.
        task = asyncio.current_task()
        if task is not None:
            self._handshakes.discard(task)
        # Tracked so that the owner can drop the clients it stops trusting (see channels).
        self.accepted += 1
        self._channels.add(channel)
        channel.when_closed(self._channels.discard)
        log.debug("connection from %s:%d, key %s", peer[0], peer[1],
                  short_key(channel.remote_key))
        try:
            while True:
                self._idle[channel] = time.monotonic()
                try:
                    message = await channel.receive(timeout=self._request_timeout)
                finally:
                    self._idle.pop(channel, None)
                await self._handler(channel, message)
        except ChannelClosed:
            pass
        except ChannelError as exc:
            log.info("closed the connection from %s:%d: %s", peer[0], peer[1], exc)
        except (ConnectionError, OSError) as exc:
            log.info("connection from %s:%d lost: %s", peer[0], peer[1], exc)
        finally:
            await channel.close()
