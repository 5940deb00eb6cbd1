"""What the file server hands an offer's requests to: the ``OfferInbox`` protocol.

The server (``serve.FileServer``) answers the offer requests of PROTOCOL.md 3.13 through the
exchange table and asks an ``OfferInbox`` what to answer: the node's ``offer_inbox``, which the
service sets (``engine/inbox.py`` and ``engine/outbox.py`` behind it). An ``OfferRequest`` part
gets the ``OfferReply`` the inbox returns; an ``AnswerRequest``, ``ReceiptRequest`` or
``CancelRequest`` gets an ``Ack`` when the inbox knows the offer as the asking peer's (True),
else ``NO_SUCH_FOLDER``, the bytes a folder the peer may not see gets, so that a peer learns
nothing of other peers' offers. With no inbox set (a plain ``share``), every offer is refused
(``NO_OFFERS``) and every answer, receipt or cancel gets ``NO_SUCH_FOLDER``.

Which side gets what: the offer's parts arrive at the receiver's server; the answer and the
receipt at the sender's (the receiver connects to the port the offer names); a cancel at
either, from the other. So the one inbox a node has routes each call to the offers it holds.
"""

from typing import Protocol

from mfsync.protocol.offer_messages import (
    AnswerRequest,
    CancelRequest,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
)

__all__ = ["NO_OFFERS", "OfferInbox", "refuse_offer"]

#: Why a host without an inbox refuses every offer (shown to the sender's user).
NO_OFFERS = "this host does not take offers"


class OfferInbox(Protocol):
    """Takes the offer requests a peer sends to our server; each call returns soon (the
    client waits for the reply): a user's decision is PENDING, told later by an answer."""

    async def offer_part(self, peer_key: bytes, peer_address: str,
                         request: OfferRequest) -> OfferReply:
        """One part of an offer from the peer of ``peer_key`` at ``peer_address`` (where it
        connected from: with the offer's port, where its server is). The reply names the
        request's offer: ``PART_RECEIVED`` to a part before the last (or REFUSED), and to the
        last a verdict (PENDING, ACCEPTED, DECLINED or REFUSED)."""
        ...

    async def answer(self, peer_key: bytes, request: AnswerRequest) -> bool:
        """The receiver of our offer answers; False if the offer is not one we made to
        ``peer_key`` (unknown, or someone else's)."""
        ...

    async def receipt(self, peer_key: bytes, request: ReceiptRequest) -> bool:
        """The receiver of our offer has every file, verified; False as ``answer``."""
        ...

    async def cancel(self, peer_key: bytes, request: CancelRequest) -> bool:
        """The other side of an offer (ours to it, or its to us) ends it; False if we hold no
        offer of that id with ``peer_key``."""
        ...


def refuse_offer(request: OfferRequest, reason: str = NO_OFFERS) -> OfferReply:
    """The reply refusing the offer ``request`` is a part of, saying ``reason``."""
    return OfferReply(request.offer, OfferStatus.REFUSED, reason)
