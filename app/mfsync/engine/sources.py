"""Which hosts are worth asking for a content: failure streaks, dropped sources, slow sources.

A ``Downloader`` keeps one ``SourceTracker`` for as long as it runs (a ``get``, a ``sync``), so
that what a host did is remembered across jobs and retries of the same content.

Every attempt to fetch a content from a host ends one of three ways (``classify``):

- **progress** (at least one verified block, or the whole file): the host's streak of failures
  for that content starts again from zero;
- a **failure of the host's own making**: a corrupt block, a block list that does not fit the
  file, a broken protocol rule, an orderly close in the middle of a reply, a refusal. After
  ``MAX_FAILURES`` of those in a row without progress (or ``MAX_STRIKES`` corrupt blocks in all:
  those need no pattern) the host is **dropped** for that content: this downloader does not ask it
  for that content again. Any counted failure extends the row, whatever its kind: a host that
  alternated bad block lists with early closes would otherwise never be dropped;
- a **lost connection** (a timeout, a reset, a connection refused or failing in its handshake, an
  untrusted key): Wi-Fi drops and hosts reboot, which says nothing about the host's honesty. It is
  neither counted nor forgiven (it does not break a row either).

A host is known by its key, address, port and the instance id it announces (``HostRef``): one that
restarts announces a new instance id and starts clean. A host known only through ``--peer`` (it
announces nothing) has no instance id: its drops last until its content changes or we restart.

Slow sources: a ``RateMeter`` follows the bytes each attempt receives. After ``RATE_GRACE``
seconds, an attempt that received less than ``MIN_RATE`` bytes a second over the last
``RATE_WINDOW`` seconds marks its host **slow**; the downloader then takes its turn away if
someone else can use it (see ``Downloader``). A host marked slow is asked last, and is no longer
slow once an attempt measures it at the minimum rate again.

Turns (``Turns``): the downloader receives at most ``count`` files at once, each attempt in a
turn given in line order. No host holds every turn while a job that could use another host
waits: when one host has held them all for ``BUSY_AFTER`` (it took them when nobody else was
waiting, or before the other host was heard), a job that will ask another host starts on a spare
turn (``SPARE_TURNS``), and jobs waiting for the busy host that another host could serve choose
again (``choose_source`` prefers a host that does not hold every turn). A trickling host that
took every turn therefore does not make other hosts' files wait for its ``RATE_GRACE``.
"""

import asyncio
import collections
import enum
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mfsync.crypto.keys import short_key
from mfsync.engine.loop import current_loop
from mfsync.engine.status import HostRef
from mfsync.net.addresses import format_host_port
from mfsync.net.channel import (
    PeerRefused,
    ProtocolBroken,
    RecordCutShort,
    SecureChannel,
)
from mfsync.net.client import BadBlockList, ClosedMidReply
from mfsync.protocol.messages import ErrorCode

__all__ = [
    "BUSY_AFTER",
    "MAX_FAILURES",
    "MAX_STRIKES",
    "MAX_TRACKED",
    "MIN_RATE",
    "RATE_GRACE",
    "RATE_WINDOW",
    "SPARE_TURNS",
    "Attempt",
    "BadBlock",
    "Endpoint",
    "Failure",
    "RateMeter",
    "SourceTracker",
    "Turn",
    "Turns",
    "choose_source",
    "classify",
    "describe_host",
    "endpoint",
    "holding_every_turn",
]

#: Failures of the host's own making, in a row without progress, after which it is dropped for
#: that content. One can be a race (the file changed while we asked: CHANGED, then its index is
#: fetched again), two a coincidence (a host stopped mid-reply that then restarts comes back with
#: a new instance id anyway); three in a row without one good block is a pattern. With a try
#: every ``SOURCE_COOLDOWN`` (2 s), a host that always fails is dropped within about 5 s.
MAX_FAILURES = 3
#: Corrupt blocks (in all, progress or not) after which a host is dropped for that content: a
#: block that fails its hash is proof, not a pattern; one is forgiven (a flaky disk or NIC).
MAX_STRIKES = 2
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
#: Hosts and (host, content) pairs remembered at most: a hostile host offering millions of
#: files must not grow this without bound (the oldest are forgotten first; a forgotten host is
#: merely tried again).
MAX_TRACKED = 10_000
#: Transfers that may run beyond the downloader's turns, and only while one host holds every
#: turn: one, for a job that will ask another host. It exists because a host may take every
#: turn when nobody else is waiting (or before another host is heard), and whether it is slow
#: is known only after ``RATE_GRACE``; one is enough for the other hosts' files to flow (one at
#: a time) until then, and bounds what a busy host adds to the downloader's load.
SPARE_TURNS = 1
#: A host that holds every turn counts as busy (turns are shared, see ``Turns``) once the
#: youngest of its turns is this old (seconds). A host serving small files turns its turns over
#: in a fraction of a second: its downloads keep their turns (and their kept connections to it).
#: A trickler, or a host busy with large files, counts as busy after this; it is a quarter of
#: ``RATE_GRACE``, so sharing comes well before the verdict.
BUSY_AFTER = 0.5

