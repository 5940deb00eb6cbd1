"""Channels kept open between downloads, so that the next file from a host skips the handshake.

Opening a channel costs a TCP connection and a Noise handshake (three messages, four X25519
operations): for a file of a few KiB that is most of the work, and a ``get`` of 10,000 of them
opened 10,000 connections. The pool keeps a channel after an exchange that ended cleanly (every
reply read to its end) for ``IDLE_TIMEOUT`` seconds, at most ``PER_HOST`` per host, and hands it
to the next download from the same host (same key, address and port). Index fetches give
their channel back too, and take one when the peer's key and instance are known (a swarm of
20 hosts fetched each other's indexes over 4,400 new connections). A channel that failed, was
interrupted mid-reply, or that the peer has closed meanwhile is never handed out again.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from mfsync.engine.loop import current_loop
from mfsync.engine.status import HostRef
from mfsync.net.channel import SecureChannel

__all__ = ["IDLE_TIMEOUT", "PER_HOST", "ChannelPool"]

#: How long an idle channel is kept for reuse (well below the server's request timeout, so that
#: it is not the server that drops it).
IDLE_TIMEOUT = 5.0
#: Idle channels kept per host at most.
PER_HOST = 4

Connect = Callable[[HostRef], Awaitable[SecureChannel]]


class ChannelPool:
    """Idle channels by host, with ``lease`` to borrow one (or open a new one)."""

    def __init__(self, connect: Connect, *, idle_timeout: float = IDLE_TIMEOUT,
                 per_host: int = PER_HOST) -> None:
        self._connect = connect
        self._idle_timeout = idle_timeout
        self._per_host = per_host
        self._idle: dict[HostRef, list[tuple[SecureChannel, asyncio.TimerHandle]]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        #: Channels opened through the pool (for tests and the benchmark's connection count).
        self.opened = 0

    @contextlib.asynccontextmanager
    async def lease(self, host: HostRef) -> AsyncIterator[SecureChannel]:
        """A channel to ``host`` for one exchange: reused if one is idle, else opened.

        It goes back to the pool when the block ends normally; an exception (a channel error,
        a refused request, a cancellation) closes it, since a reply may be left half read.
        """
        channel = self.take(host)
        if channel is None:
            channel = await self._connect(host)
            self.opened += 1
        try:
            yield channel
        except BaseException:
            channel.abort()  # at once: nothing more is to be said on it, nor waited for
            raise
        self.give_back(host, channel)

    async def close(self) -> None:
        """Close every idle channel and wait for them to be closed."""
        for idle in self._idle.values():
            for channel, timer in idle:
                timer.cancel()
                self._close_later(channel)
        self._idle.clear()
        if self._closing:
            await asyncio.wait(list(self._closing))

    def take(self, host: HostRef) -> SecureChannel | None:
        """An idle channel to ``host`` (now the caller's), or None if none is kept."""
        idle = self._idle.get(host)
        while idle:
            channel, timer = idle.pop()
            timer.cancel()
            if not channel.closed and not channel.peer_closed:
                return channel
            self._close_later(channel)
        self._idle.pop(host, None)
        return None

    def give_back(self, host: HostRef, channel: SecureChannel) -> None:
        """Keep ``channel`` (to ``host``, its last exchange read to the end) for reuse, or
        close it if it cannot be reused or enough are kept."""
        idle = self._idle.get(host, [])
        if channel.closed or channel.peer_closed or len(idle) >= self._per_host:
            self._close_later(channel)
            return
        timer = current_loop().call_later(self._idle_timeout, self._expire, host, channel)
        self._idle.setdefault(host, idle).append((channel, timer))

    def _expire(self, host: HostRef, channel: SecureChannel) -> None:
        idle = self._idle.get(host, [])
        for entry in idle:
            if entry[0] is channel:
                idle.remove(entry)
                break
        if not idle:
            self._idle.pop(host, None)
        self._close_later(channel)

    def _close_later(self, channel: SecureChannel) -> None:
        task = current_loop().create_task(channel.close())  # (close never raises)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
