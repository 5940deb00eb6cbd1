"""Records over a real socket, read in place and decrypted into reused buffers: a block being
verified and written in a worker thread never sees bytes of a later record, whether it is a view
of a received payload or gathered from several, and payloads a caller keeps stay intact."""

import asyncio
import os
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import blake3
import pytest

from mfsync.crypto.keys import Identity
from mfsync.net.channel import (
    ProtocolBroken,
    RecordCutShort,
    SecureChannel,
    accept_channel,
    open_channel,
)
from mfsync.protocol.messages import Data, End, Hello
from mfsync.protocol.records import READ_AHEAD
from mfsync.protocol.session import MAX_RECORD
from mfsync.store.partial import BlockWriter, PartialFile


def _trust_all(_: bytes) -> bool:
    return True


@pytest.fixture
async def channels() -> AsyncIterator[tuple[SecureChannel, SecureChannel]]:
    """A client channel and the server's end of it, over 127.0.0.1."""
    server_id = Identity.generate()
    accepted: asyncio.Future[SecureChannel] = asyncio.get_running_loop().create_future()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(await accept_channel(reader, writer, server_id, hello=Hello(),
                                                 authorize=_trust_all, timeout=5))

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await open_channel("127.0.0.1", port, Identity.generate(), hello=Hello(),
                                authorize=_trust_all, timeout=5)
    served = await asyncio.wait_for(accepted, 5)
    try:
        yield client, served
    finally:
        await client.close()
        await served.close()
        server.close()
        await server.wait_closed()


async def _send(channel: SecureChannel, data: bytes, piece: int) -> None:
    for offset in range(0, len(data), piece):
        await channel.send(Data(offset, data[offset : offset + piece]))
    await channel.send(End(len(data)))


def _slow_partial(target: Path, data: bytes, block_size: int) -> PartialFile:
    """A partial whose worker threads take their time, so that many more records arrive while
    each block waits to be hashed and written."""
    hashes = tuple(blake3.blake3(data[i : i + block_size]).digest()
                   for i in range(0, len(data), block_size))
    partial = PartialFile(target, len(data), block_size, hashes)
    accept = partial.accept_block

    def slow_accept(index: int, block: bytes | bytearray | memoryview) -> bool:
        time.sleep(0.01)
        return accept(index, block)

    partial.accept_block = slow_accept  # type: ignore[method-assign]
    return partial


@pytest.mark.parametrize(("block_size", "piece"), [
    (256 * 1024, 1024 * 1024),   # four whole blocks per payload: views of the lent buffer
    (1024 * 1024, 256 * 1024),   # a block gathered from four payloads
    (512 * 1024, 384 * 1024),    # blocks straddling payloads both ways
])
async def test_blocks_in_flight_never_see_a_later_record(
        channels: tuple[SecureChannel, SecureChannel], tmp_path: Path,
        block_size: int, piece: int) -> None:
    client, served = channels
    data = os.urandom(24 * 1024 * 1024 + 12345)
    partial = _slow_partial(tmp_path / "f", data, block_size)
    partial.resume()
    written: list[int] = []
    writer = BlockWriter(partial, written.append)
    writer.start(0)
    sender = asyncio.create_task(_send(served, data, piece))
    try:
        while True:
            message = await client.receive(timeout=10)
            if isinstance(message, End):
                break
            assert isinstance(message, Data)
            await writer.feed(message.payload)
        await writer.drain()  # BadBlock if any block had been overwritten under its thread
    finally:
        await writer.abandon()
        await sender
    assert sum(written) == len(data)
    partial.finalize(0)
    assert (tmp_path / "f").read_bytes() == data


async def test_payloads_kept_by_the_caller_stay_intact(
        channels: tuple[SecureChannel, SecureChannel]) -> None:
    client, served = channels
    data = os.urandom(32 * 1024 * 1024)
    sender = asyncio.create_task(_send(served, data, 1024 * 1024))
    kept: list[bytes | memoryview] = []
    while True:
        message = await client.receive(timeout=10)
        if isinstance(message, End):
            break
        assert isinstance(message, Data)
        kept.append(message.payload)
    await sender
    assert all(isinstance(payload, memoryview) for payload in kept)  # not copies
    assert b"".join(kept) == data


async def test_a_record_over_the_cap_ends_the_channel_without_reading_on(
        channels: tuple[SecureChannel, SecureChannel]) -> None:
    """A header claiming more than MAX_RECORD, then a flood: the reader stops at the header
    (nothing of the flood is buffered) and the channel fails as the peer's doing."""
    client, served = channels
    served._writer.write(struct.pack(">I", MAX_RECORD + 1) + bytes(4 * 1024 * 1024))
    with pytest.raises(ProtocolBroken, match="exceeds"):
        await client.receive(timeout=5)
    await asyncio.sleep(0.2)  # (time for any further reads, were reading not stopped)
    assert client._session.pending_bytes <= READ_AHEAD + 4


async def test_a_record_cut_short_by_the_peer_closing_is_said_so(
        channels: tuple[SecureChannel, SecureChannel]) -> None:
    client, served = channels
    await served.send(Data(0, os.urandom(1024 * 1024)))
    session = client._session  # (the Data is sent; now the served end goes away mid-record)
    served._writer.write(struct.pack(">I", 5000) + bytes(100))
    served._writer.close()
    first = await client.receive(timeout=5)
    assert isinstance(first, Data) and len(first.payload) == 1024 * 1024
    with pytest.raises(RecordCutShort):
        await client.receive(timeout=5)
    assert session.cut_short
