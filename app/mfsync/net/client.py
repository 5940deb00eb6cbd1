"""Client-side requests over an open ``SecureChannel``: folder list, index, block hashes, byte
ranges, and an offer's parts, answer, receipt and cancel. Every request but the folder list names
its folder (``DEFAULT_FOLDER`` unless told); the offer requests name their offer.

Each function is a thin loop around the client role of the exchange table
(``mfsync.protocol.exchange``): send the request through it, read a message from the channel,
feed it to the table, act on the event. Which reply may follow which request, and what makes a
reply whole, is the table's to say; what this module adds is the I/O and the translation of the
table's errors into the channel's (``ProtocolBroken``, ``BadBlockList``, ``PeerRefused``).
"""

from collections.abc import AsyncIterator, Sequence

from mfsync.net.channel import (
    ChannelClosed,
    ChannelError,
    PeerRefused,
    ProtocolBroken,
    RecordCutShort,
    SecureChannel,
)
from mfsync.protocol.errors import BrokenReply, RemoteProtocolError
from mfsync.protocol.exchange import Exchange
from mfsync.protocol.exchange_events import (
    Acknowledged,
    BlockInfo,
    BlocksComplete,
    DataPart,
    ExchangeEvent,
    FileArrived,
    FileRefused,
    FoldersListed,
    IndexPart,
    OfferAnswered,
    Refused,
)
from mfsync.protocol.exchange_replies import MAX_REMOTE_INDEX, MAX_REMOTE_INDEX_BYTES
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import (
    AnswerRequest,
    BlocksRequest,
    CancelRequest,
    Data,
    ErrorMessage,
    FolderList,
    FoldersRequest,
    GetFilesRequest,
    GetRequest,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Message,
    OfferReply,
    OfferRequest,
    OfferStatus,
    ReceiptRequest,
    WantedFile,
)
from mfsync.protocol.session import Role

__all__ = [
    "MAX_REMOTE_INDEX",
    "MAX_REMOTE_INDEX_BYTES",
    "BadBlockList",
    "BlockInfo",
    "ClosedMidReply",
    "fetch_files",
    "iter_index",
    "request_blocks",
    "request_folders",
    "request_index",
    "send_answer",
    "send_cancel",
    "send_offer",
    "send_offer_part",
    "send_receipt",
    "stream_range",
]


async def request_folders(channel: SecureChannel) -> FolderList:
    """Ask which folders the peer lets us see (PROTOCOL.md 3.11): one ``FolderList``, every id
    in it once. A peer lists only the folders we may see; a folder not listed is one we do not
    ask about (the peer would answer NO_SUCH_FOLDER)."""
    exchange = Exchange(Role.CLIENT)
    exchange.send(FoldersRequest())
    await channel.send(FoldersRequest())
    event = _feed(exchange, await channel.receive())
    assert isinstance(event, FoldersListed)  # the only other event the table leaves raises
    return event.folders


async def iter_index(channel: SecureChannel, since: int = 0, *,
                     folder: FolderId = DEFAULT_FOLDER) -> AsyncIterator[IndexChunk]:
    """Ask for the index of the peer's folder ``folder`` and yield its chunks as they arrive,
    the last one included.

    Bounded per peer (``MAX_REMOTE_INDEX`` entries, ``MAX_REMOTE_INDEX_BYTES``) and in time: an
    honest server fills every chunk but the last, so an empty one before the last is refused
    (otherwise a peer could keep us reading nothing for ever). What the entries cost together
    with other peers' is the caller's to bound (``mfsync.engine.index_budget``).
    """
    request = IndexRequest(since, folder)
    exchange = Exchange(Role.CLIENT)
    exchange.send(request)
    await channel.send(request)
    while True:
        event = _feed(exchange, await channel.receive())
        assert isinstance(event, IndexPart)  # the only other event the table leaves raises
        yield event.chunk
        if event.chunk.last:
            return


async def request_index(channel: SecureChannel, since: int = 0, *,
                        folder: FolderId = DEFAULT_FOLDER) -> tuple[int, list[IndexEntry]]:
    """Ask for the index of the peer's folder ``folder`` and collect every chunk (see
    ``iter_index``); returns (generation, entries)."""
    entries: list[IndexEntry] = []
    async for chunk in iter_index(channel, since, folder=folder):
        entries.extend(chunk.entries)
        if chunk.last:
            return chunk.generation, entries
    raise ChannelError("the index ended without its last chunk")  # iter_index never does


class BadBlockList(ProtocolBroken):
    """A block list that does not fit the file asked for, or does not hash to its content id."""


class ClosedMidReply(ChannelClosed):
    """The peer closed the connection in an orderly way (not a reset) after it had begun a reply
    and before its end: what a host that stops on purpose mid-block does."""


async def request_blocks(
    channel: SecureChannel, path: str, content_id: bytes, size: int, *,
    folder: FolderId = DEFAULT_FOLDER,
) -> BlockInfo:
    """Fetch the block hashes of ``path`` in the peer's folder ``folder`` and check that they
    hash to ``content_id``.

    That check is what lets every block be verified as it arrives: hashes that did not come from
    the content we asked for cannot produce its content id.
    """
    request = BlocksRequest(path, content_id, folder)
    exchange = Exchange(Role.CLIENT)
    exchange.send(request, expected_size=size)
    await channel.send(request)
    while True:
        event = _feed(exchange, await _reply(channel, exchange, path), broken=BadBlockList)
        if isinstance(event, BlocksComplete):
            return event.info


