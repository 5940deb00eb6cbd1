"""``FileServer`` answering through the exchange table, over a recording channel: what it sends
is held to the rules a client checks, and ``answer`` reads a client's message as the table does.
The client functions of ``net/client.py`` map the table's errors onto the channel's. The offer
requests go to the server's ``OfferInbox`` (refused without one)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from mfsync.engine import serve
from mfsync.engine.folder_view import DEFAULT_LABEL, LocalFolderView, admit_everyone
from mfsync.engine.offer_inbox import NO_OFFERS
from mfsync.engine.serve import FileServer, Reply
from mfsync.net.channel import ChannelClosed, PeerRefused, ProtocolBroken, SecureChannel
from mfsync.net.client import (
    BadBlockList,
    ClosedMidReply,
    iter_index,
    request_blocks,
    request_index,
    send_answer,
    send_cancel,
    send_offer,
    send_offer_part,
    send_receipt,
    stream_range,
)
from mfsync.protocol.content import block_hash, block_size_for, content_id_of
from mfsync.protocol.errors import LocalProtocolError
from mfsync.protocol.exchange import Exchange, State
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import (
    Ack,
    AnswerRequest,
    BlockList,
    BlocksRequest,
    CancelRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    IndexChunk,
    IndexRequest,
    Message,
    OfferEntry,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
)
from mfsync.protocol.session import Role
from mfsync.store.shareset import ShareSet


class Recorder:
    """A channel that records what is sent and answers receives from a script."""

    def __init__(self, answers: Sequence[Message | Exception] = ()) -> None:
        self.sent: list[Message] = []
        self.answers = list(answers)
        self.peer_address = ("192.0.2.1", 1)
        self.remote_key = b"\x01" * 32
        self.peer_closed = True

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def receive(self) -> Message:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _channel(recorder: Recorder) -> SecureChannel:
    return cast(SecureChannel, cast(Any, recorder))


def _replayed(role: Role, conversation: Sequence[Message]) -> Exchange:
    """The conversation (a request, then the answers) through a fresh exchange of ``role``."""
    exchange = Exchange(role)
    first, *rest = conversation
    if role is Role.CLIENT:
        exchange.send(first, expected_size=614_400 if isinstance(first, BlocksRequest) else None)
        for message in rest:
            exchange.receive(message)
    return exchange


@pytest.fixture
async def server(tmp_path: Path) -> FileServer:
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 2400)  # 614,400 bytes: 5 blocks
    (tmp_path / "small.txt").write_bytes(b"hello")
    share = ShareSet(tmp_path)
    await share.rescan()
    view = LocalFolderView(DEFAULT_FOLDER, DEFAULT_LABEL, (share,), admit_everyone, 3)
    return FileServer(lambda: [view], lambda: None)


def _cid(files: FileServer, path: str) -> bytes:
    found = files.find(path)
    assert found is not None
    return found[1].hashes.content_id


async def test_every_answer_is_one_a_client_accepts(server: FileServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "READ_SIZE", 200_000)  # several reads, one buffer each turn
    cid = _cid(server, "big.bin")
    for request in (IndexRequest(0), BlocksRequest("big.bin", cid),
                    GetRequest("big.bin", cid, 1000, 500_000), GetRequest("big.bin", cid, 7, 0),
                    GetRequest("small.txt", _cid(server, "small.txt"), 0, 5),
                    BlocksRequest("gone", cid), GetRequest("big.bin", cid, 0, 10**9)):
        recorder = Recorder()
        await server.answer(_channel(recorder), request)
        client = _replayed(Role.CLIENT, [request, *recorder.sent])
        assert client.state is State.IDLE, (request, recorder.sent[-1])


async def test_answer_reads_a_message_as_the_table_does(server: FileServer) -> None:
    recorder = Recorder()
    await server.answer(_channel(recorder), Data(0, b"x"))
    assert recorder.sent == [ErrorMessage(ErrorCode.BAD_REQUEST, "unsupported request Data")]
    recorder = Recorder()
    await server.answer(_channel(recorder), ErrorMessage(ErrorCode.BUSY, "later"))
    assert recorder.sent == []


async def test_a_reply_that_breaks_a_rule_is_our_bug(server: FileServer) -> None:
    reply = Reply(_channel(Recorder()), GetRequest("big.bin", bytes(32), 0, 10))
    await reply.send(Data(0, b"01234"))
    with pytest.raises(LocalProtocolError, match="out of order"):
        await reply.send(Data(6, b"5"))


# -- the client functions: the table's errors as the channel's ---------------------------------

SIZE = 200 * 1024
BS = block_size_for(SIZE)
H0, H1 = block_hash(b"a"), block_hash(b"b")
CID = content_id_of(SIZE, BS, [H0, H1])


async def test_request_blocks_maps_a_broken_list_to_bad_block_list() -> None:
    good = Recorder([BlockList(CID, SIZE, BS, 0, (H0,), False),
                     BlockList(CID, SIZE, BS, 1, (H1,), True)])
    info = await request_blocks(_channel(good), "f", CID, SIZE)
    assert info.hashes == (H0, H1)
    assert good.sent == [BlocksRequest("f", CID)]
    with pytest.raises(BadBlockList, match="do not match its content id"):
        await request_blocks(_channel(Recorder([BlockList(CID, SIZE, BS, 0, (H1, H0), True)])),
                             "f", CID, SIZE)
    with pytest.raises(ProtocolBroken, match="got Data") as caught:
        await request_blocks(_channel(Recorder([Data(0, b"x")])), "f", CID, SIZE)
    assert not isinstance(caught.value, BadBlockList)
    with pytest.raises(PeerRefused, match="gone"):
        await request_blocks(_channel(Recorder([ErrorMessage(ErrorCode.NOT_FOUND, "gone")])),
                             "f", CID, SIZE)


async def test_a_close_after_the_reply_began_is_closed_mid_reply() -> None:
    recorder = Recorder([BlockList(CID, SIZE, BS, 0, (H0,), False), ChannelClosed("eof")])
    with pytest.raises(ClosedMidReply):
        await request_blocks(_channel(recorder), "f", CID, SIZE)
    recorder = Recorder([ChannelClosed("eof")])
    with pytest.raises(ChannelClosed) as caught:
        await request_blocks(_channel(recorder), "f", CID, SIZE)
    assert not isinstance(caught.value, ClosedMidReply)


async def test_index_functions() -> None:
    chunks = [IndexChunk(4, (), True)]
    assert await request_index(_channel(Recorder(chunks))) == (4, [])
    with pytest.raises(ProtocolBroken, match="empty index chunk before the last one"):
        async for _ in iter_index(_channel(Recorder([IndexChunk(4, (), False)]))):
            pass
    with pytest.raises(ProtocolBroken, match="got End"):
        await request_index(_channel(Recorder([End(0)])))


async def test_stream_range_refusal_after_some_data() -> None:
    recorder = Recorder([Data(0, b"ab"), ErrorMessage(ErrorCode.CHANGED, "'f' has changed")])
    got = []
    with pytest.raises(PeerRefused, match="has changed"):
        async for data in stream_range(_channel(recorder), "f", CID, 0, 4):
            got.append(bytes(data.payload))
    assert got == [b"ab"]


# -- the offers: the server asks its OfferInbox ------------------------------------------------

OFFER = FolderId.parse("k3x9-pq2m")
PART1 = OfferRequest(OFFER, 8000, 2, 2, 1, 2, "2 files", (OfferEntry("a", 1, CID),))
PART2 = OfferRequest(OFFER, 8000, 2, 2, 2, 2, "2 files", (OfferEntry("b", 1, CID),))


class FakeInbox:
    """Records the calls; knows ``known`` offers (for answers, receipts, cancels)."""

    def __init__(self, reply: OfferReply | None = None, known: bool = True) -> None:
        self.calls: list[tuple[str, bytes, object]] = []
        self.reply = reply
        self.known = known

    async def offer_part(self, peer_key: bytes, peer_address: str,
                         request: OfferRequest) -> OfferReply:
        self.calls.append(("offer_part", peer_key, (peer_address, request)))
        if self.reply is not None:
            return self.reply
        status = OfferStatus.PENDING if request.last else OfferStatus.PART_RECEIVED
        return OfferReply(request.offer, status)

    async def answer(self, peer_key: bytes, request: AnswerRequest) -> bool:
        self.calls.append(("answer", peer_key, request))
        return self.known

    async def receipt(self, peer_key: bytes, request: ReceiptRequest) -> bool:
        self.calls.append(("receipt", peer_key, request))
        return self.known

    async def cancel(self, peer_key: bytes, request: CancelRequest) -> bool:
        self.calls.append(("cancel", peer_key, request))
        return self.known


NO_SUCH_FOLDER = ErrorMessage(ErrorCode.NO_SUCH_FOLDER, "no such folder")
NEWS = (AnswerRequest(OFFER, True), ReceiptRequest(OFFER, 2, 2), CancelRequest(OFFER, "no"))


async def test_without_an_inbox_offers_are_refused_and_news_is_no_such_folder(
        server: FileServer) -> None:
    assert server.offer_inbox is None
    recorder = Recorder()
    await server.answer(_channel(recorder), PART1)
    assert recorder.sent == [OfferReply(OFFER, OfferStatus.REFUSED, NO_OFFERS)]
    for request in NEWS:
        recorder = Recorder()
        await server.answer(_channel(recorder), request)
        assert recorder.sent == [NO_SUCH_FOLDER]


async def test_the_inbox_answers_offers_and_news(server: FileServer) -> None:
    inbox = FakeInbox()
    server.offer_inbox = inbox
    sent: list[Message] = []
    for part in (PART1, PART2):
        recorder = Recorder()
        await server.answer(_channel(recorder), part)
        sent += recorder.sent
    assert sent == [OfferReply(OFFER, OfferStatus.PART_RECEIVED),
                    OfferReply(OFFER, OfferStatus.PENDING)]
    assert inbox.calls == [("offer_part", b"\x01" * 32, ("192.0.2.1", PART1)),
                           ("offer_part", b"\x01" * 32, ("192.0.2.1", PART2))]
    for request in NEWS:
        recorder = Recorder()
        await server.answer(_channel(recorder), request)
        assert recorder.sent == [Ack(OFFER)]
    assert [name for name, _, _ in inbox.calls[2:]] == ["answer", "receipt", "cancel"]
    inbox.known = False  # not this peer's offer: the bytes of a folder it may not see
    for request in NEWS:
        recorder = Recorder()
        await server.answer(_channel(recorder), request)
        assert recorder.sent == [NO_SUCH_FOLDER]


async def test_an_inbox_reply_that_breaks_the_rules_is_our_bug(server: FileServer) -> None:
    for wrong in (OfferReply(FolderId.parse("zzzz-zzzz"), OfferStatus.PENDING),
                  OfferReply(OFFER, OfferStatus.ACCEPTED)):  # a verdict to part 1 of 2
        server.offer_inbox = FakeInbox(wrong)
        recorder = Recorder()
        with pytest.raises(LocalProtocolError):
            await server.answer(_channel(recorder), PART1)
        assert recorder.sent == []


async def test_the_offer_client_functions() -> None:
    parts = (PART1, PART2)
    recorder = Recorder([OfferReply(OFFER, OfferStatus.PART_RECEIVED),
                         OfferReply(OFFER, OfferStatus.ACCEPTED)])
    assert (await send_offer(_channel(recorder), parts)).status is OfferStatus.ACCEPTED
    assert recorder.sent == list(parts)
    refused = OfferReply(OFFER, OfferStatus.REFUSED, "too many offers")
    recorder = Recorder([refused])
    assert await send_offer(_channel(recorder), parts) == refused
    assert recorder.sent == [PART1]  # the rest is not sent
    with pytest.raises(ProtocolBroken, match="PART_RECEIVED in reply to the last part"):
        await send_offer_part(_channel(Recorder([OfferReply(OFFER, OfferStatus.PART_RECEIVED)])),
                              PART2)
    for send, request in zip((send_answer, send_receipt, send_cancel), NEWS, strict=True):
        recorder = Recorder([Ack(OFFER)])
        await send(_channel(recorder), request)
        assert recorder.sent == [request]
        with pytest.raises(PeerRefused, match="no such folder"):
            await send(_channel(Recorder([NO_SUCH_FOLDER])), request)
        with pytest.raises(ProtocolBroken, match="an Ack of offer zzzz-zzzz"):
            await send(_channel(Recorder([Ack(FolderId.parse("zzzz-zzzz"))])), request)
