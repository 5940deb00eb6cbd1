"""The offer messages: a host offers files to another, which answers, receives and says so.

How it works (PROTOCOL.md 3.13). An offer is, in effect, a temporary folder of the sender that
only the receiver may see: its id (``OfferId``, a ``FolderId``) names both. The sender connects
to the receiver's server and sends the offer as ``OfferRequest`` parts (``split_offer``), each
answered by an ``OfferReply``: ``PART_RECEIVED`` for every part before the last, then the
receiver's verdict for the whole offer. Everything the receiver says afterwards travels on a
connection it opens to the sender's server (the port the offer names): ``AnswerRequest``
(accepted or declined), ``ReceiptRequest`` (every file verified and in place) and
``CancelRequest`` (either side, to the other), each answered by an ``Ack`` (or by
``NO_SUCH_FOLDER`` for an offer the server does not know as this peer's).

Every count and length is checked against its cap and against the bytes left before anything is
allocated. What one part cannot say about the others (the same header in every part, the totals
matching the entries, the names) is ``offer_parts.OfferParts``'s to check as parts arrive.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.folder_messages import read_folder_id
from mfsync.protocol.names import (
    MAX_COMPONENT_BYTES,
    MAX_PATH_BYTES,
    InvalidName,
    check_wire_path,
    clean_label,
)
from mfsync.protocol.tags import CONTENT_ID_SIZE, MAX_MESSAGE_SIZE, Tag, check_size
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "MAX_OFFER_ENTRIES_PER_PART",
    "MAX_OFFER_FILES",
    "MAX_OFFER_LABEL_BYTES",
    "MAX_OFFER_PARTS",
    "MAX_REASON_BYTES",
    "PART_ENTRY_BUDGET",
    "Ack",
    "AnswerRequest",
    "CancelRequest",
    "OfferEntry",
    "OfferId",
    "OfferReply",
    "OfferRequest",
    "OfferStatus",
    "ReceiptRequest",
    "check_offer_label",
    "split_offer",
]

#: An offer's id: the id of the temporary folder that serves its files (PROTOCOL.md 3.13).
OfferId = FolderId

#: Entries in one ``OfferRequest`` part.
MAX_OFFER_ENTRIES_PER_PART = 2048
#: Parts of one offer: with ``MAX_OFFER_ENTRIES_PER_PART``, at most ~1M files in one offer.
MAX_OFFER_PARTS = 512
#: Files in one offer (what ``total_files`` may say).
MAX_OFFER_FILES = MAX_OFFER_PARTS * MAX_OFFER_ENTRIES_PER_PART
#: An offer's label names what is sent, and a folder sent is received under it: one path
#: component, at most this many bytes of UTF-8.
MAX_OFFER_LABEL_BYTES = MAX_COMPONENT_BYTES
#: A reason (``OfferReply``, ``AnswerRequest``, ``CancelRequest``), shown to people.
MAX_REASON_BYTES = 1024
#: path length u16, size u64, content id.
_MIN_ENTRY_SIZE = 2 + 8 + CONTENT_ID_SIZE
#: offer id, port u16, total files u32, total bytes u64, part u16, parts u16, label length u8
#: and the longest label, entry count u32: the most an ``OfferRequest`` takes besides entries.
_MAX_HEADER_SIZE = 5 + 2 + 4 + 8 + 2 + 2 + 1 + MAX_OFFER_LABEL_BYTES + 4
#: Bytes of entries one part may carry (the tag and the header beside them fit one message).
PART_ENTRY_BUDGET = MAX_MESSAGE_SIZE - 1 - _MAX_HEADER_SIZE


class OfferStatus(enum.IntEnum):
    """What an ``OfferReply`` says of the offer."""

    PART_RECEIVED = 0  #: a part before the last arrived; send the next
    PENDING = 1        #: the whole offer arrived; the receiver's user is asked
    ACCEPTED = 2       #: accepted at once (the receiver will connect to fetch the files)
    DECLINED = 3       #: declined at once
    REFUSED = 4        #: refused: not trusted, rate limited, too big, bad names (the reason)


def check_offer_label(label: str) -> str:
    """``label`` if it can name an offer (one valid wire-path component, since a folder sent is
    received under it), else ``InvalidName`` with the reason."""
    if "/" in label:
        raise InvalidName("an offer's label is one name, without '/'")
    if len(label.encode("utf-8", "surrogatepass")) > MAX_OFFER_LABEL_BYTES:
        raise InvalidName(f"an offer's label is at most {MAX_OFFER_LABEL_BYTES} bytes")
    return check_wire_path(label)


def _write_reason(w: Writer, reason: str) -> None:
    w.text16(clean_label(reason, MAX_REASON_BYTES), MAX_REASON_BYTES)


def _read_reason(r: Reader) -> str:
    # Shown to people: every non-printable character becomes '?' (as an ErrorMessage's text).
    return clean_label(r.text16(MAX_REASON_BYTES), MAX_REASON_BYTES, strict=True)


@dataclass(frozen=True, slots=True)
class OfferEntry:
    """One file of an offer: its wire path (relative, ``/``-separated), size and content id."""

    path: str
    size: int
    content_id: bytes

    @property
    def wire_size(self) -> int:
        """Bytes of the entry on the wire."""
        return _MIN_ENTRY_SIZE + len(self.path.encode("utf-8"))

    def write(self, w: Writer) -> None:
        """Write the entry."""
        w.text16(self.path, MAX_PATH_BYTES).u64(self.size)
        w.raw(check_size("content_id", self.content_id, CONTENT_ID_SIZE))

    @classmethod
    def read(cls, r: Reader) -> "OfferEntry":
        """Read one entry (its name is checked with the whole offer, ``OfferParts``)."""
        return cls(r.text16(MAX_PATH_BYTES), r.u64(), r.raw(CONTENT_ID_SIZE))


@dataclass(frozen=True, slots=True)
class OfferRequest:
    """Part ``part`` (from 1) of ``parts`` of the offer ``offer``: every part repeats the
    offer's header (port, totals, label) and carries some of its entries."""

    TAG: ClassVar[Tag] = Tag.OFFER_REQUEST
    offer: FolderId
    #: The sender's server port, where the receiver fetches the files and answers.
    port: int
    total_files: int
    total_bytes: int
    part: int
    parts: int
    #: What is sent, for people ("IMG_0042.jpg", "3 files"); a folder sent is received under it.
    label: str
    entries: tuple[OfferEntry, ...]

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        problem = _header_problem(self.port, self.total_files, self.part, self.parts,
                                  len(self.entries))
        if problem is not None:
            raise LocalProtocolError(problem)
        try:
            check_offer_label(self.label)
        except InvalidName as exc:
            raise LocalProtocolError(f"offer label {self.label!r}: {exc}") from None
        w.raw(self.offer.raw).u16(self.port).u32(self.total_files).u64(self.total_bytes)
        w.u16(self.part).u16(self.parts).text8(self.label, MAX_OFFER_LABEL_BYTES)
        w.u32(len(self.entries))
        for entry in self.entries:
            entry.write(w)

    @classmethod
    def decode_body(cls, r: Reader) -> "OfferRequest":
        """Read the body; ``RemoteProtocolError`` for a cap broken or a bad label."""
        offer = read_folder_id(r)
        port, total_files, total_bytes, part, parts = r.u16(), r.u32(), r.u64(), r.u16(), r.u16()
        label = r.text8(MAX_OFFER_LABEL_BYTES)
        try:
            check_offer_label(label)
        except InvalidName as exc:
            raise RemoteProtocolError(f"offer label: {exc}") from None
        count = r.count(MAX_OFFER_ENTRIES_PER_PART, _MIN_ENTRY_SIZE)
        problem = _header_problem(port, total_files, part, parts, count)
        if problem is not None:
            raise RemoteProtocolError(problem)
        entries = tuple(OfferEntry.read(r) for _ in range(count))
        return cls(offer, port, total_files, total_bytes, part, parts, label, entries)

    @property
    def last(self) -> bool:
        """Whether this is the offer's last part."""
        return self.part == self.parts