async def stream_range(
    channel: SecureChannel, path: str, content_id: bytes, offset: int, length: int, *,
    folder: FolderId = DEFAULT_FOLDER,
) -> AsyncIterator[Data]:
    """Request ``length`` bytes of ``path`` in the peer's folder ``folder`` from ``offset`` and
    yield the Data messages, in order."""
    request = GetRequest(path, content_id, offset, length, folder)
    exchange = Exchange(Role.CLIENT)
    exchange.send(request)
    await channel.send(request)
    # The path of every byte of a transfer: per message, one table step and a type test.
    while True:
        event = _feed(exchange, await _reply(channel, exchange, path))
        if type(event) is DataPart:
            yield event.data
        else:
            return  # RangeComplete: the table admits nothing else that does not raise


async def fetch_files(
    channel: SecureChannel, files: Sequence[WantedFile], *, folder: FolderId = DEFAULT_FOLDER,
) -> AsyncIterator[tuple[int, bytes | memoryview | ErrorMessage]]:
    """Ask for the whole of each of ``files`` (each at most one block) in the peer's folder
    ``folder`` in one request (PROTOCOL.md 3.15) and yield, in order, each file's index and
    its bytes, or the ``ErrorMessage`` that file got (the others still come). The bytes are
    not proven here: the caller checks each against its content id. ``PeerRefused`` if the
    whole request is refused."""
    request = GetFilesRequest(tuple(files), folder)
    exchange = Exchange(Role.CLIENT)
    exchange.send(request)
    await channel.send(request)
    what = f"a batch of {len(files)} files"
    while True:
        event = _feed(exchange, await _reply(channel, exchange, what))
        if type(event) is FileArrived:
            yield event.data.index, event.data.payload
        elif type(event) is FileRefused:
            yield event.failed.index, event.failed.error
        else:
            return  # FilesComplete: the table admits nothing else that does not raise


async def send_offer_part(channel: SecureChannel, request: OfferRequest) -> OfferReply:
    """Send one part of an offer (PROTOCOL.md 3.13) and return the receiver's reply about it:
    ``PART_RECEIVED`` for a part before the last (or a verdict on the whole offer: REFUSED);
    for the last part, the verdict. ``PeerRefused`` for an ``ErrorMessage``."""
    exchange = Exchange(Role.CLIENT)
    exchange.send(request)
    await channel.send(request)
    event = _feed(exchange, await channel.receive())
    assert isinstance(event, OfferAnswered)  # the only other event the table leaves raises
    return event.reply


async def send_offer(channel: SecureChannel, parts: Sequence[OfferRequest]) -> OfferReply:
    """Send an offer's parts (``offer_messages.split_offer``) one after the other and return
    the receiver's verdict: the reply to the last part, or the first reply to an earlier part
    that is not ``PART_RECEIVED`` (a refusal: the rest is not sent)."""
    reply: OfferReply | None = None
    for part in parts:
        reply = await send_offer_part(channel, part)
        if reply.status is not OfferStatus.PART_RECEIVED:
            return reply
    if reply is None:
        raise ValueError("an offer has at least one part")
    return reply  # (the table holds the last part's reply to a verdict)


async def send_answer(channel: SecureChannel, request: AnswerRequest) -> None:
    """Tell the sender of an offer whether it is accepted; ``PeerRefused`` (NO_SUCH_FOLDER) if
    the sender does not know the offer as ours."""
    await _acked(channel, request)


async def send_receipt(channel: SecureChannel, request: ReceiptRequest) -> None:
    """Tell the sender of an offer that every file arrived, verified; ``PeerRefused`` as
    ``send_answer``."""
    await _acked(channel, request)


async def send_cancel(channel: SecureChannel, request: CancelRequest) -> None:
    """End an offer on the other side (either side may); ``PeerRefused`` as ``send_answer``."""
    await _acked(channel, request)


async def _acked(channel: SecureChannel,
                 request: AnswerRequest | ReceiptRequest | CancelRequest) -> None:
    exchange = Exchange(Role.CLIENT)
    exchange.send(request)
    await channel.send(request)
    event = _feed(exchange, await channel.receive())
    assert isinstance(event, Acknowledged)  # the only other event the table leaves raises


def _feed(exchange: Exchange, message: Message,
          broken: type[ProtocolBroken] = ProtocolBroken) -> ExchangeEvent:
    """``exchange.receive(message)``, with the table's errors as the channel's: a refusal is
    ``PeerRefused``, a message out of place ``ProtocolBroken``, a reply that has its place but
    breaks a rule of its exchange ``broken``."""
    try:
        event = exchange.receive(message)
    except BrokenReply as exc:
        raise broken(str(exc)) from None
    except RemoteProtocolError as exc:
        raise ProtocolBroken(str(exc)) from None
    if isinstance(event, Refused):
        raise PeerRefused(event.error)
    return event


async def _reply(channel: SecureChannel, exchange: Exchange, path: str) -> Message:
    """The next message of a reply to a request about ``path`` (or the batch it names). A
    close before the reply began is not ``ClosedMidReply``: a busy server closes kept
    connections that look idle (2.8), and one may cross our request."""
    try:
        return await channel.receive()
    except (ChannelClosed, RecordCutShort) as exc:
        if exchange.reply_begun and (channel.peer_closed or isinstance(exc, RecordCutShort)):
            raise ClosedMidReply(f"the peer closed the connection in the middle of its reply "
                                 f"about {path!r}") from None
        raise
