"""Tests for mfsync.protocol.messages: the typed messages of the encrypted channel."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.messages import (
    CONTENT_ID_SIZE,
    MAX_ERROR_TEXT,
    MAX_INDEX_ENTRIES,
    MAX_MESSAGE_SIZE,
    PROTOCOL_VERSIONS,
    ErrorCode,
    ErrorMessage,
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

FAST = settings(max_examples=200, deadline=None)

CID = bytes(range(32))


def _entry(path: str, size: int = 1, mtime_ns: int = 2, cid: bytes = CID) -> IndexEntry:
    return IndexEntry(path, size, mtime_ns, cid)


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
    ErrorMessage(ErrorCode.NOT_TRUSTED, "you are not on my list"),
    ErrorMessage(ErrorCode.INTERNAL),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip_of_each_sample(msg: Message) -> None:
    data = encode_message(msg)
    assert data[0] == msg.TAG
    assert decode_message(data) == msg


def test_known_layouts() -> None:
    assert encode_message(IndexRequest(0x0102)) == b"\x02" + b"\x00" * 6 + b"\x01\x02"
    assert encode_message(Hello((1,), ("x",), "h")) == b"\x01\x01\x00\x01\x01\x01x\x01h"
    assert encode_message(ErrorMessage(ErrorCode.BUSY, "hi")) == b"\x7f\x00\x05\x00\x02hi"
    chunk = encode_message(IndexChunk(7, (_entry("p", 3, -1),), last=True))
    assert chunk == (
        b"\x03" + struct.pack(">QBI", 7, 1, 1) + b"\x00\x01p" + struct.pack(">Qq", 3, -1) + CID
    )


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
_entries = st.builds(
    IndexEntry,
    path=_paths,
    size=st.integers(0, 2**64 - 1),
    mtime_ns=st.integers(-(2**63), 2**63 - 1),
    content_id=st.binary(min_size=32, max_size=32),
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
)


@FAST
@given(_messages)
def test_round_trip_property(msg: Message) -> None:
    assert decode_message(encode_message(msg)) == msg


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
    assert _entry("ab").wire_size == 2 + 8 + 8 + CONTENT_ID_SIZE + 2
    assert _entry("é").wire_size == 2 + 8 + 8 + CONTENT_ID_SIZE + 2


# -- decode_message rejections -------------------------------------------------------------------


def test_empty_message_is_rejected() -> None:
    with pytest.raises(RemoteProtocolError, match="empty"):
        decode_message(b"")


@pytest.mark.parametrize("tag", [0x00, 0x04, 0x7E, 0x80, 0xFF])
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
    one_entry = b"\x00\x01p" + struct.pack(">Qq", 1, 1) + CID
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
    data = _chunk_header(1) + body + struct.pack(">Qq", 1, 1) + CID
    with pytest.raises(RemoteProtocolError, match="exceeds the cap of 4096"):
        decode_message(data)


def test_index_path_of_exactly_max_path_bytes_is_accepted() -> None:
    entry = _entry("x" * MAX_PATH_BYTES)
    assert decode_message(encode_message(IndexChunk(0, (entry,), last=True))) == IndexChunk(
        0, (entry,), last=True
    )


def test_invalid_utf8_path_is_rejected() -> None:
    data = _chunk_header(1) + b"\x00\x02\xc3\x28" + struct.pack(">Qq", 1, 1) + CID
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


@pytest.mark.parametrize("flags", [2, 3, 0x80, 0xFF])
def test_unknown_index_chunk_flags_are_rejected(flags: int) -> None:
    with pytest.raises(RemoteProtocolError, match="flags"):
        decode_message(_chunk_header(0, flags))


def test_index_chunk_flags_0_and_1() -> None:
    assert decode_message(_chunk_header(0, 0)) == IndexChunk(0, (), last=False)
    assert decode_message(_chunk_header(0, 1)) == IndexChunk(0, (), last=True)


@pytest.mark.parametrize("code", [0, 7, 100, 0xFFFF])
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
    assert isinstance(msg, Hello | IndexRequest | IndexChunk | ErrorMessage)


@FAST
@given(st.sampled_from([0x01, 0x02, 0x03, 0x7F]), st.binary(max_size=300))
def test_random_bodies_after_valid_tags_only_raise_remote_errors(tag: int, body: bytes) -> None:
    try:
        msg = decode_message(bytes([tag]) + body)
    except RemoteProtocolError:
        return
    assert tag == msg.TAG
    # Whatever decodes re-encodes to the same bytes, except where decoding normalises:
    # unknown error codes and unprintable error text.
    if not isinstance(msg, ErrorMessage):
        assert encode_message(msg) == bytes([tag]) + body