#: Refusals that are not failures: a busy host is a healthy one, and a host that stopped
#: trusting us refuses every request, which the node notices when it looks again.
_TRANSIENT_REFUSALS = frozenset({ErrorCode.BUSY, ErrorCode.NOT_TRUSTED})


class BadBlock(Exception):
    """A host sent a block whose hash does not match."""


class Failure(enum.Enum):
    """A failure of the host's own making; the value says what it did."""

    CORRUPT = "sent corrupt data"
    BAD_BLOCK_LIST = "sent a block list that does not match the file"
    PROTOCOL = "broke the protocol"
    CLOSED = "closed the connection in the middle of a reply"
    REFUSED = "refused the request"


def classify(exc: BaseException) -> Failure | None:
    """What ``exc`` (from one attempt) says about the host: a ``Failure``, or None for a lost
    connection (or anything else that is not the host's doing)."""
    if isinstance(exc, BadBlock):
        return Failure.CORRUPT
    if isinstance(exc, BadBlockList):
        return Failure.BAD_BLOCK_LIST
    if isinstance(exc, RecordCutShort):
        return None  # cut before any reply began: a close (or a death), as a lost connection
    if isinstance(exc, ProtocolBroken):
        return Failure.PROTOCOL
    if isinstance(exc, ClosedMidReply):
        return Failure.CLOSED
    if isinstance(exc, PeerRefused):
        return None if exc.code in _TRANSIENT_REFUSALS else Failure.REFUSED
    # Any other ChannelError or OSError: timed out, reset, refused, untrusted: lost, not
    # misbehaving.
    return None


def describe_host(host: HostRef) -> str:
    """``address:port (key ABCD1234)`` for messages."""
    return f"{format_host_port(host.address, host.port)} (key {short_key(host.key)})"


@dataclass
class _Record:
    """What one host did with one content."""

    row: int = 0  #: counted failures in a row without progress
    strikes: int = 0  #: corrupt blocks in all
    last: Failure | None = None
    detail: str = ""
    dropped: bool = False

    def reason(self) -> str:
        assert self.last is not None
        times = self.strikes if self.last is Failure.CORRUPT else self.row
        return f"{self.last.value} ({self.detail}), {times} times" if self.detail else (
            f"{self.last.value}, {times} times")


_Pair = tuple[HostRef, bytes]
_K = TypeVar("_K")
_V = TypeVar("_V")


