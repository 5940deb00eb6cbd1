"""Multicast discovery: announce ourselves, answer queries, hand announcements to the engine.

How it works: one receive socket joins the group on every chosen interface; one send socket per
interface sends our datagram out of that interface. We announce at start (as a query, so that
every host answers at once instead of at its next beat), on every beat, and at once when
``update`` changes what we announce. Answers to queries are jittered and rate-limited so that a
burst of queries cannot make the network echo. Datagrams that are oversized, malformed or our own
(same instance id) are dropped and counted; everything else goes to ``on_announcement``. What an
announcement claims is a hint: the engine decides whether to connect, and the handshake decides
who the peer is.
"""

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mfsync.net.sockets import Interface, make_receive_socket, make_send_socket
from mfsync.protocol.announce import (
    MAX_DATAGRAM,
    Announcement,
    Flags,
    Kind,
    decode_announcement,
    encode_announcement,
)
from mfsync.protocol.endpoints import DEFAULT_GROUP, DEFAULT_TTL, DEFAULT_UDP_PORT, check_group
from mfsync.protocol.errors import RemoteProtocolError

__all__ = [
    "DEFAULT_BEAT",
    "DEFAULT_GROUP",
    "DEFAULT_TTL",
    "DEFAULT_UDP_PORT",
    "EXPIRY_BEATS",
    "MAX_BEAT",
    "DiscoveryService",
    "DiscoveryStats",
    "check_group",
]

log = logging.getLogger("mfsync.discovery")

#: Seconds between our announcements.
DEFAULT_BEAT = 5.0
#: The longest beat we announce, and the longest a peer's claim counts as (when we decide it is
#: gone): the default beat slowed four times on battery
#: (``engine.service.BATTERY_BEAT_FACTOR``). The datagram could carry 65.535 s; a peer
#: claiming that much kept a spoofed entry for over three minutes.
MAX_BEAT = 20.0
#: A peer that missed this many of its own announced beats is gone.
EXPIRY_BEATS = 3
#: Repeat the start-up query once after this delay, in case the first datagram was lost.
REQUERY_DELAY = 0.5
#: Answers to queries wait a random 20-120 ms, and are at least this far apart.
ANSWER_JITTER = (0.02, 0.12)
ANSWER_MIN_GAP = 0.25
#: Announcements of changes are at least this far apart: a burst of changes (a sync landing
#: a hundred files) is announced once at its start and once more at most this late, not once
#: per change, which sent every peer to fetch our index again each time.
CHANGE_MIN_GAP = 0.25


@dataclass
class DiscoveryStats:
    """Counters of what the listener dropped and sent, for tests and ``-v`` logs."""

    received: int = 0
    dropped_oversized: int = 0
    dropped_malformed: int = 0
    dropped_self: int = 0
    sent: int = 0
    send_errors: int = 0


AnnouncementHandler = Callable[[Announcement, tuple[str, int]], None]


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, service: "DiscoveryService") -> None:
        self._service = service

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._service._datagram_received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("discovery socket error: %s", exc)


