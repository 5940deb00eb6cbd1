"""Speeds and times left, measured once in the engine for every front end.

How it works: a downloader owns one :class:`TransferRates` and hands it every status it builds
(:meth:`TransferRates.stamp`), which returns the status with ``speed`` filled in, per active
transfer and for the whole run; ``seconds_left`` follows from it (see
:mod:`mfsync.engine.transfer_status`). Each speed is a :class:`RateMeter`: the growth of a byte
count across the samples of the last ``SPEED_WINDOW`` seconds.

- A transfer's meter counts ``fetched``, the bytes received over the network in this run, never
  ``done``: a resumed file's old part, verified at the start, must not look like a burst.
- The run's meter counts every byte received since the downloader started: it grows by each
  transfer's new ``fetched`` since the previous stamp, so a small file that starts and finishes
  between two statuses still counts, and taking finished transfers off the list does not make
  the count fall.
- A stalled transfer's speed falls because statuses keep coming while anything is active (the
  downloader publishes at least every ``TICK``), each one a new sample of an unchanged count.

The caller gives the clock (``time.monotonic`` by default), so tests feed real clock values
instead of sleeping.
"""

import collections
import dataclasses
import itertools
import operator
import time
from collections.abc import Hashable

from mfsync.engine.transfer_status import ACTIVE_STATES, TransferSnapshot, TransfersStatus

__all__ = ["SPEED_WINDOW", "RateMeter", "TransferRates"]

#: Seconds a speed is averaged over: long enough to smooth out the bursts of a block-wise
#: transfer, short enough that a stall shows within a few seconds.
SPEED_WINDOW = 3.0
#: Samples closer than this to the one before the latest are merged into the latest: statuses
#: may be asked for far more often than they are published, and this bounds a meter's memory
#: to about ``SPEED_WINDOW / _MIN_SPACING`` samples.
_MIN_SPACING = 0.05

#: What tells transfers apart: the job's key, and the path (snapshots made without a key).
_Ident = tuple[Hashable, str]


class RateMeter:
    """Bytes per second of a growing count, averaged over about ``window`` seconds."""

    __slots__ = ("_samples", "_window")

    def __init__(self, window: float = SPEED_WINDOW) -> None:
        self._window = window
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, value: int) -> None:
        """Record that the count was ``value`` at ``now`` (seconds on a monotonic clock)."""
        samples = self._samples
        if samples and value < samples[-1][1]:
            samples.clear()  # the count restarted (a transfer retried from scratch)
        if samples and now <= samples[-1][0]:
            samples[-1] = (samples[-1][0], value)  # same moment: the newest count wins
        elif len(samples) >= 2 and now - samples[-2][0] < _MIN_SPACING:
            samples[-1] = (now, value)
        else:
            samples.append((now, value))
        # Keep one sample at or before the window's start, so the average covers the whole
        # window rather than jumping as samples leave it.
        while len(samples) >= 2 and samples[1][0] <= now - self._window:
            samples.popleft()

    def rate(self) -> float | None:
        """Bytes per second, or None until two samples some time apart exist."""
        if len(self._samples) < 2:
            return None
        (t0, v0), (t1, v1) = self._samples[0], self._samples[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else None


class TransferRates:
    """The speeds of one downloader's transfers, stamped on each status it builds.

    Not thread-safe: call it from the thread that builds the statuses (the event loop's).
    """

    def __init__(self, window: float = SPEED_WINDOW) -> None:
        self._window = window
        #: Bytes received by every transfer since this object was made.
        self._received = 0
        self._total = RateMeter(window)
        #: Per transfer seen, its start and the ``fetched`` already counted in ``_received``.
        self._counted: dict[_Ident, tuple[float | None, int]] = {}
        #: The active transfers' meters, with the start of the run each one measures.
        self._meters: dict[_Ident, tuple[float | None, RateMeter]] = {}
        #: The snapshots of the previous stamp, and the ids of its active ones: a downloader
        #: hands out the same snapshot object while a transfer is unchanged, so most of a long
        #: list is passed over by an identity check.
        self._previous: tuple[TransferSnapshot, ...] = ()
        self._previous_active: set[int] = set()

    def stamp(
        self, transfers: tuple[TransferSnapshot, ...], now: float | None = None
    ) -> TransfersStatus:
        """The status of ``transfers`` at ``now`` (``time.monotonic()`` by default), each
        active transfer with its ``speed`` and the whole with the total ``speed``."""
        if now is None:
            now = time.monotonic()
        active = self._count(transfers)
        self._total.add(now, self._received)
        meters: dict[_Ident, tuple[float | None, RateMeter]] = {}
        stamped = list(transfers) if active else None
        for i in active:
            t = transfers[i]
            ident = (t.key, t.path)
            kept = self._meters.get(ident)
            # A transfer taken again (a new start) is measured afresh.
            started, meter = kept if kept is not None and kept[0] == t.started_at else (
                t.started_at, RateMeter(self._window))
            meter.add(now, t.fetched)
            meters[ident] = (started, meter)
            speed = meter.rate()
            if stamped is not None and speed is not None:
                stamped[i] = dataclasses.replace(t, speed=max(speed, 0.0))
        self._meters = meters  # forget the transfers no longer active
        total = self._total.rate()
        return TransfersStatus(transfers if stamped is None else tuple(stamped),
                               None if total is None else max(total, 0.0))

    def _count(self, transfers: tuple[TransferSnapshot, ...]) -> list[int]:
        """Add what each transfer received since the last stamp to ``_received``; return the
        positions of the active transfers."""
        counted = self._counted
        # The snapshots that are not the very objects of the last stamp, found in C: with
        # thousands of transfers, nearly all of them are unchanged. (By identity, not by
        # position: a finished job forgotten shifts every row after it. The last stamp's
        # snapshots are alive while this runs, so no new one can share an id with them.)
        before = set(map(id, self._previous))
        positions = range(len(transfers))
        changed = itertools.compress(positions, map(operator.not_, map(before.__contains__,
                                                                        map(id, transfers))))
        # An unchanged snapshot is as active as it was.
        active = list(itertools.compress(positions, map(self._previous_active.__contains__,
                                                        map(id, transfers))))
        for i in changed:
            t = transfers[i]
            ident = (t.key, t.path)
            seen = counted.get(ident)
            if seen is None or seen[0] != t.started_at:
                self._received += t.fetched  # new here, or a new run of the same file
            elif t.fetched > seen[1]:
                self._received += t.fetched - seen[1]
            counted[ident] = (t.started_at, t.fetched)
            if t.state in ACTIVE_STATES:
                active.append(i)
        if len(counted) > 2 * len(transfers) + 64:
            # Transfers taken off the list: forget them (all of the rest is counted above).
            self._counted = {(t.key, t.path): (t.started_at, t.fetched) for t in transfers}
        self._previous = transfers
        self._previous_active = {id(transfers[i]) for i in active}
        return active
