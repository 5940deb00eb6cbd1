"""The sender's side of an offer: stage, offer, wait for the answer, serve, hear the receipt.

How it works: ``Outbox.send`` picks an offer id none of our folders has and starts the offer's
task. It stages what is sent in a worker thread (``offer_files``), serves the staged files as
a temporary folder only the receiver may see (``OfferViews``), connects to the receiver's
server (the receiver must prove the key we send to) and sends the offer in parts. The
receiver's verdict on the last part decides: ACCEPTED (it connects back to fetch the files),
PENDING (its user is asked: we wait at most ``ANSWER_TIMEOUT`` for its ``AnswerRequest``),
DECLINED or REFUSED (the reason is shown). While the receiver downloads, the file server counts
the bytes it sends from the offer's folder (``bytes_sent``, and a speed from it). The offer
ends DELIVERED at the receiver's receipt (every file verified and in place), CANCELLED by
either side (``cancel`` tells the receiver), or FAILED; its folder is withdrawn then, and our
server no longer lets the receiver in for it.

Each offer is published as a frozen ``OutgoingStatus`` (``current``): the front ends render it,
the service puts it in its snapshot.
"""

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mfsync.crypto.keys import short_key
from mfsync.engine.node import Node
from mfsync.engine.offer_files import StagedOffer, StagingError, stage
from mfsync.engine.status import HostRef
from mfsync.engine.transfer_rates import RateMeter
from mfsync.net.channel import ChannelError, NotTrusted, PeerRefused
from mfsync.net.client import send_cancel, send_offer
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import ErrorCode
from mfsync.protocol.offer_messages import (
    AnswerRequest,
    CancelRequest,
    OfferEntry,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
    split_offer,
)

__all__ = [
    "ANSWER_TIMEOUT",
    "FINAL_OUTGOING",
    "STOP_WAIT",
    "TELL_TIMEOUT",
    "Outbox",
    "OutgoingState",
    "OutgoingStatus",
]

log = logging.getLogger("mfsync.offers")

#: An offer nobody answers within this many seconds counts as declined (both sides).
ANSWER_TIMEOUT = 120.0
#: Finished offers kept in the status (the oldest are forgotten first).
MAX_FINISHED = 50
#: How long telling the other side of a cancel may take.
TELL_TIMEOUT = 10.0
#: An accepted offer of which the receiver fetched nothing for this long has failed.
STALL_TIMEOUT = 300.0
#: While an offer is being fetched, its speed is sampled at least this often (seconds).
SPEED_TICK = 0.5
#: How long stopping waits for the other sides to be told that our offers ended.
STOP_WAIT = 3.0


class OutgoingState(enum.Enum):
    """Where an offer we send stands."""

    STAGING = "staging"  #: what is sent is being read and hashed
    WAITING = "waiting"  #: the receiver's user is asked
    SENDING = "sending"  #: accepted: the receiver fetches the files
    DELIVERED = "delivered"  #: the receiver has every file, verified
    DECLINED = "declined"
    REFUSED = "refused"  #: not trusted, too many offers, too big, ... (``reason``)
    TIMED_OUT = "timed out"  #: no answer within ``ANSWER_TIMEOUT``
    CANCELLED = "cancelled"  #: by us or by the receiver (``reason``)
    FAILED = "failed"  #: could not be staged, reached or finished (``reason``)


#: The states an offer ends in.
FINAL_OUTGOING = frozenset({OutgoingState.DELIVERED, OutgoingState.DECLINED,
                            OutgoingState.REFUSED, OutgoingState.TIMED_OUT,
                            OutgoingState.CANCELLED, OutgoingState.FAILED})


