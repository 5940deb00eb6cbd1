"""Tests for mfsync.protocol.wire: the bounds-checked Reader and Writer."""

import struct
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from mfsync.protocol.wire import Reader, Writer

FAST = settings(max_examples=200, deadline=None)

GIB4 = 0xFFFF_FFFF


def _sample() -> tuple[bytes, list[object]]:
    """One buffer holding every field kind, and the values that went into it."""
    values: list[object] = [7, 0xBEEF, 0xDEADBEEF, 2**64 - 1, -(2**63), b"raw!", b"b16", b"b32",
                            "t8 é", "t16 ünïcødé"]
    data = (
        Writer()
        .u8(7).u16(0xBEEF).u32(0xDEADBEEF).u64(2**64 - 1).i64(-(2**63))
        .raw(b"raw!").blob16(b"b16", 100).blob32(b"b32", 100)
        .text8("t8 é", 100).text16("t16 ünïcødé", 100)
        .getvalue()
    )
    return data, values


def _read_all(r: Reader) -> list[object]:
    out: list[object] = [
        r.u8(), r.u16(), r.u32(), r.u64(), r.i64(), r.raw(4), r.blob16(100), r.blob32(100),
        r.text8(100), r.text16(100),
    ]
    r.end()
    return out


def test_round_trip_of_every_field_kind() -> None:
    data, values = _sample()
    assert _read_all(Reader(data)) == values


def test_layout_is_big_endian_with_length_prefixes() -> None:
    data = Writer().u16(0x0102).u32(3).blob16(b"ab", 10).text8("é", 10).getvalue()
    assert data == b"\x01\x02" + b"\x00\x00\x00\x03" + b"\x00\x02ab" + b"\x02\xc3\xa9"


def test_reader_accepts_memoryview_and_tracks_remaining() -> None:
    r = Reader(memoryview(b"\x00\x01\x02\x03\x04"))
    assert r.remaining == 5
    assert r.u16() == 1
    assert r.remaining == 3
    assert r.raw(3) == b"\x02\x03\x04"
    assert r.remaining == 0
    r.end()


def test_truncation_at_every_byte_raises_remote_error() -> None:
    data, _ = _sample()
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            _read_all(Reader(data[:cut]))


def test_end_refuses_trailing_bytes() -> None:
    data, _ = _sample()
    with pytest.raises(RemoteProtocolError, match="1 unexpected trailing bytes"):
        _read_all(Reader(data + b"\x00"))
    r = Reader(b"\x01\x02")
    r.u8()
    with pytest.raises(RemoteProtocolError, match="trailing"):
        r.end()


def test_empty_reader_ends_cleanly_and_refuses_reads() -> None:
    r = Reader(b"")
    r.end()
    for read in (r.u8, r.u16, r.u32, r.u64, r.i64):
        with pytest.raises(RemoteProtocolError, match="truncated"):
            read()
    assert r.raw(0) == b""


def test_negative_raw_length_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        Reader(b"abc").raw(-1)


