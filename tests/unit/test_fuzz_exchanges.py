"""Fuzzed exchange tables (``mfsync.protocol.exchange``): random and mutated conversations fed
to both roles.

Properties: whatever the messages and their order, ``send`` and ``receive`` return an event or
raise a ``ProtocolError`` (``LocalProtocolError`` for what we send, ``RemoteProtocolError`` for
what the peer sends), and once one is raised the exchange stays failed; the two roles, fed the
same conversation, fail at the same message (one table, one set of rules), except that a
client also holds a block list to the size it knows from the index; a reply a client accepts
is whole (its data covers the range, its hashes prove the content id). No call allocates more
than ``EXPANSION`` times the message's wire size plus a margin and the hashes the expected file
has (``fuzz_support``), however large a count or size a message claims. Conversations also go
through bytes: encoded, mutated, decoded (a refusal there ends the conversation, as it would
close the connection). The offers' parts also go through ``OfferParts``, the receiver's
rules between parts: shuffled, repeated, dropped and forged parts are a ``BadOffer`` or an
offer whose entries make its totals exactly, every name valid and none twice.
"""

from __future__ import annotations

from fuzz_support import (
    ALLOC_MARGIN,
    EXPANSION,
    apply_mutations,
    fuzz_figures,  # noqa: F401 - an autouse fixture: imported, it counts this module's cases
    fuzz_settings,
    mutations,
    run_decoder,
    tally,
)
from hypothesis import given
from hypothesis import strategies as st

from mfsync.protocol.content import block_count, block_hash, block_size_for, content_id_of
from mfsync.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from mfsync.protocol.exchange import CLIENT, SERVER, Exchange, State
from mfsync.protocol.exchange_events import (
    BlocksComplete,
    DataPart,
    ExchangeEvent,
    FilesComplete,
    RangeComplete,
)
from mfsync.protocol.folder_id import FolderId
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
    decode_message,
    encode_message,
)
from mfsync.protocol.names import InvalidName, check_wire_path
from mfsync.protocol.offer_messages import split_offer
from mfsync.protocol.offer_parts import BadOffer, OfferParts
from mfsync.protocol.session import Role

Step = tuple[Role, Message]

_ids = st.binary(min_size=32, max_size=32)
_u64 = st.integers(0, 2**64 - 1)
_small = st.integers(0, 64)
_entries = st.builds(IndexEntry, path=st.text(max_size=8), size=_small, mtime_ns=_small,
                     content_id=_ids)
_folder_ids = st.binary(min_size=5, max_size=5).map(FolderId)
_folder_lists = st.lists(
    st.builds(FolderInfo, id=_folder_ids, label=st.sampled_from(["default", "Notes", "ü"]),
              flags=st.sampled_from(FolderFlags), generation=_small, files=_small, size=_small),
    max_size=3, unique_by=lambda info: info.id).map(lambda infos: FolderList(tuple(infos)))
_offer_ids = st.sampled_from([FolderId(b"\x01" * 5), FolderId(b"\x02" * 5)])
_offer_paths = st.sampled_from(["a", "b", "a/b", "c/d", "../x", "c", "e/f/g", ".mfsync"])
_offer_entries = st.lists(st.builds(OfferEntry, path=_offer_paths, size=st.integers(0, 3),
                                    content_id=_ids), min_size=1, max_size=5)
_any_offer_part = st.builds(
    OfferRequest, offer=_offer_ids, port=st.sampled_from([1, 8000]), total_files=st.integers(1, 6),
    total_bytes=st.integers(0, 9), part=st.integers(1, 3), parts=st.just(3),
    label=st.sampled_from(["x", "y"]),
    entries=st.lists(st.builds(OfferEntry, path=_offer_paths, size=st.integers(0, 3),
                               content_id=_ids), max_size=1).map(tuple))
