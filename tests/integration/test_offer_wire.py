"""Offers over a real loopback connection to a real node: the node's file server hands the
offer requests to the ``OfferInbox`` set on it (here a fake one that collects parts with
``OfferParts`` and knows which offers are whose), and answers as PROTOCOL.md 3.13 says; a node
with no inbox refuses every offer, and answers every answer, receipt or cancel NO_SUCH_FOLDER."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mfsync.crypto.keys import Identity
from mfsync.engine.node import Node
from mfsync.engine.offer_inbox import NO_OFFERS, refuse_offer
from mfsync.net.channel import ChannelError, PeerRefused, SecureChannel, open_channel
from mfsync.net.client import (
    request_folders,
    send_answer,
    send_cancel,
    send_offer,
    send_offer_part,
    send_receipt,
)
from mfsync.protocol import session
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import (
    AnswerRequest,
    CancelRequest,
    ErrorCode,
    Hello,
    OfferEntry,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
    decode_message,
    encode_message,
)
from mfsync.protocol.offer_messages import MAX_OFFER_ENTRIES_PER_PART, split_offer
from mfsync.protocol.offer_parts import BadOffer, OfferParts

SENDER = Identity.generate()
STRANGER = Identity.generate()
CID = bytes(range(32))


class CollectingInbox:
    """An ``OfferInbox`` that collects each offer's parts and then says PENDING; it knows an
    offer (for answers, receipts and cancels) only from the key that made it."""

    def __init__(self) -> None:
        self.parts: dict[tuple[bytes, FolderId], OfferParts] = {}
        self.offers: dict[FolderId, bytes] = {}  #: complete offers: id -> the key that made it
        self.addresses: list[str] = []
        self.news: list[tuple[str, bytes, object]] = []

    async def offer_part(self, peer_key: bytes, peer_address: str,
                         request: OfferRequest) -> OfferReply:
        self.addresses.append(peer_address)
        parts = self.parts.setdefault((peer_key, request.offer), OfferParts())
        try:
            complete = parts.add(request)
        except BadOffer as exc:
            del self.parts[(peer_key, request.offer)]
            return refuse_offer(request, str(exc))
        if not complete:
            return OfferReply(request.offer, OfferStatus.PART_RECEIVED)
        self.offers[request.offer] = peer_key
        return OfferReply(request.offer, OfferStatus.PENDING)

    def _knows(self, name: str, peer_key: bytes, request: Any) -> bool:
        self.news.append((name, peer_key, request))
        return self.offers.get(request.offer) == peer_key

    async def answer(self, peer_key: bytes, request: AnswerRequest) -> bool:
        return self._knows("answer", peer_key, request)

    async def receipt(self, peer_key: bytes, request: ReceiptRequest) -> bool:
        return self._knows("receipt", peer_key, request)

    async def cancel(self, peer_key: bytes, request: CancelRequest) -> bool:
        return self._knows("cancel", peer_key, request)


@pytest.fixture
async def receiver(make_node: Any) -> Node:
    """A node that serves nothing but listens (as ``mfsync receive`` does)."""
    node: Node = await make_node(serve=True, discovery=False)
    assert node.server is not None
    return node


@contextlib.asynccontextmanager
async def _open(node: Node, identity: Identity = SENDER) -> AsyncIterator[SecureChannel]:
    assert node.server is not None
    channel = await open_channel("127.0.0.1", node.server.port, identity,
                                 hello=Hello(name="sender"), authorize=lambda _key: True,
                                 timeout=5)
    try:
        yield channel
    finally:
        await channel.close()


def _offer(files: int, label: str = "photos") -> tuple[OfferRequest, ...]:
    entries = [OfferEntry(f"{label}/{n:05}.jpg", n, CID) for n in range(files)]
    return split_offer(FolderId.new(), 40123, label, entries)


async def test_an_offer_in_three_parts_then_answer_receipt_cancel(receiver: Node) -> None:
    inbox = CollectingInbox()
    receiver.offer_inbox = inbox
    assert receiver.offer_inbox is inbox
    parts = _offer(MAX_OFFER_ENTRIES_PER_PART * 2 + 5)
    assert len(parts) == 3
    offer = parts[0].offer
    async with _open(receiver) as channel:
        replies = [await send_offer_part(channel, part) for part in parts]
        assert [r.status for r in replies] == [OfferStatus.PART_RECEIVED,
                                               OfferStatus.PART_RECEIVED, OfferStatus.PENDING]
        assert {r.offer for r in replies} == {offer}
        assert inbox.addresses == ["127.0.0.1"] * 3
        assert len(inbox.parts[(SENDER.public_key, offer)].entries) == parts[0].total_files
        # The answer, the receipt and the cancel, on the same connection, each acked.
        await send_answer(channel, AnswerRequest(offer, True))
        await send_receipt(channel, ReceiptRequest(offer, parts[0].total_files,
                                                   parts[0].total_bytes))
        await send_cancel(channel, CancelRequest(offer, "changed my mind"))
        # The connection is still good for the ordinary requests.
        assert (await request_folders(channel)).folders == ()
    assert [(name, key) for name, key, _ in inbox.news] == [
        ("answer", SENDER.public_key), ("receipt", SENDER.public_key),
        ("cancel", SENDER.public_key)]


async def test_news_of_an_unknown_or_someone_elses_offer_is_no_such_folder(
        receiver: Node) -> None:
    inbox = CollectingInbox()
    receiver.offer_inbox = inbox
    parts = _offer(3)
    offer = parts[0].offer
    async with _open(receiver) as channel:
        assert (await send_offer(channel, parts)).status is OfferStatus.PENDING
    for identity, about in ((STRANGER, offer), (SENDER, FolderId.new())):
        async with _open(receiver, identity) as channel:
            for send, request in ((send_answer, AnswerRequest(about, True)),
                                  (send_receipt, ReceiptRequest(about, 3, 3)),
                                  (send_cancel, CancelRequest(about))):
                with pytest.raises(PeerRefused) as refused:
                    await send(channel, request)
                assert (refused.value.code, refused.value.text) == (
                    ErrorCode.NO_SUCH_FOLDER, "no such folder")
    assert inbox.offers == {offer: SENDER.public_key}  # nothing forged got through


@pytest.mark.parametrize(("entries", "why"), [
    ([OfferEntry("../etc/passwd", 1, CID)], "not allowed"),
    ([OfferEntry("a", 1, CID), OfferEntry("a/b", 1, CID)], "as a file and as a folder"),
    ([OfferEntry("x.mfsync-part", 1, CID)], "partial downloads"),
])
async def test_bad_names_are_refused_with_the_reason(receiver: Node, entries: list[OfferEntry],
                                                     why: str) -> None:
    receiver.offer_inbox = CollectingInbox()
    async with _open(receiver) as channel:
        reply = await send_offer(channel, split_offer(FolderId.new(), 9, "x", entries))
    assert reply.status is OfferStatus.REFUSED and why in reply.reason


async def test_parts_that_lie_about_their_totals_are_refused(receiver: Node) -> None:
    receiver.offer_inbox = CollectingInbox()
    offer = FolderId.new()
    lying = OfferRequest(offer, 9, 2, 100, 1, 1, "x", (OfferEntry("a", 1, CID),))
    async with _open(receiver) as channel:
        reply = await send_offer_part(channel, lying)
    assert reply.status is OfferStatus.REFUSED
    assert "make 1 files of 1 bytes, not the 2 of 100" in reply.reason


async def test_a_node_without_an_inbox_takes_no_offers(receiver: Node) -> None:
    assert receiver.offer_inbox is None
    parts = _offer(2)
    async with _open(receiver) as channel:
        reply = await send_offer(channel, parts)
        assert (reply.status, reply.reason) == (OfferStatus.REFUSED, NO_OFFERS)
        with pytest.raises(PeerRefused) as refused:
            await send_receipt(channel, ReceiptRequest(parts[0].offer, 2, 1))
        assert refused.value.code is ErrorCode.NO_SUCH_FOLDER


async def test_an_untrusted_key_cannot_offer_at_all(make_node: Any) -> None:
    node: Node = await make_node(serve=True, discovery=False,
                                 trusted_keys=frozenset({SENDER.public_key}))
    inbox = CollectingInbox()
    node.offer_inbox = inbox
    with pytest.raises(PeerRefused) as refused:  # at the handshake: no offer is read
        async with _open(node, STRANGER) as channel:
            await send_offer(channel, _offer(1))
    assert refused.value.code is ErrorCode.NOT_TRUSTED
    async with _open(node, SENDER) as channel:
        assert (await send_offer(channel, _offer(1))).status is OfferStatus.PENDING
    assert [key for key, _ in inbox.parts] == [SENDER.public_key]


async def test_an_oversize_or_malformed_part_closes_the_connection_unanswered(
        receiver: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile sender's bytes (no encoder of ours makes them): a part of 2049 entries, and
    one whose label is '..'. The node closes the connection without asking its inbox, and
    serves the next connection as before."""
    inbox = CollectingInbox()
    receiver.offer_inbox = inbox
    honest = encode_message(_offer(MAX_OFFER_ENTRIES_PER_PART)[0])
    count_at = 1 + 5 + 2 + 4 + 8 + 2 + 2 + 1 + len("photos")  # tag, header, label "photos"
    assert honest[count_at : count_at + 4] == struct.pack(">I", MAX_OFFER_ENTRIES_PER_PART)
    entry = honest[-(2 + len("photos/00000.jpg") + 8 + 32):]  # (every entry is this long)
    oversize = (honest[:count_at] + struct.pack(">I", MAX_OFFER_ENTRIES_PER_PART + 1)
                + honest[count_at + 4:] + entry)
    dotdot = encode_message(_offer(1, label="x")[0]).replace(b"\x01x", b"\x02..", 1)
    real_encode = session.encode_message
    for forged, why in ((oversize, "exceeds the cap of 2048"), (dotdot, "label")):
        with pytest.raises(RemoteProtocolError, match=why):
            decode_message(forged)  # (what the node's decoder will say)
        monkeypatch.setattr(session, "encode_message",
                            lambda m, forged=forged: forged if isinstance(m, OfferRequest)
                            else real_encode(m))
        async with _open(receiver) as channel:
            with pytest.raises(ChannelError):
                await send_offer_part(channel, _offer(1)[0])
        monkeypatch.setattr(session, "encode_message", real_encode)
    assert inbox.addresses == []  # the inbox never heard of them
    async with _open(receiver) as channel:
        assert (await send_offer(channel, _offer(1))).status is OfferStatus.PENDING