def _header_problem(port: int, total_files: int, part: int, parts: int,
                    count: int) -> str | None:
    """What is wrong with an offer part's header for its own sake, or None."""
    if port == 0:
        return "an offer names the port of the sender's server (not 0)"
    if not 1 <= total_files <= MAX_OFFER_FILES:
        return f"an offer has 1 to {MAX_OFFER_FILES} files, not {total_files}"
    if not 1 <= parts <= MAX_OFFER_PARTS or not 1 <= part <= parts:
        return f"offer part {part} of {parts} (1 to {MAX_OFFER_PARTS} parts)"
    if count > MAX_OFFER_ENTRIES_PER_PART or count > total_files:
        return f"an offer part of {count} entries (at most {MAX_OFFER_ENTRIES_PER_PART})"
    return None


def split_offer(offer: FolderId, port: int, label: str,
                entries: Sequence[OfferEntry]) -> tuple[OfferRequest, ...]:
    """The parts of an offer of ``entries``, each fitting one message (at most
    ``MAX_OFFER_ENTRIES_PER_PART`` entries and ``PART_ENTRY_BUDGET`` bytes of them).
    ``ValueError`` for an offer of no file, or of more than ``MAX_OFFER_PARTS`` parts."""
    if not entries:
        raise ValueError("an offer has at least one file")
    batches: list[tuple[OfferEntry, ...]] = []
    batch: list[OfferEntry] = []
    used = 0
    for entry in entries:
        size = entry.wire_size
        if batch and (used + size > PART_ENTRY_BUDGET or len(batch) == MAX_OFFER_ENTRIES_PER_PART):
            batches.append(tuple(batch))
            batch, used = [], 0
        batch.append(entry)
        used += size
    batches.append(tuple(batch))
    if len(batches) > MAX_OFFER_PARTS:
        raise ValueError(f"too many files for one offer ({len(entries)}: at most "
                         f"{MAX_OFFER_PARTS} parts of {MAX_OFFER_ENTRIES_PER_PART})")
    total_bytes = sum(entry.size for entry in entries)
    return tuple(OfferRequest(offer, port, len(entries), total_bytes, n, len(batches), label, part)
                 for n, part in enumerate(batches, 1))