#: Any message, with fields near the values real conversations use (so rows are reached).
_any_message: st.SearchStrategy[Message] = st.one_of(
    st.builds(Hello),
    st.builds(IndexRequest, since_generation=_small, folder=_folder_ids),
    st.just(FoldersRequest()),
    _folder_lists,
    st.builds(IndexChunk, generation=_small, entries=st.lists(_entries, max_size=3).map(tuple),
              last=st.booleans()),
    st.builds(BlocksRequest, path=st.just("f"), content_id=_ids),
    st.builds(BlockList, content_id=_ids, size=st.one_of(_small, _u64),
              block_size=st.sampled_from([1, 1 << 17, 1 << 18, 1 << 31]),
              first=st.integers(0, 4), hashes=st.lists(_ids, max_size=4).map(tuple),
              last=st.booleans()),
    st.builds(GetRequest, path=st.just("f"), content_id=_ids, offset=_small, length=_small),
    st.builds(Data, offset=_small, payload=st.binary(max_size=16)),
    st.builds(End, offset=_small),
    st.builds(ErrorMessage, code=st.sampled_from(ErrorCode), text=st.just("no")),
    _any_offer_part,
    st.builds(OfferReply, offer=_offer_ids, status=st.sampled_from(OfferStatus)),
    st.builds(AnswerRequest, offer=_offer_ids, accepted=st.booleans()),
    st.builds(ReceiptRequest, offer=_offer_ids, files=_small, bytes=_small),
    st.builds(CancelRequest, offer=_offer_ids),
    st.builds(Ack, offer=_offer_ids),
    st.builds(GetFilesRequest, files=st.lists(st.builds(WantedFile, path=st.just("f"),
                                                        content_id=_ids, size=st.integers(0, 3)),
                                              min_size=1, max_size=3).map(tuple)),
    st.builds(FileData, index=st.integers(0, 3), payload=st.binary(max_size=3)),
    st.builds(FileFailed, index=st.integers(0, 3),
              error=st.just(ErrorMessage(ErrorCode.CHANGED, "changed"))),
)


@st.composite
def _blocks_conversation(draw: st.DrawFn) -> tuple[list[Step], int]:
    """An honest block-list exchange for a file of up to 5 blocks, cut into random parts."""
    blocks = draw(st.integers(0, 5))
    size = draw(st.integers(max(0, (blocks - 1) * (1 << 17) + 1), blocks * (1 << 17)))
    size = size if blocks else 0
    bs = block_size_for(size)
    hashes = [block_hash(bytes([n])) for n in range(block_count(size))]
    cid = content_id_of(size, bs, hashes)
    steps: list[Step] = [(CLIENT, BlocksRequest("f", cid))]
    first = 0
    while True:
        n = draw(st.integers(1, 3)) if first < len(hashes) else 0
        part = tuple(hashes[first : first + n])
        last = first + len(part) >= len(hashes)
        steps.append((SERVER, BlockList(cid, size, bs, first, part, last)))
        first += len(part)
        if last:
            return steps, size


@st.composite
def _range_conversation(draw: st.DrawFn) -> tuple[list[Step], int]:
    offset, length = draw(_small), draw(_small)
    steps: list[Step] = [(CLIENT, GetRequest("f", bytes(32), offset, length))]
    position = offset
    while position < offset + length:
        n = draw(st.integers(1, offset + length - position))
        steps.append((SERVER, Data(position, bytes(n))))
        position += n
    steps.append((SERVER, End(position)))
    return steps, 0


@st.composite
def _files_conversation(draw: st.DrawFn) -> tuple[list[Step], int]:
    """A batch of small files, each answered with its bytes or its error, then End."""
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    steps: list[Step] = [(CLIENT, GetFilesRequest(tuple(
        WantedFile(f"f{n}", bytes(32), size) for n, size in enumerate(sizes))))]
    for index, size in enumerate(sizes):
        steps.append((SERVER, FileData(index, bytes(size)) if draw(st.booleans()) else
                       FileFailed(index, ErrorMessage(ErrorCode.CHANGED, "changed"))))
    steps.append((SERVER, End(len(sizes))))
    return steps, 0


@st.composite
def _index_conversation(draw: st.DrawFn) -> tuple[list[Step], int]:
    chunks = draw(st.lists(st.lists(_entries, min_size=1, max_size=3), max_size=3))
    steps: list[Step] = [(CLIENT, IndexRequest(0))]
    steps += [(SERVER, IndexChunk(1, tuple(c), False)) for c in chunks]
    steps.append((SERVER, IndexChunk(1, (), True)))
    return steps, 0


@st.composite
def _folders_conversation(draw: st.DrawFn) -> tuple[list[Step], int]:
    return [(CLIENT, FoldersRequest()), (SERVER, draw(_folder_lists))], 0


@st.composite
def _offer_conversation(draw: st.DrawFn) -> tuple[list[Step], int]:
    """An offer in parts (each but the last answered PART_RECEIVED), its verdict, then some
    answers, receipts and cancels, each acked or refused."""
    offer = draw(_offer_ids)
    entries = draw(_offer_entries)
    steps: list[Step] = []
    for part in split_offer(offer, 8000, "x", entries):
        steps.append((CLIENT, part))
        status = OfferStatus.PART_RECEIVED if not part.last else draw(
            st.sampled_from([s for s in OfferStatus if s is not OfferStatus.PART_RECEIVED]))
        steps.append((SERVER, OfferReply(offer, status)))
    for _ in range(draw(st.integers(0, 3))):
        request = draw(st.sampled_from([AnswerRequest(offer, True), ReceiptRequest(offer, 1, 1),
                                        CancelRequest(offer, "no")]))
        steps.append((CLIENT, request))
        steps.append((SERVER, draw(st.sampled_from(
            [Ack(offer), ErrorMessage(ErrorCode.NO_SUCH_FOLDER, "no such folder")]))))
    return steps, 0


