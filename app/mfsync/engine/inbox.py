"""The receiver's side of an offer: parts, checks, the decision, the answer, the receipt.

How it works: an offer arrives at our server in parts (``offer_part``), put together by
``protocol.offer_parts.OfferParts`` (order, header, totals, names). Before any prompt:

- with a trust list, a key not on it is refused (our server refuses such a client before it
  can send anything; the check here is the second line);
- each host may have ``MAX_PENDING_PER_HOST`` offers being collected or waiting for an answer,
  and start ``MAX_OFFERS_PER_MINUTE`` a minute ("too many offers"): no notification flood;
- the names are checked like every name from the network (``OfferParts``);
- the download folder must have room for the whole offer ("needs 12.4 GB, 3.1 GB free").

Then the ``AcceptPolicy`` decides: a key in ``accept_from``, a trusted key (listed in the trust
list, not merely let in by an empty one) with ``auto_trusted``, or anyone with ``auto_all`` is
accepted at once (ACCEPTED); otherwise the offer waits for the user (PENDING, published as an
``IncomingOffer`` for a front end to ask; ``accept``/``decline``), and counts as declined after
``ANSWER_TIMEOUT`` (reason "no answer"). A policy with ``ask`` off declines at once instead.
What the receiver says later (the answer, the receipt, a cancel) travels on a connection we
open to the sender's server (the address the offer came from, the port it names).

Accepted offers are received by ``offer_receive``: into the download folder, a folder sent
under its own name (or "NAME (2)", never over what is there), loose files with the usual
conflict names. Once every file is verified the receipt is sent (RECEIVED). A sender's cancel
stops the downloads and removes their partial files (CANCELLED).
"""

import asyncio
import enum
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mfsync.crypto.keys import short_key
from mfsync.engine.node import Node
from mfsync.engine.offer_receive import (
    OfferFailed,
    OfferSource,
    offer_names,
    receive_offer,
    tell_sender,
)
from mfsync.engine.outbox import ANSWER_TIMEOUT, STOP_WAIT
from mfsync.engine.transfers import Downloader
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.offer_messages import (
    AnswerRequest,
    CancelRequest,
    OfferEntry,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
)
from mfsync.protocol.offer_parts import BadOffer, OfferParts
from mfsync.store.space import reserve_for

__all__ = [
    "MAX_OFFERS_PER_MINUTE",
    "MAX_PENDING_PER_HOST",
    "AcceptPolicy",
    "Inbox",
    "IncomingOffer",
    "IncomingState",
    "usable_space",
]

log = logging.getLogger("mfsync.offers")

#: Offers one host may have collected or waiting for an answer at once.
MAX_PENDING_PER_HOST = 3
#: Offers one host may start in a minute (``RATE_WINDOW`` seconds).
MAX_OFFERS_PER_MINUTE = 10
RATE_WINDOW = 60.0
#: Offers being collected or waiting, from all hosts together (each holds its list of files).
MAX_OPEN_OFFERS = 32
#: Offers whose parts are being collected at once, from all hosts together: each may hold up
#: to ``MAX_OFFER_ENTRY_BYTES`` (128 MiB) of names until its last part arrives.
MAX_COLLECTING = 4
#: A part that does not follow the one before within this long drops the offer.
PART_WAIT = 60.0
#: Entries an ``IncomingOffer`` shows (the first of the offer's, in its order).
SHOWN_ENTRIES = 20
#: Hosts whose recent offers are remembered for the rate limit (bounded, as a flood's keys).
MAX_RATE_HOSTS = 1024
#: Finished offers kept in the status.
MAX_FINISHED = 50
#: A receipt is tried this many times in all (see ``tell_sender``): the sender waits for it.
RECEIPT_TRIES = 5


