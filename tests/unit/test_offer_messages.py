"""The offer messages (``protocol/offer_messages.py``): exact bytes, round trips, every cap
refused before anything is kept, ``split_offer``; and the rules between an offer's parts
(``protocol/offer_parts.py``): order, header, totals, names."""

from __future__ import annotations

import struct

import pytest

from mfsync.protocol import offer_parts
from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import (
    MAX_MESSAGE_SIZE,
    Ack,
    AnswerRequest,
    CancelRequest,
    OfferEntry,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
    decode_message,
    encode_message,
)
from mfsync.protocol.names import InvalidName
from mfsync.protocol.offer_messages import (
    MAX_OFFER_ENTRIES_PER_PART,
    MAX_OFFER_FILES,
    MAX_OFFER_PARTS,
    MAX_REASON_BYTES,
    PART_ENTRY_BUDGET,
    check_offer_label,
    split_offer,
)
from mfsync.protocol.offer_parts import BadOffer, OfferParts

K = FolderId.parse("k3x9-pq2m")
CID = bytes(range(32))
ENTRY = OfferEntry("a.txt", 5, CID)


def _part(part: int = 1, parts: int = 1, entries: tuple[OfferEntry, ...] = (ENTRY,), *,
          total_files: int | None = None, total_bytes: int | None = None, label: str = "a.txt",
          port: int = 8000, offer: FolderId = K) -> OfferRequest:
    files = len(entries) if total_files is None else total_files
    size = sum(e.size for e in entries) if total_bytes is None else total_bytes
    return OfferRequest(offer, port, files, size, part, parts, label, entries)


def _header(*, port: int = 8000, files: int = 1, size: int = 5, part: int = 1, parts: int = 1,
            label: bytes = b"a.txt", count: int = 1) -> bytes:
    return (b"\x0b" + K.raw + struct.pack(">HIQHH", port, files, size, part, parts)
            + bytes([len(label)]) + label + struct.pack(">I", count))


def _entry(path: bytes = b"a.txt", size: int = 5) -> bytes:
    return struct.pack(">H", len(path)) + path + struct.pack(">Q", size) + CID


# -- exact bytes and round trips -----------------------------------------------------------

def test_exact_bytes_of_the_offer_messages() -> None:
    assert encode_message(_part()) == _header() + _entry()
    assert encode_message(OfferReply(K, OfferStatus.PENDING)) == b"\x0c" + K.raw + b"\x01\x00\x00"
    assert encode_message(OfferReply(K, OfferStatus.REFUSED, "no")) == (
        b"\x0c" + K.raw + b"\x04\x00\x02no")
    assert encode_message(AnswerRequest(K, True)) == b"\x0d" + K.raw + b"\x01\x00\x00"
    assert encode_message(AnswerRequest(K, False, "busy")) == b"\x0d" + K.raw + b"\x00\x00\x04busy"
    assert encode_message(ReceiptRequest(K, 3, 2**40)) == (
        b"\x0e" + K.raw + struct.pack(">IQ", 3, 2**40))
    assert encode_message(CancelRequest(K)) == b"\x0f" + K.raw + b"\x00\x00"
    assert encode_message(Ack(K)) == b"\x10" + K.raw


@pytest.mark.parametrize("message", [
    _part(),
    _part(2, 3, (OfferEntry("dir/ünï.bin", 2**64 - 1, b"\xff" * 32),), total_files=9,
          total_bytes=2**64 - 1, label="Photos 2026", port=65535),
    _part(3, 3, (), total_files=7, total_bytes=0, label="7 files"),
    *(OfferReply(K, status, "why") for status in OfferStatus),
    AnswerRequest(K, True), AnswerRequest(K, False, "declined by the user"),
    ReceiptRequest(K, 0, 0), ReceiptRequest(K, 2**32 - 1, 2**64 - 1),
    CancelRequest(K, "the files changed"), Ack(K),
], ids=lambda m: type(m).__name__)
def test_round_trips(message: object) -> None:
    assert decode_message(encode_message(message)) == message  # type: ignore[arg-type]


def test_a_reason_is_cleaned_for_people_both_ways() -> None:
    sent = encode_message(OfferReply(K, OfferStatus.REFUSED, "bad\nname" + "x" * 2000))
    reply = decode_message(sent)
    assert isinstance(reply, OfferReply)
    assert reply.reason.startswith("bad?name") and len(reply.reason) == MAX_REASON_BYTES
    # A bidi override from a peer is shown as '?', as an ErrorMessage's text is.
    text = "a\u202eb".encode()
    raw = b"\x0c" + K.raw + b"\x04" + struct.pack(">H", len(text)) + text
    decoded = decode_message(raw)
    assert isinstance(decoded, OfferReply) and decoded.reason == "a?b"


# -- caps and malformed bodies, refused before anything is kept ---------------------------------

