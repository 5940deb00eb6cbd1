"""The peer directory (``engine/peer_directory.py``): what announcements do to the table, what
reaches the status, and when an announced peer is gone. Every endpoint is on loopback, with
nothing listening: the fetches that start are refused by this machine's own kernel."""

from __future__ import annotations

import asyncio
import os
import socket

from mfsync.crypto.keys import Identity
from mfsync.engine.dialer import Dialer
from mfsync.engine.peer_directory import ANNOUNCED_PUBLISH_GAP, MIN_PEER_BEAT, PeerDirectory
from mfsync.engine.status import PeerState
from mfsync.engine.trust import TrustList
from mfsync.net.discovery import EXPIRY_BEATS, MAX_BEAT
from mfsync.protocol.announce import Announcement, Flags, Kind
from mfsync.protocol.messages import Hello
from mfsync.store.known_hosts import KnownHosts

KEY = b"k" * 32


def _closed_port() -> int:
    """A loopback TCP port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _directory(gaps: list[float]) -> PeerDirectory:
    trust = TrustList(frozenset(), {}, lambda: gaps.append(0.0))
    dialer = Dialer(Identity.generate(), Hello(capabilities=("index",), name="test"),
                    timeout=1.0)
    return PeerDirectory(trust, dialer, KnownHosts(None), gaps.append)


def _announce(port: int, *, flags: Flags = Flags.SHARES, name: str = "host",
              beat_ms: int = 500, instance: bytes = b"i" * 8, generation: int = 1
              ) -> Announcement:
    return Announcement(Kind.ANNOUNCE, flags, instance, KEY, port, beat_ms, generation, name)


async def test_announcements_fill_the_table_and_only_news_reaches_the_status() -> None:
    gaps: list[float] = []
    peers = _directory(gaps)
    peers.on_announcement(_announce(9000, flags=Flags.WANTS), ("127.0.0.1", 40000))
    assert len(peers) == 0 and not gaps  # it only downloads: nothing to fetch from it
    peers.on_announcement(_announce(9000), ("127.0.0.1", 40000))
    [peer] = peers.snapshot()
    assert (peer.address, peer.port, peer.name, peer.state) == (
        "127.0.0.1", 9000, "host", PeerState.ANNOUNCED)
    assert peer.announced_key == KEY and peer.key is None and not peer.trusted
    # News from announcements is folded: asked for with the announcement gap.
    assert gaps == [ANNOUNCED_PUBLISH_GAP]
    peers.on_announcement(_announce(9000, generation=2), ("127.0.0.1", 40000))
    assert gaps == [ANNOUNCED_PUBLISH_GAP]  # a heartbeat, a new generation: nothing to show
    peers.on_announcement(_announce(9000, name="renamed"), ("127.0.0.1", 40000))
    assert gaps == [ANNOUNCED_PUBLISH_GAP] * 2
    assert peers.name_of(KEY) == "renamed" and peers.name_of(b"x" * 32) == ""


async def test_announced_peers_expire_and_static_ones_stay() -> None:
    gaps: list[float] = []
    peers = _directory(gaps)
    announced, static = _closed_port(), _closed_port()
    await peers.add_static("127.0.0.1", static)
    # It claims the longest beat it can: counted as at most MAX_BEAT.
    peers.on_announcement(_announce(announced, beat_ms=0xFFFF), ("127.0.0.1", 40000))
    assert peers._table[("127.0.0.1", announced)].beat_ms == int(MAX_BEAT * 1000)
    # A claimed beat of 0 counts as MIN_PEER_BEAT: gone after EXPIRY_BEATS of those.
    peers.on_announcement(_announce(announced, beat_ms=0), ("127.0.0.1", 40000))
    peers.start()
    try:
        await asyncio.sleep(EXPIRY_BEATS * MIN_PEER_BEAT + 0.6)
        [left] = peers.snapshot()
        assert (left.port, left.static) == (static, True)
        # The static peer was polled: nothing listens there.
        assert left.state is PeerState.UNREACHABLE
    finally:
        await asyncio.gather(*peers.cancel(), return_exceptions=True)
        peers.close()


async def test_refresh_marks_a_peer_for_fetching_again() -> None:
    peers = _directory([])
    peers.on_announcement(_announce(9000, instance=os.urandom(8)), ("127.0.0.1", 40000))
    peer = peers._table[("127.0.0.1", 9000)]
    peer.dirty = False
    peers.refresh(("127.0.0.1", 9001))  # unknown: nothing happens
    assert not peer.dirty
    peers.refresh(("127.0.0.1", 9000))
    assert peer.dirty