@dataclass(frozen=True, slots=True)
class OfferReply:
    """The receiver's answer to an ``OfferRequest`` part (``status``; ``reason`` for people,
    say why it was refused)."""

    TAG: ClassVar[Tag] = Tag.OFFER_REPLY
    offer: FolderId
    status: OfferStatus
    reason: str = ""

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.offer.raw).u8(self.status)
        _write_reason(w, self.reason)

    @classmethod
    def decode_body(cls, r: Reader) -> "OfferReply":
        """Read the body; an unknown status is refused."""
        offer = read_folder_id(r)
        status = r.u8()
        if status not in OfferStatus._value2member_map_:
            raise RemoteProtocolError(f"unknown offer status {status}")
        return cls(offer, OfferStatus(status), _read_reason(r))


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """The receiver's answer to an offer the sender was told is PENDING (or ACCEPTED: the
    receiver confirms when it starts): ``accepted`` or not, and why not."""

    TAG: ClassVar[Tag] = Tag.ANSWER_REQUEST
    offer: FolderId
    accepted: bool
    reason: str = ""

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.offer.raw).u8(1 if self.accepted else 0)
        _write_reason(w, self.reason)

    @classmethod
    def decode_body(cls, r: Reader) -> "AnswerRequest":
        """Read the body; ``accepted`` is 0 or 1."""
        offer = read_folder_id(r)
        accepted = r.u8()
        if accepted > 1:
            raise RemoteProtocolError(f"an answer's accepted flag is 0 or 1, not {accepted}")
        return cls(offer, accepted == 1, _read_reason(r))


@dataclass(frozen=True, slots=True)
class ReceiptRequest:
    """The receiver has every file of the offer, verified and in place: ``files`` of them,
    ``bytes`` in all."""

    TAG: ClassVar[Tag] = Tag.RECEIPT_REQUEST
    offer: FolderId
    files: int
    bytes: int

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.offer.raw).u32(self.files).u64(self.bytes)

    @classmethod
    def decode_body(cls, r: Reader) -> "ReceiptRequest":
        """Read the body."""
        return cls(read_folder_id(r), r.u32(), r.u64())


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Either side ends the offer (the sender stops serving it, the receiver stops fetching
    and discards what it holds of it), saying why."""

    TAG: ClassVar[Tag] = Tag.CANCEL_REQUEST
    offer: FolderId
    reason: str = ""

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.offer.raw)
        _write_reason(w, self.reason)

    @classmethod
    def decode_body(cls, r: Reader) -> "CancelRequest":
        """Read the body."""
        return cls(read_folder_id(r), _read_reason(r))


@dataclass(frozen=True, slots=True)
class Ack:
    """The server took an ``AnswerRequest``, ``ReceiptRequest`` or ``CancelRequest`` of the
    offer ``offer`` (the request's)."""

    TAG: ClassVar[Tag] = Tag.ACK
    offer: FolderId

    def encode_body(self, w: Writer) -> None:
        """Write the body."""
        w.raw(self.offer.raw)

    @classmethod
    def decode_body(cls, r: Reader) -> "Ack":
        """Read the body."""
        return cls(read_folder_id(r))