_honest = st.one_of(_blocks_conversation(), _range_conversation(), _index_conversation(),
                    _folders_conversation(), _offer_conversation(), _files_conversation())


@st.composite
def _mutated_conversation(draw: st.DrawFn) -> tuple[list[Step], int]:
    """Honest conversations, one after another, then steps dropped, repeated, swapped, sent by
    the other side, or replaced with random messages."""
    steps: list[Step] = []
    size = 0
    for _ in range(draw(st.integers(1, 3))):
        more, size = draw(_honest)  # (the size the client expects: the last block list's)
        steps += more
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(steps)))
        op = draw(st.sampled_from(["drop", "repeat", "swap", "flip", "random"]))
        if op == "drop" and at < len(steps):
            del steps[at]
        elif op == "repeat" and at < len(steps):
            steps.insert(at, steps[at])
        elif op == "swap" and at + 1 < len(steps):
            steps[at], steps[at + 1] = steps[at + 1], steps[at]
        elif op == "flip" and at < len(steps):
            sender, message = steps[at]
            steps[at] = (SERVER if sender is CLIENT else CLIENT, message)
        elif op == "random":
            steps.insert(at, (draw(st.sampled_from([CLIENT, SERVER])), draw(_any_message)))
    return steps, size


def _budget(message: Message, size: int) -> int:
    # a block list kept whole: a pointer and a 32-byte hash object per block of the file
    return EXPANSION * len(encode_message(message)) + ALLOC_MARGIN + 96 * block_count(size)


def _play(role: Role, steps: list[Step], size: int) -> tuple[int | None, list[ExchangeEvent]]:
    """Feed ``steps`` to a ``role`` exchange: where it failed (or None) and the events."""
    exchange = Exchange(role)
    events: list[ExchangeEvent] = []
    failed_at: int | None = None
    for n, (sender, message) in enumerate(steps):
        ours = sender is role
        expected = size if isinstance(message, BlocksRequest) else None

        def call(sender_is_us: bool = ours, message: Message = message,
                 expected: int | None = expected) -> ExchangeEvent | None:
            if sender_is_us:
                exchange.send(message, expected_size=expected)
                return None
            return exchange.receive(message)

        refusal = LocalProtocolError if ours or failed_at is not None else RemoteProtocolError
        before = tally.refused[f"exchange_{role.value}"]
        event = run_decoder(f"exchange_{role.value}", call, refusals=(refusal,),
                            budget=_budget(message, size))
        if tally.refused[f"exchange_{role.value}"] != before:
            failed_at = n if failed_at is None else failed_at
            assert exchange.state is State.ERROR
        elif event is not None:
            assert failed_at is None
            events.append(event)
    return failed_at, events


def _check_whole(steps: list[Step], events: list[ExchangeEvent]) -> None:
    """What a client accepted is whole: data in order up to each End, lists proving ids."""
    requests = [m for s, m in steps if s is CLIENT and isinstance(m, GetRequest | BlocksRequest)]
    position: int | None = None
    for event in events:
        if isinstance(event, DataPart):
            assert position is None or event.data.offset == position
            position = event.data.offset + len(event.data.payload)
        elif isinstance(event, RangeComplete):
            position = None
            tally.reached["ranges_accepted"] += 1
        elif isinstance(event, FilesComplete):
            tally.reached["batches_accepted"] += 1
        elif isinstance(event, BlocksComplete):
            info = event.info
            assert any(isinstance(r, BlocksRequest)
                       and content_id_of(info.size, info.block_size, info.hashes) == r.content_id
                       for r in requests)
            tally.reached["block_lists_accepted"] += 1


@fuzz_settings(250)
@given(_mutated_conversation())
def test_mutated_conversations(conversation: tuple[list[Step], int]) -> None:
    """Both roles, the same conversation: the same verdict at the same message (a client may
    fail earlier on a block list that breaks the size it expects)."""
    steps, size = conversation
    client_failed, events = _play(CLIENT, steps, size)
    server_failed, _ = _play(SERVER, steps, size)
    if client_failed != server_failed:
        assert client_failed is not None and isinstance(steps[client_failed][1], BlockList)
        assert server_failed is None or client_failed < server_failed
    _check_whole(steps, events)


@fuzz_settings(250)
@given(st.lists(st.tuples(st.sampled_from([CLIENT, SERVER]), _any_message), max_size=12),
       st.integers(0, 1 << 30))
