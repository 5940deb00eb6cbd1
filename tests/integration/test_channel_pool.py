"""Channels kept between downloads (``engine.channel_pool`` through ``Node.channel_to``), over
real sockets on loopback."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from loopback import make_tree

from mfsync.engine.channel_pool import ChannelPool
from mfsync.engine.node import Node
from mfsync.engine.status import HostRef
from mfsync.net.channel import ChannelError
from mfsync.net.client import request_blocks
from waiting import wait_for

CONTENT = os.urandom(300_000)


async def _pair(make_node, tmp_path: Path) -> tuple[Node, Node, HostRef]:
    sharer = await make_node(share_dir=make_tree(tmp_path / "share", {"f.bin": CONTENT}))
    fetcher = await make_node(wants=True)
    await wait_for(lambda: bool(fetcher.files_for("f.bin")))
    [remote] = fetcher.files_for("f.bin")
    return sharer, fetcher, remote.hosts[0]


async def _ask(fetcher: Node, host: HostRef) -> None:
    [remote] = fetcher.files_for("f.bin")
    async with fetcher.channel_to(host) as channel:
        await request_blocks(channel, remote.path, remote.content_id, remote.size)


async def _drop_served(sharer: Node) -> None:
    """Close what the sharer serves now (the index fetch's channel, kept by the fetcher)."""
    assert sharer.server is not None
    for served in sharer.server.channels:
        await served.close()
    await wait_for(lambda: not sharer.server.channels)


async def test_an_idle_channel_is_reused(make_node, tmp_path: Path) -> None:
    sharer, fetcher, host = await _pair(make_node, tmp_path)
    assert sharer.server is not None
    await _drop_served(sharer)
    before = sharer.server.accepted
    for _ in range(5):
        await _ask(fetcher, host)
    assert sharer.server.accepted == before + 1


async def test_the_next_index_fetch_takes_the_channel_of_the_last(make_node,
                                                                 tmp_path: Path) -> None:
    """An index fetch leaves its channel in the pool and the next fetch from the same host
    takes it: no new connection, no handshake (a swarm fetches indexes after every change)."""
    sharer, fetcher, _ = await _pair(make_node, tmp_path)
    assert sharer.server is not None
    before = sharer.server.accepted
    (tmp_path / "share" / "g.bin").write_bytes(b"new")
    await sharer.rescan()
    await wait_for(lambda: bool(fetcher.files_for("g.bin")))
    assert sharer.server.accepted == before
    # One the host closed meanwhile is not used: the fetch opens a new one and succeeds.
    await _drop_served(sharer)
    (tmp_path / "share" / "h.bin").write_bytes(b"newer")
    await sharer.rescan()
    await wait_for(lambda: bool(fetcher.files_for("h.bin")))
    assert sharer.server.accepted == before + 1


async def test_a_failed_exchange_closes_its_channel(make_node, tmp_path: Path) -> None:
    sharer, fetcher, host = await _pair(make_node, tmp_path)
    await _drop_served(sharer)
    assert sharer.server is not None
    before = sharer.server.accepted
    with pytest.raises(RuntimeError):
        async with fetcher.channel_to(host) as channel:
            raise RuntimeError("a reply left half read")
    assert channel.closed
    await _ask(fetcher, host)  # works, on a new channel
    assert sharer.server.accepted == before + 2


async def test_idle_channels_expire_and_at_most_per_host_are_kept(make_node,
                                                                  tmp_path: Path) -> None:
    _, fetcher, host = await _pair(make_node, tmp_path)
    pool = ChannelPool(fetcher.connect, idle_timeout=0.3, per_host=2)
    leases = [pool.lease(host) for _ in range(3)]
    channels = [await lease.__aenter__() for lease in leases]
    for lease in leases:
        await lease.__aexit__(None, None, None)
    # three were in use at once; only two are kept, the third is closed
    await wait_for(lambda: sum(c.closed for c in channels) == 1)
    await asyncio.sleep(0.6)
    assert all(c.closed for c in channels)
    async with pool.lease(host) as fresh:
        assert fresh not in channels
    await pool.close()
    assert fresh.closed
    assert pool.opened == 4


async def test_a_channel_the_server_closed_is_not_handed_out(make_node, tmp_path: Path) -> None:
    sharer, fetcher, host = await _pair(make_node, tmp_path)
    async with fetcher.channel_to(host) as first:
        pass
    assert sharer.server is not None
    for served in sharer.server.channels:
        await served.close()  # as a server does with a connection idle too long
    await wait_for(lambda: first.peer_closed)
    async with fetcher.channel_to(host) as second:
        assert second is not first
    await _ask(fetcher, host)


async def test_a_channel_to_a_host_no_longer_trusted_is_dropped(make_node,
                                                               tmp_path: Path) -> None:
    _, fetcher, host = await _pair(make_node, tmp_path)
    async with fetcher.channel_to(host) as kept:
        pass
    fetcher.set_trust(frozenset({os.urandom(32)}))
    assert kept.closed
    with pytest.raises(ChannelError):
        await _ask(fetcher, host)


async def test_a_full_server_lets_its_longest_idle_connection_go(make_node, tmp_path: Path,
                                                                 monkeypatch) -> None:
    import mfsync.net.server as server_module  # noqa: PLC0415 - only this test patches it

    sharer, fetcher, host = await _pair(make_node, tmp_path)
    await _drop_served(sharer)  # (the index fetch's channel, kept by the fetcher)
    assert sharer.server is not None
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 2)
    pool = ChannelPool(fetcher.connect, per_host=4)
    first_lease, second_lease = pool.lease(host), pool.lease(host)
    first = await first_lease.__aenter__()
    await asyncio.sleep(0.05)
    second = await second_lease.__aenter__()
    await wait_for(lambda: len(sharer.server.channels) == 2)
    # both wait for a request: a third client gets in, and the one idle longest goes
    await _ask(fetcher, host)
    await wait_for(lambda: first.peer_closed)
    assert not second.peer_closed
    for lease in (first_lease, second_lease):
        await lease.__aexit__(None, None, None)
    await pool.close()
