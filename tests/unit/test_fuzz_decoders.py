"""Fuzzed decoders of the wire: the announcement datagram, the field reader, every message, the
generic dispatch, version vectors and wire path checks.

Property, for every decoder: any input (random bytes, and valid encodings with a few mutations)
gives a value or ``RemoteProtocolError`` (``InvalidName`` for path checks), never another
exception, and the decode's peak allocation stays within ``EXPANSION`` times the bytes that
arrived plus a small margin (``fuzz_support``), even when a field claims a huge length or count.
A value a decoder accepts must also satisfy what its receiver relies on (caps, canonical form)
and encode back to an input that decodes to the same value.

The plain round-trip and "random bytes" properties of each codec live beside the codec's unit
tests (``test_messages.py``, ``test_announce.py``, ``test_wire.py``); this file adds the
mutation, allocation and tag-confusion properties. Sessions and files: see
``test_fuzz_sessions.py`` and ``test_fuzz_files.py``. Run longer with ``MFSYNC_FUZZ_EXAMPLES=20``.
"""

from __future__ import annotations

import posixpath
import struct
import unicodedata

import pytest
from fuzz_support import (
    ALLOC_MARGIN,
    EXPANSION,
    alloc_budget,
    apply_mutations,
    fuzz_figures,  # noqa: F401 - an autouse fixture: imported, it counts this module's cases
    fuzz_settings,
    mutated,
    mutations,
    run_decoder,
    tally,
)
from hypothesis import example, given
from hypothesis import strategies as st