def test_random_conversations(steps: list[Step], size: int) -> None:
    """Random messages from random senders: events or protocol errors, never anything else."""
    for role in (CLIENT, SERVER):
        _, events = _play(role, steps, size)
        if role is CLIENT:
            _check_whole(steps, events)


@fuzz_settings(250)
@given(_mutated_conversation(), st.lists(mutations(max_ops=2), min_size=1, max_size=3),
       st.integers(0, 2**16))
def test_conversations_through_bytes(conversation: tuple[list[Step], int],
                                     byte_mutations: list[list[tuple[str, int, object]]],
                                     seed: int) -> None:
    """A few messages of a conversation mutated as bytes and decoded again: a decoder refusal
    ends it (the connection would close), anything decoded goes through both tables."""
    steps, size = conversation
    if not steps:
        return
    mutated: list[Step] = []
    for n, (sender, message) in enumerate(steps):
        ops = byte_mutations[(n + seed) % len(byte_mutations)] if (n + seed) % 3 == 0 else []
        data = apply_mutations(encode_message(message), ops)
        try:
            mutated.append((sender, decode_message(data)))
        except RemoteProtocolError:
            break
    tally.reached["steps_through_bytes"] += len(mutated)
    for role in (CLIENT, SERVER):
        _play(role, mutated, size)


def test_claimed_sizes_allocate_nothing() -> None:
    """A block list claiming 2^64 bytes, 16384 hashes at a time: the client keeps none beyond
    the block count of the size it expects, and refuses the part that would pass it."""
    client = Exchange(CLIENT)
    client.send(BlocksRequest("f", bytes(32)), expected_size=1 << 20)  # 8 blocks
    hashes = (bytes(32),) * 16384
    try:
        run_decoder("exchange_claim", lambda: client.receive(
            BlockList(bytes(32), 2**64 - 1, 1 << 31, 0, hashes, False)), refusals=(ProtocolError,),
            budget=ALLOC_MARGIN)
    finally:
        assert client.state is State.ERROR


@st.composite
def _offer_part_sequences(draw: st.DrawFn) -> list[OfferRequest]:
    """An honest offer's parts (small parts, so there are several), then dropped, repeated,
    swapped or forged ones."""
    entries = draw(st.lists(st.builds(OfferEntry, path=_offer_paths, size=st.integers(0, 3),
                                      content_id=_ids), min_size=1, max_size=6))
    cut = draw(st.integers(1, 3))
    offer = FolderId(b"\x01" * 5)
    batches = [tuple(entries[n : n + cut]) for n in range(0, len(entries), cut)]
    parts = [OfferRequest(offer, 8000, len(entries), sum(e.size for e in entries), n,
                          len(batches), "x", batch) for n, batch in enumerate(batches, 1)]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(parts)))
        op = draw(st.sampled_from(["drop", "repeat", "swap", "forge"]))
        if op == "drop" and at < len(parts):
            del parts[at]
        elif op == "repeat" and at < len(parts):
            parts.insert(at, parts[at])
        elif op == "swap" and at + 1 < len(parts):
            parts[at], parts[at + 1] = parts[at + 1], parts[at]
        elif op == "forge":
            parts.insert(at, draw(_any_offer_part))
    return parts


@fuzz_settings(400)
@given(_offer_part_sequences())
def test_offer_parts_in_any_order(parts: list[OfferRequest]) -> None:
    """Parts in any order, repeated, dropped or forged: each is taken or refused with
    ``BadOffer`` (nothing else), and an offer that completes makes its totals exactly, with
    valid names, none twice, none both a file and a folder."""
    collected = OfferParts()
    for part in parts:
        if collected.complete:
            break
        before = collected.entries
        complete = run_decoder("offer_parts", lambda part=part: collected.add(part),
                               refusals=(BadOffer,),
                               budget=EXPANSION * len(encode_message(part)) + ALLOC_MARGIN)
        if complete is None:  # refused: the receiver answers REFUSED and forgets the offer
            assert collected.entries == before  # (nothing of the part was kept)
            break
    if not collected.complete:
        return
    tally.reached["offers_completed"] += 1
    header = collected.header
    assert header is not None
    entries = collected.entries
    assert len(entries) == header.total_files
    assert sum(e.size for e in entries) == header.total_bytes
    paths = [e.path for e in entries]
    assert len(set(paths)) == len(paths)
    for path in paths:
        try:
            check_wire_path(path)
        except InvalidName:  # pragma: no cover - the property failing
            raise AssertionError(f"{path!r} accepted") from None
        parents = {path[:n] for n in range(len(path)) if path[n] == "/"}
        assert not parents & set(paths)
