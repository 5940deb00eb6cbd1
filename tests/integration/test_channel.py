"""The secure channel against honest, untrusted and hostile peers, on loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from pathlib import Path

import pytest
from loopback import make_tree

from mfsync.crypto.keys import Identity
from mfsync.engine.status import PeerState
from mfsync.net.channel import (
    ChannelError,
    NotTrusted,
    PeerRefused,
    accept_channel,
    open_channel,
)
from mfsync.net.client import request_index
from mfsync.protocol.messages import ErrorCode, ErrorMessage, Hello
from mfsync.protocol.session import PREFACE
from waiting import wait_for


def _trust_all(_key: bytes) -> bool:
    return True


async def _fetch(port: int, identity: Identity | None = None, authorize=_trust_all):
    channel = await open_channel("127.0.0.1", port, identity or Identity.generate(),
                                 hello=Hello(name="test"), authorize=authorize, timeout=5)
    try:
        return await request_index(channel)
    finally:
        await channel.close()


async def test_index_over_the_channel(make_node, tmp_path: Path) -> None:
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"b": b"2", "a/c": b"3"}),
                        discovery=False)
    generation, entries = await _fetch(a.server.port)
    assert generation == a.share.generation
    assert [e.path for e in entries] == ["a/c", "b"]
    assert [e.size for e in entries] == [1, 1]


async def test_trust_list_limits_both_directions(make_node, tmp_path: Path) -> None:
    friend = Identity.generate()
    stranger = Identity.generate()
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"x": b"1"}),
                        trusted_keys=frozenset({friend.public_key}), discovery=False)
    _, entries = await _fetch(a.server.port, friend)
    assert [e.path for e in entries] == ["x"]
    with pytest.raises(PeerRefused) as refused:
        await _fetch(a.server.port, stranger)
    assert refused.value.code is ErrorCode.NOT_TRUSTED
    # And the client side: we refuse a server whose key is not on our list.
    with pytest.raises(NotTrusted):
        await _fetch(a.server.port, friend, authorize=lambda key: key == stranger.public_key)


async def test_nodes_with_trust_lists(make_node, tmp_path: Path) -> None:
    c_id = Identity.generate()
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"from-a": b"a"}),
                        trusted_keys=frozenset({c_id.public_key}), name="a")
    b = await make_node(share_dir=make_tree(tmp_path / "b", {"from-b": b"b"}), name="b")
    c = await make_node(identity=c_id, wants=True)
    d = await make_node(wants=True)
    e = await make_node(wants=True, trusted_keys=frozenset({b.identity.public_key}))
    await wait_for(lambda: {f.path for f in c.status.files} == {"from-a", "from-b"})
    await wait_for(lambda: {p.state for p in d.status.peers} == {PeerState.CONNECTED,
                                                                 PeerState.REFUSED})
    assert {f.path for f in d.status.files} == {"from-b"}
    await wait_for(lambda: {p.state for p in e.status.peers} == {PeerState.CONNECTED,
                                                                 PeerState.UNTRUSTED})
    assert {f.path for f in e.status.files} == {"from-b"}
    untrusted = next(p for p in e.status.peers if p.state is PeerState.UNTRUSTED)
    assert untrusted.key == a.identity.public_key


async def _hostile(port: int, payload: bytes, *, close: bool = True) -> asyncio.StreamWriter:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError):  # the server may hang up on us mid-write
        writer.write(payload)
        await writer.drain()
    if close:
        writer.close()
    return writer


async def test_hostile_clients_do_not_stop_the_server(make_node, tmp_path: Path) -> None:
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"x": b"1"}), discovery=False,
                        handshake_timeout=1.0)
    port = a.server.port
    silent = await _hostile(port, b"", close=False)
    await _hostile(port, os.urandom(4096))
    await _hostile(port, PREFACE + struct.pack(">H", 65535) + b"\x00" * 100)
    await _hostile(port, PREFACE + struct.pack(">H", 32) + b"\x01" * 10)  # truncated, then EOF
    await _hostile(port, b"\x00" * (4 * 1024 * 1024))
    await _hostile(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    # While the silent one is still open, honest clients are served.
    _, entries = await _fetch(port)
    assert [e.path for e in entries] == ["x"]
    await wait_for(lambda: a.server.dropped >= 6, timeout=10)  # the silent one timed out too
    silent.close()
    _, entries = await _fetch(port)
    assert [e.path for e in entries] == ["x"]


async def test_forged_record_after_handshake_is_refused(make_node, tmp_path: Path) -> None:
    """A peer that completes the handshake and then sends a forged record is disconnected."""
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"x": b"1"}), discovery=False)
    channel = await open_channel("127.0.0.1", a.server.port, Identity.generate(),
                                 hello=Hello(), authorize=_trust_all, timeout=5)
    writer = channel._writer
    writer.write(struct.pack(">I", 40) + os.urandom(40))
    await writer.drain()
    with pytest.raises(ChannelError):
        await channel.receive(timeout=5)
    await channel.close()
    _, entries = await _fetch(a.server.port)
    assert [e.path for e in entries] == ["x"]


async def test_a_peer_without_a_common_version_is_told_why(make_node, tmp_path: Path) -> None:
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"x": b"1"}), discovery=False)
    channel = await open_channel("127.0.0.1", a.server.port, Identity.generate(),
                                 hello=Hello(versions=(99,)), authorize=_trust_all, timeout=5)
    try:
        answer = await channel.receive(timeout=5)
        assert isinstance(answer, ErrorMessage)
        assert answer.code is ErrorCode.UNSUPPORTED_VERSION
        assert "[1]" in answer.text
    finally:
        await channel.close()


async def test_a_silent_server_is_a_channel_error_not_a_crash(tmp_path: Path) -> None:
    """A server that completes the handshake and then says nothing: the client gives up cleanly."""
    server_id = Identity.generate()
    test_over = asyncio.Event()
    handlers: list[asyncio.Task[None]] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        channel = await accept_channel(reader, writer, server_id, hello=Hello(),
                                       authorize=_trust_all, timeout=5)
        await test_over.wait()  # says nothing for as long as the test runs
        await channel.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        channel = await open_channel("127.0.0.1", port, Identity.generate(), hello=Hello(),
                                     authorize=_trust_all, timeout=5)
        assert channel.remote_key == server_id.public_key
        with pytest.raises(ChannelError, match=r"within 0\.5 s"):
            await channel.receive(timeout=0.5)
        await channel.close()
    finally:
        test_over.set()
        server.close()
        await asyncio.wait_for(asyncio.gather(*handlers), 5)  # the handler ends with the test