class DiscoveryService:
    """Sends our announcements and delivers other hosts' announcements to a callback."""

    def __init__(
        self,
        *,
        announcement: Announcement,
        interfaces: list[Interface],
        on_announcement: AnnouncementHandler,
        group: str = DEFAULT_GROUP,
        port: int = DEFAULT_UDP_PORT,
        ttl: int = DEFAULT_TTL,
        beat: float = DEFAULT_BEAT,
    ) -> None:
        beat = min(beat, MAX_BEAT)
        self._announcement = replace(announcement, beat_ms=int(beat * 1000))
        self._interfaces = interfaces
        self._on_announcement = on_announcement
        self._group = group
        self._port = port
        self._ttl = ttl
        self._beat = beat
        self.stats = DiscoveryStats()
        self._transports: list[asyncio.DatagramTransport] = []
        self._send_sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._answer_handle: asyncio.TimerHandle | None = None
        self._last_answer = 0.0
        self._change_handle: asyncio.TimerHandle | None = None
        self._last_change = 0.0
        self._stopped = False
        self._beat_changed = asyncio.Event()

    @property
    def announcement(self) -> Announcement:
        """What we currently announce."""
        return self._announcement

    @property
    def sends_beats(self) -> bool:
        """Only hosts that serve something announce themselves on a beat."""
        return bool(self._announcement.flags & Flags.SHARES)

    async def start(self) -> None:
        """Open the sockets, send the start-up query and begin the beat."""
        loop = asyncio.get_running_loop()
        recv = make_receive_socket(self._group, self._port, self._interfaces)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Receiver(self), sock=recv)
        self._transports.append(transport)
        for iface in self._interfaces:
            try:
                self._send_sockets.append(make_send_socket(iface, self._ttl))
            except OSError as exc:
                log.warning("cannot send discovery on %s (%s): %s", iface.name, iface.address, exc)
        if not self._send_sockets:
            raise OSError("no interface can send multicast discovery datagrams")
        log.info(
            "discovery on %s:%d via %s", self._group, self._port,
            ", ".join(f"{i.name} ({i.address})" for i in self._interfaces),
        )
        self._spawn(self._run())

    async def stop(self) -> None:
        """Stop announcing and close every socket."""
        self._stopped = True
        if self._answer_handle:
            self._answer_handle.cancel()
        if self._change_handle:
            self._change_handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for transport in self._transports:
            transport.close()
        for sock in self._send_sockets:
            sock.close()
        self._transports.clear()
        self._send_sockets.clear()

    def update(self, *, flags: Flags | None = None, tcp_port: int | None = None,
               generation: int | None = None) -> None:
        """Change what we announce; a change is announced at once."""
        new = replace(
            self._announcement,
            flags=self._announcement.flags if flags is None else flags,
            tcp_port=self._announcement.tcp_port if tcp_port is None else tcp_port,
            generation=self._announcement.generation if generation is None else generation,
        )
        if new != self._announcement:
            self._announcement = new
            if self._send_sockets and not self._stopped:
                self._announce_change()

    def _announce_change(self) -> None:
        if self._change_handle is not None:
            return  # one is on its way, and will carry this change too
        delay = self._last_change + CHANGE_MIN_GAP - time.monotonic()
        if delay <= 0:
            self._send_change()
        else:
            self._change_handle = asyncio.get_running_loop().call_later(delay, self._send_change)

    def _send_change(self) -> None:
        self._change_handle = None
        self._last_change = time.monotonic()
        if self._send_sockets and not self._stopped:
            self.send(Kind.ANNOUNCE)

    @property
    def beat(self) -> float:
        """Seconds between our announcements."""
        return self._beat

    def set_beat(self, beat: float) -> None:
        """Announce every ``beat`` seconds from now on (0 < beat <= ``MAX_BEAT``).

        The new beat is announced at once: peers judge when we are gone by the beat we announce,
        so a slower beat that they learnt of only later would make them drop us meanwhile.
        """
        if not 0 < beat <= MAX_BEAT:
            raise ValueError(f"a beat is more than 0 and at most {MAX_BEAT:g} s, not {beat!r}")
        if beat == self._beat:
            return
        self._beat = beat
        self._announcement = replace(self._announcement, beat_ms=int(beat * 1000))
        self._beat_changed.set()  # the sleep under way was for the old beat
        if self._send_sockets and not self._stopped and self.sends_beats:
            self.send(Kind.ANNOUNCE)

    def query(self) -> None:
        """Ask every host to announce itself now."""
        self.send(Kind.QUERY)

    def send(self, kind: Kind) -> None:
        """Send our datagram of ``kind`` on every interface."""
        data = encode_announcement(replace(self._announcement, kind=kind))
        for sock in self._send_sockets:
            try:
                sock.sendto(data, (self._group, self._port))
                self.stats.sent += 1
            except OSError as exc:
                self.stats.send_errors += 1
                log.debug("discovery send failed on %s: %s", sock.getsockname(), exc)

    async def _run(self) -> None:
        self.query()
        await asyncio.sleep(REQUERY_DELAY)
        self.query()
        while True:
            self._beat_changed.clear()
            delay = self._beat * random.uniform(0.9, 1.0)  # noqa: S311 - jitter only
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat_changed.wait(), delay)
                continue  # set_beat has just announced: the next beat is a new beat away
            if self.sends_beats:
                self.send(Kind.ANNOUNCE)

    def _spawn(self, coro: "asyncio._CoroutineLike[None]") -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.received += 1
        if len(data) > MAX_DATAGRAM:
            self.stats.dropped_oversized += 1
            log.debug("dropped an oversized datagram (%d bytes) from %s", len(data), addr[0])
            return
        try:
            msg = decode_announcement(data)
        except RemoteProtocolError as exc:
            self.stats.dropped_malformed += 1
            log.debug("dropped a datagram from %s: %s", addr[0], exc)
            return
        if msg.instance_id == self._announcement.instance_id:
            self.stats.dropped_self += 1
            return
        if msg.kind is Kind.QUERY and self.sends_beats:
            self._schedule_answer()
        self._on_announcement(msg, addr)

    def _schedule_answer(self) -> None:
        if self._answer_handle is not None or self._stopped:
            return  # an answer is already on its way and will serve this query too
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        delay = max(random.uniform(*ANSWER_JITTER), self._last_answer + ANSWER_MIN_GAP - now)  # noqa: S311
        self._answer_handle = loop.call_later(delay, self._answer)

    def _answer(self) -> None:
        self._answer_handle = None
        self._last_answer = time.monotonic()
        self.send(Kind.ANNOUNCE)
