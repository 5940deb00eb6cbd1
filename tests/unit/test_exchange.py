"""The exchange table (``mfsync.protocol.exchange``): every row, in both roles, and what may
not follow; then the reply rules (offsets, block lists, index caps, offers) row by row."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mfsync.protocol import exchange_replies
from mfsync.protocol.content import block_hash, block_size_for, content_id_of
from mfsync.protocol.errors import (
    BrokenReply,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from mfsync.protocol.exchange import (
    CLIENT,
    LAST,
    MORE,
    SERVER,
    TRANSITIONS,
    Exchange,
    Kind,
    State,
    kind_of,
)
from mfsync.protocol.exchange_events import (
    Acknowledged,
    BlocksComplete,
    BlocksPart,
    DataPart,
    ExchangeEvent,
    FileArrived,
    FileRefused,
    FilesComplete,
    FoldersListed,
    IndexPart,
    NotARequest,
    OfferAnswered,
    PeerReport,
    RangeComplete,
    Refused,
    RequestReceived,
)
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
    FileData,
    FileFailed,
    FolderFlags,
    FolderInfo,
    FolderList,
    FoldersRequest,
    GetFilesRequest,
    GetRequest,
    Hello,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Message,
    OfferEntry,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
    WantedFile,
)
from mfsync.protocol.session import Role

# A file of two blocks and its block list.
SIZE = 200 * 1024
BS = block_size_for(SIZE)
H0, H1 = block_hash(b"0" * BS), block_hash(b"1" * (SIZE - BS))
CID = content_id_of(SIZE, BS, [H0, H1])
ENTRY = IndexEntry("a.txt", 5, 0, bytes(32))
ERROR = ErrorMessage(ErrorCode.CHANGED, "'f' has changed")
FOLDERS = FolderList((FolderInfo(DEFAULT_FOLDER, "default", FolderFlags.ANNOUNCED, 1, 2, 3),))
OFFER = FolderId.parse("k3x9-pq2m")
OTHER_OFFER = FolderId.parse("zzzz-zzzz")
#: The two parts of an offer of two files.
PART1 = OfferRequest(OFFER, 8000, 2, 10, 1, 2, "2 files", (OfferEntry("a", 5, CID),))
PART2 = OfferRequest(OFFER, 8000, 2, 10, 2, 2, "2 files", (OfferEntry("b", 5, CID),))
RECEIVED = OfferReply(OFFER, OfferStatus.PART_RECEIVED)
PENDING = OfferReply(OFFER, OfferStatus.PENDING)
ACK = Ack(OFFER)
#: A batch of two small files (3 and 2 bytes), and its first file's answers.
BATCH = GetFilesRequest((WantedFile("a", CID, 3), WantedFile("b", CID, 2)))
FILE0 = FileData(0, b"abc")
FAILED0 = FileFailed(0, ERROR)

Step = tuple[Role, Message]

#: How to reach each state from IDLE (every step legal).
PREFIX: dict[State, list[Step]] = {
    State.IDLE: [],
    State.FOLDERS: [(CLIENT, FoldersRequest())],
    State.INDEX: [(CLIENT, IndexRequest(0))],
    State.BLOCKS: [(CLIENT, BlocksRequest("f", CID))],
    State.DATA: [(CLIENT, GetRequest("f", CID, 10, 5))],
    State.FILES: [(CLIENT, BATCH)],
    State.OFFER: [(CLIENT, PART2)],
    State.ACKING: [(CLIENT, ReceiptRequest(OFFER, 2, 10))],
    State.REFUSING: [(CLIENT, Data(0, b"x"))],
}

#: One case per row of the table: the state's prefix (or another), the message, its event.
ROWS: dict[tuple[State, Role, Kind], tuple[list[Step], Message, type[ExchangeEvent]]] = {
    (State.IDLE, CLIENT, FoldersRequest): ([], FoldersRequest(), RequestReceived),
    (State.IDLE, CLIENT, IndexRequest): ([], IndexRequest(0), RequestReceived),
    (State.IDLE, CLIENT, BlocksRequest): ([], BlocksRequest("f", CID), RequestReceived),
    (State.IDLE, CLIENT, GetRequest): ([], GetRequest("f", CID, 0, 1), RequestReceived),
    (State.IDLE, CLIENT, ErrorMessage): ([], ERROR, PeerReport),
    (State.IDLE, CLIENT, (IndexChunk, MORE)): ([], IndexChunk(1, (ENTRY,), False), NotARequest),
    (State.IDLE, CLIENT, (IndexChunk, LAST)): ([], IndexChunk(1, (), True), NotARequest),
    (State.IDLE, CLIENT, (BlockList, MORE)): ([], BlockList(CID, 1, BS, 0, (), False),
                                              NotARequest),
    (State.IDLE, CLIENT, (BlockList, LAST)): ([], BlockList(CID, 1, BS, 0, (), True),
                                              NotARequest),
    (State.IDLE, CLIENT, Data): ([], Data(0, b"x"), NotARequest),
    (State.IDLE, CLIENT, End): ([], End(0), NotARequest),
    (State.IDLE, CLIENT, FolderList): ([], FOLDERS, NotARequest),
    (State.IDLE, CLIENT, OfferRequest): ([], PART1, RequestReceived),
    (State.IDLE, CLIENT, AnswerRequest): ([], AnswerRequest(OFFER, True), RequestReceived),
    (State.IDLE, CLIENT, ReceiptRequest): ([], ReceiptRequest(OFFER, 2, 10), RequestReceived),
    (State.IDLE, CLIENT, CancelRequest): ([], CancelRequest(OFFER, "no"), RequestReceived),
    (State.IDLE, CLIENT, OfferReply): ([], PENDING, NotARequest),
    (State.IDLE, CLIENT, Ack): ([], ACK, NotARequest),
    (State.IDLE, CLIENT, GetFilesRequest): ([], BATCH, RequestReceived),
    (State.IDLE, CLIENT, FileData): ([], FILE0, NotARequest),
    (State.IDLE, CLIENT, FileFailed): ([], FAILED0, NotARequest),
    (State.FILES, SERVER, FileData): (PREFIX[State.FILES], FILE0, FileArrived),
    (State.FILES, SERVER, FileFailed): (PREFIX[State.FILES], FAILED0, FileRefused),
    (State.FILES, SERVER, End): ([(CLIENT, BATCH), (SERVER, FILE0), (SERVER, FileFailed(1, ERROR))],
                                 End(2), FilesComplete),
    (State.FILES, SERVER, ErrorMessage): (PREFIX[State.FILES], ERROR, Refused),
    (State.OFFER, SERVER, OfferReply): (PREFIX[State.OFFER], PENDING, OfferAnswered),
    (State.OFFER, SERVER, ErrorMessage): (PREFIX[State.OFFER], ERROR, Refused),
    (State.ACKING, SERVER, Ack): (PREFIX[State.ACKING], ACK, Acknowledged),
    (State.ACKING, SERVER, ErrorMessage): (PREFIX[State.ACKING], ERROR, Refused),
    (State.FOLDERS, SERVER, FolderList): (PREFIX[State.FOLDERS], FOLDERS, FoldersListed),
    (State.FOLDERS, SERVER, ErrorMessage): (PREFIX[State.FOLDERS], ERROR, Refused),
    (State.INDEX, SERVER, (IndexChunk, MORE)): (PREFIX[State.INDEX],
                                                IndexChunk(1, (ENTRY,), False), IndexPart),
    (State.INDEX, SERVER, (IndexChunk, LAST)): (PREFIX[State.INDEX], IndexChunk(1, (), True),
                                                IndexPart),
    (State.INDEX, SERVER, ErrorMessage): (PREFIX[State.INDEX], ERROR, Refused),
    (State.BLOCKS, SERVER, (BlockList, MORE)): (PREFIX[State.BLOCKS],
                                                BlockList(CID, SIZE, BS, 0, (H0,), False),
                                                BlocksPart),
    (State.BLOCKS, SERVER, (BlockList, LAST)): (PREFIX[State.BLOCKS],
                                                BlockList(CID, SIZE, BS, 0, (H0, H1), True),
                                                BlocksComplete),
    (State.BLOCKS, SERVER, ErrorMessage): (PREFIX[State.BLOCKS], ERROR, Refused),
    (State.DATA, SERVER, Data): (PREFIX[State.DATA], Data(10, b"abc"), DataPart),
    (State.DATA, SERVER, End): ([(CLIENT, GetRequest("f", CID, 10, 0))], End(10), RangeComplete),
    (State.DATA, SERVER, ErrorMessage): (PREFIX[State.DATA], ERROR, Refused),
    (State.REFUSING, SERVER, ErrorMessage): (PREFIX[State.REFUSING], ERROR, Refused),
}

#: A message of every kind there is (the content does not matter where the kind has no row).
ALL_KINDS: dict[Kind, Message] = {
    Hello: Hello(),
    FoldersRequest: FoldersRequest(),
    FolderList: FOLDERS,
    IndexRequest: IndexRequest(0),
    (IndexChunk, MORE): IndexChunk(1, (ENTRY,), False),
    (IndexChunk, LAST): IndexChunk(1, (), True),
    BlocksRequest: BlocksRequest("f", CID),
    (BlockList, MORE): BlockList(CID, SIZE, BS, 0, (H0,), False),
    (BlockList, LAST): BlockList(CID, SIZE, BS, 0, (H0, H1), True),
    GetRequest: GetRequest("f", CID, 0, 1),
    Data: Data(0, b"x"),
    End: End(0),
    OfferRequest: PART1,
    OfferReply: PENDING,
    AnswerRequest: AnswerRequest(OFFER, False, "no"),
    ReceiptRequest: ReceiptRequest(OFFER, 2, 10),
    CancelRequest: CancelRequest(OFFER),
    Ack: ACK,
    GetFilesRequest: BATCH,
    FileData: FILE0,
    FileFailed: FAILED0,
    ErrorMessage: ERROR,
}


def feed(exchange: Exchange, sender: Role, message: Message) -> ExchangeEvent | None:
    """``send`` if this end is the sender (a client's block-list request with its size), else
    ``receive``."""
    if sender is exchange.role:
        exchange.send(message, expected_size=SIZE if isinstance(message, BlocksRequest) else None)
        return None
    return exchange.receive(message)


def run(role: Role, steps: Sequence[Step]) -> Exchange:
    exchange = Exchange(role)
    for sender, message in steps:
        feed(exchange, sender, message)
    return exchange


def test_every_row_has_a_case_and_every_case_a_row() -> None:
    rows = {(state, sender, kind) for state, row in TRANSITIONS.items() for sender, kind in row}
    assert rows == set(ROWS)


def test_every_state_can_be_reached_and_every_kind_is_known() -> None:
    assert set(PREFIX) | {State.ERROR} == set(State)
    assert all(kind_of(message) == kind for kind, message in ALL_KINDS.items())


@pytest.mark.parametrize("role", [CLIENT, SERVER], ids=["client", "server"])
@pytest.mark.parametrize("row", list(ROWS), ids=[f"{s.name}-{r.name}-{k}" for s, r, k in ROWS])
def test_each_row_leads_where_the_table_says(role: Role, row: tuple[State, Role, Kind]) -> None:
    state, sender, kind = row
    prefix, message, event_type = ROWS[row]
    exchange = run(role, prefix)
    assert exchange.state is state
    assert kind_of(message) == kind
    event = feed(exchange, sender, message)
    assert exchange.state is TRANSITIONS[state][(sender, kind)]
    if sender is not role:  # what the peer sent comes out as its event
        assert isinstance(event, event_type)


def _missing() -> list[tuple[State, Role, Kind]]:
    return [(state, sender, kind) for state in PREFIX for sender in (CLIENT, SERVER)
            for kind in ALL_KINDS if (sender, kind) not in TRANSITIONS[state]]


@pytest.mark.parametrize("role", [CLIENT, SERVER], ids=["client", "server"])
@pytest.mark.parametrize("case", _missing(), ids=[f"{s.name}-{r.name}-{k}" for s, r, k in
                                                  _missing()])
def test_what_has_no_row_may_not_follow(role: Role, case: tuple[State, Role, Kind]) -> None:
    state, sender, kind = case
    exchange = run(role, PREFIX[state])
    error = LocalProtocolError if sender is role else RemoteProtocolError
    with pytest.raises(error, match="expected"):
        feed(exchange, sender, ALL_KINDS[kind])
    assert exchange.state is State.ERROR
    # ... for good: whatever comes next, in either direction.
    for other in (CLIENT, SERVER):
        with pytest.raises(LocalProtocolError, match="has failed"):
            feed(exchange, other, IndexRequest(0))


def test_cycles_follow_one_another_on_one_connection() -> None:
    client = Exchange(CLIENT)
    server = Exchange(SERVER)
    conversation: list[Step] = [
        (CLIENT, IndexRequest(0)), (SERVER, IndexChunk(1, (ENTRY,), False)),
        (SERVER, IndexChunk(1, (), True)),
        (CLIENT, BlocksRequest("f", CID)), (SERVER, BlockList(CID, SIZE, BS, 0, (H0,), False)),
        (SERVER, BlockList(CID, SIZE, BS, 1, (H1,), True)),
        (CLIENT, GetRequest("f", CID, 0, 4)), (SERVER, Data(0, b"ab")), (SERVER, Data(2, b"cd")),
        (SERVER, End(4)),
        (CLIENT, GetRequest("f", CID, 0, 4)), (SERVER, Data(0, b"ab")), (SERVER, ERROR),
        (CLIENT, ERROR), (CLIENT, End(9)), (SERVER, ERROR),
    ]
    for sender, message in conversation:
        feed(client, sender, message)
        feed(server, sender, message)
        assert client.state is server.state
    assert client.state is State.IDLE


def test_a_client_sends_one_request_at_a_time() -> None:
    exchange = run(CLIENT, PREFIX[State.DATA])
    with pytest.raises(LocalProtocolError, match="client cannot send GetRequest now"):
        exchange.send(GetRequest("g", CID, 0, 1))


def test_a_client_asks_for_a_block_list_knowing_the_size() -> None:
    with pytest.raises(LocalProtocolError, match="file's size"):
        Exchange(CLIENT).send(BlocksRequest("f", CID))


def test_reply_begun_says_whether_a_close_cuts_a_reply() -> None:
    exchange = run(CLIENT, PREFIX[State.DATA])
    assert not exchange.reply_begun
    exchange.receive(Data(10, b"a"))
    assert exchange.reply_begun
    exchange.receive(Data(11, b"bcde"))
    exchange.receive(End(15))
    assert not exchange.reply_begun


# -- the reply rules: the same for both roles ---------------------------------------------------

def _both(steps: Sequence[Step], bad: Message, match: str, *, server: bool = True) -> None:
    """``bad`` after ``steps`` breaks a rule: BrokenReply from the server, LocalProtocolError
    when the server sends it (``server``: the rule is not the client's alone)."""
    client = run(CLIENT, steps)
    with pytest.raises(BrokenReply, match=match):
        client.receive(bad)
    assert client.state is State.ERROR
    if not server:
        return
    sender = run(SERVER, steps)
    with pytest.raises(LocalProtocolError, match=match):
        sender.send(bad)
    assert sender.state is State.ERROR


GET = (CLIENT, GetRequest("f", CID, 10, 5))


@pytest.mark.parametrize(("steps", "bad", "match"), [
    ([GET], Data(10, b""), "empty Data message for 'f'"),
    ([GET], Data(11, b"a"), "out of order"),
    ([GET], Data(9, b"a"), "out of order"),
    ([GET], Data(10, b"abcdef"), "beyond the request"),
    ([GET, (SERVER, Data(10, b"ab"))], Data(10, b"c"), "out of order"),
    ([GET, (SERVER, Data(10, b"ab"))], End(12), r"ended after 2 of 5 bytes \(at offset 12, "
                                                r"not 15\)"),
    ([GET, (SERVER, Data(10, b"abcde"))], End(16), "then an End at offset 16 instead of 15"),
    ([GET], End(15), "ended after 0 of 5 bytes"),
], ids=["empty", "gap", "overlap", "beyond", "repeat", "early-end", "wrong-end", "no-data"])
def test_range_rules(steps: list[Step], bad: Message, match: str) -> None:
    _both(steps, bad, match)


def test_a_range_ends_once() -> None:
    for role in (CLIENT, SERVER):
        exchange = run(role, [GET, (SERVER, Data(10, b"abcde")), (SERVER, End(15))])
        with pytest.raises(ProtocolError, match=r"expected a request, got End"):
            feed(exchange, SERVER, End(15))


BLOCKS = (CLIENT, BlocksRequest("f", CID))


@pytest.mark.parametrize(("steps", "bad", "match"), [
    ([BLOCKS], BlockList(CID, SIZE, BS, 0, (), False), "empty block list part"),
    ([BLOCKS], BlockList(bytes(32), SIZE, BS, 0, (H0,), False), "does not fit"),
    ([BLOCKS], BlockList(CID, SIZE + 1, BS, 0, (H0,), False), "does not fit"),
    ([BLOCKS], BlockList(CID, SIZE, BS * 2, 0, (H0,), False), "does not fit"),
    ([BLOCKS], BlockList(CID, SIZE, BS, 1, (H0,), False), "does not fit"),
    ([BLOCKS], BlockList(CID, SIZE, BS, 0, (H0, H1, H1), True), "does not fit"),
    ([BLOCKS, (SERVER, BlockList(CID, SIZE, BS, 0, (H0,), False))],
     BlockList(CID, SIZE, BS, 0, (H1,), True), "does not fit"),
    ([BLOCKS], BlockList(CID, SIZE, BS, 0, (H1, H0), True), "do not match its content id"),
    ([BLOCKS], BlockList(CID, SIZE, BS, 0, (H0,), True), "do not match its content id"),
], ids=["empty-part", "content-id", "size", "block-size", "first", "too-many", "not-contiguous",
        "wrong-hashes", "too-few"])
def test_block_list_rules(steps: list[Step], bad: Message, match: str) -> None:
    # The size a client expects comes from the index; a server's rules take its first part's.
    _both(steps, bad, match, server=bad != BlockList(CID, SIZE + 1, BS, 0, (H0,), False))


def test_a_block_list_in_parts_comes_out_whole() -> None:
    client = run(CLIENT, [BLOCKS])
    assert isinstance(client.receive(BlockList(CID, SIZE, BS, 0, (H0,), False)), BlocksPart)
    done = client.receive(BlockList(CID, SIZE, BS, 1, (H1,), True))
    assert isinstance(done, BlocksComplete)
    assert (done.info.size, done.info.block_size, done.info.hashes) == (SIZE, BS, (H0, H1))


def test_an_empty_file_has_one_empty_last_part() -> None:
    empty = content_id_of(0, block_size_for(0), [])
    client = Exchange(CLIENT)
    client.send(BlocksRequest("e", empty), expected_size=0)
    done = client.receive(BlockList(empty, 0, block_size_for(0), 0, (), True))
    assert isinstance(done, BlocksComplete) and done.info.hashes == ()


def test_a_server_is_held_to_the_size_of_its_first_part() -> None:
    server = run(SERVER, [BLOCKS])
    server.send(BlockList(CID, SIZE, BS, 0, (H0,), False))
    with pytest.raises(LocalProtocolError, match="does not fit"):
        server.send(BlockList(CID, SIZE * 2, BS, 1, (H1,), True))


def test_index_rules() -> None:
    _both([(CLIENT, IndexRequest(0))], IndexChunk(1, (), False), "empty index chunk")


def test_index_caps_apply_to_what_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exchange_replies, "MAX_REMOTE_INDEX", 2)
    chunk = IndexChunk(1, (ENTRY, ENTRY), False)
    server = run(SERVER, [(CLIENT, IndexRequest(0)), (SERVER, chunk), (SERVER, chunk)])
    assert server.state is State.INDEX  # a sender's index has no cap: the receiver's is its own
    client = run(CLIENT, [(CLIENT, IndexRequest(0)), (SERVER, chunk)])
    with pytest.raises(BrokenReply, match="index larger than 2 entries"):
        client.receive(IndexChunk(1, (ENTRY,), True))


def test_index_byte_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exchange_replies, "MAX_REMOTE_INDEX_BYTES", 3 << 20)
    client = run(CLIENT, [(CLIENT, IndexRequest(0))])
    big = IndexEntry("x" * 4000, 1, 0, bytes(32))
    chunk = IndexChunk(1, (big,) * 250, False)  # about 1 MB of entries
    for _ in range(3):
        client.receive(chunk)
    with pytest.raises(BrokenReply, match="index larger than 3 MiB"):
        client.receive(chunk)


