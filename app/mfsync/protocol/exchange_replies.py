"""The content rules of each reply: what a message's type cannot say about its place.

The exchange table (``mfsync.protocol.exchange``) admits a message by its type and ``last``
flag; the reply rules of the request that opened the cycle then check its content against what
came before: an index within the receiver's caps and without empty chunks before the last; a
block list that fits the file asked for, is contiguous and hashes to the content id; a batch's
files answered once each, in order, each of the size asked for; data that
continues where the previous data ended, carries at least one byte and stays inside the range,
and an ``End`` that comes after every byte of it; an offer's reply and an ``Ack`` about the offer
their request named, ``PART_RECEIVED`` (or ``REFUSED``) to a part before the last, a verdict to
the last. The same rules hold whoever sends: the ``Exchange`` turns a ``RuleBroken`` into
``BrokenReply`` when the peer broke it and into ``LocalProtocolError`` when we did.

Each rule object keeps counts and positions, and only what the reply itself produces (the block
hashes of a list, bounded by the file's block count); every cap is checked before anything of a
message is kept.
"""

from typing import Protocol, cast

from mfsync.protocol.content import block_count, block_size_for, content_id_of
from mfsync.protocol.errors import LocalProtocolError
from mfsync.protocol.exchange_events import (
    Acknowledged,
    BlockInfo,
    BlocksComplete,
    BlocksPart,
    DataPart,
    ExchangeEvent,
    FileArrived,
    FileRefused,
    FilesComplete,
    FoldersListed,
    IndexPart,
    OfferAnswered,
    RangeComplete,
)
from mfsync.protocol.messages import (
    Ack,
    AnswerRequest,
    BlockList,
    BlocksRequest,
    CancelRequest,
    Data,
    End,
    FileData,
    FileFailed,
    FolderList,
    FoldersRequest,
    GetFilesRequest,
    GetRequest,
    IndexChunk,
    IndexRequest,
    Message,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
)

__all__ = [
    "MAX_REMOTE_INDEX",
    "MAX_REMOTE_INDEX_BYTES",
    "AckReply",
    "BlocksReply",
    "FilesReply",
    "FolderListReply",
    "IndexReply",
    "OfferReplyRules",
    "RangeReply",
    "ReplyRules",
    "RuleBroken",
]

#: A receiver stops reading a peer's index past this many entries (memory is ours to protect).
MAX_REMOTE_INDEX = 1_000_000
#: ... or past this many bytes of entries on the wire: entries can be 14 KiB each (long paths,
#: 256 version items), and a million of those would take tens of GiB once decoded.
MAX_REMOTE_INDEX_BYTES = 128 * 1024 * 1024


class RuleBroken(Exception):
    """A message breaks a rule of its exchange (whose fault it is, the ``Exchange`` says)."""


class ReplyRules(Protocol):
    """The rules of one reply, from its request to its end: ``accept`` checks the next reply
    message the table admitted and returns the event it makes."""

    #: Whether a reply message has been accepted (a close now cuts a reply short).
    begun: bool

    def accept(self, message: Message) -> ExchangeEvent:
        """Check ``message`` (of a type the table admits here) against the reply so far;
        ``RuleBroken`` if it does not fit."""
        ...


class FolderListReply:
    """The reply to a ``FoldersRequest``: one ``FolderList``. What a list may hold (at most
    ``MAX_FOLDERS``, each id once, labels and flags valid) its decoder has checked already."""

    def __init__(self, request: FoldersRequest, *, limits: bool,
                 expected_size: int | None = None) -> None:
        del request, limits, expected_size  # nothing to remember: the reply is one message
        self.begun = False

    def accept(self, message: Message) -> ExchangeEvent:
        """The list is the whole reply."""
        self.begun = True
        return FoldersListed(cast(FolderList, message))