class SourceTracker:
    """Failure rows and drops per (host, content); slow marks per host."""

    def __init__(self, *, max_failures: int = MAX_FAILURES, max_strikes: int = MAX_STRIKES,
                 capacity: int = MAX_TRACKED) -> None:
        self._max_failures = max_failures
        self._max_strikes = max_strikes
        self._capacity = capacity
        self._records: collections.OrderedDict[_Pair, _Record] = collections.OrderedDict()
        self._slow: collections.OrderedDict[HostRef, None] = collections.OrderedDict()

    # -- failures -------------------------------------------------------------------------

    def progress(self, host: HostRef, content_id: bytes) -> None:
        """``host`` delivered verified data of ``content_id``: its row starts again."""
        record = self._records.get((host, content_id))
        if record is not None and not record.dropped:
            record.row = 0

    def failed(self, host: HostRef, content_id: bytes, failure: Failure,
               detail: str = "") -> bool:
        """Count ``failure`` against ``host`` for ``content_id``; whether it is dropped now."""
        pair = (host, content_id)
        record = self._records.get(pair)
        if record is None:
            record = self._records[pair] = _Record()
            _bound(self._records, self._capacity)
        else:
            self._records.move_to_end(pair)
        record.row += 1
        record.last = failure
        record.detail = detail
        if failure is Failure.CORRUPT:
            record.strikes += 1
        if record.row >= self._max_failures or record.strikes >= self._max_strikes:
            record.dropped = True
        return record.dropped

    def dropped(self, host: HostRef, content_id: bytes) -> bool:
        """Whether ``host`` is no longer asked for ``content_id``."""
        record = self._records.get((host, content_id))
        return record is not None and record.dropped

    def usable(self, hosts: Iterable[HostRef], content_id: bytes) -> list[HostRef]:
        """The hosts among ``hosts`` not dropped for ``content_id``, in order."""
        return [host for host in hosts if not self.dropped(host, content_id)]

    def why_dropped(self, hosts: Iterable[HostRef], content_id: bytes) -> str:
        """What the dropped hosts among ``hosts`` did, one clause each, for a message."""
        clauses = []
        for host in hosts:
            record = self._records.get((host, content_id))
            if record is not None and record.dropped:
                clauses.append(f"{describe_host(host)} {record.reason()}")
        return "; ".join(clauses)

    # -- slow sources ---------------------------------------------------------------------

    def mark_slow(self, host: HostRef) -> bool:
        """Remember ``host`` as slow; whether it was not already."""
        if host in self._slow:
            self._slow.move_to_end(host)
            return False
        self._slow[host] = None
        _bound(self._slow, self._capacity)
        return True

    def clear_slow(self, host: HostRef) -> bool:
        """``host`` met the minimum rate again; whether it had been slow."""
        return self._slow.pop(host, False) is None

    def is_slow(self, host: HostRef) -> bool:
        """Whether ``host`` was last measured below ``MIN_RATE``."""
        return host in self._slow


def _bound(table: "collections.OrderedDict[_K, _V]", capacity: int) -> None:
    while len(table) > capacity:
        table.popitem(last=False)


#: Where a host listens, (address, port): what the turns know a host by. The same host may be
#: known under two ``HostRef``s at once (through ``--peer``, without an instance id, and as it
#: announces itself), and it holds its turns under either.
Endpoint = tuple[str, int]


def endpoint(host: HostRef) -> Endpoint:
    """Where ``host`` listens."""
    return (host.address, host.port)


def choose_source(hosts: Sequence[HostRef], path: str, *, slow: Collection[HostRef] = (),
                  busy: Endpoint | None = None) -> HostRef:
    """The host to ask for ``path`` among ``hosts`` (not empty): hosts neither slow nor at
    ``busy`` (holding every turn) first, then hosts not slow, then any. Within a tier, the one
    at ``crc32(path)``: the same host for the same file each time, and a sync of many files
    spread over the hosts offering them (not all from the host with the lowest address)."""
    fast = [h for h in hosts if h not in slow]
    tier = [h for h in fast if endpoint(h) != busy] or fast or list(hosts)
    return tier[zlib.crc32(path.encode("utf-8", "surrogateescape")) % len(tier)]


def holding_every_turn(holders: Iterable[Endpoint], count: int) -> Endpoint | None:
    """The host that holds every one of ``count`` turns (``holders``: the host of each turn
    held), if one does."""
    hosts = list(holders)
    return hosts[0] if len(hosts) >= count and len(set(hosts)) == 1 else None


def busy_host(held: Iterable[tuple[Endpoint, float]], count: int, now: float,
              after: float = BUSY_AFTER) -> Endpoint | None:
    """The host that holds every one of ``count`` turns (``held``: each turn's host and when it
    was taken), once the youngest of them is ``after`` seconds old; else None."""
    turns = list(held)
    host = holding_every_turn((h for h, _ in turns), count)
    return host if host is not None and now - max(t for _, t in turns) >= after else None