def test_huge_blob32_length_in_tiny_buffer_raises_without_allocating() -> None:
    data = struct.pack(">I", GIB4) + b"\x00" * 6  # 10 bytes claiming 4 GiB
    assert len(data) == 10
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError):
            Reader(data).blob32(GIB4)  # cap allows it: only the buffer check stands in the way
        with pytest.raises(RemoteProtocolError, match="exceeds the cap"):
            Reader(data).blob32(1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_cap_is_checked_before_the_buffer() -> None:
    # The body is all there, but the length exceeds the cap: the cap error, not truncation.
    r = Reader(Writer().blob16(b"x" * 20, 100).getvalue())
    with pytest.raises(RemoteProtocolError, match="exceeds the cap of 10"):
        r.blob16(10)
    r = Reader(Writer().text8("y" * 20, 100).getvalue())
    with pytest.raises(RemoteProtocolError, match="exceeds the cap of 19"):
        r.text8(19)
    r = Reader(Writer().text16("z" * 20, 100).getvalue())
    with pytest.raises(RemoteProtocolError, match="exceeds the cap of 5"):
        r.text16(5)


def test_cap_equal_to_length_is_accepted() -> None:
    assert Reader(Writer().blob16(b"x" * 10, 10).getvalue()).blob16(10) == b"x" * 10
    assert Reader(Writer().blob32(b"", 0).getvalue()).blob32(0) == b""
    assert Reader(Writer().text8("abc", 3).getvalue()).text8(3) == "abc"


def test_invalid_utf8_text_is_a_remote_error() -> None:
    for data in (b"\x02\xc3\x28", b"\x01\xff", b"\x03\xed\xa0\x80"):  # bad, bad, surrogate
        with pytest.raises(RemoteProtocolError, match="invalid UTF-8"):
            Reader(data).text8(10)
    with pytest.raises(RemoteProtocolError, match="invalid UTF-8"):
        Reader(b"\x00\x01\x80").text16(10)


def test_count_within_cap_and_fitting_is_returned() -> None:
    r = Reader(struct.pack(">I", 3) + b"\x00" * 12)
    assert r.count(10, 4) == 3
    assert r.remaining == 12


def test_count_over_cap_is_refused() -> None:
    r = Reader(struct.pack(">I", 11) + b"\x00" * 1000)
    with pytest.raises(RemoteProtocolError, match="exceeds the cap of 10"):
        r.count(10, 1)


def test_count_that_cannot_fit_is_refused() -> None:
    r = Reader(struct.pack(">I", 4) + b"\x00" * 15)
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        r.count(100, 4)  # 4 items of at least 4 bytes need 16, only 15 are left
    # Exactly fitting is fine.
    assert Reader(struct.pack(">I", 4) + b"\x00" * 16).count(100, 4) == 4


def test_huge_count_in_small_buffer_is_refused() -> None:
    r = Reader(struct.pack(">I", GIB4) + b"\x00" * 6)
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        r.count(GIB4, 1)


def test_count_truncated_header() -> None:
    with pytest.raises(RemoteProtocolError, match="truncated"):
        Reader(b"\x00\x00\x01").count(10, 1)


def test_writer_refuses_our_own_oversized_values() -> None:
    with pytest.raises(LocalProtocolError, match="exceeds the cap of 3"):
        Writer().blob16(b"abcd", 3)
    with pytest.raises(LocalProtocolError):
        Writer().blob32(b"x" * 11, 10)
    with pytest.raises(LocalProtocolError):
        Writer().text16("é" * 3, 5)  # 6 bytes, 3 characters: bytes count
    with pytest.raises(LocalProtocolError):
        Writer().text8("abc", 2)


def test_writer_text8_is_capped_at_255_whatever_the_cap() -> None:
    Writer().text8("x" * 255, 1000)
    with pytest.raises(LocalProtocolError, match="cap of 255"):
        Writer().text8("x" * 256, 1000)


def test_local_and_remote_errors_are_distinct_protocol_errors() -> None:
    assert issubclass(LocalProtocolError, ProtocolError)
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)


def test_writer_methods_chain_and_getvalue_repeats() -> None:
    w = Writer()
    assert w.u8(1) is w
    assert w.getvalue() == b"\x01"
    assert w.getvalue() == b"\x01"


@FAST
@given(
    a=st.integers(0, 0xFF),
    b=st.integers(0, 0xFFFF),
    c=st.integers(0, 0xFFFF_FFFF),
    d=st.integers(0, 2**64 - 1),
    e=st.integers(-(2**63), 2**63 - 1),
    blob=st.binary(max_size=300),
    text=st.text(max_size=60),
    long_text=st.text(max_size=300),
)
def test_round_trip_property(
    *, a: int, b: int, c: int, d: int, e: int, blob: bytes, text: str, long_text: str
) -> None:
    data = (
        Writer().u8(a).u16(b).u32(c).u64(d).i64(e).blob16(blob, 300).blob32(blob, 300)
        .text8(text, 255).text16(long_text, 2000).getvalue()
    )
    r = Reader(data)
    got = (r.u8(), r.u16(), r.u32(), r.u64(), r.i64(), r.blob16(300), r.blob32(300),
           r.text8(255), r.text16(2000))
    r.end()
    assert got == (a, b, c, d, e, blob, blob, text, long_text)


@FAST
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_remote_errors(data: bytes) -> None:
    r = Reader(data)
    try:
        r.text8(100)
        r.blob16(100)
        r.count(1000, 3)
        r.blob32(1 << 30)
        r.u64()
        r.end()
    except RemoteProtocolError:
        pass


def test_unpack_reads_fixed_fields_at_once() -> None:
    fmt = struct.Struct(">HQ4s")
    r = Reader(struct.pack(">HQ4s", 7, 2**64 - 1, b"abcd") + b"\x01")
    assert r.unpack(fmt) == (7, 2**64 - 1, b"abcd")
    assert r.remaining == 1
    assert r.u8() == 1
    r.end()


def test_unpack_beyond_the_buffer_is_truncated_and_reads_nothing() -> None:
    r = Reader(b"\x00" * 13)
    with pytest.raises(RemoteProtocolError, match="truncated: needed 14 bytes, 13 left"):
        r.unpack(struct.Struct(">HQ4s"))
    assert r.remaining == 13
