"""One try at a content from one host, and the meter that tells whether its host is slow.

Slow sources: a ``RateMeter`` follows the bytes each attempt receives. After ``RATE_GRACE``
seconds, an attempt that received less than ``MIN_RATE`` bytes a second over the last
``RATE_WINDOW`` seconds marks its host **slow**; the downloader then takes its turn away if
someone else can use it (``SourcePolicy.preemption`` in ``engine.sources``). A host marked slow
is asked last, and is no longer slow once an attempt measures it at the minimum rate again.
"""

import asyncio
import collections
import time

from mfsync.engine.status import HostRef
from mfsync.net.channel import SecureChannel

__all__ = ["MIN_RATE", "RATE_GRACE", "RATE_WINDOW", "Attempt", "RateMeter", "SlowSource"]

#: Slowest rate (bytes a second) at which a source keeps its turn when others could use it.
#: 16 KiB/s is 128 kbit/s, a tenth of a poor 1 Mbit/s Wi-Fi link shared by the three transfers
#: that run at once, yet 32,768 times what a host trickling a byte every two seconds sends. A
#: source below it only loses its turn when another host or job can use it, and keeps what it
#: delivered: a wrong verdict costs at most one unfinished block.
MIN_RATE = 16 * 1024
#: The rate is measured over the last this many seconds, so that a short stall (a Wi-Fi
#: hiccup, TCP backing off, a disk waking up) does not make an honest source slow.
RATE_WINDOW = 5.0
#: An attempt is not judged before this many seconds (connecting, the handshake and the first
#: bytes): long enough for any host on a LAN, short enough that a trickling host holds a turn
#: only about this long before it loses it to someone who can use it.
RATE_GRACE = 2.0


class SlowSource(Exception):
    """An attempt lost its turn: its source was below the minimum rate and someone else could
    use the turn (the message says who)."""


class RateMeter:
    """Bytes received by one attempt over a sliding window, sampled by the caller.

    ``sample(now, total)`` takes the attempt's byte count so far and says whether it is slow:
    None while it is too early to tell (``grace``), else whether the bytes of the last
    ``window`` seconds came at less than ``min_rate`` bytes a second.
    """

    def __init__(self, *, start: float | None = None, min_rate: float = MIN_RATE,
                 window: float = RATE_WINDOW, grace: float = RATE_GRACE) -> None:
        self._start = time.monotonic() if start is None else start
        self._min_rate = min_rate
        self._window = window
        self._grace = grace
        self._samples: collections.deque[tuple[float, int]] = collections.deque(
            [(self._start, 0)])

    def sample(self, now: float, total: int) -> bool | None:
        """Record ``total`` bytes at ``now``; None before the grace, else whether it is slow."""
        self._samples.append((now, total))
        # Keep one sample at or before the window's start, so the window is always covered.
        while len(self._samples) > 1 and self._samples[1][0] <= now - self._window:
            self._samples.popleft()
        if now - self._start < self._grace:
            return None
        since, base = self._samples[0]
        elapsed = now - since
        return elapsed > 0 and (total - base) < self._min_rate * elapsed


class Attempt:
    """One try at a content from one host, as the downloader watches it: when its network part
    began, the bytes its channels received, the blocks it verified, and a way to stop it
    (``preempt``) that the attempt sees as ``TimeoutError`` leaving its ``scope``."""

    def __init__(self, host: HostRef, content_id: bytes) -> None:
        self.host = host
        self.content_id = content_id
        self.started: float | None = None  #: ``time.monotonic()`` once it had its turn
        self.verified = 0  #: bytes of blocks verified and written in this attempt
        self.preempted = ""  #: why it was stopped, if it was
        self.meter: RateMeter | None = None
        self._scope: asyncio.Timeout | None = None
        self._channel: SecureChannel | None = None
        self._base = 0
        self._earlier = 0  #: bytes received on channels this attempt used before

    def begin(self, scope: asyncio.Timeout) -> None:
        """Its turn has come: the network part starts now, inside ``scope``."""
        self.started = time.monotonic()
        self.meter = RateMeter(start=self.started)
        self._scope = scope

    def end(self) -> None:
        """The network part is over: ``preempt`` does nothing from now on."""
        self._scope = None

    def watch(self, channel: SecureChannel) -> None:
        """Count what ``channel`` receives from now on."""
        if self._channel is not None:
            self._earlier += self._channel.bytes_received - self._base
        self._channel = channel
        self._base = channel.bytes_received

    def unwatch(self) -> None:
        """Stop counting the channel watched (its bytes so far stay counted): from now on the
        caller counts what arrives (``count``), as a file fetched from several hosts does."""
        if self._channel is not None:
            self._earlier += self._channel.bytes_received - self._base
        self._channel = None

    def count(self, length: int) -> None:
        """``length`` more bytes arrived on a channel not watched."""
        self._earlier += length

    def received(self) -> int:
        """Bytes received from the host (or hosts) so far in this attempt."""
        current = 0 if self._channel is None else self._channel.bytes_received - self._base
        return self._earlier + current

    def preempt(self, why: str) -> None:
        """Stop the attempt at its next await (once)."""
        if self.preempted or self._scope is None or self._scope.expired():
            return
        self.preempted = why
        self._scope.reschedule(asyncio.get_running_loop().time())
