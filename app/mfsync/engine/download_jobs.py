"""What a download is: the job asked for, what became of it, and what the status shows of it.

A ``DownloadJob`` names one file to fetch into a folder; its ``key`` (folder, wire path written)
identifies it in the queue and the status. A ``DownloadResult`` is its outcome. A ``JobRecord``
is the job's row in the status, changed only through its typed methods, each of which drops the
row's cached snapshot: a status of 10,000 jobs reuses the snapshots of the 9,999 that did not
move instead of building 10,000 new ones per publish.
"""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from mfsync.engine.status import RemoteFile
from mfsync.engine.transfer_status import TransferSnapshot, TransferState
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.store.failures import LocalFailure
from mfsync.store.hashing import FileHashes

__all__ = ["DownloadJob", "DownloadResult", "FailureLog", "JobFailed", "JobKey", "JobRecord"]

#: What identifies a job: the folder it writes into and the wire path it writes.
JobKey = tuple[Path, str]

#: A job cannot succeed (unsafe name, no space, disk error); the message says why. (The store
#: raises it for the local file operations a download needs.)
JobFailed = LocalFailure


@dataclass(frozen=True, slots=True)  # (one per file to fetch: 100,000 at a sync's start)
class DownloadJob:
    """One file to fetch into ``root``: ``path`` of the network's folder ``folder``.

    ``content_id`` pins a content (None: the best one offered for the path). ``store_as`` names
    the wire path to write (a conflict copy's name, say) when it differs from ``path``.
    ``replace`` allows replacing an existing local file (sync decided so); ``expect_local`` is
    the (size, mtime_ns, inode) that file had then: if it changed meanwhile, ours is kept and
    theirs is stored under the conflict name instead. ``local_name`` is the name on disk of the
    file it replaces when that is not ``path`` itself (decomposed, as macOS writes names): the
    new version goes there, not into a twin beside it.
    """

    path: str
    root: Path
    content_id: bytes | None = None
    store_as: str | None = None
    replace: bool = False
    expect_local: tuple[int, int, int] | None = None
    local_name: str | None = None
    folder: FolderId = DEFAULT_FOLDER
    #: What identifies the job: where it writes. Made once: the queue, the board, the job's
    #: record and its snapshots all keep it, and a tuple made per use was six per job (~35 MB
    #: at the start of a sync of 100,000 files).
    key: JobKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.root, self.stored))

    @property
    def stored(self) -> str:
        """The wire path the job writes (unless it must store a conflict copy instead)."""
        return self.store_as or self.path

    @property
    def default_target(self) -> Path:
        """The local path the job writes unless it must store a conflict copy instead (not
        checked for safety: for display, and to find the job's partial file)."""
        return self.root.joinpath(*self.stored.split("/"))


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What became of a job."""

    job: DownloadJob
    state: TransferState
    remote: RemoteFile | None = None
    stored_as: str = ""  #: the wire path written (may be a conflict copy's name)
    local_path: Path | None = None
    error: str = ""
    hashes: FileHashes | None = None  #: of the file now at ``local_path``


class JobRecord:
    """One job's row in the status. Every change goes through a method, which drops the cached
    snapshot; ``snapshot`` builds a new one at most once per change."""

    __slots__ = ("_cached", "done", "error", "fetched", "key", "path", "size", "source",
                 "sources", "started_at", "state", "target")

    def __init__(self, path: str, key: JobKey, target: Path) -> None:
        self.path = path
        self.key = key
        self.target = target
        self.size = 0
        self.done = 0  #: verified bytes (resumed ones included)
        self.fetched = 0  #: bytes received from the network
        self.state = TransferState.QUEUED
        self.source = ""
        self.sources = 1  #: hosts it is received from at once
        self.error = ""
        self.started_at: float | None = None
        self._cached: TransferSnapshot | None = None

    def snapshot(self) -> TransferSnapshot:
        """The row as an immutable snapshot (the same object until the row changes)."""
        if self._cached is None:
            self._cached = TransferSnapshot(self.path, self.size, self.done, self.fetched,
                                            self.state, self.source, self.error,
                                            self.started_at, self.key, self.target,
                                            sources=self.sources)
        return self._cached

    def set_state(self, state: TransferState, *, source: str | None = None,
                  error: str | None = None, size: int | None = None,
                  done: int | None = None, sources: int | None = None) -> None:
        """Move to ``state``, changing the fields given along with it (a new ``source`` alone
        means one host: ``sources`` says how many when there are several)."""
        self.state = state
        if source is not None:
            self.source = source
            self.sources = 1 if sources is None else sources
        if error is not None:
            self.error = error
        if size is not None:
            self.size = size
        if done is not None:
            self.done = done
        self._cached = None

    def place(self, target: Path) -> None:
        """The job writes ``target`` (its plan, then where it landed)."""
        self.target = target
        self._cached = None

    def begin(self, done: int | None = None) -> None:
        """Receiving begins, with ``done`` bytes already verified (a resumed partial)."""
        self.started_at = self.started_at or time.monotonic()
        if done is not None:
            self.done = done
        self.state = TransferState.DOWNLOADING
        self._cached = None

    def received(self, length: int) -> None:
        """``length`` more bytes came from the network."""
        self.fetched += length
        self._cached = None

    def verified(self, length: int) -> None:
        """``length`` more bytes were verified and written."""
        self.done += length
        self._cached = None


#: Local failures remembered so that a repeat is not logged again (see ``FailureLog``).
_MAX_FAILURES_LOGGED = 4096


class FailureLog:
    """Logs why a job cannot succeed here: as an error the first time, at DEBUG when the same
    job failed the same way before and nothing succeeded in between (sync retrying a name that
    cannot be stored here logs it once, not once per retry)."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._last: dict[JobKey, str] = {}

    def failed(self, job: DownloadJob, reason: str) -> None:
        """``job`` failed here for ``reason``."""
        if self._last.get(job.key) == reason:
            self._log.debug("cannot download %s (again): %s", job.path, reason)
            return
        if len(self._last) >= _MAX_FAILURES_LOGGED:
            self._last.clear()  # (bounded: at worst a failure is logged again)
        self._last[job.key] = reason
        self._log.error("cannot download %s: %s", job.path, reason)

    def succeeded(self, job: DownloadJob) -> None:
        """``job`` succeeded: a failure after it is news again."""
        self._last.pop(job.key, None)