from mfsync.protocol.announce import (
    HEADER_SIZE,
    MAX_DATAGRAM,
    MAX_NAME_BYTES,
    Announcement,
    Flags,
    Kind,
    decode_announcement,
    encode_announcement,
)
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.folder_id import FolderId, check_label, label_from_name
from mfsync.protocol.folder_messages import MAX_FOLDERS
from mfsync.protocol.index_messages import read_version, write_version
from mfsync.protocol.messages import (
    CONTENT_ID_SIZE,
    MAX_BATCH_FILE_SIZE,
    MAX_BATCH_FILES,
    MAX_DATA,
    MAX_ERROR_TEXT,
    MAX_HASHES_PER_MESSAGE,
    MAX_INDEX_ENTRIES,
    MAX_MESSAGE_SIZE,
    MAX_OFFER_ENTRIES_PER_PART,
    MAX_OFFER_PARTS,
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
from mfsync.protocol.names import (
    MAX_COMPONENT_BYTES,
    MAX_PATH_BYTES,
    InvalidName,
    check_wire_path,
    has_control,
)
from mfsync.protocol.offer_messages import MAX_OFFER_FILES, MAX_REASON_BYTES, check_offer_label
from mfsync.protocol.version import MAX_COUNTER, MAX_VERSION_ENTRIES, Order, VersionVector
from mfsync.protocol.wire import Reader, Writer
from mfsync.store.index_records import decode_version

REMOTE = (RemoteProtocolError,)


# -- strategies of valid values ---------------------------------------------------------------

_u16 = st.integers(0, 0xFFFF)
_u32 = st.integers(0, 2**32 - 1)
_u64 = st.integers(0, 2**64 - 1)
_i64 = st.integers(-(2**63), 2**63 - 1)
_ids = st.binary(min_size=32, max_size=32)
#: Characters of at most 2 UTF-8 bytes, no controls: names that survive the encoder's cleaning.
_label_chars = st.characters(max_codepoint=0x7FF, exclude_categories=("Cs", "Cc"))
_paths = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_versions = st.dictionaries(_ids, st.integers(1, MAX_COUNTER), max_size=4).map(VersionVector.of)
_entries = st.builds(IndexEntry, path=_paths, size=_u64, mtime_ns=_i64, content_id=_ids,
                     version=_versions)
_folder_ids = st.binary(min_size=5, max_size=5).map(FolderId)
_folder_infos = st.builds(
    FolderInfo, id=_folder_ids,
    label=st.text(_label_chars, min_size=1, max_size=31).map(label_from_name),
    flags=st.sampled_from(FolderFlags), generation=_u64, files=_u32, size=_u64)

_reasons = st.text(st.characters(exclude_categories=("Cs",)).filter(str.isprintable), max_size=40)
_offer_labels = st.text("abcxyz-_ é日.", min_size=1, max_size=20).filter(
    lambda label: _is_offer_label(label))


def _is_offer_label(label: str) -> bool:
    try:
        check_offer_label(label)
    except InvalidName:
        return False
    return True


@st.composite
def _offer_parts(draw: st.DrawFn) -> OfferRequest:
    """A valid part of an offer (its header consistent with itself, not with other parts)."""
    entries = tuple(draw(st.lists(st.builds(OfferEntry, path=_paths, size=_u64,
                                            content_id=_ids), max_size=4)))
    parts = draw(st.integers(1, MAX_OFFER_PARTS))
    return OfferRequest(draw(_folder_ids), draw(st.integers(1, 0xFFFF)),
                        draw(st.integers(max(1, len(entries)), MAX_OFFER_FILES)), draw(_u64),
                        draw(st.integers(1, parts)), parts, draw(_offer_labels), entries)


MESSAGES: dict[str, st.SearchStrategy[Message]] = {
    "hello": st.builds(
        Hello,
        versions=st.lists(_u16, min_size=1, max_size=16).map(tuple),
        capabilities=st.lists(st.text(_label_chars, max_size=16), max_size=32).map(tuple),
        name=st.text(_label_chars, max_size=31).filter(lambda s: not has_control(s)),
    ),
    "index_request": st.builds(IndexRequest, since_generation=_u64, folder=_folder_ids),
    "index_chunk": st.builds(IndexChunk, generation=_u64,
                             entries=st.lists(_entries, max_size=4).map(tuple),
                             last=st.booleans()),
    # A delta (PROTOCOL.md 3.4): flag 0x02 and the removed paths after the entries.
    "index_delta": st.builds(IndexChunk, generation=_u64,
                             entries=st.lists(_entries, max_size=3).map(tuple),
                             last=st.booleans(), delta=st.just(True),
                             removed_paths=st.lists(
                                 _paths.filter(lambda p: p and "\0" not in p
                                               and len(p.encode()) <= 4096),
                                 max_size=4).map("\0".join)),
    "blocks_request": st.builds(BlocksRequest, path=_paths, content_id=_ids, folder=_folder_ids),
    "block_list": st.builds(BlockList, content_id=_ids, size=_u64,
                            block_size=st.integers(0, 31).map(lambda bits: 1 << bits),
                            first=_u32, hashes=st.lists(_ids, max_size=6).map(tuple),
                            last=st.booleans()),
    "get": st.builds(GetRequest, path=_paths, content_id=_ids, offset=_u64, length=_u64,
                     folder=_folder_ids),
    "folders_request": st.just(FoldersRequest()),
    "folder_list": st.lists(_folder_infos, max_size=6, unique_by=lambda info: info.id).map(
        lambda infos: FolderList(tuple(infos))),
    "offer_request": _offer_parts(),
    "offer_reply": st.builds(OfferReply, offer=_folder_ids, status=st.sampled_from(OfferStatus),
                             reason=_reasons),
    "answer_request": st.builds(AnswerRequest, offer=_folder_ids, accepted=st.booleans(),
                                reason=_reasons),
    "receipt_request": st.builds(ReceiptRequest, offer=_folder_ids, files=_u32, bytes=_u64),
    "cancel_request": st.builds(CancelRequest, offer=_folder_ids, reason=_reasons),
    "ack": st.builds(Ack, offer=_folder_ids),
    "data": st.builds(Data, offset=_u64, payload=st.binary(max_size=200)),
    "end": st.builds(End, offset=_u64),
    "error": st.builds(
        ErrorMessage, code=st.sampled_from(ErrorCode),
        text=st.text(st.characters(exclude_categories=("Cs",)).filter(str.isprintable),
                     max_size=60)),
    "get_files": st.builds(
        GetFilesRequest,
        files=st.lists(st.builds(WantedFile, path=_paths, content_id=_ids, size=_u64),
                       min_size=1, max_size=6).map(tuple),
        folder=_folder_ids),
    "file_data": st.builds(FileData, index=_u32, payload=st.binary(max_size=200)),
    "file_failed": st.builds(
        FileFailed, index=_u32, error=st.builds(
            ErrorMessage, code=st.sampled_from(ErrorCode),
            text=st.text(st.characters(exclude_categories=("Cs",)).filter(str.isprintable),
                         max_size=60))),
}
_any_message = st.one_of(*MESSAGES.values())


# -- the announcement datagram ----------------------------------------------------------------

_announcements = st.builds(
    Announcement,
    kind=st.sampled_from(Kind),
    flags=st.sampled_from([Flags.NONE, Flags.WANTS]),
    instance_id=st.binary(min_size=8, max_size=8),
    public_key=_ids,
    tcp_port=_u16,
    beat_ms=_u16,
    generation=_u64,
    name=st.text(max_size=70),
) | st.builds(  # a sharing host needs a port
    Announcement,
    kind=st.sampled_from(Kind),
    flags=st.sampled_from([Flags.SHARES, Flags.SHARES | Flags.WANTS]),
    instance_id=st.binary(min_size=8, max_size=8),
    public_key=_ids,
    tcp_port=st.integers(1, 0xFFFF),
    beat_ms=_u16,
    generation=_u64,
    name=st.text(max_size=70),
)


def _check_announcement(data: bytes) -> None:
    msg = run_decoder("announce", lambda: decode_announcement(data), refusals=REMOTE,
                      budget=alloc_budget(len(data), MAX_DATAGRAM))
    if msg is None:
        return
    # what the discovery service and the engine rely on, once a datagram is accepted
    assert len(data) <= MAX_DATAGRAM
    assert isinstance(msg.kind, Kind)
    assert msg.flags & ~(Flags.SHARES | Flags.WANTS) == 0
    assert not (msg.flags & Flags.SHARES and msg.tcp_port == 0)
    name = msg.name.encode("utf-8")
    assert len(name) <= MAX_NAME_BYTES and not has_control(msg.name)
    assert data[HEADER_SIZE] == len(name) and data[HEADER_SIZE + 1 :].startswith(name)
    assert len(msg.instance_id) == 8 and len(msg.public_key) == 32
    assert decode_announcement(encode_announcement(msg)) == msg


@fuzz_settings(800)
@given(_announcements, mutations(max_ops=5))
@example(Announcement(Kind.ANNOUNCE, Flags.SHARES, bytes(8), bytes(32), 1, 1, 1, "x"),
         [("insert", 200, b"\x00" * 16)] * 30)  # valid, then padded past MAX_DATAGRAM
def test_announcement_mutations(msg: Announcement, ops: list[tuple[str, int, object]]) -> None:
    """Mutated valid datagrams: a value or a refusal, within the 512-byte cap's budget."""
    data = encode_announcement(msg)
    if not ops:
        assert decode_announcement(data).public_key == msg.public_key
        tally.round_trips += 1
    _check_announcement(apply_mutations(data, ops))


@fuzz_settings(300)
@given(st.binary(min_size=MAX_DATAGRAM - 8, max_size=MAX_DATAGRAM + 600))
def test_announcement_sizes_around_the_cap(data: bytes) -> None:
    """Datagrams around and over 512 bytes: anything over is refused unparsed."""
    if len(data) > MAX_DATAGRAM:
        # keep a valid header, so only the size check stands between it and a parse
        data = encode_announcement(
            Announcement(Kind.ANNOUNCE, Flags.NONE, bytes(8), bytes(32), 0, 0, 0)) + data
    _check_announcement(data)


# -- the field reader -------------------------------------------------------------------------

_READ_OPS = st.lists(
    st.tuples(st.sampled_from(["u8", "u16", "u32", "u64", "i64", "raw", "blob16", "view32",
                               "blob32", "text8", "text16", "count", "end"]),
              st.sampled_from([0, 1, 2, 31, 32, 255, 4096, 65535, 1 << 20, 2**32 - 1]),
              st.integers(1, 64)),
    max_size=12,
)


@fuzz_settings(600)
@given(st.binary(max_size=300) | mutated(st.binary(max_size=64).map(
    lambda b: Writer().u32(len(b)).raw(b).u16(len(b)).raw(b).getvalue())), _READ_OPS)
def test_reader_programs(data: bytes, program: list[tuple[str, int, int]]) -> None:
    """Any sequence of reads over any buffer: values within their caps, or a refusal; the
    position only moves forward, and no read allocates beyond the bytes it was given."""

    def run() -> None:
        r = Reader(data)
        for op, cap, item in program:
            before = r.remaining
            if op == "raw":
                value = r.raw(cap)
                assert len(value) == cap
            elif op in ("blob16", "blob32", "view32"):
                blob = getattr(r, op)(cap)
                assert len(blob) <= cap
            elif op in ("text8", "text16"):
                text = getattr(r, op)(cap)
                assert isinstance(text, str) and len(text.encode("utf-8")) <= cap
            elif op == "count":
                n = r.count(cap, item)
                assert n <= cap and n * item <= r.remaining
            elif op == "end":
                r.end()
                assert r.remaining == 0
            else:
                assert isinstance(getattr(r, op)(), int)
            assert 0 <= r.remaining <= before

    run_decoder("wire_reader", run, refusals=REMOTE, budget=alloc_budget(len(data), len(data)))


# -- messages, one decoder each, and the dispatch ---------------------------------------------

def _check_message(decoder: str, data: bytes) -> Message | None:
    msg = run_decoder(decoder, lambda: decode_message(data), refusals=REMOTE,
                      budget=alloc_budget(len(data), MAX_MESSAGE_SIZE))
    if msg is None:
        return None
    # Accepted: it re-encodes (nothing a peer sends may trip our own encoder's checks) and
    # decoding is a fixed point from there (decoding normalises error texts and vector order).
    again = encode_message(msg)
    assert decode_message(again) == msg
    assert len(data) <= MAX_MESSAGE_SIZE
    if isinstance(msg, IndexChunk):
        assert len(msg.entries) <= MAX_INDEX_ENTRIES and len(msg.removed) <= MAX_INDEX_ENTRIES
        assert msg.delta or not msg.removed
        assert all(0 < len(path.encode()) <= 4096 for path in msg.removed)
        for entry in msg.entries:
            assert len(entry.version.counters) <= MAX_VERSION_ENTRIES
            assert all(0 < c <= MAX_COUNTER for _, c in entry.version.counters)
    if isinstance(msg, BlockList):
        assert len(msg.hashes) <= MAX_HASHES_PER_MESSAGE and msg.block_size > 0
    if isinstance(msg, Data):
        assert len(msg.payload) <= MAX_DATA
    if isinstance(msg, GetFilesRequest):
        assert 1 <= len(msg.files) <= MAX_BATCH_FILES
    if isinstance(msg, FileData):
        assert len(msg.payload) <= MAX_BATCH_FILE_SIZE
    if isinstance(msg, FileFailed):
        text = msg.error.text
        assert len(text.encode("utf-8")) <= MAX_ERROR_TEXT and not has_control(text)
    if isinstance(msg, ErrorMessage):
        assert len(msg.text.encode("utf-8")) <= MAX_ERROR_TEXT and not has_control(msg.text)
    if isinstance(msg, Hello):
        assert 1 <= len(msg.versions) <= 16 and not has_control(msg.name)
    if isinstance(msg, OfferRequest):
        assert 1 <= msg.part <= msg.parts <= MAX_OFFER_PARTS and msg.port > 0
        assert len(msg.entries) <= min(MAX_OFFER_ENTRIES_PER_PART, msg.total_files)
        assert 1 <= msg.total_files <= MAX_OFFER_FILES and check_offer_label(msg.label)
    if isinstance(msg, OfferReply | AnswerRequest | CancelRequest):
        reason = msg.reason
        assert len(reason.encode("utf-8")) <= MAX_REASON_BYTES and not has_control(reason)
    if isinstance(msg, FolderList):
        assert len(msg.folders) <= MAX_FOLDERS
        assert len({info.id for info in msg.folders}) == len(msg.folders)
        for info in msg.folders:
            assert check_label(info.label) and not info.flags & ~3
    return msg


def _message_test(name: str, strategy: st.SearchStrategy[Message], examples: int) -> object:
    @fuzz_settings(examples)
    @given(strategy, mutations(max_ops=4))
    def test(msg: Message, ops: list[tuple[str, int, object]]) -> None:
        data = encode_message(msg)
        if not ops:
            assert decode_message(data) == msg
            tally.round_trips += 1
        _check_message(f"msg_{name}", apply_mutations(data, ops))

    test.__name__ = f"test_mutated_{name}"
    test.__doc__ = f"Mutated valid {name} messages decode to a value or a refusal, in budget."
    return test


test_mutated_hello = _message_test("hello", MESSAGES["hello"], 500)
test_mutated_index_request = _message_test("index_request", MESSAGES["index_request"], 300)
test_mutated_index_chunk = _message_test("index_chunk", MESSAGES["index_chunk"], 800)
test_mutated_index_delta = _message_test("index_delta", MESSAGES["index_delta"], 600)
test_mutated_blocks_request = _message_test("blocks_request", MESSAGES["blocks_request"], 300)
test_mutated_block_list = _message_test("block_list", MESSAGES["block_list"], 500)
test_mutated_get = _message_test("get", MESSAGES["get"], 300)
test_mutated_data = _message_test("data", MESSAGES["data"], 400)
test_mutated_end = _message_test("end", MESSAGES["end"], 300)
test_mutated_error = _message_test("error", MESSAGES["error"], 400)
test_mutated_folders_request = _message_test("folders_request", MESSAGES["folders_request"], 100)
test_mutated_folder_list = _message_test("folder_list", MESSAGES["folder_list"], 500)
test_mutated_offer_request = _message_test("offer_request", MESSAGES["offer_request"], 600)
test_mutated_offer_reply = _message_test("offer_reply", MESSAGES["offer_reply"], 300)
test_mutated_answer_request = _message_test("answer_request", MESSAGES["answer_request"], 300)
test_mutated_receipt_request = _message_test("receipt_request", MESSAGES["receipt_request"], 200)
test_mutated_cancel_request = _message_test("cancel_request", MESSAGES["cancel_request"], 200)
test_mutated_ack = _message_test("ack", MESSAGES["ack"], 100)
test_mutated_get_files = _message_test("get_files", MESSAGES["get_files"], 500)
test_mutated_file_data = _message_test("file_data", MESSAGES["file_data"], 300)
test_mutated_file_failed = _message_test("file_failed", MESSAGES["file_failed"], 300)


@fuzz_settings(800)
@given(st.integers(0, 255), _any_message, mutations(max_ops=2))
def test_dispatch_with_confused_tags(tag: int, msg: Message,
                                     ops: list[tuple[str, int, object]]) -> None:
    """A valid body under any tag byte (another message's, or none of ours): the dispatch
    refuses or decodes it as the tag says, never anything else."""
    data = bytes([tag]) + apply_mutations(encode_message(msg)[1:], ops)
    decoded = _check_message("decode_message", data)
    assert decoded is None or tag == decoded.TAG


@fuzz_settings(400)
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\x07" + bytes(MAX_MESSAGE_SIZE))  # one byte over the cap: refused unparsed
def test_dispatch_of_random_bytes(data: bytes) -> None:
    """Random record plaintexts (up to 2000 bytes; the existing test stops at 300)."""
    _check_message("decode_message", data)


def _claims() -> list[tuple[str, bytes]]:
    """Small inputs whose fields claim the largest lengths and counts their widths allow."""
    cid = bytes(CONTENT_ID_SIZE)
    entry_head = struct.pack(">QBI", 1, 1, 1)
    return [
        ("data claims 4 GiB", b"\x07" + struct.pack(">QI", 0, 2**32 - 1) + b"x" * 10),
        ("data claims MAX_DATA", b"\x07" + struct.pack(">QI", 0, MAX_DATA) + b"x" * 10),
        ("index claims 2^32 entries", b"\x03" + struct.pack(">QBI", 1, 1, 2**32 - 1)),
        ("index claims the entry cap", b"\x03" + struct.pack(">QBI", 1, 1, MAX_INDEX_ENTRIES)
         + bytes(60)),
        ("path claims 64 KiB", b"\x03" + entry_head + b"\xff\xff" + bytes(60)),
        ("version claims 65535 items", b"\x03" + entry_head + b"\x00\x00" + bytes(48)
         + b"\xff\xff" + bytes(40)),
        ("version claims 256 items", b"\x03" + entry_head + b"\x00\x00" + bytes(48)
         + b"\x01\x00" + bytes(40)),
        ("block list claims 2^32 hashes", b"\x05" + cid + struct.pack(">QIIBI", 1, 1, 0, 1,
                                                                      2**32 - 1)),
        ("block list claims the hash cap", b"\x05" + cid
         + struct.pack(">QIIBI", 1, 1, 0, 1, MAX_HASHES_PER_MESSAGE) + bytes(64)),
        ("hello claims 255 capabilities", b"\x01\x01\x00\x01\xff" + b"\x20" + b"a" * 32),
        ("error text claims 64 KiB", b"\x7f\x00\x01\xff\xff" + b"a" * 10),
        ("request path claims 64 KiB", b"\x06" + bytes(5) + b"\xff\xff" + b"a" * 100),
        ("folder list claims 65535 folders", b"\x0a\xff\xff" + bytes(60)),
        ("folder list claims the folder cap", b"\x0a" + struct.pack(">H", MAX_FOLDERS)
         + bytes(60)),
        ("folder label claims 255 bytes", b"\x0a\x00\x01" + bytes(5) + b"\xff" + bytes(30)),
        ("offer claims 2^32 entries", b"\x0b" + bytes(5) + struct.pack(">HIQHH", 1, 1, 0, 1, 1)
         + b"\x01a" + struct.pack(">I", 2**32 - 1) + bytes(60)),
        ("offer claims the entry cap", b"\x0b" + bytes(5)
         + struct.pack(">HIQHH", 1, MAX_OFFER_FILES, 0, 1, 1) + b"\x01a"
         + struct.pack(">I", MAX_OFFER_ENTRIES_PER_PART) + bytes(60)),
        ("offer path claims 64 KiB", b"\x0b" + bytes(5) + struct.pack(">HIQHH", 1, 1, 0, 1, 1)
         + b"\x01a" + struct.pack(">I", 1) + b"\xff\xff" + bytes(60)),
        ("offer label claims 255 bytes", b"\x0b" + bytes(5) + struct.pack(">HIQHH", 1, 1, 0, 1, 1)
         + b"\xff" + bytes(20)),
        ("offer reason claims 64 KiB", b"\x0c" + bytes(5) + b"\x04\xff\xff" + b"a" * 10),
        ("batch claims 65535 files", b"\x11" + bytes(5) + b"\xff\xff" + bytes(60)),
        ("batch claims the file cap", b"\x11" + bytes(5) + struct.pack(">H", MAX_BATCH_FILES)
         + bytes(60)),
        ("batch path claims 64 KiB", b"\x11" + bytes(5) + b"\x00\x01\xff\xff" + bytes(60)),
        ("file data claims 4 GiB", b"\x12" + struct.pack(">II", 0, 2**32 - 1) + b"x" * 10),
        ("file data claims a block", b"\x12" + struct.pack(">II", 0, MAX_BATCH_FILE_SIZE)
         + b"x" * 10),
        ("file error text claims 64 KiB", b"\x13" + bytes(4) + b"\x00\x01\xff\xff" + b"a" * 10),
        ("over the message cap", b"\x03" + bytes(MAX_MESSAGE_SIZE + 10)),
    ]


@pytest.mark.parametrize(("claim", "data"), _claims(), ids=[c for c, _ in _claims()])
def test_claimed_lengths_allocate_nothing(claim: str, data: bytes) -> None:
    """A claim is checked against the bytes present before anything is allocated for it: the
    refusal costs the fixed margin only, whatever the claim."""
    assert _check_message("claims", data) is None, claim


def _largest(kind: str) -> bytes:
    """A valid message as close to MAX_MESSAGE_SIZE as its kind gets."""
    cid = bytes(CONTENT_ID_SIZE)
    if kind == "index":  # the most (smallest) entries
        entries = tuple(IndexEntry("", i, 0, cid) for i in range(MAX_INDEX_ENTRIES))
        return encode_message(IndexChunk(1, entries, last=True))
    if kind == "versions":  # entries whose vectors are full
        vector = VersionVector.of({i.to_bytes(32, "big"): i for i in range(1, 257)})
        entries = tuple(IndexEntry(str(i), 0, 0, cid, vector) for i in range(100))
        return encode_message(IndexChunk(1, entries, last=True))
    if kind == "folders":  # the most folders, with the longest labels
        return encode_message(FolderList(tuple(
            FolderInfo(FolderId(n.to_bytes(5, "big")), "l" * 63, FolderFlags.ANNOUNCED, n, n, n)
            for n in range(MAX_FOLDERS))))
    if kind == "offer":  # the most (smallest) entries of one part
        entries = tuple(OfferEntry("", i, cid) for i in range(MAX_OFFER_ENTRIES_PER_PART))
        return encode_message(OfferRequest(FolderId(bytes(5)), 1, MAX_OFFER_FILES, 0, 1, 1,
                                           "x", entries))
    if kind == "batch":  # the most (smallest) files of one request
        files = tuple(WantedFile("", cid, 1) for _ in range(MAX_BATCH_FILES))
        return encode_message(GetFilesRequest(files))
    if kind == "hashes":
        return encode_message(BlockList(cid, 0, 1 << 17, 0, (cid,) * MAX_HASHES_PER_MESSAGE,
                                        last=True))
    return encode_message(Data(0, bytes(MAX_DATA)))


@pytest.mark.parametrize("kind", ["index", "versions", "hashes", "data", "folders", "offer",
                                  "batch"])
def test_largest_valid_messages_stay_within_the_expansion(kind: str) -> None:
    """The budget's factor holds for the worst honest case too: a full record of the
    smallest items (each decoded into Python objects) stays under EXPANSION x its size."""
    data = _largest(kind)
    assert len(data) <= MAX_MESSAGE_SIZE
    assert _check_message(f"largest_{kind}", data) is not None


# -- version vectors: the wire decoder and the index database's --------------------------------

def _encode_version(version: VersionVector) -> bytes:
    w = Writer()
    write_version(w, version)
    return w.getvalue()


@fuzz_settings(600)
@given(_versions, mutations(max_ops=4))
@example(VersionVector.of({b"k" * 32: MAX_COUNTER}), [("int", 34, (8, MAX_COUNTER + 1))])
@example(VersionVector(), [("int", 0, (2, 0xFFFF))])
def test_version_vector_wire_decoder(version: VersionVector,
                                     ops: list[tuple[str, int, object]]) -> None:
    """Mutated vectors from the wire: canonical vectors within the caps, or a refusal."""
    data = _encode_version(version)
    if not ops:
        assert read_version(Reader(data)) == version
        tally.round_trips += 1
    data = apply_mutations(data, ops)

    def decode() -> VersionVector:
        r = Reader(data)
        decoded = read_version(r)
        r.end()
        return decoded

    decoded = run_decoder("version_wire", decode, refusals=REMOTE,
                          budget=alloc_budget(len(data), 2 + 40 * MAX_VERSION_ENTRIES))
    if decoded is not None:
        _check_canonical(decoded)
        assert all(c <= MAX_COUNTER for _, c in decoded.counters)
        assert decode_version_again(decoded) == decoded


def decode_version_again(version: VersionVector) -> VersionVector:
    """Encode and decode ``version`` once more."""
    return read_version(Reader(_encode_version(version)))


def _check_canonical(version: VersionVector) -> None:
    keys = [k for k, _ in version.counters]
    assert keys == sorted(set(keys)) and all(len(k) == 32 for k in keys)
    assert all(c > 0 for _, c in version.counters)
    # the operations sync runs on received vectors work on anything a decoder produced
    assert version.compare(version) is Order.EQUAL
    assert version.merge(VersionVector()) == version
    assert version.bump(b"\x00" * 32).compare(version) is Order.NEWER
    last = version.last_writer()
    assert (last is None) == (not keys)


@fuzz_settings(400)
@given(st.lists(st.binary(min_size=40, max_size=40), max_size=8).map(b"".join)
       | mutated(_versions.map(lambda v: _encode_version(v)[2:]), max_ops=3)
       .map(lambda b: b[: len(b) - len(b) % 40]))
def test_version_vector_database_decoder(data: bytes) -> None:
    """Version blobs from the index database (the row decoder guarantees whole 40-byte items):
    always a canonical vector, zero counters dropped, repeated keys merged."""
    decoded = run_decoder("version_db", lambda: decode_version(data, {}), refusals=(),
                          budget=alloc_budget(len(data), len(data)))
    assert decoded is not None
    _check_canonical(decoded)


# -- wire paths ---------------------------------------------------------------------------------

_path_chars = st.one_of(
    st.sampled_from([*'/.\\: \x00\x7f\u0085\u200bAaZ0~*?<>|"', "..", "CON", "nul", "é",
                     "e\u0301", "COM¹"]),
    st.characters(exclude_categories=()),  # every code point, lone surrogates included
)
_valid_paths = st.lists(st.text("abcxyz-_é日", min_size=1, max_size=12), min_size=1,
                        max_size=5).map("/".join)


def _mutated_path(path_and_ops: tuple[str, list[tuple[str, int, object]]]) -> str:
    path, ops = path_and_ops
    # bytes as a peer could send them; invalid UTF-8 survives as lone surrogates
    return apply_mutations(path.encode("utf-8"), ops).decode("utf-8", "surrogateescape")


@fuzz_settings(1000)
@given(st.lists(_path_chars, max_size=30).map("".join)
       | st.tuples(_valid_paths, mutations(4)).map(_mutated_path)
       | st.text(max_size=5000))
@example("a/" * 2049)
@example("x" * (MAX_COMPONENT_BYTES + 1))
@example("../etc/passwd")
@example("a/./b")
def test_wire_path_check(path: str) -> None:
    """Any text: the path itself or ``InvalidName``; an accepted path stays inside any folder
    it is joined to on every system mfsync runs on."""
    accepted = run_decoder("names", lambda: check_wire_path(path), refusals=(InvalidName,),
                           budget=EXPANSION * 4 * len(path) + ALLOC_MARGIN)
    if accepted is None:
        return
    assert accepted == path
    raw = path.encode("utf-8")  # strict: no lone surrogates got through
    assert 0 < len(raw) <= MAX_PATH_BYTES
    assert unicodedata.normalize("NFC", path) == path
    assert not has_control(path) and not any(c in path for c in '\\:<>"|?*')
    for part in path.split("/"):
        assert part not in ("", ".", "..") and part[-1] not in ". "
        assert len(part.encode("utf-8")) <= MAX_COMPONENT_BYTES
    joined = posixpath.normpath(posixpath.join("/base", path))
    assert joined.startswith("/base/")
