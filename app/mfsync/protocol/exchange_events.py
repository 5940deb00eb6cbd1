"""The events an ``Exchange`` hands out for what the peer sent: typed and frozen, as h11's.

A server's exchange answers each client message with ``RequestReceived`` (answer it),
``NotARequest`` (answer BAD_REQUEST, the connection stays open) or ``PeerReport`` (log it). A
client's exchange answers each reply message with a part (``IndexPart``, ``BlocksPart``,
``DataPart``), the end of the reply (``IndexPart`` with ``last``, ``BlocksComplete``,
``RangeComplete``, ``FoldersListed``, ``OfferAnswered``, ``Acknowledged``; a batch's
``FileArrived`` and ``FileRefused`` per file, ``FilesComplete``), or ``Refused`` for
an ``ErrorMessage`` in place of (the rest of) a reply.
"""

from dataclasses import dataclass

from mfsync.protocol.messages import (
    Ack,
    BlockList,
    Data,
    ErrorMessage,
    FileData,
    FileFailed,
    FolderList,
    IndexChunk,
    Message,
    OfferReply,
)

__all__ = [
    "Acknowledged",
    "BlockInfo",
    "BlocksComplete",
    "BlocksPart",
    "DataPart",
    "ExchangeEvent",
    "FileArrived",
    "FileRefused",
    "FilesComplete",
    "FoldersListed",
    "IndexPart",
    "NotARequest",
    "OfferAnswered",
    "PeerReport",
    "RangeComplete",
    "Refused",
    "RequestReceived",
]


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A file's block hashes, proven to belong to its content id."""

    size: int
    block_size: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """The client asked for something the server answers (an index, block hashes, a range)."""

    request: Message


@dataclass(frozen=True, slots=True)
class NotARequest:
    """The client sent a message that is no request (a reply type): the server owes it one
    ``ErrorMessage`` BAD_REQUEST and goes on serving the connection (PROTOCOL.md 2.6)."""

    message: Message


@dataclass(frozen=True, slots=True)
class PeerReport:
    """The client sent an ``ErrorMessage`` between requests: logged, never answered."""

    error: ErrorMessage


@dataclass(frozen=True, slots=True)
class Refused:
    """The server answered with an ``ErrorMessage``: the reply ends there."""

    error: ErrorMessage


@dataclass(frozen=True, slots=True)
class FoldersListed:
    """The server's folder list: the whole reply to a ``FoldersRequest``."""

    folders: FolderList


@dataclass(frozen=True, slots=True)
class IndexPart:
    """A chunk of the peer's index, checked against the caps; ``chunk.last`` ends the reply."""

    chunk: IndexChunk


@dataclass(frozen=True, slots=True)
class BlocksPart:
    """A part of a block list (not the last) that fits the file asked for."""

    part: BlockList


@dataclass(frozen=True, slots=True)
class BlocksComplete:
    """The last part of a block list arrived, and the whole list hashes to the content id."""

    info: BlockInfo


@dataclass(frozen=True, slots=True)
class DataPart:
    """Bytes of the range, right after the previous ones and within the range."""

    data: Data


@dataclass(frozen=True, slots=True)
class RangeComplete:
    """Every byte of the range arrived, and the ``End`` says so (``end``: its offset)."""

    end: int


@dataclass(frozen=True, slots=True)
class FileArrived:
    """The next file of a ``GetFilesRequest``, whole (its size is the size asked for)."""

    data: FileData


@dataclass(frozen=True, slots=True)
class FileRefused:
    """The next file of a ``GetFilesRequest`` is not sent (``failed.error`` says why); the
    reply goes on."""

    failed: FileFailed


@dataclass(frozen=True, slots=True)
class FilesComplete:
    """Every file of a ``GetFilesRequest`` was answered, and the ``End`` says so."""

    count: int


@dataclass(frozen=True, slots=True)
class OfferAnswered:
    """The receiver's reply to a part of an offer (about that offer): the whole reply."""

    reply: OfferReply


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The server took an offer's answer, receipt or cancel (about that offer)."""

    ack: Ack


ExchangeEvent = (
    RequestReceived | NotARequest | PeerReport | Refused | IndexPart | BlocksPart
    | BlocksComplete | DataPart | RangeComplete | FoldersListed | OfferAnswered | Acknowledged
    | FileArrived | FileRefused | FilesComplete
)
