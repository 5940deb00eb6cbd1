"""Client-side requests over an open ``SecureChannel``."""

from mfsync.net.channel import ChannelError, PeerRefused, SecureChannel
from mfsync.protocol.messages import ErrorMessage, IndexChunk, IndexEntry, IndexRequest

__all__ = ["MAX_REMOTE_INDEX", "request_index"]

#: We stop reading a peer's index past this many entries (memory is ours to protect).
MAX_REMOTE_INDEX = 1_000_000


async def request_index(channel: SecureChannel, since: int = 0) -> tuple[int, list[IndexEntry]]:
    """Ask for the peer's index and collect every chunk; returns (generation, entries)."""
    await channel.send(IndexRequest(since))
    entries: list[IndexEntry] = []
    while True:
        message = await channel.receive()
        if isinstance(message, ErrorMessage):
            raise PeerRefused(message)
        if not isinstance(message, IndexChunk):
            raise ChannelError(f"expected an index chunk, got {type(message).__name__}")
        entries.extend(message.entries)
        if len(entries) > MAX_REMOTE_INDEX:
            raise ChannelError(f"index larger than {MAX_REMOTE_INDEX} entries")
        if message.last:
            return message.generation, entries