class IndexReply:
    """The reply to an ``IndexRequest``: ``IndexChunk``s, each with entries (or, in a delta,
    removed paths) unless it is the last (an honest server fills every chunk but the last;
    empty ones could keep a client reading nothing for ever), within ``MAX_REMOTE_INDEX``
    entries and ``MAX_REMOTE_INDEX_BYTES`` when received (``limits``; a sender's index has no
    such cap). A delta answers only a request with a since generation, is all of the reply
    (no whole-index chunk mixed in), and is of a generation no older than the one asked from;
    every chunk of a reply gives the same generation."""

    def __init__(self, request: IndexRequest, *, limits: bool,
                 expected_size: int | None = None) -> None:
        del expected_size  # the index's size is not known before it comes
        self._since = request.since_generation
        self._limits = limits
        self._entries = 0
        self._bytes = 0
        self._first: IndexChunk | None = None
        self.begun = False

    def accept(self, message: Message) -> ExchangeEvent:
        """Check one chunk."""
        chunk = cast(IndexChunk, message)
        if not chunk.count and not chunk.removed_paths and not chunk.last:
            raise RuleBroken("empty index chunk before the last one")
        if chunk.delta and not self._since:
            raise RuleBroken("a delta answers an index request from generation 0")
        if chunk.delta and chunk.generation < self._since:
            raise RuleBroken(f"a delta to generation {chunk.generation}, older than the "
                             f"generation {self._since} asked from")
        first = self._first
        if first is not None and (first.delta, first.generation) != (
                chunk.delta, chunk.generation):
            raise RuleBroken("index chunks of one reply differ in generation or kind")
        self._first = first or chunk
        if self._limits:
            self._entries += chunk.count + len(chunk.removed)
            self._bytes += sum(entry.wire_size for entry in chunk.entries)
            self._bytes += len(chunk.removed_paths)
            if self._entries > MAX_REMOTE_INDEX:
                raise RuleBroken(f"index larger than {MAX_REMOTE_INDEX} entries")
            if self._bytes > MAX_REMOTE_INDEX_BYTES:
                raise RuleBroken(f"index larger than {MAX_REMOTE_INDEX_BYTES >> 20} MiB")
        self.begun = True
        return IndexPart(chunk)


class BlocksReply:
    """The reply to a ``BlocksRequest``: ``BlockList`` parts for the content asked for, of the
    file's size and its block size, contiguous from block 0, each with hashes unless it is the
    last, never more hashes than the file has blocks; after the last, exactly that many, and
    they hash to the content id (which is what lets every block be verified on arrival).

    ``expected_size`` is the size the requester knows from the index; it bounds the hashes
    kept, so a receiver must give it. A sender's rules take the size of its first part.
    """

    def __init__(self, request: BlocksRequest, *, limits: bool,
                 expected_size: int | None = None) -> None:
        if limits and expected_size is None:
            raise LocalProtocolError("a block list is asked for with the file's size, which "
                                     "bounds the hashes kept")
        self._path = request.path
        self._content_id = request.content_id
        self._size = expected_size
        self._hashes: list[bytes] = []
        self.begun = False

    def accept(self, message: Message) -> ExchangeEvent:
        """Check one part; the last completes the list."""
        part = cast(BlockList, message)
        if not part.hashes and not part.last:
            raise RuleBroken(f"empty block list part for {self._path!r} before the last one")
        if self._size is None:
            self._size = part.size
        size = self._size
        block_size = block_size_for(size)
        blocks = block_count(size)
        hashes = self._hashes
        # (the count is checked before the hashes are kept)
        if (part.content_id != self._content_id or part.size != size
                or part.block_size != block_size or part.first != len(hashes)
                or len(hashes) + len(part.hashes) > blocks):
            raise RuleBroken(f"block list for {self._path!r} does not fit the file")
        hashes.extend(part.hashes)
        self.begun = True
        if not part.last:
            return BlocksPart(part)
        if len(hashes) != blocks or content_id_of(size, block_size, hashes) != self._content_id:
            raise RuleBroken(f"block hashes for {self._path!r} do not match its content id")
        return BlocksComplete(BlockInfo(size, block_size, tuple(hashes)))


