"""Tests for mfsync.protocol.messages: the typed messages of the encrypted channel."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.messages import (
    CONTENT_ID_SIZE,
    MAX_DATA,
    MAX_ERROR_TEXT,
    MAX_HASHES_PER_MESSAGE,
    MAX_INDEX_ENTRIES,
    MAX_MESSAGE_SIZE,
    PROTOCOL_VERSIONS,
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    Hello,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Message,
    chunk_index,
    decode_message,
    encode_message,
)
from mfsync.protocol.names import MAX_PATH_BYTES
from mfsync.protocol.version import (
    EMPTY_VERSION,
    MAX_COUNTER,
    MAX_VERSION_ENTRIES,
    VersionVector,
)

FAST = settings(max_examples=200, deadline=None)

CID = bytes(range(32))
KEY_A = b"\xaa" * 32
KEY_B = b"\xbb" * 32
H1 = b"\x11" * 32
H2 = b"\x22" * 32
#: Version count u16 of an entry with an empty version vector.
NO_VERSION = b"\x00\x00"
VERSION = VersionVector.of({KEY_B: 3, KEY_A: MAX_COUNTER})


def _entry(
    path: str, size: int = 1, mtime_ns: int = 2, cid: bytes = CID,
    version: VersionVector = EMPTY_VERSION,
) -> IndexEntry:
    return IndexEntry(path, size, mtime_ns, cid, version)


SAMPLES: list[Message] = [
    Hello(),
    Hello((1, 2, 7), ("resume", "delta"), "laptop-änna"),
    IndexRequest(),
    IndexRequest(2**64 - 1),
    IndexChunk(0, (), last=True),
    IndexChunk(
        42,
        (_entry("a.txt", 0, -5), _entry("dir/sub/ünï.bin", 2**64 - 1, 2**63 - 1, b"\xff" * 32)),
        last=False,
    ),
    IndexChunk(3, (_entry("v.txt", 9, 8, version=VERSION), _entry("w", version=VERSION)), True),
    BlocksRequest("dir/ünï.bin", CID),
    BlockList(CID, 300_000, 128 * 1024, 0, (H1, H2, b"\x33" * 32), last=True),
    BlockList(b"\xff" * 32, 2**64 - 1, 2**31, 2**32 - 1, (), last=False),
    GetRequest("a/b.txt", CID, 2**64 - 1, 2**64 - 1),
    Data(0, b""),
    Data(2**64 - 1, b"payload \x00\xff"),
    End(0),
    End(2**64 - 1),
    ErrorMessage(ErrorCode.NOT_TRUSTED, "you are not on my list"),
    ErrorMessage(ErrorCode.CHANGED, "changed since"),
    ErrorMessage(ErrorCode.INTERNAL),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip_of_each_sample(msg: Message) -> None:
    data = encode_message(msg)
    assert data[0] == msg.TAG
    assert decode_message(data) == msg


def test_known_layouts() -> None:
    # Requests open with the folder id (5 bytes; the default folder's are zeros).
    assert encode_message(IndexRequest(0x0102)) == (
        b"\x02" + b"\x00" * 5 + b"\x00" * 6 + b"\x01\x02")
    assert encode_message(Hello((1,), ("x",), "h")) == b"\x01\x01\x00\x01\x01\x01x\x01h"
    assert encode_message(ErrorMessage(ErrorCode.BUSY, "hi")) == b"\x7f\x00\x05\x00\x02hi"
    chunk = encode_message(IndexChunk(7, (_entry("p", 3, -1),), last=True))
    assert chunk == (
        b"\x03" + struct.pack(">QBI", 7, 1, 1) + b"\x00\x01p" + struct.pack(">Qq", 3, -1) + CID
        + NO_VERSION
    )


def test_known_layout_of_an_entry_with_a_version() -> None:
    # The version follows the content id: u16 count, then (32-byte key, u64 counter) pairs in
    # key order, whatever order the vector was built in.
    chunk = encode_message(IndexChunk(1, (_entry("p", 3, 4, version=VERSION),), last=False))
    assert chunk == (
        b"\x03" + struct.pack(">QBI", 1, 0, 1) + b"\x00\x01p" + struct.pack(">Qq", 3, 4) + CID
        + b"\x00\x02" + KEY_A + struct.pack(">Q", MAX_COUNTER) + KEY_B + struct.pack(">Q", 3)
    )


def test_known_layouts_of_the_transfer_messages() -> None:
    assert encode_message(BlocksRequest("p", CID)) == b"\x04" + b"\x00" * 5 + b"\x00\x01p" + CID
    assert encode_message(BlockList(CID, 5, 128 * 1024, 2, (H1, H2), last=True)) == (
        b"\x05" + CID + struct.pack(">QIIBI", 5, 128 * 1024, 2, 1, 2) + H1 + H2
    )
    assert encode_message(BlockList(CID, 0, 1, 0, (), last=False)) == (
        b"\x05" + CID + b"\x00" * 8 + b"\x00\x00\x00\x01" + b"\x00" * 4 + b"\x00" + b"\x00" * 4
    )
    assert encode_message(GetRequest("ab", CID, 7, 0x0102)) == (
        b"\x06" + b"\x00" * 5 + b"\x00\x02ab" + CID + b"\x00" * 7 + b"\x07"
        + b"\x00" * 6 + b"\x01\x02"
    )
    assert encode_message(Data(3, b"xyz")) == (
        b"\x07" + b"\x00" * 7 + b"\x03" + b"\x00\x00\x00\x03xyz"
    )
    assert encode_message(End(0x0102)) == b"\x08" + b"\x00" * 6 + b"\x01\x02"
    assert encode_message(ErrorMessage(ErrorCode.CHANGED)) == b"\x7f\x00\x07\x00\x00"


def test_tags_and_codes_of_the_new_messages() -> None:
    assert [BlocksRequest.TAG, BlockList.TAG, GetRequest.TAG, Data.TAG, End.TAG] == [
        0x04, 0x05, 0x06, 0x07, 0x08
    ]
    assert ErrorCode.CHANGED == 7


def test_every_error_code_round_trips() -> None:
    for code in ErrorCode:
        decoded = decode_message(encode_message(ErrorMessage(code, "t")))
        assert isinstance(decoded, ErrorMessage)
        assert decoded.code is code


def test_default_hello_lists_our_versions() -> None:
    assert Hello().versions == PROTOCOL_VERSIONS
    assert 1 in PROTOCOL_VERSIONS


_text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=40)
_printable = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)).filter(str.isprintable), max_size=200
)
_paths = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=0, max_size=60)
_u32 = st.integers(0, 2**32 - 1)
_u64 = st.integers(0, 2**64 - 1)
_ids = st.binary(min_size=32, max_size=32)
_versions = st.dictionaries(_ids, st.integers(1, MAX_COUNTER), max_size=6).map(VersionVector.of)
_entries = st.builds(
    IndexEntry,
    path=_paths,
    size=_u64,
    mtime_ns=st.integers(-(2**63), 2**63 - 1),
    content_id=_ids,
    version=_versions,
)
_messages = st.one_of(
    st.builds(
        Hello,
        versions=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=16).map(tuple),
        capabilities=st.lists(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", max_size=32), max_size=32
        ).map(tuple),
        name=st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=15),
    ),
    st.builds(IndexRequest, since_generation=st.integers(0, 2**64 - 1)),
    st.builds(
        IndexChunk,
        generation=st.integers(0, 2**64 - 1),
        entries=st.lists(_entries, max_size=8).map(tuple),
        last=st.booleans(),
    ),
    st.builds(ErrorMessage, code=st.sampled_from(ErrorCode), text=_printable),
    st.builds(BlocksRequest, path=_paths, content_id=_ids),
    st.builds(
        BlockList,
        content_id=_ids,
        size=_u64,
        block_size=st.integers(0, 31).map(lambda bits: 1 << bits),
        first=_u32,
        hashes=st.lists(_ids, max_size=20).map(tuple),
        last=st.booleans(),
    ),
    st.builds(GetRequest, path=_paths, content_id=_ids, offset=_u64, length=_u64),
    st.builds(Data, offset=_u64, payload=st.binary(max_size=2000)),
    st.builds(End, offset=_u64),
)


@FAST
@given(_messages)
def test_round_trip_property(msg: Message) -> None:
    assert decode_message(encode_message(msg)) == msg


@FAST
@given(_versions)
def test_version_round_trip_property(version: VersionVector) -> None:
    chunk = IndexChunk(0, (_entry("v", version=version),), last=True)
    data = encode_message(chunk)
    assert len(data) == 1 + 8 + 1 + 4 + chunk.entries[0].wire_size
    assert data[-(2 + 40 * len(version.counters)):][:2] == struct.pack(">H", len(version.counters))
    assert decode_message(data) == chunk


@FAST
@given(_text)
def test_hello_name_is_cut_to_63_bytes_on_a_character_boundary(name: str) -> None:
    decoded = decode_message(encode_message(Hello(name=name * 5)))
    assert isinstance(decoded, Hello)
    assert (name * 5).startswith(decoded.name)
    assert len(decoded.name.encode("utf-8")) <= 63
    assert len(decoded.name.encode("utf-8")) >= min(60, len((name * 5).encode("utf-8")))


def test_long_error_text_is_cut_on_a_character_boundary() -> None:
    decoded = decode_message(encode_message(ErrorMessage(ErrorCode.BAD_REQUEST, "é" * 600)))
    assert isinstance(decoded, ErrorMessage)
    assert decoded.text == "é" * (MAX_ERROR_TEXT // 2)
    decoded = decode_message(encode_message(ErrorMessage(ErrorCode.BAD_REQUEST, "€" * 400)))
    assert isinstance(decoded, ErrorMessage)
    assert decoded.text == "€" * (MAX_ERROR_TEXT // 3)


# -- chunk_index ------------------------------------------------------------------------------


def _check_chunks(entries: list[IndexEntry], generation: int) -> list[IndexChunk]:
    chunks = list(chunk_index(entries, generation))
    assert chunks, "chunk_index must yield at least one chunk"
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(c.generation == generation for c in chunks)
    assert [e for c in chunks for e in c.entries] == entries
    for chunk in chunks:
        assert len(chunk.entries) <= MAX_INDEX_ENTRIES
        data = encode_message(chunk)
        assert len(data) <= MAX_MESSAGE_SIZE
        assert decode_message(data) == chunk
    return chunks


def test_chunk_index_splits_a_large_index_with_long_paths() -> None:
    entries = [_entry(f"folder-{i % 97:03d}/" + "n" * 180 + f"/file-{i:06d}.dat", i, i)
               for i in range(40_000)]
    chunks = _check_chunks(entries, 9)
    total = sum(e.wire_size for e in entries)
    assert total > 8 * MAX_MESSAGE_SIZE
    assert len(chunks) >= total // MAX_MESSAGE_SIZE
    # Not wasteful: every chunk but the last is filled to within one entry of the budget.
    for chunk in chunks[:-1]:
        assert len(encode_message(chunk)) > MAX_MESSAGE_SIZE - 64 - 300


def test_chunk_index_respects_the_entry_count_cap() -> None:
    entries = [_entry(str(i)) for i in range(40_000)]  # small: the count cap binds first
    chunks = _check_chunks(entries, 1)
    sizes = [len(c.entries) for c in chunks]
    assert sizes == [MAX_INDEX_ENTRIES, MAX_INDEX_ENTRIES, 40_000 - 2 * MAX_INDEX_ENTRIES]


def test_chunk_index_of_an_empty_index_yields_one_empty_last_chunk() -> None:
    assert list(chunk_index([], 5)) == [IndexChunk(5, (), last=True)]


def test_chunk_index_of_one_entry() -> None:
    entry = _entry("only")
    assert list(chunk_index(iter([entry]), 3)) == [IndexChunk(3, (entry,), last=True)]


def test_chunk_index_counts_the_versions_of_entries() -> None:
    big = VersionVector.of({i.to_bytes(32, "big"): i + 1 for i in range(MAX_VERSION_ENTRIES)})
    entries = [_entry(f"{i:04d}" + "q" * 1000, version=big) for i in range(300)]
    assert entries[0].wire_size > 40 * MAX_VERSION_ENTRIES
    chunks = _check_chunks(entries, 4)
    assert len(chunks) >= sum(e.wire_size for e in entries) // MAX_MESSAGE_SIZE + 1


def test_chunk_index_with_maximal_paths() -> None:
    entries = [_entry(f"{i:04d}" + "p" * (MAX_PATH_BYTES - 4)) for i in range(600)]
    chunks = _check_chunks(entries, 2)
    assert len(chunks) >= 2


@FAST
@given(st.lists(_entries, max_size=30), st.integers(0, 2**64 - 1))
def test_chunk_index_property(entries: list[IndexEntry], generation: int) -> None:
    _check_chunks(entries, generation)


# -- encoding our own bad values -----------------------------------------------------------------


def test_encoding_a_path_over_the_cap_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(IndexChunk(0, (_entry("x" * (MAX_PATH_BYTES + 1)),), last=True))


def test_encoding_an_oversized_message_is_a_local_error() -> None:
    entries = tuple(_entry("y" * 4000) for _ in range(300))  # ~1.2 MB
    with pytest.raises(LocalProtocolError, match="exceeds"):
        encode_message(IndexChunk(0, entries, last=True))


def test_index_entry_validates() -> None:
    with pytest.raises(ValueError, match="content_id"):
        IndexEntry("a", 1, 1, b"short")
    with pytest.raises(ValueError, match="negative"):
        IndexEntry("a", -1, 1, CID)
    # path length, path, size, mtime, content id, version count (+ 40 bytes per version entry)
    assert _entry("ab").wire_size == 2 + 2 + 8 + 8 + CONTENT_ID_SIZE + 2
    assert _entry("é").wire_size == 2 + 2 + 8 + 8 + CONTENT_ID_SIZE + 2
    assert _entry("ab", version=VERSION).wire_size == 2 + 2 + 8 + 8 + CONTENT_ID_SIZE + 2 + 2 * 40
    assert _entry("x").version == EMPTY_VERSION


def test_encoding_too_many_version_entries_is_a_local_error() -> None:
    ok = VersionVector.of({i.to_bytes(32, "big"): 1 for i in range(MAX_VERSION_ENTRIES)})
    chunk = IndexChunk(0, (_entry("a", version=ok),), last=True)
    assert decode_message(encode_message(chunk)) == chunk
    too_long = VersionVector.of({i.to_bytes(32, "big"): 1 for i in range(MAX_VERSION_ENTRIES + 1)})
    with pytest.raises(LocalProtocolError, match="version"):
        encode_message(IndexChunk(0, (_entry("a", version=too_long),), last=True))


def test_encoding_too_many_hashes_is_a_local_error() -> None:
    full = BlockList(CID, 1, 128 * 1024, 0, (H1,) * MAX_HASHES_PER_MESSAGE, last=False)
    data = encode_message(full)
    assert len(data) <= MAX_MESSAGE_SIZE
    assert decode_message(data) == full
    with pytest.raises(LocalProtocolError, match="too many hashes"):
        encode_message(BlockList(CID, 1, 128 * 1024, 0, (H1,) * (MAX_HASHES_PER_MESSAGE + 1),
                                 last=False))


def test_encoding_a_data_payload_over_max_data_is_a_local_error() -> None:
    full = Data(5, b"\x01" * MAX_DATA)
    assert decode_message(encode_message(full)) == full
    with pytest.raises(LocalProtocolError, match="cap"):
        encode_message(Data(5, b"\x01" * (MAX_DATA + 1)))


def test_encoding_a_request_path_over_the_cap_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(BlocksRequest("x" * (MAX_PATH_BYTES + 1), CID))
    with pytest.raises(LocalProtocolError):
        encode_message(GetRequest("x" * (MAX_PATH_BYTES + 1), CID, 0, 1))


# -- decode_message rejections -------------------------------------------------------------------


def test_empty_message_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="empty"):
        decode_message(b"")


@pytest.mark.parametrize("tag", [0x00, 0x14, 0x20, 0x7E, 0x80, 0xFF])
def test_unknown_tag_is_rejected(tag: int) -> None:
    with pytest.raises(RemoteProtocolError, match="unknown message type"):
        decode_message(bytes([tag]) + b"\x00" * 16)


def test_oversized_message_is_rejected_before_parsing() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        decode_message(b"\xff" * (MAX_MESSAGE_SIZE + 1))  # unknown tag, but size is checked first


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_truncation_is_rejected(msg: Message) -> None:
    data = encode_message(msg)
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            decode_message(data[:cut])


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_trailing_bytes_are_rejected(msg: Message) -> None:
    with pytest.raises(RemoteProtocolError, match="trailing"):
        decode_message(encode_message(msg) + b"\x00")


def _chunk_header(count: int, flags: int = 1) -> bytes:
    return b"\x03" + struct.pack(">QBI", 0, flags, count)


def test_index_count_larger_than_what_fits_is_rejected() -> None:
    one_entry = b"\x00\x01p" + struct.pack(">Qq", 1, 1) + CID + NO_VERSION
    assert decode_message(_chunk_header(1) + one_entry) == IndexChunk(0, (_entry("p", 1, 1),), True)
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        decode_message(_chunk_header(2) + one_entry)
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        decode_message(_chunk_header(MAX_INDEX_ENTRIES))


def test_index_count_over_the_cap_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds the cap"):
        decode_message(_chunk_header(MAX_INDEX_ENTRIES + 1) + b"\x00" * 1000)
    with pytest.raises(RemoteProtocolError, match="exceeds the cap"):
        decode_message(_chunk_header(0xFFFFFFFF))


def test_index_path_over_max_path_bytes_is_rejected() -> None:
    body = struct.pack(">H", MAX_PATH_BYTES + 1) + b"x" * (MAX_PATH_BYTES + 1)
    data = _chunk_header(1) + body + struct.pack(">Qq", 1, 1) + CID + NO_VERSION
    with pytest.raises(RemoteProtocolError, match="exceeds the cap of 4096"):
        decode_message(data)


def test_index_path_of_exactly_max_path_bytes_is_accepted() -> None:
    entry = _entry("x" * MAX_PATH_BYTES)
    assert decode_message(encode_message(IndexChunk(0, (entry,), last=True))) == IndexChunk(
        0, (entry,), last=True
    )


def test_invalid_utf8_path_is_rejected() -> None:
    data = _chunk_header(1) + b"\x00\x02\xc3\x28" + struct.pack(">Qq", 1, 1) + CID + NO_VERSION
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        decode_message(data)


def test_hello_with_zero_versions_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="1 to 16 versions"):
        decode_message(b"\x01\x00\x00\x00")


def test_hello_with_too_many_versions_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="1 to 16 versions"):
        decode_message(b"\x01\x11" + b"\x00\x01" * 17 + b"\x00\x00")


def test_hello_with_too_many_capabilities_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="too many capabilities"):
        decode_message(b"\x01\x01\x00\x01\x21" + b"\x01c" * 33 + b"\x00")


@pytest.mark.parametrize("name", ["a\n", "\x00", "\x7f", "\x9b31m", "x\x85", "\x80"])
def test_hello_name_with_control_characters_is_rejected(name: str) -> None:
    raw = name.encode("utf-8")
    with pytest.raises(RemoteProtocolError, match="control"):
        decode_message(b"\x01\x01\x00\x01\x00" + bytes([len(raw)]) + raw)


@pytest.mark.parametrize("flags", [4, 5, 6, 7, 0x80, 0xFF])
def test_unknown_index_chunk_flags_are_rejected(flags: int) -> None:
    with pytest.raises(RemoteProtocolError, match="flags"):
        decode_message(_chunk_header(0, flags))


def test_index_chunk_flags_0_and_1() -> None:
    assert decode_message(_chunk_header(0, 0)) == IndexChunk(0, (), last=False)
    assert decode_message(_chunk_header(0, 1)) == IndexChunk(0, (), last=True)


def test_index_chunk_delta_flags_carry_the_removed_paths() -> None:
    # flags 2 and 3: a delta chunk (more to come / last), a u32 count of removed paths after
    # the entries.
    assert decode_message(_chunk_header(0, 3) + b"\x00\x00\x00\x00") == IndexChunk(
        0, (), True, delta=True)
    assert decode_message(_chunk_header(0, 2) + b"\x00\x00\x00\x01x") == IndexChunk(
        0, (), False, delta=True, removed_paths="x")
    with pytest.raises(RemoteProtocolError):
        decode_message(_chunk_header(0, 3))  # the removed count is missing


@pytest.mark.parametrize("code", [0, 9, 100, 0xFFFF])
def test_unknown_error_codes_map_to_internal(code: int) -> None:
    decoded = decode_message(b"\x7f" + struct.pack(">H", code) + b"\x00\x03new")
    assert decoded == ErrorMessage(ErrorCode.INTERNAL, "new")


def test_control_characters_in_error_text_are_replaced() -> None:
    text = "line1\nline2\x1b[31m\x00end\u200b"
    raw = text.encode()
    decoded = decode_message(b"\x7f\x00\x03" + struct.pack(">H", len(raw)) + raw)
    assert decoded == ErrorMessage(ErrorCode.BAD_REQUEST, "line1?line2?[31m?end?")


def test_error_text_over_cap_is_rejected() -> None:
    data = b"\x7f\x00\x03" + struct.pack(">H", MAX_ERROR_TEXT + 1) + b"x" * (MAX_ERROR_TEXT + 1)
    with pytest.raises(RemoteProtocolError, match="cap"):
        decode_message(data)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = encode_message(SAMPLES[1])
    assert decode_message(bytearray(data)) == SAMPLES[1]  # type: ignore[arg-type]
    assert decode_message(memoryview(data)) == SAMPLES[1]  # type: ignore[arg-type]


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_remote_errors(data: bytes) -> None:
    try:
        msg = decode_message(data)
    except RemoteProtocolError:
        return
    assert isinstance(msg, Message)


@FAST
@given(st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x7F]),
       st.binary(max_size=300))
def test_random_bodies_after_valid_tags_only_raise_remote_errors(tag: int, body: bytes) -> None:
    try:
        msg = decode_message(bytes([tag]) + body)
    except RemoteProtocolError:
        return
    assert tag == msg.TAG
    # Whatever decodes re-encodes to the same bytes, except where decoding normalises:
    # unknown error codes and unprintable error text, and version vectors (sorted by key).
    if not isinstance(msg, ErrorMessage):
        again = encode_message(msg)
        if again != bytes([tag]) + body:
            assert isinstance(msg, IndexChunk)
            assert any(len(e.version.counters) > 1 for e in msg.entries)
            assert len(again) == 1 + len(body)
            assert decode_message(again) == msg


# -- the transfer messages and version vectors: decode rejections ------------------------------


def _block_list(block_size: int = 128 * 1024, flags: int = 1, count: int = 0,
                hashes: bytes = b"") -> bytes:
    return b"\x05" + CID + struct.pack(">QIIBI", 1, block_size, 0, flags, count) + hashes


@pytest.mark.parametrize("bits", [0, 1, 17, 24, 31])
def test_block_list_accepts_every_power_of_two(bits: int) -> None:
    assert decode_message(_block_list(1 << bits)) == BlockList(CID, 1, 1 << bits, 0, (), True)


@pytest.mark.parametrize(
    "block_size", [0, 3, 6, 128 * 1024 - 1, 128 * 1024 + 1, 3 << 17, 2**31 + 1, 2**32 - 1]
)
def test_block_list_block_size_not_a_power_of_two_is_rejected(block_size: int) -> None:
    with pytest.raises(RemoteProtocolError, match="power of two"):
        decode_message(_block_list(block_size))
    with pytest.raises(RemoteProtocolError, match="power of two"):
        decode_message(_block_list(block_size, count=1, hashes=H1))


@pytest.mark.parametrize("flags", [2, 3, 0x80, 0xFF])
def test_unknown_block_list_flags_are_rejected(flags: int) -> None:
    with pytest.raises(RemoteProtocolError, match="flags"):
        decode_message(_block_list(flags=flags))


def test_block_list_flags_0_and_1() -> None:
    assert decode_message(_block_list(flags=0, count=1, hashes=H1)) == BlockList(
        CID, 1, 128 * 1024, 0, (H1,), last=False
    )
    assert decode_message(_block_list(flags=1)).last is True  # type: ignore[union-attr]


def test_block_list_count_over_the_cap_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds the cap"):
        decode_message(_block_list(count=MAX_HASHES_PER_MESSAGE + 1,
                                   hashes=H1 * (MAX_HASHES_PER_MESSAGE + 1)))
    with pytest.raises(RemoteProtocolError, match="exceeds the cap"):
        decode_message(_block_list(count=0xFFFFFFFF))


def test_block_list_count_larger_than_what_fits_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        decode_message(_block_list(count=2, hashes=H1))
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        decode_message(_block_list(count=1, hashes=H1[:31]))
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        decode_message(_block_list(count=MAX_HASHES_PER_MESSAGE))


def test_block_list_with_leftover_hash_bytes_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="trailing"):
        decode_message(_block_list(count=1, hashes=H1 + H2[:31]))


def _data(length: int, payload: bytes) -> bytes:
    return b"\x07" + struct.pack(">QI", 0, length) + payload


def test_data_payload_of_max_data_is_accepted() -> None:
    assert decode_message(_data(MAX_DATA, b"\x00" * MAX_DATA)) == Data(0, b"\x00" * MAX_DATA)


def test_data_payload_over_max_data_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds the cap"):
        decode_message(_data(MAX_DATA + 1, b"\x00" * (MAX_DATA + 1)))
    with pytest.raises(RemoteProtocolError, match="exceeds the cap"):
        decode_message(_data(0xFFFFFFFF, b""))  # refused before anything is read


def test_data_length_beyond_the_buffer_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_message(_data(10, b"\x00" * 9))


def _versioned_chunk(version: bytes) -> bytes:
    return _chunk_header(1) + b"\x00\x01p" + struct.pack(">Qq", 1, 1) + CID + version


def _pairs(*items: tuple[bytes, int]) -> bytes:
    return struct.pack(">H", len(items)) + b"".join(k + struct.pack(">Q", c) for k, c in items)


def test_version_vector_is_decoded() -> None:
    decoded = decode_message(_versioned_chunk(_pairs((KEY_A, MAX_COUNTER), (KEY_B, 3))))
    assert decoded == IndexChunk(0, (_entry("p", 1, 1, version=VERSION),), last=True)


def test_version_vector_of_max_entries_is_accepted() -> None:
    items = [(i.to_bytes(32, "big"), i + 1) for i in range(MAX_VERSION_ENTRIES)]
    decoded = decode_message(_versioned_chunk(_pairs(*items)))
    assert isinstance(decoded, IndexChunk)
    assert decoded.entries[0].version == VersionVector.of(items)


@pytest.mark.parametrize("count", [MAX_VERSION_ENTRIES + 1, 1000, 0xFFFF])
def test_version_vector_over_max_entries_is_rejected(count: int) -> None:
    body = struct.pack(">H", count) + (b"\x01" * 32 + struct.pack(">Q", 1)) * min(count, 300)
    with pytest.raises(RemoteProtocolError, match="version vector of"):
        decode_message(_versioned_chunk(body))


def test_version_vector_with_a_zero_counter_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="malformed version vector"):
        decode_message(_versioned_chunk(_pairs((KEY_A, 0))))
    with pytest.raises(RemoteProtocolError, match="malformed version vector"):
        decode_message(_versioned_chunk(_pairs((KEY_A, 1), (KEY_B, 0))))


def test_version_vector_with_a_duplicate_key_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="malformed version vector"):
        decode_message(_versioned_chunk(_pairs((KEY_A, 1), (KEY_A, 1))))
    with pytest.raises(RemoteProtocolError, match="malformed version vector"):
        decode_message(_versioned_chunk(_pairs((KEY_A, 1), (KEY_B, 2), (KEY_A, 5))))


def test_version_vector_out_of_key_order_is_accepted_and_made_canonical() -> None:
    decoded = decode_message(_versioned_chunk(_pairs((KEY_B, 3), (KEY_A, MAX_COUNTER))))
    assert isinstance(decoded, IndexChunk)
    assert decoded.entries[0].version == VERSION
    assert decoded.entries[0].version.counters == ((KEY_A, MAX_COUNTER), (KEY_B, 3))


def test_version_vector_count_beyond_the_buffer_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_message(_versioned_chunk(_pairs((KEY_A, 1))[:-1]))
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_message(_versioned_chunk(struct.pack(">H", 2) + KEY_A + struct.pack(">Q", 1)))


def test_a_missing_version_count_is_rejected() -> None:
    # An entry in the layout from before versions existed: no version count at the end.
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        decode_message(_versioned_chunk(b""))
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_message(_versioned_chunk(b"\x00"))


def test_version_counter_beyond_the_cap_is_refused() -> None:
    # A counter near 2**64 would overflow the next bump; such vectors are refused on arrival.
    with pytest.raises(RemoteProtocolError, match="version vector"):
        decode_message(_versioned_chunk(_pairs((KEY_A, MAX_COUNTER + 1))))


# -- index chunks of many entries: fixed fields at once, each distinct version decoded once ------


def test_entries_with_equal_versions_share_one_decoded_vector() -> None:
    other = VersionVector.of({KEY_A: 7})
    entries = tuple(
        _entry(f"f{i}", i, -i, version=VersionVector.of({KEY_B: 3, KEY_A: MAX_COUNTER}) if i % 3
               else other)
        for i in range(300)
    )
    decoded = decode_message(encode_message(IndexChunk(5, entries, last=True)))
    assert isinstance(decoded, IndexChunk)
    assert decoded.entries == entries
    versions = {id(e.version) for e in decoded.entries}
    assert len(versions) == 2  # one object per distinct vector, not one per entry
    assert decoded.entries[1].version == VERSION and decoded.entries[0].version == other


def test_encoding_does_not_depend_on_shared_version_objects() -> None:
    shared = VersionVector.of({KEY_A: 2})
    one = IndexChunk(1, tuple(_entry(f"p{i}", version=shared) for i in range(50)), last=True)
    many = IndexChunk(1, tuple(_entry(f"p{i}", version=VersionVector.of({KEY_A: 2}))
                               for i in range(50)), last=True)
    assert encode_message(one) == encode_message(many)


def test_a_malformed_version_after_a_good_one_is_still_refused() -> None:
    good = struct.pack(">H", 1) + KEY_A + struct.pack(">Q", 1)
    bad = struct.pack(">H", 2) + (KEY_A + struct.pack(">Q", 1)) * 2  # a duplicate key
    body = (_chunk_header(3)
            + b"\x00\x01p" + struct.pack(">Qq", 1, 1) + CID + good
            + b"\x00\x01q" + struct.pack(">Qq", 1, 1) + CID + good
            + b"\x00\x01r" + struct.pack(">Qq", 1, 1) + CID + bad)
    with pytest.raises(RemoteProtocolError, match="malformed version vector"):
        decode_message(body)


def test_an_entry_cut_inside_its_fixed_fields_is_truncated() -> None:
    # Long enough for the count check (two entries of the smallest size), cut in the content id.
    body = (_chunk_header(2) + b"\x00\x01p" + struct.pack(">Qq", 1, 1) + CID + NO_VERSION
            + b"\x00\x0a" + b"q" * 10 + struct.pack(">Qq", 1, 1) + CID[:31])
    with pytest.raises(RemoteProtocolError, match="truncated: needed 48 bytes, 47 left"):
        decode_message(body)
