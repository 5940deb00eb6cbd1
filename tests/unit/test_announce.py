"""Tests for mfsync.protocol.announce: the discovery datagram codec."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.protocol.announce import (
    ANNOUNCE_MAGIC,
    ANNOUNCE_VERSION,
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

FAST = settings(max_examples=200, deadline=None)

INSTANCE = bytes.fromhex("0102030405060708")
KEY = bytes(range(0x20, 0x40))


def _sample(**changes: object) -> Announcement:
    fields: dict[str, object] = {
        "kind": Kind.ANNOUNCE,
        "flags": Flags.SHARES | Flags.WANTS,
        "instance_id": INSTANCE,
        "public_key": KEY,
        "tcp_port": 8000,
        "beat_ms": 5000,
        "generation": 0x0102030405060708,
        "name": "laptop-anna",
    }
    fields.update(changes)
    return Announcement(**fields)  # type: ignore[arg-type]


KNOWN_BYTES = (
    b"MFSA"  # magic
    + b"\x01"  # version
    + b"\x01"  # kind: ANNOUNCE
    + b"\x03"  # flags: SHARES | WANTS
    + b"\x00"  # reserved
    + INSTANCE
    + KEY
    + b"\x1f\x40"  # port 8000
    + b"\x13\x88"  # beat 5000 ms
    + b"\x01\x02\x03\x04\x05\x06\x07\x08"  # generation
    + b"\x0b"  # name length 11
    + b"laptop-anna"
)


def test_header_size_constant_matches_layout() -> None:
    assert HEADER_SIZE == 4 + 1 + 1 + 1 + 1 + 8 + 32 + 2 + 2 + 8 == 60
    assert ANNOUNCE_MAGIC == b"MFSA"
    assert ANNOUNCE_VERSION == 1


def test_exact_layout_of_a_known_datagram() -> None:
    data = encode_announcement(_sample())
    assert data == KNOWN_BYTES
    assert len(data) == HEADER_SIZE + 1 + 11
    assert decode_announcement(KNOWN_BYTES) == _sample()


def test_query_kind_and_no_flags_layout() -> None:
    data = encode_announcement(_sample(kind=Kind.QUERY, flags=Flags.NONE, tcp_port=0, name=""))
    assert data[4:8] == b"\x01\x02\x00\x00"
    assert data[48:50] == b"\x00\x00"
    assert data[-1:] == b"\x00"
    assert len(data) == HEADER_SIZE + 1
    decoded = decode_announcement(data)
    assert decoded.kind is Kind.QUERY
    assert decoded.flags == Flags.NONE
    assert decoded.name == ""


def test_decoded_fields_have_enum_types() -> None:
    decoded = decode_announcement(KNOWN_BYTES)
    assert isinstance(decoded.kind, Kind)
    assert isinstance(decoded.flags, Flags)
    assert decoded.instance_id == INSTANCE
    assert decoded.public_key == KEY
    assert decoded.tcp_port == 8000
    assert decoded.beat_ms == 5000
    assert decoded.generation == 0x0102030405060708


def test_long_ascii_name_is_cut_to_63_bytes() -> None:
    data = encode_announcement(_sample(name="x" * 100))
    assert data[HEADER_SIZE] == MAX_NAME_BYTES
    assert decode_announcement(data).name == "x" * 63


def test_long_non_ascii_name_is_cut_on_a_character_boundary() -> None:
    # "é" is 2 bytes: 63 bytes would end in half a character, so 31 whole ones (62 bytes) stay.
    decoded = decode_announcement(encode_announcement(_sample(name="é" * 40)))
    assert decoded.name == "é" * 31
    # "€" is 3 bytes: exactly 21 fit in 63.
    assert decode_announcement(encode_announcement(_sample(name="€" * 30))).name == "€" * 21
    # A 4-byte character straddling the limit is dropped whole.
    name = "a" * 61 + "\U0001f600"
    assert decode_announcement(encode_announcement(_sample(name=name))).name == "a" * 61


_names = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=80
)


@FAST
@given(
    kind=st.sampled_from(Kind),
    flags=st.sampled_from([Flags.NONE, Flags.SHARES, Flags.WANTS, Flags.SHARES | Flags.WANTS]),
    instance_id=st.binary(min_size=8, max_size=8),
    public_key=st.binary(min_size=32, max_size=32),
    tcp_port=st.integers(1, 0xFFFF),
    beat_ms=st.integers(0, 0xFFFF),
    generation=st.integers(0, 2**64 - 1),
    name=_names,
)
def test_round_trip_property(
    *, kind: Kind, flags: Flags, instance_id: bytes, public_key: bytes, tcp_port: int,
    beat_ms: int, generation: int, name: str,
) -> None:
    msg = Announcement(kind, flags, instance_id, public_key, tcp_port, beat_ms, generation, name)
    data = encode_announcement(msg)
    assert len(data) <= HEADER_SIZE + 1 + MAX_NAME_BYTES <= MAX_DATAGRAM
    decoded = decode_announcement(data)
    encoded_name = name.encode("utf-8")
    if len(encoded_name) <= MAX_NAME_BYTES:
        assert decoded == msg
    else:
        # Cut: a prefix of the original, whole characters, at most 63 bytes, at most 3 lost.
        assert name.startswith(decoded.name)
        cut = len(decoded.name.encode("utf-8"))
        assert MAX_NAME_BYTES - 3 <= cut <= MAX_NAME_BYTES
        assert decoded == Announcement(
            kind, flags, instance_id, public_key, tcp_port, beat_ms, generation, decoded.name
        )


def test_every_truncation_is_rejected() -> None:
    for cut in range(len(KNOWN_BYTES)):
        with pytest.raises(RemoteProtocolError):
            decode_announcement(KNOWN_BYTES[:cut])


def test_oversized_datagram_is_rejected_before_parsing() -> None:
    # Garbage that would fail on its magic if it were parsed: the size message shows it was not.
    with pytest.raises(RemoteProtocolError, match="exceeds 512"):
        decode_announcement(b"\xff" * (MAX_DATAGRAM + 1))
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        decode_announcement(KNOWN_BYTES + b"\x00" * (MAX_DATAGRAM + 1 - len(KNOWN_BYTES)))


def test_datagram_of_exactly_max_size_with_extension_is_accepted() -> None:
    data = KNOWN_BYTES + b"\xee" * (MAX_DATAGRAM - len(KNOWN_BYTES))
    assert len(data) == MAX_DATAGRAM
    assert decode_announcement(data) == _sample()


def test_trailing_extension_bytes_are_accepted() -> None:
    assert decode_announcement(KNOWN_BYTES + b"future fields") == _sample()


def test_bad_magic() -> None:
    with pytest.raises(RemoteProtocolError, match="bad magic"):
        decode_announcement(b"MFSB" + KNOWN_BYTES[4:])


def test_wrong_version() -> None:
    for version in (0, 2, 255):
        data = KNOWN_BYTES[:4] + bytes([version]) + KNOWN_BYTES[5:]
        with pytest.raises(RemoteProtocolError, match=f"version {version}"):
            decode_announcement(data)


def test_unknown_kind() -> None:
    for kind in (0, 3, 255):
        data = KNOWN_BYTES[:5] + bytes([kind]) + KNOWN_BYTES[6:]
        with pytest.raises(RemoteProtocolError, match="unknown datagram kind"):
            decode_announcement(data)


def test_unknown_flag_bits_are_ignored() -> None:
    data = KNOWN_BYTES[:6] + b"\xfd" + KNOWN_BYTES[7:]  # SHARES plus unknown bits, no WANTS
    assert decode_announcement(data).flags == Flags.SHARES


def test_shares_flag_with_port_zero_is_rejected() -> None:
    data = encode_announcement(_sample(flags=Flags.SHARES, tcp_port=0))
    with pytest.raises(RemoteProtocolError, match="port 0"):
        decode_announcement(data)
    # Without SHARES a port of 0 is fine (a host that only downloads).
    assert decode_announcement(encode_announcement(_sample(flags=Flags.WANTS, tcp_port=0)))


@pytest.mark.parametrize(
    "bad", ["\x00", "\n", "\x1b[31m", "\x7f", "a\tb", "\x9b31m", "x\x85", "\x80", "\x9f"]
)
def test_control_characters_in_name_are_rejected(bad: str) -> None:
    raw = bad.encode("utf-8")
    # Our encoder never sends them, so forge the datagram: header, then length and raw name.
    data = encode_announcement(_sample(name=""))[:-1] + bytes([len(raw)]) + raw
    with pytest.raises(RemoteProtocolError, match="control characters"):
        decode_announcement(data)


def test_encoder_replaces_control_characters_in_our_own_name() -> None:
    decoded = decode_announcement(encode_announcement(_sample(name="a\x1b[31m\x9bb")))
    assert decoded.name == "a?[31m?b"


def test_non_ascii_printable_names_are_accepted() -> None:
    for name in ("\xa0nbsp", "Grüße", "日本", "\U0001f600"):
        assert decode_announcement(encode_announcement(_sample(name=name))).name == name


def test_name_length_beyond_cap_is_rejected() -> None:
    data = KNOWN_BYTES[:HEADER_SIZE] + bytes([64]) + b"x" * 64
    with pytest.raises(RemoteProtocolError, match="cap of 63"):
        decode_announcement(data)


def test_name_length_beyond_datagram_is_rejected() -> None:
    data = KNOWN_BYTES[:HEADER_SIZE] + bytes([20]) + b"x" * 19
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_announcement(data)


def test_invalid_utf8_name_is_rejected() -> None:
    data = KNOWN_BYTES[:HEADER_SIZE] + b"\x02\xc3\x28"
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        decode_announcement(data)


def test_announcement_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="instance_id"):
        _sample(instance_id=b"short")
    with pytest.raises(ValueError, match="public_key"):
        _sample(public_key=b"\x00" * 31)
    with pytest.raises(ValueError, match="tcp_port"):
        _sample(tcp_port=65536)
    with pytest.raises(ValueError, match="beat_ms"):
        _sample(beat_ms=-1)


def test_port_field_position() -> None:
    data = encode_announcement(_sample(tcp_port=0xABCD))
    assert struct.unpack(">H", data[48:50]) == (0xABCD,)


@FAST
@given(st.binary(max_size=600))
def test_random_bytes_only_raise_remote_errors(data: bytes) -> None:
    try:
        decoded = decode_announcement(data)
    except RemoteProtocolError:
        return
    assert isinstance(decoded, Announcement)


@FAST
@given(st.binary(min_size=0, max_size=80), st.integers(0, 200))
def test_mutated_valid_datagrams_only_raise_remote_errors(tail: bytes, cut: int) -> None:
    # Keep a valid magic and version so that the parser gets past its first checks.
    data = KNOWN_BYTES[: min(cut, len(KNOWN_BYTES))] + tail
    try:
        decoded = decode_announcement(data)
    except RemoteProtocolError:
        return
    assert len(decoded.public_key) == 32
    assert len(decoded.name.encode("utf-8")) <= MAX_NAME_BYTES
