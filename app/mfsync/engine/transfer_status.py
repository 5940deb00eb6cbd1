"""Immutable snapshots of the files a ``get`` or ``sync`` is fetching, for the CLI to render.

The engine produces a new ``TransfersStatus`` whenever a transfer progresses or changes state;
observers may keep it, compare it with the previous one or hand it to another thread: nothing in
it ever changes.
"""

import enum
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FINISHED_STATES", "TransferSnapshot", "TransferState", "TransfersStatus"]


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


_ACTIVE = frozenset({TransferState.VERIFYING, TransferState.DOWNLOADING, TransferState.WAITING})
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


@dataclass(frozen=True, slots=True)
class TransfersStatus:
    """Every transfer of one ``get`` or ``sync`` run, at one moment."""

    transfers: tuple[TransferSnapshot, ...] = ()

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
        return tuple(t for t in self.transfers if t.state in _ACTIVE)

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
