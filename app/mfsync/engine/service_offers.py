"""What a front end does with offers: send files to a host, answer the offers made to us.

The service holds one ``OfferDesk`` (``Service.offers``): it owns the ``Outbox`` (the offers we
send) and the ``Inbox`` (the offers made to us), and is the node's ``OfferInbox``: our server
hands it every offer request, and it routes each to the side that holds the offer (a cancel
may be for either). Front ends call ``send``, ``cancel``, ``accept``, ``decline`` and read the
service's snapshot (``ServiceStatus.outgoing``, ``ServiceStatus.incoming``).
"""

from collections.abc import Callable, Sequence
from pathlib import Path

from mfsync.engine.inbox import AcceptPolicy, Inbox, IncomingOffer, usable_space
from mfsync.engine.node import Node
from mfsync.engine.offer_inbox import refuse_offer
from mfsync.engine.outbox import ANSWER_TIMEOUT, Outbox, OutgoingStatus
from mfsync.engine.service_status import ServiceError
from mfsync.engine.status import HostRef, PeerState
from mfsync.engine.transfers import Downloader
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.offer_messages import (
    AnswerRequest,
    CancelRequest,
    OfferReply,
    OfferRequest,
    ReceiptRequest,
)
from mfsync.reports import Report

__all__ = ["AcceptPolicy", "OfferDesk", "OfferRouter"]


class OfferDesk:
    """The offers we send and those made to us (see the module). ``dest()`` is where accepted
    offers go unless ``set_destination`` names a folder; ``name_of(key)`` what a key is
    called; ``changed`` tells the service to publish."""

    def __init__(self, node: Node, downloader: Downloader, changed: Callable[[], None], *,
                 dest: Callable[[], Path], name_of: Callable[[bytes], str],
                 policy: AcceptPolicy | None = None,
                 free_space: Callable[[Path], int] = usable_space,
                 answer_timeout: float = ANSWER_TIMEOUT, takes_offers: bool = True) -> None:
        self._node = node
        self._name_of = name_of
        self._dest_default = dest
        self._dest: Path | None = None
        self.outbox = Outbox(node, changed, answer_timeout=answer_timeout)
        self.inbox = Inbox(node, downloader, changed, dest=self.destination, policy=policy,
                           free_space=free_space, name_of=self._name_for,
                           answer_timeout=answer_timeout)
        self._router = OfferRouter(self.outbox, self.inbox, takes_offers=takes_offers)
        node.offer_inbox = self._router

    # -- what a front end reads -----------------------------------------------------------

    @property
    def outgoing(self) -> tuple[OutgoingStatus, ...]:
        """The offers we send (see ``OutgoingStatus``), oldest first."""
        return self.outbox.current

    @property
    def incoming(self) -> tuple[IncomingOffer, ...]:
        """The offers made to us (see ``IncomingOffer``; PENDING ones wait for an answer)."""
        return self.inbox.current

    @property
    def policy(self) -> AcceptPolicy:
        """Which offers are accepted without asking."""
        return self.inbox.policy

    @property
    def takes_offers(self) -> bool:
        """Whether offers made to us are considered (else refused: "this host does not take
        offers"); what we send works either way."""
        return self._router.takes_offers

    @takes_offers.setter
    def takes_offers(self, takes: bool) -> None:
        self._router.takes_offers = takes

    def set_accept_policy(self, policy: AcceptPolicy) -> None:
        """Accept offers without asking as ``policy`` says, from the next offer on."""
        self.inbox.policy = policy

    def destination(self) -> Path:
        """Where accepted offers go: the folder set, else the download folder."""
        return self._dest or self._dest_default()

    def set_destination(self, folder: Path | None) -> None:
        """Receive accepted offers into ``folder`` (None: the download folder)."""
        self._dest = folder.expanduser().absolute() if folder is not None else None

    # -- what a front end does ------------------------------------------------------------

    def send(self, paths: Sequence[Path], to_key: bytes,
             address: tuple[str, int] | None = None) -> FolderId:
        """Offer ``paths`` (files and folders) to the host of ``to_key``, at ``address`` (its
        server's HOST, PORT) or wherever the network shows that key; returns the offer's id
        (see ``outgoing``). ``ServiceError`` if no host with that key is known."""
        if not paths:
            raise ServiceError(Report("nothing-to-send"))
        if address is None:
            address = self._address_of(to_key)
        host = HostRef(to_key, address[0], address[1])
        return self.outbox.send(list(paths), host, self._name_for(to_key))

    def cancel(self, offer: FolderId, reason: str = "") -> None:
        """Cancel an offer we send, or one made to us (declined if it still waits); the other
        side is told (``reason``, if any) and partial files are removed. ``ServiceError`` if
        it is neither, or over already."""
        if not (self.outbox.cancel(offer, reason) or self.inbox.cancel(offer, reason)):
            raise ServiceError(Report("no-such-offer", offer=offer))

    def accept(self, offer: FolderId) -> IncomingOffer:
        """Accept the offer ``offer`` made to us. ``ServiceError`` if it waits no more."""
        try:
            return self.inbox.accept(offer)
        except LookupError as exc:
            raise ServiceError(str(exc)) from None

    def decline(self, offer: FolderId, reason: str = "declined") -> IncomingOffer:
        """Decline the offer ``offer`` made to us (the sender is told ``reason``).
        ``ServiceError`` as ``accept``."""
        try:
            return self.inbox.decline(offer, reason)
        except LookupError as exc:
            raise ServiceError(str(exc)) from None

    async def wait(self, offer: FolderId) -> OutgoingStatus:
        """The final status of the offer ``offer`` we send, once it has ended."""
        try:
            return await self.outbox.wait(offer)
        except KeyError:
            raise ServiceError(Report("offer-not-sent", offer=offer)) from None

    async def stop(self) -> None:
        """End every offer under way, on both sides (the other sides are told)."""
        self._node.offer_inbox = None
        await self.outbox.stop()
        await self.inbox.stop()

    # -- helpers --------------------------------------------------------------------------

    def _name_for(self, key: bytes) -> str:
        return self._name_of(key) or next(
            (p.name for p in self._node.status.peers if key in (p.key, p.announced_key)
             and p.name), "")

    def _address_of(self, key: bytes) -> tuple[str, int]:
        """Where the host of ``key`` serves: a connected peer that proved it first, then one
        that only announced it."""
        peers = self._node.status.peers
        for proven in (True, False):
            for peer in peers:
                if (proven and peer.key == key and peer.state is PeerState.CONNECTED) or (
                        not proven and key in (peer.key, peer.announced_key)):
                    return peer.address, peer.port
        raise ServiceError(Report("host-not-here"))