@dataclass(frozen=True, slots=True)
class OutgoingStatus:
    """One offer we send, at one moment."""

    offer: FolderId
    to_key: bytes
    #: What the receiver is called (its key's name, or the name it announces); may be empty.
    to_name: str
    label: str = ""
    files: int = 0
    bytes: int = 0
    state: OutgoingState = OutgoingState.STAGING
    #: Why it was declined, refused, cancelled or failed (the other side's words when theirs).
    reason: str = ""
    #: Bytes of file data our server has sent for it (a file fetched again counts again).
    bytes_sent: int = 0
    #: Bytes per second while SENDING, over the last few seconds; None when not measured.
    speed: float | None = None

    @property
    def final(self) -> bool:
        """Whether the offer has ended."""
        return self.state in FINAL_OUTGOING

    @property
    def to_text(self) -> str:
        """The receiver for people: its name, else its short key."""
        return self.to_name or short_key(self.to_key)

    @property
    def text(self) -> str:
        """Where it stands, for people ("waiting for office-pc to accept", "declined: ...")."""
        state = self.state
        if state is OutgoingState.WAITING:
            return f"waiting for {self.to_text} to accept"
        if state is OutgoingState.SENDING:
            return f"sending to {self.to_text}"
        if state is OutgoingState.DELIVERED:
            return f"delivered to {self.to_text}"
        # (a bare "declined" says it all: not "declined: declined")
        word: str = state.value
        return f"{word}: {self.reason}" if self.reason and self.reason != word else word

    @property
    def seconds_left(self) -> float | None:
        """Seconds until every byte is sent at the current speed (None: not measured)."""
        if self.state is not OutgoingState.SENDING or not self.speed:
            return None
        return max(0, self.bytes - self.bytes_sent) / self.speed


