"""Immutable snapshots of the files a ``get`` or ``sync`` is fetching, for the front ends.

The engine produces a new ``TransfersStatus`` whenever a transfer progresses or changes state;
observers may keep it, compare it with the previous one or hand it to another thread: nothing in
it ever changes.

Speeds are measured once, in the engine (:mod:`mfsync.engine.transfer_rates` stamps them on each
status): the command line's bars and the desktop app's table only read ``speed`` and
``seconds_left`` and format them.
"""

import enum
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "TransferSnapshot",
    "TransferState",
    "TransfersStatus",
]


class TransferState(enum.Enum):
    """Where one file is in its transfer."""

    QUEUED = "queued"  #: not started yet
    VERIFYING = "verifying"  #: checking what a partial file from an earlier run already holds
    DOWNLOADING = "downloading"  #: receiving bytes
    WAITING = "waiting"  #: for a source to come back
    DONE = "done"  #: complete and verified
    FAILED = "failed"  #: given up; ``error`` says why
    SKIPPED = "skipped"  #: not fetched (for instance already present)
    PAUSED = "paused"  #: stopped by the user; its partial file stays, resume continues it
    CANCELLED = "cancelled"  #: stopped by the user; its partial file was removed


#: States of a transfer under way: verifying, downloading or waiting for a source (not queued
#: or paused). Only these have a measured speed.
ACTIVE_STATES = frozenset({TransferState.VERIFYING, TransferState.DOWNLOADING,
                           TransferState.WAITING})
#: States a job ends in: the downloader may take the same file again after one of these.
FINISHED_STATES = frozenset({TransferState.DONE, TransferState.FAILED, TransferState.SKIPPED,
                             TransferState.CANCELLED})
_NO_KEY: tuple[Path, str] = (Path(), "")


@dataclass(frozen=True, slots=True)
class TransferSnapshot:
    """One file's transfer at one moment."""

    path: str
    size: int
    #: bytes verified so far, including what a resumed partial file already had
    done: int
    #: bytes actually received over the network for this file in this run
    fetched: int
    state: TransferState
    source: str = ""  #: ``host:port`` or a name
    error: str = ""
    started_at: float | None = None  #: ``time.monotonic()`` when the transfer started
    #: The job's key, ``(root, wire path written)``: what ``Downloader.pause``/``cancel`` take.
    key: tuple[Path, str] = _NO_KEY
    #: Where the file is (or will be) stored; a conflict copy's name once one is chosen.
    target: Path = Path()
    #: Bytes per second received lately (``fetched`` over a few seconds, so a resumed file's
    #: old part never counts); None while not measurable (just started, not active).
    speed: float | None = None
    #: Hosts it is being received from now (more than one: a large file from several hosts
    #: at once, ``engine.swarm_fetch``; ``source`` is the first of them).
    sources: int = 1

    @property
    def seconds_left(self) -> float | None:
        """Seconds until the file is complete at its current speed; None while the speed is
        unknown or zero."""
        return _seconds_left(self.size - self.done, self.speed)


@dataclass(frozen=True, slots=True)
class TransfersStatus:
    """Every transfer of one ``get`` or ``sync`` run, at one moment."""

    transfers: tuple[TransferSnapshot, ...] = ()
    #: Bytes per second received lately by all the transfers together, counting files that
    #: started and finished between two statuses; None while not measurable.
    speed: float | None = None

    @classmethod
    def combine(cls, *statuses: "TransfersStatus") -> "TransfersStatus":
        """One status holding the transfers of several downloaders, with their speeds added
        (so that the total speed and time left stay right)."""
        busy = [s for s in statuses if s.transfers or s.speed]
        if len(busy) == 1 and busy[0].transfers:
            return busy[0]  # (the usual case, the one syncer of a folder: no copy of N jobs)
        speeds = [s.speed for s in busy if s.speed is not None]
        return cls(tuple(t for s in busy for t in s.transfers),
                   sum(speeds) if speeds else None)

    @property
    def total_remaining(self) -> int:
        """Bytes still to come of the transfers not finished (queued and paused included:
        they will resume)."""
        return sum(max(t.size - t.done, 0) for t in self.transfers
                   if t.state not in FINISHED_STATES)

    @property
    def seconds_left(self) -> float | None:
        """Seconds until every unfinished transfer is complete at the total speed; None while
        that speed is unknown or zero."""
        return _seconds_left(self.total_remaining, self.speed)

    @property
    def total_size(self) -> int:
        """Sum of the sizes of all transfers."""
        return sum(t.size for t in self.transfers)

    @property
    def total_done(self) -> int:
        """Sum of the verified bytes of all transfers (resumed bytes included)."""
        return sum(t.done for t in self.transfers)

    @property
    def total_fetched(self) -> int:
        """Sum of the bytes received over the network in this run."""
        return sum(t.fetched for t in self.transfers)

    @property
    def active(self) -> tuple[TransferSnapshot, ...]:
        """Transfers verifying, downloading or waiting for a source (not queued or paused)."""
        return tuple(t for t in self.transfers if t.state in ACTIVE_STATES)

    @property
    def paused(self) -> tuple[TransferSnapshot, ...]:
        """Transfers that are ``PAUSED``."""
        return tuple(t for t in self.transfers if t.state is TransferState.PAUSED)

    @property
    def finished(self) -> int:
        """How many transfers are ``DONE``."""
        return sum(1 for t in self.transfers if t.state is TransferState.DONE)

    @property
    def failed(self) -> tuple[TransferSnapshot, ...]:
        """Transfers that ``FAILED``."""
        return tuple(t for t in self.transfers if t.state is TransferState.FAILED)


def _seconds_left(remaining: int, speed: float | None) -> float | None:
    if speed is None or speed <= 0 or remaining < 0:
        return None
    return remaining / speed