class OfferRouter:
    """The node's ``OfferInbox``: our server's offer requests, each to the side that holds
    the offer (a part to the inbox; an answer or a receipt to the outbox; a cancel to
    whichever made or took that offer with that peer)."""

    def __init__(self, outbox: Outbox, inbox: Inbox, *, takes_offers: bool) -> None:
        self._outbox = outbox
        self._inbox = inbox
        #: Offers made to us are considered (the app, ``receive``), else refused (``share``).
        self.takes_offers = takes_offers

    async def offer_part(self, peer_key: bytes, peer_address: str,
                         request: OfferRequest) -> OfferReply:
        """A part of an offer made to us (refused when we take none)."""
        if not self.takes_offers:
            return refuse_offer(request)
        return await self._inbox.offer_part(peer_key, peer_address, request)

    async def answer(self, peer_key: bytes, request: AnswerRequest) -> bool:
        """The receiver of our offer answers."""
        return self._outbox.answered(peer_key, request)

    async def receipt(self, peer_key: bytes, request: ReceiptRequest) -> bool:
        """The receiver of our offer has every file."""
        return self._outbox.received(peer_key, request)

    async def cancel(self, peer_key: bytes, request: CancelRequest) -> bool:
        """The other side ends an offer: ours to it, or its to us."""
        return (self._outbox.cancelled(peer_key, request)
                or self._inbox.cancelled(peer_key, request))
