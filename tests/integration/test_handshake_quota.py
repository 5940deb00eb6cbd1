"""The server's quota of connections in their handshake, on loopback (127.0.0.x addresses)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mfsync.crypto.keys import Identity
from mfsync.net.server import MAX_HANDSHAKES, MAX_HANDSHAKES_PER_ADDRESS, Server
from mfsync.protocol.messages import Hello
from waiting import wait_for


async def _serve_nothing(*_args: object) -> None:
    raise AssertionError("no request is expected")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A server on 127.0.0.1 that trusts everyone."""
    srv = Server(Identity.generate(), hello=Hello(name="quota"), authorize=lambda _key: True,
                 handler=_serve_nothing, port=0, host="127.0.0.1")
    await srv.start()
    yield srv
    await srv.stop()


class Stalled:
    """A connection that sends a few bytes and never finishes its handshake."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: Server, source: str) -> Stalled:
        """Connect from ``source`` and send half a preface; wait until the server counts it."""
        before = server.accepted + server.dropped + server.handshaking
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port,
                                                       local_addr=(source, 0))
        writer.write(b"MFS")
        await writer.drain()
        # (an eviction makes room at once and counts as dropped once the evicted one is gone)
        await wait_for(lambda: server.accepted + server.dropped + server.handshaking > before, 5)
        return cls(reader, writer)

    async def closed(self, timeout: float = 2.0) -> bool:
        """Whether the server closed this connection (within ``timeout`` s)."""
        try:
            while await asyncio.wait_for(self.reader.read(4096), timeout):
                pass
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True

    def close(self) -> None:
        """Close our end."""
        with contextlib.suppress(Exception):
            self.writer.close()


async def test_an_address_over_its_quota_evicts_its_own_oldest(server: Server) -> None:
    conns = [await Stalled.open(server, "127.0.0.2")
             for _ in range(MAX_HANDSHAKES_PER_ADDRESS + 1)]
    assert await conns[0].closed()
    assert not await conns[-1].closed(0.3)
    assert server.evicted == 1
    for conn in conns:
        conn.close()


async def test_a_full_quota_evicts_from_the_address_with_the_most(server: Server) -> None:
    flooders = [f"127.0.0.{n}" for n in range(2, 2 + MAX_HANDSHAKES // MAX_HANDSHAKES_PER_ADDRESS)]
    conns = {address: [await Stalled.open(server, address)
                       for _ in range(MAX_HANDSHAKES_PER_ADDRESS)] for address in flooders}
    lone = await Stalled.open(server, "127.0.0.100")  # all full: the oldest of a flooder goes
    assert await conns[flooders[0]][0].closed()
    other = await Stalled.open(server, "127.0.0.101")  # the fullest address loses one, not lone
    assert await conns[flooders[1]][0].closed()
    assert not await lone.closed(0.3)
    assert not await other.closed(0.3)
    assert server.evicted == 2
    for conn in [lone, other, *(c for cs in conns.values() for c in cs)]:
        conn.close()