@dataclass(eq=False)
class _Offer:
    """One offer we send, as the outbox keeps it."""

    status: OutgoingStatus
    to: HostRef
    task: "asyncio.Task[None] | None" = None
    #: The receiver's answer (accepted, reason), once it comes.
    answer: "asyncio.Future[tuple[bool, str]]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    #: How the offer ends once accepted (state, reason): a receipt, or a cancel.
    outcome: "asyncio.Future[tuple[OutgoingState, str]]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    #: The receiver has the offer (so a cancel must be told to it).
    offered: bool = False
    meter: RateMeter = field(default_factory=RateMeter)
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class Outbox:
    """The offers this host sends: ``send``, ``cancel``, ``wait``; ``current`` is what they
    look like now. ``changed`` is told whenever that changes."""

    def __init__(self, node: Node, changed: Callable[[], None], *,
                 answer_timeout: float = ANSWER_TIMEOUT,
                 stager: Callable[[Sequence[Path]], StagedOffer] = stage) -> None:
        self._node = node
        self._changed = changed
        #: Seconds an offer waits for the receiver's answer (tests inject a short one).
        self.answer_timeout = answer_timeout
        #: Seconds an accepted offer may go without a byte fetched (tests inject a short one).
        self.stall_timeout = STALL_TIMEOUT
        self._stage = stager
        self._offers: dict[FolderId, _Offer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def current(self) -> tuple[OutgoingStatus, ...]:
        """Every offer sent (the finished ones among the last ``MAX_FINISHED``), oldest first."""
        return tuple(offer.status for offer in self._offers.values())

    def status(self, offer: FolderId) -> OutgoingStatus | None:
        """Where the offer ``offer`` stands, if it is ours."""
        found = self._offers.get(offer)
        return found.status if found is not None else None

    def send(self, paths: Sequence[Path], to: HostRef, to_name: str = "") -> FolderId:
        """Offer ``paths`` (files and folders) to ``to`` (its key is what counts: the host at
        its address must prove it); returns the offer's id at once, the offer goes on in the
        background (see ``current`` and ``wait``)."""
        taken = {folder.id for folder in self._node.folders} | set(self._offers)
        offer = FolderId.new()
        while offer in taken:
            offer = FolderId.new()
        record = _Offer(OutgoingStatus(offer, to.key, to_name), to)
        self._offers[offer] = record
        record.task = self._spawn(self._run(record, list(paths)))
        self._forget_old()
        self._changed()
        return offer

    async def wait(self, offer: FolderId) -> OutgoingStatus:
        """The offer's final status, once it has ended. ``KeyError`` if it is not ours."""
        record = self._offers[offer]
        await record.ended.wait()
        return record.status

    def cancel(self, offer: FolderId, reason: str = "") -> bool:
        """End the offer ``offer`` (the receiver is told, and stops); whether it was ours and
        still under way."""
        record = self._offers.get(offer)
        if record is None or record.status.final:
            return False
        self._end(record, OutgoingState.CANCELLED, reason or "cancelled")
        if record.offered:
            self._spawn(self._tell_cancel(record, reason))
        return True

    async def stop(self) -> None:
        """Cancel every offer under way (the receivers are told, briefly) and wait for them."""
        for record in list(self._offers.values()):
            self.cancel(record.status.offer, "the sender stopped")
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_WAIT)
        for task in tasks:
            task.cancel()

    # -- what the receiver tells our server (``OfferInbox``'s part) -------------------------

    def answered(self, peer_key: bytes, request: AnswerRequest) -> bool:
        """The receiver's answer; False if the offer is not one we made to ``peer_key``."""
        record = self._ours(peer_key, request.offer)
        if record is None:
            return False
        if not record.answer.done():
            record.answer.set_result((request.accepted, request.reason))
        return True

    def received(self, peer_key: bytes, request: ReceiptRequest) -> bool:
        """The receiver's receipt; False as ``answered``."""
        record = self._ours(peer_key, request.offer)
        if record is None:
            return False
        status = record.status
        if (request.files, request.bytes) == (status.files, status.bytes):
            outcome = (OutgoingState.DELIVERED, "")
        else:
            outcome = (OutgoingState.FAILED, f"the receiver reports {request.files} files "
                       f"({request.bytes} bytes) of {status.files} ({status.bytes} bytes)")
        if not record.outcome.done():
            record.outcome.set_result(outcome)
        return True

    def cancelled(self, peer_key: bytes, request: CancelRequest) -> bool:
        """The receiver ends our offer; False as ``answered``."""
        record = self._ours(peer_key, request.offer)
        if record is None:
            return False
        reason = f"cancelled by the receiver: {request.reason}" if request.reason else (
            "cancelled by the receiver")
        if not record.answer.done():
            record.answer.set_result((False, reason))
        if not record.outcome.done():
            record.outcome.set_result((OutgoingState.CANCELLED, reason))
        return True

    # -- one offer ------------------------------------------------------------------------

    async def _run(self, record: _Offer, paths: list[Path]) -> None:
        offer = record.status.offer
        try:
            staged = await asyncio.to_thread(self._stage, paths)
        except StagingError as exc:
            self._end(record, OutgoingState.FAILED, str(exc))
            return
        self._set(record, label=staged.label, files=staged.total_files,
                  bytes=staged.total_bytes)
        server = self._node.server
        if server is None:
            self._end(record, OutgoingState.FAILED, "this host runs no server to send from")
            return
        entries = [OfferEntry(path, size, content) for path, size, content in staged.entries]
        try:
            parts = split_offer(offer, server.port, staged.label, entries)
        except ValueError as exc:
            self._end(record, OutgoingState.FAILED, str(exc))
            return
        self._node.offer_views.serve(
            staged.view(offer, record.to.key, lambda n: self._sent(record, n)), record.to.key)
        try:
            await self._offer(record, parts)
        finally:
            self._node.offer_views.withdraw(offer)

    async def _offer(self, record: _Offer, parts: Sequence[OfferRequest]) -> None:
        to = record.to
        try:
            channel = await self._node.open_to(to.address, to.port, to.key)
        except NotTrusted:
            self._end(record, OutgoingState.FAILED, f"the host at {to.address}:{to.port} did "
                      f"not prove the key {short_key(to.key)}")
            return
        except PeerRefused as exc:
            state = (OutgoingState.REFUSED if exc.code is ErrorCode.NOT_TRUSTED
                     else OutgoingState.FAILED)
            self._end(record, state, exc.text or exc.code.name)
            return
        except (ChannelError, OSError) as exc:
            self._end(record, OutgoingState.FAILED, f"cannot reach {record.status.to_text}: "
                      f"{str(exc) or type(exc).__name__}")
            return
        hello = channel.peer_hello
        if not record.status.to_name and hello is not None and hello.name:
            self._set(record, to_name=hello.name)  # what it calls itself, as it said so
        try:
            record.offered = True
            reply = await send_offer(channel, parts)
        except PeerRefused as exc:
            self._end(record, OutgoingState.REFUSED, exc.text or exc.code.name)
            return
        except (ChannelError, OSError) as exc:
            self._end(record, OutgoingState.FAILED, f"the offer did not get through: {exc}")
            return
        finally:
            await channel.close()
        if reply.status is OfferStatus.PENDING:
            self._set(record, state=OutgoingState.WAITING)
            try:
                async with asyncio.timeout(self.answer_timeout):  # (not wait_for: see
                    accepted, reason = await asyncio.shield(record.answer)  # offer_receive)
            except TimeoutError:
                self._end(record, OutgoingState.TIMED_OUT, "no answer")
                self._spawn(self._tell_cancel(record, "no answer"))
                return
            if not accepted:
                self._end(record, OutgoingState.DECLINED, reason)
                return
        elif reply.status is not OfferStatus.ACCEPTED:
            state = {OfferStatus.DECLINED: OutgoingState.DECLINED,
                     OfferStatus.REFUSED: OutgoingState.REFUSED}.get(reply.status,
                                                                     OutgoingState.FAILED)
            record.offered = False  # the receiver keeps nothing of it
            self._end(record, state, reply.reason)
            return
        self._set(record, state=OutgoingState.SENDING)
        moved, last = time.monotonic(), record.status.bytes_sent
        while not record.outcome.done():
            # A stalled transfer sends nothing that would update its speed: sample it anyway.
            await asyncio.wait([record.outcome], timeout=SPEED_TICK)
            now, sent = time.monotonic(), record.status.bytes_sent
            record.meter.add(now, sent)
            self._set(record, speed=record.meter.rate())
            if sent != last:
                moved, last = now, sent
            elif now - moved > self.stall_timeout and not record.outcome.done():
                # (the receiver gives up on a source after 120 s without data, and says so;
                # this is for a receiver that is gone for good, or never came)
                self._end(record, OutgoingState.FAILED, "the receiver stopped fetching")
                self._spawn(self._tell_cancel(record, "the sender stopped waiting"))
                return
        state, reason = record.outcome.result()
        self._end(record, state, reason)

    # -- helpers --------------------------------------------------------------------------

    def _ours(self, peer_key: bytes, offer: FolderId) -> _Offer | None:
        """Our offer ``offer`` if we made it to ``peer_key`` and it is under way."""
        record = self._offers.get(offer)
        if record is None or record.to.key != peer_key or record.status.final:
            return None
        return record

    def _sent(self, record: _Offer, length: int) -> None:
        sent = record.status.bytes_sent + length
        record.meter.add(time.monotonic(), sent)
        self._set(record, bytes_sent=sent, speed=record.meter.rate())

    def _set(self, record: _Offer, **changes: Any) -> None:
        if record.status.final:
            return  # (a cancel ended it meanwhile)
        record.status = replace(record.status, **changes)
        self._changed()

    def _end(self, record: _Offer, state: OutgoingState, reason: str) -> None:
        if record.status.final:
            return
        record.status = replace(record.status, state=state, reason=reason, speed=None)
        log.info("offer %s (%s) to %s: %s", record.status.offer, record.status.label,
                 record.status.to_text, record.status.text)
        self._node.offer_views.withdraw(record.status.offer)
        for future in (record.answer, record.outcome):
            if not future.done():
                future.cancel()
        if record.task is not None and record.task is not asyncio.current_task():
            record.task.cancel()
        record.ended.set()
        self._changed()

    async def _tell_cancel(self, record: _Offer, reason: str) -> None:
        """Tell the receiver that the offer ended (best effort: it may be gone)."""
        to = record.to
        try:
            async with asyncio.timeout(TELL_TIMEOUT):
                channel = await self._node.open_to(to.address, to.port, to.key)
                try:
                    await send_cancel(channel, CancelRequest(record.status.offer, reason))
                finally:
                    await channel.close()
        except (ChannelError, OSError, TimeoutError) as exc:
            log.info("could not tell %s that offer %s ended: %s", record.status.to_text,
                     record.status.offer, str(exc) or type(exc).__name__)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> "asyncio.Task[None]":
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: "asyncio.Task[None]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("an offer failed", exc_info=task.exception())
            for record in self._offers.values():
                if record.task is task:
                    self._end(record, OutgoingState.FAILED, f"internal error: "
                              f"{task.exception()!r}")

    def _forget_old(self) -> None:
        finished = [o for o, r in self._offers.items() if r.status.final]
        for offer in finished[:max(0, len(finished) - MAX_FINISHED)]:
            del self._offers[offer]

