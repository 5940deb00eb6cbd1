"""Changing the trust list of a running node, and the refusals it records, on real sockets."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from loopback import make_tree

from mfsync.crypto.keys import Identity
from mfsync.engine.node import MAX_REFUSALS, Node
from mfsync.engine.status import PeerSnapshot, PeerState
from mfsync.engine.transfer_status import TransferSnapshot, TransferState
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.net.channel import ChannelError, open_channel
from mfsync.protocol.messages import Hello
from mfsync.store.safe_paths import partial_path_for
from waiting import wait_for

MIB = 1024 * 1024
JOIN_TIMEOUT = 30.0


def _peer(node: Node, other: Node) -> PeerSnapshot | None:
    assert other.server is not None
    return next((p for p in node.status.peers if p.port == other.server.port), None)


def _state(node: Node, other: Node) -> PeerState | None:
    peer = _peer(node, other)
    return peer.state if peer is not None else None


def _transfer(downloader: Downloader, path: str) -> TransferSnapshot:
    return next(t for t in downloader.status.transfers if t.path == path)


def _channels_from(node: Node, key: bytes) -> int:
    assert node.server is not None
    return sum(1 for c in node.server.channels if c.remote_key == key)


async def test_revoking_trust_stops_a_download_and_trusting_again_finishes_it(
        make_node, throttle, tmp_path: Path) -> None:
    # megabytes are made and written off the loop: the test's code is held to the loop's rule
    content = await asyncio.to_thread(os.urandom, 32 * MIB)
    folder = await asyncio.to_thread(make_tree, tmp_path / "share", {"big.bin": content})
    a = await make_node(share_dir=folder)
    b = await make_node(wants=True)
    b_key = b.identity.public_key
    await wait_for(lambda: bool(b.files_for("big.bin")), 15.0)
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(b, source_wait=60.0)
    try:
        assert downloader.add(DownloadJob("big.bin", dest))
        await wait_for(lambda: _transfer(downloader, "big.bin").done > 0)
        assert _channels_from(a, b_key) >= 1

        a.set_trust(frozenset({Identity.generate().public_key}))
        # At once: no channel to B is left open on A's side, and the transfer stops.
        assert _channels_from(a, b_key) == 0
        await wait_for(lambda: _state(b, a) is PeerState.REFUSED, 10.0)
        await wait_for(lambda: _transfer(downloader, "big.bin").state is TransferState.WAITING)
        assert not b.files_for("big.bin")
        stopped = _transfer(downloader, "big.bin")
        assert 0 < stopped.done < len(content)
        assert partial_path_for(dest / "big.bin").exists()
        inbound = [r for r in a.status.refusals if r.inbound and r.key == b_key]
        assert len(inbound) == 1
        assert inbound[0].address == "127.0.0.1"
        await asyncio.sleep(1.0)
        assert _transfer(downloader, "big.bin").done == stopped.done
        # B retried (index polls, the download) but the refusal was recorded once.
        assert len([r for r in a.status.refusals if r.key == b_key]) == 1

        throttle.delay = 0
        a.set_trust(frozenset({b_key}), {b_key: "bee"})
        assert a.options.key_names == {b_key: "bee"}
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        [result] = downloader.results
        assert result.state is TransferState.DONE
        assert await asyncio.to_thread((dest / "big.bin").read_bytes) == content
        assert _state(b, a) is PeerState.CONNECTED
        # It resumed from the partial file rather than starting over.
        assert _transfer(downloader, "big.bin").fetched <= len(content) + 2 * MIB
    finally:
        await downloader.stop()


async def test_untrusting_a_peer_hides_its_files_and_is_recorded_once(make_node,
                                                                      tmp_path: Path) -> None:
    a = await make_node(share_dir=make_tree(tmp_path / "share", {"x.txt": b"x"}), name="alpha")
    b = await make_node(wants=True)
    a_key = a.identity.public_key
    await wait_for(lambda: _state(b, a) is PeerState.CONNECTED)
    assert b.files_for("x.txt")

    b.set_trust(frozenset({Identity.generate().public_key}))
    await wait_for(lambda: _state(b, a) is PeerState.UNTRUSTED, 5.0)
    assert not b.files_for("x.txt")
    # A's announcements and B's polls go on; the refusal is not recorded again for each.
    await asyncio.sleep(2.0)
    outbound = [r for r in b.status.refusals if r.key == a_key]
    assert len(outbound) == 1
    assert not outbound[0].inbound and outbound[0].name == "alpha"
    assert outbound[0].address == "127.0.0.1"

    b.set_trust(frozenset())  # empty: anyone
    await wait_for(lambda: _state(b, a) is PeerState.CONNECTED, 10.0)
    assert b.files_for("x.txt")
    assert len([r for r in b.status.refusals if r.key == a_key]) == 1

    # A change of the trust list makes a refusal news again.
    b.set_trust(frozenset({Identity.generate().public_key}))
    await wait_for(lambda: len([r for r in b.status.refusals if r.key == a_key]) == 2, 5.0)
    seqs = [r.seq for r in b.status.refusals]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_refusals_keep_the_latest(make_node, tmp_path: Path) -> None:
    a = await make_node(share_dir=make_tree(tmp_path / "share", {"x.txt": b"x"}),
                        trusted_keys=frozenset({Identity.generate().public_key}))
    assert a.server is not None
    strangers = [Identity.generate() for _ in range(MAX_REFUSALS + 5)]
    for identity in strangers:
        with pytest.raises(ChannelError):
            channel = await open_channel("127.0.0.1", a.server.port, identity,
                                         hello=Hello(name="stranger"),
                                         authorize=lambda _key: True, timeout=3.0)
            await channel.receive(timeout=3.0)  # the refusal arrives as the first message
    await wait_for(lambda: bool(a.status.refusals)
                   and a.status.refusals[-1].key == strangers[-1].public_key)
    refusals = a.status.refusals
    assert len(refusals) == MAX_REFUSALS
    assert [r.key for r in refusals] == [i.public_key for i in strangers[-MAX_REFUSALS:]]
    assert [r.seq for r in refusals] == list(range(6, MAX_REFUSALS + 6))
    assert all(r.inbound and r.address == "127.0.0.1" for r in refusals)