class RangeReply:
    """The reply to a ``GetRequest``: ``Data`` covering the range in order and without gaps,
    each with at least one byte (empty ones make no progress: a peer could send them for
    ever), then ``End`` at the range's end once every byte of it came. Per message, a few
    integer comparisons: this is the path of every byte of a transfer."""

    def __init__(self, request: GetRequest, *, limits: bool,
                 expected_size: int | None = None) -> None:
        del limits, expected_size  # the request says it all
        self._path = request.path
        self._offset = request.offset
        self._length = request.length
        self._position = request.offset
        self._end = request.offset + request.length
        self.begun = False

    def accept(self, message: Message) -> ExchangeEvent:
        """Check one ``Data`` or the ``End``."""
        if isinstance(message, Data):
            length = len(message.payload)
            if not length:
                raise RuleBroken(f"empty Data message for {self._path!r}")
            position = self._position
            if message.offset != position or position + length > self._end:
                raise RuleBroken(f"data for {self._path!r} out of order or beyond the request")
            self._position = position + length
            self.begun = True
            return DataPart(message)
        end = cast(End, message)
        if self._position != self._end:
            raise RuleBroken(f"transfer of {self._path!r} ended after "
                             f"{self._position - self._offset} of {self._length} bytes "
                             f"(at offset {self._position}, not {self._end})")
        if end.offset != self._end:
            raise RuleBroken(f"transfer of {self._path!r} sent every byte, then an End at "
                             f"offset {end.offset} instead of {self._end}")
        return RangeComplete(end.offset)


class FilesReply:
    """The reply to a ``GetFilesRequest``: for each file asked for, in order, one ``FileData``
    of exactly the size asked for or one ``FileFailed``, each naming the next index; then
    ``End`` at the number of files, once every file was answered. The bytes are not looked
    at here: each file is proven against its content id by whoever keeps it."""

    def __init__(self, request: GetFilesRequest, *, limits: bool,
                 expected_size: int | None = None) -> None:
        del limits, expected_size  # the request says it all
        self._sizes = [file.size for file in request.files]
        self._next = 0
        self.begun = False

    def accept(self, message: Message) -> ExchangeEvent:
        """Check one file's answer or the ``End``."""
        index = self._next
        if isinstance(message, FileData | FileFailed):
            if message.index != index or index >= len(self._sizes):
                raise RuleBroken(f"an answer about file {message.index} of a batch where "
                                 f"file {index} of {len(self._sizes)} comes next")
            if isinstance(message, FileData) and len(message.payload) != self._sizes[index]:
                raise RuleBroken(f"file {index} of a batch: {len(message.payload)} bytes, not "
                                 f"the {self._sizes[index]} asked for")
            self._next = index + 1
            self.begun = True
            if isinstance(message, FileData):
                return FileArrived(message)
            return FileRefused(message)
        end = cast(End, message)
        if index != len(self._sizes) or end.offset != index:
            raise RuleBroken(f"a batch of {len(self._sizes)} files ended after {index} "
                             f"(End at {end.offset})")
        return FilesComplete(index)


class OfferReplyRules:
    """The reply to an ``OfferRequest`` part: one ``OfferReply`` about the offer the part
    named; to a part before the last ``PART_RECEIVED`` (or ``REFUSED``: the rest is not
    sent), to the last the verdict on the whole offer (anything but ``PART_RECEIVED``)."""

    def __init__(self, request: OfferRequest, *, limits: bool,
                 expected_size: int | None = None) -> None:
        del limits, expected_size  # the reply is one small message
        self._offer = request.offer
        self._last = request.last
        self.begun = False

    def accept(self, message: Message) -> ExchangeEvent:
        """Check the reply."""
        reply = cast(OfferReply, message)
        if reply.offer != self._offer:
            raise RuleBroken(f"a reply about offer {reply.offer} to a part of offer "
                             f"{self._offer}")
        received = reply.status is OfferStatus.PART_RECEIVED
        if (received and self._last) or not (received or self._last
                                             or reply.status is OfferStatus.REFUSED):
            raise RuleBroken(f"offer {self._offer}: {reply.status.name} in reply to "
                             f"{'the last part' if self._last else 'a part before the last'}")
        self.begun = True
        return OfferAnswered(reply)


class AckReply:
    """The reply to an ``AnswerRequest``, ``ReceiptRequest`` or ``CancelRequest``: one ``Ack``
    about the offer the request named."""

    def __init__(self, request: AnswerRequest | ReceiptRequest | CancelRequest, *, limits: bool,
                 expected_size: int | None = None) -> None:
        del limits, expected_size
        self._offer = request.offer
        self.begun = False

    def accept(self, message: Message) -> ExchangeEvent:
        """Check the ``Ack``."""
        ack = cast(Ack, message)
        if ack.offer != self._offer:
            raise RuleBroken(f"an Ack of offer {ack.offer} to a request about offer "
                             f"{self._offer}")
        self.begun = True
        return Acknowledged(ack)
