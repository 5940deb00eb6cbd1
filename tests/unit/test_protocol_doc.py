"""PROTOCOL.md's byte examples are what the codec produces (the document must stay true).

Every example below is encoded with mfsync's own codec and must appear, byte for byte, in one
of the document's code blocks or inline code spans (spacing ignored). When the wire format or a
hash changes, this fails until the document is updated with it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mfsync.protocol.announce import Announcement, Flags, Kind, encode_announcement
from mfsync.protocol.content import block_hash, block_size_for, content_id_of
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
    OfferEntry,
    OfferReply,
    OfferStatus,
    ReceiptRequest,
    WantedFile,
    encode_message,
)
from mfsync.protocol.offer_messages import split_offer
from mfsync.protocol.version import VersionVector

DOC = Path(__file__).resolve().parents[2] / "app" / "mfsync" / "protocol" / "PROTOCOL.md"
HELLO = b"hello"
HELLO_HASH = block_hash(HELLO)
HELLO_ID = content_id_of(len(HELLO), block_size_for(len(HELLO)), [HELLO_HASH])
OFFER = FolderId.parse("k3x9-pq2m")
_HEX_RUN = re.compile(r"^[0-9a-f]{2}( +[0-9a-f]{2})*$")


def _doc_examples() -> set[str]:
    """Every run of hex bytes in the document: code blocks (joined) and inline code spans."""
    text = DOC.read_text(encoding="utf-8")
    found = set()
    for block in re.findall(r"```\n(.*?)```", text, re.S):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and all(_HEX_RUN.match(line) for line in lines):
            found.add("".join(lines).replace(" ", ""))
    for span in re.findall(r"`([^`\n]+)`", text):
        if _HEX_RUN.match(span.strip()):
            found.add(span.replace(" ", ""))
    return found


EXAMPLES = {
    "announce": encode_announcement(Announcement(
        kind=Kind.ANNOUNCE, flags=Flags.SHARES, instance_id=bytes(range(8)),
        public_key=bytes(32), tcp_port=8000, beat_ms=5000, generation=1, name="alpha")),
    "hello": encode_message(Hello(versions=(1,), capabilities=("index",), name="alpha")),
    "index-request": encode_message(IndexRequest(0)),
    "index-request-of-a-folder": encode_message(IndexRequest(0, FolderId.parse("k3x9-pq2m"))),
    "folders-request": encode_message(FoldersRequest()),
    "folder-list": encode_message(FolderList((FolderInfo(
        DEFAULT_FOLDER, "default", FolderFlags.ANNOUNCED, generation=1, files=1, size=5),))),
    "no-such-folder": encode_message(ErrorMessage(ErrorCode.NO_SUCH_FOLDER, "no such folder")),
    "empty-index": encode_message(IndexChunk(generation=1, entries=(), last=True)),
    "index-request-since": encode_message(IndexRequest(5)),
    "delta-removing": encode_message(IndexChunk(7, (), True, delta=True,
                                                removed_paths="a.txt\0b")),
    "delta-of-nothing": encode_message(IndexChunk(7, (), True, delta=True)),
    "one-entry-index": encode_message(IndexChunk(generation=1, last=True, entries=(IndexEntry(
        "a.txt", 5, 1_700_000_000_000_000_000, HELLO_ID, VersionVector.of({b"\x11" * 32: 1})),))),
    "blocks-request": encode_message(BlocksRequest("a.txt", HELLO_ID)),
    "block-list": encode_message(BlockList(HELLO_ID, 5, block_size_for(5), 0, (HELLO_HASH,),
                                           last=True)),
    "get-request": encode_message(GetRequest("a.txt", HELLO_ID, 0, 5)),
    "data": encode_message(Data(0, HELLO)),
    "end": encode_message(End(5)),
    "not-trusted": encode_message(ErrorMessage(ErrorCode.NOT_TRUSTED,
                                               "your key is not trusted here")),
    "changed": encode_message(ErrorMessage(ErrorCode.CHANGED, "'a.txt' has changed")),
    "offer-request": encode_message(split_offer(OFFER, 8000, "a.txt",
                                                [OfferEntry("a.txt", 5, HELLO_ID)])[0]),
    "offer-reply-pending": encode_message(OfferReply(OFFER, OfferStatus.PENDING)),
    "offer-reply-refused": encode_message(OfferReply(OFFER, OfferStatus.REFUSED,
                                                     "too many offers")),
    "answer-accepted": encode_message(AnswerRequest(OFFER, True)),
    "answer-declined": encode_message(AnswerRequest(OFFER, False, "declined")),
    "receipt": encode_message(ReceiptRequest(OFFER, 1, 5)),
    "cancel": encode_message(CancelRequest(OFFER, "cancelled")),
    "ack": encode_message(Ack(OFFER)),
    "get-files-request": encode_message(GetFilesRequest((WantedFile("a.txt", HELLO_ID, 5),
                                                         WantedFile("b.txt", HELLO_ID, 5)))),
    "file-data": encode_message(FileData(0, HELLO)),
    "file-failed": encode_message(FileFailed(1, ErrorMessage(ErrorCode.NOT_FOUND,
                                                             "'b.txt' is not shared here"))),
    "end-of-a-batch": encode_message(End(2)),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_documents_example_is_what_the_codec_sends(name: str) -> None:
    wire = EXAMPLES[name].hex()
    assert wire in _doc_examples(), (
        f"PROTOCOL.md lacks the {name} example: {EXAMPLES[name].hex(' ')}")


def test_the_content_id_vectors_are_in_the_document() -> None:
    text = DOC.read_text(encoding="utf-8")
    empty = content_id_of(0, block_size_for(0), [])
    assert f"`{empty.hex()}`" in text
    assert f"`{HELLO_HASH.hex()}`" in text and f"`{HELLO_ID.hex()}`" in text


def test_the_example_finder_finds_something_to_compare() -> None:
    # Not vacuous: the document has many examples, and a made-up one is not among them.
    examples = _doc_examples()
    assert len(examples) >= 10
    assert (b"\x42" * 12).hex() not in examples