@pytest.mark.parametrize(("data", "why"), [
    (_header(port=0) + _entry(), "port"),
    (_header(files=0, count=0), "1 to"),
    (_header(files=MAX_OFFER_FILES + 1) + _entry(), "1 to"),
    (_header(part=0) + _entry(), "part 0 of 1"),
    (_header(part=2, parts=1) + _entry(), "part 2 of 1"),
    (_header(parts=MAX_OFFER_PARTS + 1) + _entry(), "parts"),
    (_header(parts=0, part=0) + _entry(), "parts"),
    (_header(count=MAX_OFFER_ENTRIES_PER_PART + 1), "exceeds the cap of 2048"),
    (_header(count=2**32 - 1), "exceeds the cap"),
    (_header(count=3) + _entry() * 2, "cannot fit"),
    (_header(count=2, files=1) + _entry() * 2, "part of 2 entries"),
    (_header(label=b"") + _entry(), "empty"),
    (_header(label=b"a/b") + _entry(), "without '/'"),
    (_header(label=b"..") + _entry(), "not allowed"),
    (_header(label=b"con") + _entry(), "reserved"),
    (_header(label=b"x.mfsync-part") + _entry(), "partial"),
    (_header(label=b"a\x07") + _entry(), "control"),
    (_header(label=b"\xff") + _entry(), "UTF-8"),
    (_header() + _entry()[:-1], "truncated"),
    (_header() + _entry() + b"\x00", "trailing"),
    (_header() + struct.pack(">H", 4097) + b"x" * 4097 + bytes(40), "exceeds the cap of 4096"),
    (b"\x0c" + K.raw + b"\x05\x00\x00", "unknown offer status 5"),
    (b"\x0c" + K.raw + b"\x01" + struct.pack(">H", MAX_REASON_BYTES + 1), "exceeds the cap"),
    (b"\x0d" + K.raw + b"\x02\x00\x00", "0 or 1, not 2"),
    (b"\x0e" + K.raw + bytes(11), "truncated"),
    (b"\x0f" + K.raw, "truncated"),
    (b"\x10" + K.raw[:4], "truncated"),
    (b"\x10" + K.raw + b"\x00", "trailing"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_malformed_offer_messages_are_refused(data: bytes, why: str | None) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        decode_message(data)


def test_a_part_claiming_the_entry_cap_allocates_nothing_before_the_bytes() -> None:
    # 2048 entries claimed, bytes for one: refused by the count check, not by running out.
    with pytest.raises(RemoteProtocolError, match="cannot fit"):
        decode_message(_header(count=MAX_OFFER_ENTRIES_PER_PART, files=5000) + _entry())


def test_we_never_send_what_a_receiver_refuses() -> None:
    with pytest.raises(LocalProtocolError, match="port"):
        encode_message(_part(port=0))
    with pytest.raises(LocalProtocolError, match="label"):
        encode_message(_part(label="a/b"))
    with pytest.raises(LocalProtocolError, match="part 2 of 1"):
        encode_message(_part(2, 1))
    with pytest.raises(LocalProtocolError, match="content_id"):
        encode_message(_part(entries=(OfferEntry("a", 1, b"short"),)))
    with pytest.raises(LocalProtocolError, match="entries"):
        encode_message(_part(entries=(ENTRY,) * (MAX_OFFER_ENTRIES_PER_PART + 1)))


@pytest.mark.parametrize(("label", "ok"), [
    ("IMG_0042.jpg", True), ("3 files", True), ("Fotos ü", True), ("x" * 255, True),
    ("x" * 256, False), ("a/b", False), ("", False), ("a.", False), ("nul", False),
    ("..", False), (".mfsync", False), ("a\\b", False),
])
def test_check_offer_label(label: str, ok: bool) -> None:
    if ok:
        assert check_offer_label(label) == label
    else:
        with pytest.raises(InvalidName):
            check_offer_label(label)


# -- split_offer: the sender's parts ---------------------------------------------------------

def test_split_offer_fills_parts_by_count_and_by_bytes() -> None:
    many = [OfferEntry(f"f{n:05}", n, CID) for n in range(MAX_OFFER_ENTRIES_PER_PART * 2 + 1)]
    parts = split_offer(K, 8000, "many", many)
    assert [len(p.entries) for p in parts] == [2048, 2048, 1]
    assert all((p.total_files, p.total_bytes, p.parts, p.label, p.port) ==
               (len(many), sum(range(len(many))), 3, "many", 8000) for p in parts)
    assert [p.part for p in parts] == [1, 2, 3] and parts[-1].last and not parts[0].last
    long_names = [OfferEntry(f"{n:04}" + "x" * 4000, 1, CID) for n in range(600)]
    parts = split_offer(K, 8000, "long", long_names)
    assert len(parts) == 3 and sum(len(p.entries) for p in parts) == 600
    for part in parts:
        data = encode_message(part)
        assert len(data) <= MAX_MESSAGE_SIZE
        assert sum(e.wire_size for e in part.entries) <= PART_ENTRY_BUDGET
        assert decode_message(data) == part
    assert split_offer(K, 1, "a.txt", [ENTRY]) == (_part(port=1),)


def test_split_offer_refuses_nothing_and_too_much() -> None:
    with pytest.raises(ValueError, match="at least one"):
        split_offer(K, 8000, "x", [])
    with pytest.raises(ValueError, match="too many files"):
        split_offer(K, 8000, "x", [ENTRY] * (MAX_OFFER_FILES + 1))


# -- OfferParts: the rules between parts -----------------------------------------------------

def _entries(*paths: str) -> tuple[OfferEntry, ...]:
    return tuple(OfferEntry(p, 1, CID) for p in paths)


def test_parts_come_together() -> None:
    entries = _entries("d/a", "d/b", "d/e/c")
    parts = OfferParts()
    assert parts.header is None and not parts.complete
    assert not parts.add(_part(1, 2, entries[:2], total_files=3, total_bytes=3, label="d"))
    assert parts.add(_part(2, 2, entries[2:], total_files=3, total_bytes=3, label="d"))
    assert parts.complete and parts.entries == entries
    assert parts.header is not None and parts.header.label == "d"
    with pytest.raises(BadOffer, match="after the last"):
        parts.add(_part(2, 2, entries[2:], total_files=3, total_bytes=3, label="d"))


def _two(first: OfferRequest, second: OfferRequest) -> None:
    parts = OfferParts()
    parts.add(first)
    before = parts.entries
    with pytest.raises(BadOffer) as caught:
        parts.add(second)
    assert parts.entries == before  # nothing of a refused part is kept
    raise caught.value


A, B = _entries("a"), _entries("b")


@pytest.mark.parametrize(("second", "why"), [
    (_part(3, 3, B, total_files=2, total_bytes=2), "part 3 came where part 2 was due"),
    (_part(1, 3, B, total_files=2, total_bytes=2), "part 1 came where part 2"),
    (_part(2, 3, B, total_files=2, total_bytes=2, port=9), "does not repeat"),
    (_part(2, 3, B, total_files=3, total_bytes=2), "does not repeat"),
    (_part(2, 3, B, total_files=2, total_bytes=3), "does not repeat"),
    (_part(2, 4, B, total_files=2, total_bytes=2), "does not repeat"),
    (_part(2, 3, B, total_files=2, total_bytes=2, label="y"), "does not repeat"),
    (_part(2, 3, B, total_files=2, total_bytes=2, offer=FolderId.parse("zzzz-zzzz")),
     "does not repeat"),
    (_part(2, 3, (), total_files=2, total_bytes=2), "empty part before the last"),
    (_part(2, 3, _entries("b", "c"), total_files=2, total_bytes=2), "more than the 2 files"),
    (_part(2, 3, (OfferEntry("b", 2, CID),), total_files=2, total_bytes=2), "more than"),
    (_part(2, 3, A, total_files=2, total_bytes=2), "'a' twice"),
    (_part(2, 3, _entries("a/x"), total_files=2, total_bytes=2), "'a' as a file and as a folder"),
    (_part(2, 3, _entries("../b"), total_files=2, total_bytes=2), "not allowed"),
    (_part(2, 3, _entries("/etc/passwd"), total_files=2, total_bytes=2), "absolute"),
    (_part(2, 3, _entries("b/.mfsync-part"), total_files=2, total_bytes=2), "partial"),
    (_part(2, 3, _entries("x\x00"), total_files=2, total_bytes=2), "control"),
])
def test_a_part_that_does_not_fit_the_others_is_refused(second: OfferRequest, why: str) -> None:
    with pytest.raises(BadOffer, match=why):
        _two(_part(1, 3, A, total_files=2, total_bytes=2), second)


@pytest.mark.parametrize(("entries", "why"), [
    (_entries("a", "a"), "'a' twice"),
    (_entries("a", "a/b"), "'a' as a file and as a folder"),
    (_entries("a/b/c", "a/b"), "'a/b' as a file and as a folder"),
    (_entries("x/y/z", "x/q", "x"), "'x' as a file and as a folder"),
    (_entries("a", "A"), None),  # two names: placement gives the second a conflict name
    (_entries("d/a", "d/b", "e/d"), None),
])
def test_names_within_one_part(entries: tuple[OfferEntry, ...], why: str | None) -> None:
    parts = OfferParts()
    if why is None:
        assert parts.add(_part(entries=entries, label="x"))
        return
    with pytest.raises(BadOffer, match=why):
        parts.add(_part(entries=entries, label="x"))


def test_the_last_part_must_make_the_totals() -> None:
    with pytest.raises(BadOffer, match="make 1 files of 1 bytes, not the 2 of 2"):
        OfferParts().add(_part(1, 1, A, total_files=2, total_bytes=2))
    with pytest.raises(BadOffer, match="make 1 files of 1 bytes, not the 1 of 9"):
        OfferParts().add(_part(1, 1, A, total_files=1, total_bytes=9))


def test_the_entry_bytes_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offer_parts, "MAX_OFFER_ENTRY_BYTES", 100)
    parts = OfferParts()
    parts.add(_part(1, 3, _entries("a", "b"), total_files=9, total_bytes=9))  # 2 x 43 bytes
    with pytest.raises(BadOffer, match="larger than 0 MiB"):
        parts.add(_part(2, 3, _entries("c"), total_files=9, total_bytes=9))
    assert len(parts.entries) == 2