class Turns:
    """The downloader's turns on the network: ``count`` of them, given in line order, plus
    ``SPARE_TURNS`` that ``grant_spare`` gives to a waiting ``Turn`` while one host holds all the
    others (see the module's docstring). ``changed`` is called whenever a turn is taken or given
    back, so that the owner can look again at who waits."""

    def __init__(self, count: int, changed: Callable[[], None] = lambda: None, *,
                 busy_after: float = BUSY_AFTER) -> None:
        self.count = max(1, count)
        self._busy_after = busy_after
        self._semaphore = asyncio.Semaphore(self.count)
        self._held: dict[Turn, tuple[Endpoint, float]] = {}
        self._spares: set[Turn] = set()
        self._changed = changed

    def place(self) -> "Turn":
        """A place in line, taken now; ``Turn.wait`` for it later."""
        return Turn(self)

    def busy(self) -> Endpoint | None:
        """The host that holds every (regular) turn, for ``BUSY_AFTER`` s at least, if one
        does."""
        return busy_host(self._held.values(), self.count, time.monotonic(), self._busy_after)

    def spare_free(self) -> bool:
        """Whether a spare turn may be given now: one host holds every turn, and a spare is
        left."""
        return len(self._spares) < SPARE_TURNS and self.busy() is not None

    def grant_spare(self, turn: "Turn") -> bool:
        """Give ``turn`` (waiting) a spare turn if one is free; whether it was given."""
        if not self.spare_free() or not turn.waiting:
            return False
        self._spares.add(turn)
        turn._granted_spare()
        return True

    def _took(self, turn: "Turn", host: HostRef) -> None:
        if turn not in self._spares:
            self._held[turn] = (endpoint(host), time.monotonic())
            if holding_every_turn((h for h, _ in self._held.values()), self.count):
                # Look again when it would count as busy (nothing happens if it has changed).
                current_loop().call_later(self._busy_after, self._changed)
        self._changed()

    def _gave_back(self, turn: "Turn", *, semaphore: bool) -> None:
        self._held.pop(turn, None)
        self._spares.discard(turn)
        if semaphore:
            self._semaphore.release()
        self._changed()


class Turn:
    """A place in line for one of the ``Turns``, taken when made and waited for later. While it
    waits, the owner may give it a spare turn (``Turns.grant_spare``) or ask it to choose its
    host again (``nudge``); ``release`` gives back whatever it holds."""

    def __init__(self, turns: Turns) -> None:
        self._turns = turns
        loop = current_loop()
        self._asking = loop.create_task(turns._semaphore.acquire())
        self._woken: asyncio.Future[None] = loop.create_future()
        self.spare = False  #: it runs on a spare turn
        self.nudged = False  #: it was asked to choose its host again (it holds nothing)
        self._released = False
        self._taken = False

    @property
    def waiting(self) -> bool:
        """Whether it still waits for its turn."""
        return not (self._released or self._taken or self._woken.done()
                    or self._asking.done())

    def nudge(self) -> None:
        """Ask the waiting holder to choose its host again: ``wait`` returns with ``nudged``."""
        if self.waiting:
            self.nudged = True
            self._woken.set_result(None)

    def _granted_spare(self) -> None:
        self.spare = True
        self._woken.set_result(None)

    async def wait(self, host: HostRef) -> None:
        """Wait until it is this one's turn (regular or spare), or until ``nudge``; then it
        counts as held by ``host`` (unless nudged)."""
        either: set[asyncio.Future[object]] = {self._asking, self._woken}  # type: ignore[arg-type]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if self._asking.done() and not self._asking.cancelled():
            if self.spare or self.nudged:  # both at once: a regular turn is better
                self.spare = self.nudged = False
                self._turns._spares.discard(self)
        elif not self.nudged:
            self._asking.cancel()  # (Semaphore.acquire gives back a turn it got meanwhile)
        if self.nudged:
            self.release()
            return
        self._taken = True
        self._turns._took(self, host)

    def release(self) -> None:
        """Give the turn back (or the place in line up); later calls do nothing."""
        if self._released:
            return
        self._released = True
        regular = False
        if not self._asking.done():
            self._asking.cancel()
        elif not self._asking.cancelled() and self._asking.exception() is None:
            regular = True
        self._turns._gave_back(self, semaphore=regular)


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

    def received(self) -> int:
        """Bytes received from the host so far in this attempt."""
        current = 0 if self._channel is None else self._channel.bytes_received - self._base
        return self._earlier + current

    def preempt(self, why: str) -> None:
        """Stop the attempt at its next await (once)."""
        if self.preempted or self._scope is None or self._scope.expired():
            return
        self.preempted = why
        self._scope.reschedule(asyncio.get_running_loop().time())
