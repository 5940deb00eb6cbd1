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

Slow sources and turns: an ``Attempt`` measures its host's rate (``engine.attempts``); a host
below ``MIN_RATE`` is marked slow here, asked last, and loses its turn when someone else can use
it. The downloader's turns are shared so that no host holds them all (``engine.turns``).

``SourcePolicy`` makes every choice the downloader makes about hosts, from what the tracker
knows and the offers it is shown: which host to ask, when a slow source gives up its turn, when
a job waiting for a busy host should choose again, and what a failed attempt says about its
host. It does no I/O and never waits, so it is tested without sockets.
"""

import collections
import enum
import logging
import zlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mfsync.crypto.keys import short_key
from mfsync.engine.attempts import MIN_RATE, RATE_GRACE, RATE_WINDOW, Attempt, RateMeter
from mfsync.engine.download_jobs import DownloadJob
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.turns import (
    BUSY_AFTER,
    SPARE_TURNS,
    Endpoint,
    Turn,
    Turns,
    busy_host,
    endpoint,
    holding_every_turn,
)
from mfsync.net.addresses import format_host_port
from mfsync.net.channel import (
    PeerRefused,
    ProtocolBroken,
    RecordCutShort,
)
from mfsync.net.client import BadBlockList, ClosedMidReply
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import ErrorCode
from mfsync.store.partial import BadBlock

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
    "SourcePolicy",
    "SourceTracker",
    "Turn",
    "Turns",
    "Verdict",
    "busy_host",
    "choose_source",
    "classify",
    "describe_host",
    "endpoint",
    "holding_every_turn",
    "offer_for",
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
#: Hosts and (host, content) pairs remembered at most: a hostile host offering millions of
#: files must not grow this without bound (the oldest are forgotten first; a forgotten host is
#: merely tried again).
MAX_TRACKED = 10_000

#: Refusals that are not failures: a busy host is a healthy one, and a host that stopped
#: trusting us refuses every request, which the node notices when it looks again.
_TRANSIENT_REFUSALS = frozenset({ErrorCode.BUSY, ErrorCode.NOT_TRUSTED})


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


def choose_source(hosts: Sequence[HostRef], path: str, *, slow: Collection[HostRef] = (),
                  busy: Endpoint | None = None) -> HostRef:
    """The host to ask for ``path`` among ``hosts`` (not empty): hosts neither slow nor at
    ``busy`` (holding every turn) first, then hosts not slow, then any. Within a tier, the one
    at ``crc32(path)``: the same host for the same file each time, and a sync of many files
    spread over the hosts offering them (not all from the host with the lowest address)."""
    fast = [h for h in hosts if h not in slow]
    tier = [h for h in fast if endpoint(h) != busy] or fast or list(hosts)
    return tier[zlib.crc32(path.encode("utf-8", "surrogateescape")) % len(tier)]


#: Why a slow source gives up its turn (``SourcePolicy.preemption``).
ANOTHER_HOST = "its source is slow and another host offers it"
OTHERS_WAITING = "its source is slow and other downloads are waiting"
#: Refusals after which the host's index is looked at again: what it no longer offers us (or
#: no longer lets us have) leaves the status, and the job waits for another host.
_LOOK_AGAIN = frozenset({ErrorCode.CHANGED, ErrorCode.NOT_FOUND, ErrorCode.NOT_TRUSTED})


@dataclass(frozen=True)
class Verdict:
    """What a failed attempt says about its host (``SourcePolicy.judge``): whether the host's
    index should be fetched again, and what to log, at which level."""

    refresh: bool
    level: int
    message: str
    failure: Failure | None = None
    dropped: bool = False


class SourcePolicy:
    """Every choice the downloader makes about hosts (see the module's docstring).

    It is shown what it needs, a job's current offer (``RemoteFile``, or None when nothing is
    offered) and the hosts cooling down for it, and answers from what its ``tracker`` knows.
    ``epoch`` counts the changes that may change a job's choice of host (the network's offer,
    slow marks), so that a job waiting for a busy host is looked at again once per change.
    """

    def __init__(self, tracker: SourceTracker | None = None) -> None:
        self.tracker = tracker if tracker is not None else SourceTracker()
        self.epoch = 0

    def offer_changed(self) -> None:
        """The network's offer changed: choices may differ now."""
        self.epoch += 1

    def given_up(self, remote: RemoteFile) -> str:
        """Why no host offering ``remote`` is asked for it any more (every one was dropped for
        that content), or "" while some host may still be asked."""
        if not remote.hosts or self.tracker.usable(remote.hosts, remote.content_id):
            return ""
        return self.tracker.why_dropped(remote.hosts, remote.content_id)

    def candidates(self, remote: RemoteFile, cooling: Collection[Endpoint] = ()) -> list[HostRef]:
        """The hosts that may be asked for ``remote`` now: not dropped for it, not cooling
        down (``cooling``: where hosts that failed a moment ago listen)."""
        return [h for h in self.tracker.usable(remote.hosts, remote.content_id)
                if endpoint(h) not in cooling]

    def is_slow(self, host: HostRef) -> bool:
        """Whether ``host`` was last measured below ``MIN_RATE``."""
        return self.tracker.is_slow(host)

    def pick(self, path: str, hosts: Sequence[HostRef], busy: Endpoint | None) -> HostRef:
        """The host to ask for ``path`` among ``hosts`` (candidates, not empty), ``busy``
        holding every turn: see ``choose_source``."""
        slow = {h for h in hosts if self.tracker.is_slow(h)}
        return choose_source(hosts, path, slow=slow, busy=busy)

    def delivered(self, host: HostRef, content_id: bytes) -> None:
        """``host`` delivered verified data of ``content_id``: its row of failures ends."""
        self.tracker.progress(host, content_id)

    def judge(self, host: HostRef, path: str, content_id: bytes, exc: BaseException,
              verified: int) -> Verdict:
        """Count a failed attempt (``exc``; ``verified`` bytes of it were verified) against
        ``host`` if it was of the host's own doing, and say what to do and log about it."""
        refresh = isinstance(exc, PeerRefused) and exc.code in _LOOK_AGAIN
        failure = classify(exc)
        where = format_host_port(host.address, host.port)
        if failure is None:
            return Verdict(refresh, logging.INFO, f"lost {where} while fetching {path}: {exc}")
        if verified:
            self.tracker.progress(host, content_id)  # (delivered some: a new row)
        # A corrupt block: the file may have changed there (then its index has a new content).
        refresh = refresh or isinstance(exc, BadBlock)
        dropped = self.tracker.failed(host, content_id, failure, str(exc))
        verdict = ("not using it again for this file" if dropped
                   else "trying again, from another host if one has it")
        # A corrupt block is news; a refusal (CHANGED: the file is being edited) usually not.
        level = logging.WARNING if dropped or failure is Failure.CORRUPT else logging.INFO
        if isinstance(exc, PeerRefused):
            message = f"{where} refused {path}: {exc.text}; {verdict}"
        elif failure is Failure.CLOSED:  # (a host killed mid-transfer looks the same)
            message = f"lost {where} while fetching {path}: {exc}; {verdict}"
        else:
            message = f"{describe_host(host)} {failure.value} for {path} ({exc}); {verdict}"
        return Verdict(refresh, level, message, failure, dropped)

    def better_source(self, remote: RemoteFile | None, slow: HostRef) -> bool:
        """Whether a host other than ``slow`` offers ``remote`` and is neither dropped nor
        slow itself."""
        return remote is not None and any(
            host != slow and not self.tracker.is_slow(host)
            for host in self.tracker.usable(remote.hosts, remote.content_id))

    def others_waiting(self, slow: HostRef, queued: bool,
                       waiters: Iterable[tuple[HostRef, RemoteFile | None]]) -> bool:
        """Whether work that does not need ``slow`` waits for a turn: a job not yet started
        (``queued``), or one of ``waiters`` (each job waiting for a turn: the host it chose and
        its offer now) that may ask a host that is not slow (the one it chose, or one that
        appeared since: it looks again when its turn comes). ``waiters`` is read lazily."""
        if queued:
            return True
        for host, remote in waiters:
            if host != slow and not self.tracker.is_slow(host):
                return True
            if self.better_source(remote, host):
                return True
        return False

    def preemption(self, remote: RemoteFile | None, slow: HostRef,
                   others_waiting: Callable[[], bool]) -> str:
        """Why a job receiving (or about to receive) ``remote`` from the slow host ``slow``
        gives up its turn, or "" when nobody else could use it (a lone slow source keeps it)."""
        if self.better_source(remote, slow):
            return ANOTHER_HOST
        if others_waiting():
            return OTHERS_WAITING
        return ""

    def choose_again(self, path: str, remote: RemoteFile | None, cooling: Collection[Endpoint],
                     busy: Endpoint) -> bool:
        """Whether a job waiting for a turn with ``busy`` (which holds every turn) would now
        choose another host (the same hosts cooling down as when it chose)."""
        if remote is None:
            return False
        hosts = self.candidates(remote, cooling)
        return bool(hosts) and endpoint(self.pick(path, hosts, busy)) != busy

    def may_take_spare(self, host: HostRef) -> bool:
        """Whether a job waiting to ask ``host`` (not the busy one) may use a spare turn."""
        return not self.tracker.is_slow(host)

    def measured(self, host: HostRef, slow: bool) -> str:
        """An attempt measured ``host`` as ``slow`` (or not): what changed, for the log, or ""
        when its mark stays as it was."""
        if slow:
            if self.tracker.mark_slow(host):
                self.epoch += 1
                return f"{describe_host(host)} sends less than {MIN_RATE} bytes a second"
        elif self.tracker.clear_slow(host):
            self.epoch += 1
            return f"{describe_host(host)} delivers at the minimum rate again"
        return ""


def offer_for(job: DownloadJob,
              files_for: Callable[[str, FolderId], list[RemoteFile]]) -> RemoteFile | None:
    """The offer ``job`` downloads now: of its pinned content if it has one (also under the
    name it is stored as), else the newest, then the most offered, content of its path; in
    the job's folder only."""
    offers = files_for(job.path, job.folder)
    if job.content_id is not None:
        offers = [f for f in offers if f.content_id == job.content_id]
        if job.store_as and not offers:
            # The same content may be offered under the name we store it as (a conflict copy
            # that another host has already made): it is the same bytes.
            offers = [f for f in files_for(job.store_as, job.folder)
                      if f.content_id == job.content_id]
    if not offers:
        return None
    # Several contents under one name (get without sync): the newest, then the most offered.
    return max(offers, key=lambda f: (f.mtime_ns, len(f.hosts), f.content_id))