class IncomingState(enum.Enum):
    """Where an offer made to us stands."""

    PENDING = "pending"  #: the user is asked
    RECEIVING = "receiving"  #: accepted: the files are being fetched
    RECEIVED = "received"  #: every file in place and verified; the sender was told
    DECLINED = "declined"  #: by the user, or nobody answered (``reason``)
    CANCELLED = "cancelled"  #: by the sender or by us (``reason``)
    FAILED = "failed"  #: could not be received (``reason``; the sender was told)


@dataclass(frozen=True, slots=True)
class IncomingOffer:
    """One offer made to us, at one moment (what a front end asks about, and shows)."""

    offer: FolderId
    from_key: bytes
    #: What the sender is called (its key's name, or the name it announces); may be empty.
    from_name: str
    address: str
    port: int
    label: str
    files: int
    bytes: int
    #: The first ``SHOWN_ENTRIES`` files, (wire path, size).
    first_entries: tuple[tuple[str, int], ...]
    #: When it counts as declined if nobody answers (``time.time()``).
    expires_at: float
    state: IncomingState = IncomingState.PENDING
    reason: str = ""
    #: Where the files go (set once accepted): the download folder.
    dest: Path | None = None

    @property
    def from_text(self) -> str:
        """The sender for people: its name, else its short key."""
        return self.from_name or short_key(self.from_key)


@dataclass(frozen=True)
class AcceptPolicy:
    """Which offers are accepted without asking (see the module); ``ask`` False: the others
    are declined at once (a ``receive`` with nobody to ask)."""

    auto_trusted: bool = True
    auto_all: bool = False
    accept_from: frozenset[bytes] = frozenset()
    ask: bool = True

    def accepts(self, key: bytes, trusted_keys: frozenset[bytes]) -> bool:
        """Whether an offer from ``key`` is accepted without asking."""
        return (key in self.accept_from or self.auto_all
                or (self.auto_trusted and key in trusted_keys))


def usable_space(folder: Path) -> int:
    """Bytes that may be written under ``folder`` (its nearest existing parent's file system)
    leaving the store's reserve free. Blocking: run it in a worker thread."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return max(0, usage.free - reserve_for(usage.total))


def size_text(size: int) -> str:
    """A size for people, in decimal units as file managers show them ("12.4 GB")."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # (not reached)


@dataclass(eq=False)
class _Incoming:
    """One offer made to us, as the inbox keeps it."""

    key: bytes
    address: str
    parts: OfferParts = field(default_factory=OfferParts)
    last_part: float = field(default_factory=time.monotonic)
    status: IncomingOffer | None = None  #: None while its parts are collected
    timer: asyncio.TimerHandle | None = None
    task: "asyncio.Task[None] | None" = None
    #: The folder names it was given in the download folder (freed when it ends).
    names: dict[str, str] = field(default_factory=dict)


