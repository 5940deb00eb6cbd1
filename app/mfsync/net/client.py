"""Client-side requests over an open ``SecureChannel``: index, block hashes, byte ranges."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from mfsync.net.channel import (
    ChannelClosed,
    ChannelError,
    PeerRefused,
    ProtocolBroken,
    RecordCutShort,
    SecureChannel,
)
from mfsync.protocol.content import block_size_for, content_id_of
from mfsync.protocol.messages import (
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorMessage,
    GetRequest,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Message,
)

__all__ = [
    "MAX_REMOTE_INDEX",
    "MAX_REMOTE_INDEX_BYTES",
    "BadBlockList",
    "BlockInfo",
    "ClosedMidReply",
    "iter_index",
    "request_blocks",
    "request_index",
    "stream_range",
]

#: We stop reading a peer's index past this many entries (memory is ours to protect).
MAX_REMOTE_INDEX = 1_000_000
#: ... or past this many bytes of entries on the wire: entries can be 14 KiB each (long paths,
#: 256 version items), and a million of those would take tens of GiB once decoded.
MAX_REMOTE_INDEX_BYTES = 128 * 1024 * 1024


async def iter_index(channel: SecureChannel, since: int = 0) -> AsyncIterator[IndexChunk]:
    """Ask for the peer's index and yield its chunks as they arrive, the last one included.

    Bounded per peer (``MAX_REMOTE_INDEX`` entries, ``MAX_REMOTE_INDEX_BYTES``) and in time: an
    honest server fills every chunk but the last, so an empty one before the last is refused
    (otherwise a peer could keep us reading nothing for ever). What the entries cost together
    with other peers' is the caller's to bound (``mfsync.engine.index_budget``).
    """
    await channel.send(IndexRequest(since))
    entries = 0
    size = 0
    while True:
        message = await channel.receive()
        if isinstance(message, ErrorMessage):
            raise PeerRefused(message)
        if not isinstance(message, IndexChunk):
            raise ChannelError(f"expected an index chunk, got {type(message).__name__}")
        if not message.entries and not message.last:
            raise ChannelError("empty index chunk before the last one")
        entries += len(message.entries)
        size += sum(entry.wire_size for entry in message.entries)
        if entries > MAX_REMOTE_INDEX:
            raise ChannelError(f"index larger than {MAX_REMOTE_INDEX} entries")
        if size > MAX_REMOTE_INDEX_BYTES:
            raise ChannelError(f"index larger than {MAX_REMOTE_INDEX_BYTES >> 20} MiB")
        yield message
        if message.last:
            return


async def request_index(channel: SecureChannel, since: int = 0) -> tuple[int, list[IndexEntry]]:
    """Ask for the peer's index and collect every chunk (see ``iter_index``); returns
    (generation, entries)."""
    entries: list[IndexEntry] = []
    async for chunk in iter_index(channel, since):
        entries.extend(chunk.entries)
        if chunk.last:
            return chunk.generation, entries
    raise ChannelError("the index ended without its last chunk")  # iter_index never does


class BadBlockList(ProtocolBroken):
    """A block list that does not fit the file asked for, or does not hash to its content id."""


class ClosedMidReply(ChannelClosed):
    """The peer closed the connection in an orderly way (not a reset) after it had begun a reply
    and before its end: what a host that stops on purpose mid-block does."""


async def _reply(channel: SecureChannel, path: str, begun: bool) -> Message:
    """The next message of a reply to a request about ``path``; ``begun``: some of the reply has
    arrived already. A close before the reply began is not ``ClosedMidReply``: a busy server
    closes kept connections that look idle (2.8), and one may cross our request."""
    try:
        return await channel.receive()
    except (ChannelClosed, RecordCutShort) as exc:
        if begun and (channel.peer_closed or isinstance(exc, RecordCutShort)):
            raise ClosedMidReply(f"the peer closed the connection in the middle of its reply "
                                 f"about {path!r}") from None
        raise


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A file's block hashes, proven to belong to its content id."""

    size: int
    block_size: int
    hashes: tuple[bytes, ...]


async def request_blocks(
    channel: SecureChannel, path: str, content_id: bytes, size: int
) -> BlockInfo:
    """Fetch the block hashes of ``path`` and check that they hash to ``content_id``.

    That check is what lets every block be verified as it arrives: hashes that did not come from
    the content we asked for cannot produce its content id.
    """
    await channel.send(BlocksRequest(path, content_id))
    expected_block = block_size_for(size)
    blocks = -(-size // expected_block)
    hashes: list[bytes] = []
    while True:
        message = await _reply(channel, path, begun=bool(hashes))
        if isinstance(message, ErrorMessage):
            raise PeerRefused(message)
        if not isinstance(message, BlockList):
            raise ProtocolBroken(f"expected block hashes, got {type(message).__name__}")
        if not message.hashes and not message.last:
            # Honest servers send full parts; empty ones would keep us reading for ever.
            raise BadBlockList(f"empty block list part for {path!r} before the last one")
        if (message.content_id != content_id or message.size != size
                or message.block_size != expected_block or message.first != len(hashes)
                or len(hashes) + len(message.hashes) > blocks):
            raise BadBlockList(f"block list for {path!r} does not fit the file")
        hashes.extend(message.hashes)
        if message.last:
            break
    if len(hashes) != blocks or content_id_of(size, expected_block, hashes) != content_id:
        raise BadBlockList(f"block hashes for {path!r} do not match its content id")
    return BlockInfo(size, expected_block, tuple(hashes))


async def stream_range(
    channel: SecureChannel, path: str, content_id: bytes, offset: int, length: int
) -> AsyncIterator[Data]:
    """Request ``length`` bytes from ``offset`` and yield the Data messages, in order."""
    await channel.send(GetRequest(path, content_id, offset, length))
    position = offset
    end = offset + length
    while True:
        message = await _reply(channel, path, begun=position > offset)
        if isinstance(message, Data):
            if not message.payload:  # no progress: a peer could send these for ever
                raise ProtocolBroken(f"empty Data message for {path!r}")
            if message.offset != position or position + len(message.payload) > end:
                raise ProtocolBroken(f"data for {path!r} out of order or beyond the request")
            position += len(message.payload)
            yield message
        elif isinstance(message, End):
            if position != end:
                raise ProtocolBroken(f"transfer of {path!r} ended after {position - offset} of "
                                     f"{length} bytes (at offset {position}, not {end})")
            if message.offset != end:
                raise ProtocolBroken(f"transfer of {path!r} sent every byte, then an End at "
                                     f"offset {message.offset} instead of {end}")
            return
        elif isinstance(message, ErrorMessage):
            raise PeerRefused(message)
        else:
            raise ProtocolBroken(f"unexpected {type(message).__name__} during a transfer")