def test_an_error_ends_any_reply_as_a_refusal() -> None:
    for state in (State.INDEX, State.BLOCKS, State.DATA):
        client = run(CLIENT, PREFIX[state])
        event = client.receive(ERROR)
        assert isinstance(event, Refused) and event.error == ERROR
        assert client.state is State.IDLE


# -- the offers' reply rules ------------------------------------------------------------------

@pytest.mark.parametrize(("steps", "bad", "match"), [
    ([(CLIENT, PART1)], PENDING, "PENDING in reply to a part before the last"),
    ([(CLIENT, PART1)], OfferReply(OFFER, OfferStatus.ACCEPTED), "ACCEPTED in reply to a part"),
    ([(CLIENT, PART1)], OfferReply(OTHER_OFFER, OfferStatus.PART_RECEIVED),
     "a reply about offer zzzz-zzzz to a part of offer k3x9-pq2m"),
    ([(CLIENT, PART2)], RECEIVED, "PART_RECEIVED in reply to the last part"),
    ([(CLIENT, PART2)], OfferReply(OTHER_OFFER, OfferStatus.ACCEPTED), "a reply about offer"),
    ([(CLIENT, AnswerRequest(OFFER, True))], Ack(OTHER_OFFER), "an Ack of offer zzzz-zzzz"),
    ([(CLIENT, ReceiptRequest(OFFER, 1, 1))], Ack(OTHER_OFFER), "an Ack of offer zzzz-zzzz"),
    ([(CLIENT, CancelRequest(OFFER))], Ack(OTHER_OFFER), "an Ack of offer zzzz-zzzz"),
], ids=["verdict-too-early", "accepted-too-early", "other-offer-part", "no-verdict",
        "other-offer-verdict", "ack-answer", "ack-receipt", "ack-cancel"])
def test_offer_rules(steps: list[Step], bad: Message, match: str) -> None:
    _both(steps, bad, match)


def test_an_offer_goes_part_by_part_then_its_answers_are_acked() -> None:
    client, server = Exchange(CLIENT), Exchange(SERVER)
    conversation: list[Step] = [
        (CLIENT, PART1), (SERVER, RECEIVED),
        (CLIENT, PART2), (SERVER, PENDING),
        (CLIENT, AnswerRequest(OFFER, True)), (SERVER, ACK),
        (CLIENT, ReceiptRequest(OFFER, 2, 10)), (SERVER, ACK),
        (CLIENT, CancelRequest(OFFER)), (SERVER, ErrorMessage(ErrorCode.NO_SUCH_FOLDER)),
    ]
    for sender, message in conversation:
        feed(client, sender, message)
        feed(server, sender, message)
        assert client.state is server.state
    assert client.state is State.IDLE
    # A refusal of a part before the last ends the offer's cycle like any reply.
    client = run(CLIENT, [(CLIENT, PART1)])
    event = client.receive(OfferReply(OFFER, OfferStatus.REFUSED, "too many offers"))
    assert isinstance(event, OfferAnswered) and client.state is State.IDLE