class Inbox:
    """The offers made to this host (see the module). ``dest()`` is the download folder now;
    ``free_space(folder)`` how many bytes may be written there (blocking: it runs in a worker
    thread); ``name_of(key)`` what a key is called; ``changed`` is told of every change."""

    def __init__(self, node: Node, downloader: Downloader, changed: Callable[[], None], *,
                 dest: Callable[[], Path], policy: AcceptPolicy | None = None,
                 free_space: Callable[[Path], int] = usable_space,
                 name_of: Callable[[bytes], str] = lambda _key: "",
                 answer_timeout: float = ANSWER_TIMEOUT) -> None:
        self._node = node
        self._downloader = downloader
        self._changed = changed
        self._dest = dest
        self.policy = policy or AcceptPolicy()
        #: How many bytes may be written under a folder (blocking; tests inject their own).
        self.free_space = free_space
        self._name_of = name_of
        #: Seconds a pending offer waits for the user before it counts as declined.
        self.answer_timeout = answer_timeout
        self._offers: dict[tuple[bytes, FolderId], _Incoming] = {}
        self._started: dict[bytes, deque[float]] = {}
        #: The top-level folder names offers under way are received under (casefolded).
        self._names_taken: set[str] = set()
        self._naming = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def current(self) -> tuple[IncomingOffer, ...]:
        """Every offer made to us that is complete (pending, under way, or among the last
        ``MAX_FINISHED`` finished), oldest first."""
        return tuple(r.status for r in self._offers.values() if r.status is not None)

    # -- the offer's parts (``OfferInbox``'s part) ------------------------------------------

    async def offer_part(self, peer_key: bytes, peer_address: str,
                         request: OfferRequest) -> OfferReply:
        """One part of an offer from ``peer_key`` (connected from ``peer_address``); the reply
        to it (see the module)."""
        self._drop_stale()
        ident = (peer_key, request.offer)
        record = self._offers.get(ident)
        if record is not None and record.status is not None:
            return _refused(request, "this offer was made already")
        if record is None:
            refusal = self._admit(peer_key)
            if refusal:
                log.info("refused an offer of %s from %s (key %s): %s", request.label,
                         peer_address, short_key(peer_key), refusal)
                return _refused(request, refusal)
            record = self._offers[ident] = _Incoming(peer_key, peer_address)
            self._started.setdefault(peer_key, deque()).append(time.monotonic())
        try:
            complete = record.parts.add(request)
        except BadOffer as exc:
            del self._offers[ident]
            log.info("refused an offer from %s (key %s): %s", peer_address,
                     short_key(peer_key), exc)
            return _refused(request, str(exc))
        record.last_part = time.monotonic()
        if not complete:
            return OfferReply(request.offer, OfferStatus.PART_RECEIVED)
        return await self._decide(record, request)

    async def _decide(self, record: _Incoming, request: OfferRequest) -> OfferReply:
        ident = (record.key, request.offer)
        dest = self._dest()
        try:
            free = await asyncio.to_thread(self.free_space, dest)
        except OSError as exc:
            self._offers.pop(ident, None)
            return _refused(request, f"the download folder cannot be used: {exc}")
        if self._offers.get(ident) is not record:
            return _refused(request, "cancelled")  # (by the sender, meanwhile)
        if free < request.total_bytes:
            del self._offers[ident]
            reason = f"needs {size_text(request.total_bytes)}, {size_text(free)} free"
            log.info("refused an offer of %s from %s: %s", request.label, record.address,
                     reason)
            return _refused(request, reason)
        entries = record.parts.entries
        record.status = IncomingOffer(
            request.offer, record.key, self._name_of(record.key), record.address, request.port,
            request.label, request.total_files, request.total_bytes,
            tuple((e.path, e.size) for e in entries[:SHOWN_ENTRIES]),
            time.time() + self.answer_timeout)
        if self.policy.accepts(record.key, self._node.options.trusted_keys):
            log.info("accepted an offer of %s from %s", request.label, record.status.from_text)
            self._start(record, answer=False)
            return OfferReply(request.offer, OfferStatus.ACCEPTED)
        if not self.policy.ask:
            self._finish(record, IncomingState.DECLINED, "declined: nobody to ask")
            return OfferReply(request.offer, OfferStatus.DECLINED, "nobody here to accept it")
        record.timer = asyncio.get_running_loop().call_later(
            self.answer_timeout, self._expire, ident)
        log.info("%s wants to send %s (%d files, %s)", record.status.from_text, request.label,
                 request.total_files, size_text(request.total_bytes))
        self._changed()
        return OfferReply(request.offer, OfferStatus.PENDING)

    def _admit(self, key: bytes) -> str:
        """Why a new offer from ``key`` is refused before its parts are read, or ""."""
        if not self._node.is_trusted(key):
            return "not trusted"
        now = time.monotonic()
        recent = self._started.get(key)
        if recent is not None:
            while recent and now - recent[0] > RATE_WINDOW:
                recent.popleft()
        open_offers = [r for r in self._offers.values()
                       if r.status is None or r.status.state is IncomingState.PENDING]
        collecting = sum(1 for r in open_offers if r.status is None)
        if (sum(1 for r in open_offers if r.key == key) >= MAX_PENDING_PER_HOST
                or (recent is not None and len(recent) >= MAX_OFFERS_PER_MINUTE)
                or len(open_offers) >= MAX_OPEN_OFFERS or collecting >= MAX_COLLECTING):
            return "too many offers"
        if len(self._started) >= MAX_RATE_HOSTS and key not in self._started:
            self._started = {k: v for k, v in self._started.items()
                             if v and now - v[-1] < RATE_WINDOW}
        return ""

    def _drop_stale(self) -> None:
        """Forget offers whose next part did not come within ``PART_WAIT``."""
        now = time.monotonic()
        for ident, record in list(self._offers.items()):
            if record.status is None and now - record.last_part > PART_WAIT:
                del self._offers[ident]

    # -- the user's answer ----------------------------------------------------------------

    def accept(self, offer: FolderId) -> IncomingOffer:
        """Accept the pending offer ``offer``: the sender is told and the files are fetched.
        ``LookupError`` if no such offer waits for an answer."""
        record = self._pending(offer)
        self._start(record, answer=True)
        assert record.status is not None
        return record.status

    def decline(self, offer: FolderId, reason: str = "declined") -> IncomingOffer:
        """Decline the pending offer ``offer`` (the sender is told ``reason``); ``LookupError``
        as ``accept``."""
        record = self._pending(offer)
        self._finish(record, IncomingState.DECLINED, reason)
        self._spawn(self._tell(record, AnswerRequest(offer, False, reason)))
        assert record.status is not None
        return record.status

    def cancel(self, offer: FolderId, reason: str = "") -> bool:
        """Stop receiving the offer ``offer`` (its partial files are removed; the sender is
        told ``reason``), or decline it if it still waits; whether it was under way."""
        record = next((r for r in self._offers.values() if r.status is not None
                       and r.status.offer == offer and r.status.state in (
                           IncomingState.PENDING, IncomingState.RECEIVING)), None)
        if record is None or record.status is None:
            return False
        if record.status.state is IncomingState.PENDING:
            self.decline(offer, reason or "declined")
            return True
        self._finish(record, IncomingState.CANCELLED, reason or "cancelled")
        self._spawn(self._tell(record, CancelRequest(offer, reason)))
        return True

    def cancelled(self, peer_key: bytes, request: CancelRequest) -> bool:
        """The sender ends its offer (``OfferInbox``'s part); False if it made no such offer
        to us that is under way."""
        record = self._offers.get((peer_key, request.offer))
        if record is None:
            return False
        if record.status is None:
            del self._offers[(peer_key, request.offer)]  # still being collected
            return True
        if record.status.state not in (IncomingState.PENDING, IncomingState.RECEIVING):
            return False
        reason = f"cancelled by the sender: {request.reason}" if request.reason else (
            "cancelled by the sender")
        self._finish(record, IncomingState.CANCELLED, reason)
        return True

    async def stop(self) -> None:
        """End every offer under way (the senders are told, briefly): partial files are
        removed, as a cancel removes them (no sender knows the offer again after a restart)."""
        reason = "the receiver stopped"
        for record in list(self._offers.values()):
            status = record.status
            if status is None or status.state not in (IncomingState.PENDING,
                                                      IncomingState.RECEIVING):
                continue
            self._finish(record, IncomingState.CANCELLED, reason)
            self._spawn(self._tell(record, CancelRequest(status.offer, reason)
                                   if status.state is IncomingState.RECEIVING
                                   else AnswerRequest(status.offer, False, reason)))
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_WAIT)
        for task in tasks:
            task.cancel()

    # -- receiving ------------------------------------------------------------------------

    def _start(self, record: _Incoming, *, answer: bool) -> None:
        assert record.status is not None
        if record.timer is not None:
            record.timer.cancel()
        dest = self._dest()
        record.status = replace(record.status, state=IncomingState.RECEIVING, dest=dest)
        record.task = self._spawn(self._receive(record, dest, answer=answer))
        self._changed()

    async def _receive(self, record: _Incoming, dest: Path, *, answer: bool) -> None:
        status = record.status
        assert status is not None
        if answer and not await self._tell(record, AnswerRequest(status.offer, True, "")):
            self._finish(record, IncomingState.FAILED, "the sender could not be told")
            return
        entries: tuple[OfferEntry, ...] = record.parts.entries
        source = OfferSource(status.offer, record.key, record.address, status.port)
        try:
            await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
            async with self._naming:  # one at a time: two offers never pick one name
                record.names = await asyncio.to_thread(offer_names, dest, entries,
                                                       set(self._names_taken))
                self._names_taken |= {name.casefold() for name in record.names.values()}
            await receive_offer(self._node, self._downloader, source, entries, dest,
                                names=record.names)
        except (OfferFailed, OSError) as exc:
            reason = str(exc)
            self._finish(record, IncomingState.FAILED, reason)
            await self._tell(record, CancelRequest(status.offer, reason))
            return
        current = record.status
        if current is None or current.state is not IncomingState.RECEIVING:
            return  # cancelled meanwhile: no receipt for what the user stopped
        log.info("received %s from %s: %d files", status.label, status.from_text, status.files)
        self._finish(record, IncomingState.RECEIVED, "")
        # (the sender waits for the receipt: a link that dropped may be back in a moment)
        await self._tell(record, ReceiptRequest(status.offer, status.files, status.bytes),
                         tries=RECEIPT_TRIES)

    async def _tell(self, record: _Incoming,
                    request: AnswerRequest | ReceiptRequest | CancelRequest, *,
                    tries: int = 1) -> bool:
        """Send ``request`` to the offer's sender; whether it was taken."""
        status = record.status
        assert status is not None
        source = OfferSource(status.offer, record.key, record.address, status.port)
        return await tell_sender(self._node, source, request, who=status.from_text,
                                 tries=tries)

    # -- helpers --------------------------------------------------------------------------

    def _pending(self, offer: FolderId) -> _Incoming:
        for record in self._offers.values():
            if (record.status is not None and record.status.offer == offer
                    and record.status.state is IncomingState.PENDING):
                return record
        raise LookupError(f"no offer {offer} waits for an answer")

    def _expire(self, ident: tuple[bytes, FolderId]) -> None:
        record = self._offers.get(ident)
        if record is None or record.status is None:
            return
        if record.status.state is IncomingState.PENDING:
            self._finish(record, IncomingState.DECLINED, "no answer")
            self._spawn(self._tell(record, AnswerRequest(ident[1], False, "no answer")))

    def _finish(self, record: _Incoming, state: IncomingState, reason: str) -> None:
        assert record.status is not None
        if record.status.state not in (IncomingState.PENDING, IncomingState.RECEIVING):
            return
        if record.timer is not None:
            record.timer.cancel()
        record.status = replace(record.status, state=state, reason=reason)
        if record.task is not None and record.task is not asyncio.current_task():
            record.task.cancel()  # (receive_offer cancels its downloads)
        self._names_taken -= {name.casefold() for name in record.names.values()}
        finished = [i for i, r in self._offers.items() if r.status is not None
                    and r.status.state not in (IncomingState.PENDING, IncomingState.RECEIVING)]
        for ident in finished[:max(0, len(finished) - MAX_FINISHED)]:
            del self._offers[ident]
        self._changed()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> "asyncio.Task[None]":
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: "asyncio.Task[None]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("receiving an offer failed", exc_info=task.exception())


def _refused(request: OfferRequest, reason: str) -> OfferReply:
    return OfferReply(request.offer, OfferStatus.REFUSED, reason)
