"""Discovery and index exchange between real nodes on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from loopback import make_tree, multicast_sender

import mfsync.engine.dialer as dialer_module
from mfsync.crypto.keys import Identity
from mfsync.engine.peers import MAX_ENDPOINTS_PER_ADDRESS
from mfsync.engine.status import PeerState
from mfsync.net.discovery import DEFAULT_GROUP as GROUP  # the group the loopback nodes use
from mfsync.net.server import PortInUse
from mfsync.protocol.announce import (
    MAX_DATAGRAM,
    Announcement,
    Flags,
    Kind,
    encode_announcement,
)
from waiting import wait_for


def _paths(node) -> set[str]:
    return {f.path for f in node.status.files}


async def test_fetcher_sees_every_sharer(make_node, tmp_path: Path) -> None:
    a_dir = make_tree(tmp_path / "a", {"x.txt": b"hello", "sub/y.txt": b"world", "same": b"s"})
    b_dir = make_tree(tmp_path / "b", {"z.txt": b"bee", "Müsli/ä.txt": b"umlaut", "same": b"s"})
    a = await make_node(share_dir=a_dir, name="alpha")
    b = await make_node(share_dir=b_dir, name="beta")
    f = await make_node(wants=True)
    want = {"x.txt", "sub/y.txt", "same", "z.txt", "Müsli/ä.txt"}
    await wait_for(lambda: _paths(f) == want)
    same = next(x for x in f.status.files if x.path == "same")
    assert {h.key for h in same.hosts} == {a.identity.public_key, b.identity.public_key}
    peers = {p.name: p for p in f.status.peers}
    assert peers["alpha"].key == a.identity.public_key
    assert peers["alpha"].state is PeerState.CONNECTED
    assert peers["alpha"].files == 3
    assert peers["beta"].port == b.server.port


async def test_new_files_are_announced_and_fetched(make_node, tmp_path: Path) -> None:
    a_dir = make_tree(tmp_path / "a", {"one": b"1"})
    a = await make_node(share_dir=a_dir)
    f = await make_node(wants=True)
    await wait_for(lambda: _paths(f) == {"one"})
    (a_dir / "two").write_bytes(b"2")
    await a.rescan()
    await wait_for(lambda: _paths(f) == {"one", "two"}, timeout=5)


async def test_peer_expires_after_three_missed_beats(make_node, tmp_path: Path) -> None:
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"one": b"1"}))
    f = await make_node(wants=True)
    await wait_for(lambda: _paths(f) == {"one"})
    await a.stop()
    # beat is 0.5 s: gone after 1.5 s of silence, well within the bound.
    await wait_for(lambda: not f.status.peers, timeout=6)
    assert not f.status.files


async def test_announcement_key_is_only_a_hint(make_node, tmp_path: Path, udp_port: int) -> None:
    # A serves but does not announce: the forged datagram is all F hears about that endpoint.
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"one": b"1"}), discovery=False)
    f = await make_node(wants=True)
    liar = Identity.generate()
    spoof = Announcement(Kind.ANNOUNCE, Flags.SHARES, os.urandom(8), liar.public_key,
                         a.server.port, 500, 99, "spoof")
    with multicast_sender() as sock:
        sock.sendto(encode_announcement(spoof), (GROUP, udp_port))
    await wait_for(lambda: _paths(f) == {"one"})
    peer = next(p for p in f.status.peers if p.port == a.server.port)
    # The handshake, not the datagram, says who answers at that endpoint.
    assert peer.announced_key == liar.public_key
    assert peer.key == a.identity.public_key
    assert {h.key for h in f.status.files[0].hosts} == {a.identity.public_key}


async def test_bad_datagrams_are_dropped_and_counted(make_node, tmp_path: Path,
                                                     udp_port: int) -> None:
    f = await make_node(wants=True)
    good = Announcement(Kind.ANNOUNCE, Flags.SHARES, os.urandom(8), os.urandom(32), 1, 500, 1, "x")
    data = encode_announcement(good)
    with multicast_sender() as sock:
        sock.sendto(b"\x00" * (MAX_DATAGRAM + 1), (GROUP, udp_port))
        sock.sendto(b"MFSA garbage", (GROUP, udp_port))
        sock.sendto(data[:-5], (GROUP, udp_port))
        sock.sendto(b"XXXX" + data[4:], (GROUP, udp_port))
    stats = f.discovery.stats
    await wait_for(lambda: stats.dropped_oversized == 1 and stats.dropped_malformed == 3)
    assert stats.dropped_self >= 1  # our own start-up queries came back and were recognised


async def test_announcement_flood_is_rate_limited(make_node, tmp_path: Path, udp_port: int,
                                                   monkeypatch) -> None:
    attempts: list[tuple[str, int]] = []
    real_open = dialer_module.open_channel

    async def counting_open(host, port, *args, **kwargs):
        attempts.append((host, port))
        return await real_open(host, port, *args, **kwargs)

    monkeypatch.setattr(dialer_module, "open_channel", counting_open)
    f = await make_node(wants=True)
    with multicast_sender() as sock:
        for port in range(20000, 20200):  # 200 endpoints on one address, nothing listening
            msg = Announcement(Kind.ANNOUNCE, Flags.SHARES, os.urandom(8), os.urandom(32),
                               port, 500, 1, "flood")
            sock.sendto(encode_announcement(msg), (GROUP, udp_port))
    # One address holds at most MAX_ENDPOINTS_PER_ADDRESS of them (the latest heard, but for
    # those whose fetch is under way).
    await wait_for(lambda: len(f.status.peers) == MAX_ENDPOINTS_PER_ADDRESS
                   and 20199 in {p.port for p in f.status.peers})
    await asyncio.sleep(1.0)
    # A burst of 4, then about one a second: nowhere near one connection per datagram.
    assert 4 <= len(attempts) <= 10, attempts


async def test_static_peer_without_multicast_is_remembered(make_node, tmp_path: Path) -> None:
    a = await make_node(share_dir=make_tree(tmp_path / "a", {"one": b"1"}))
    known = tmp_path / "known_hosts.json"
    f = await make_node(discovery=False, static_peers=(("127.0.0.1", a.server.port),),
                        known_hosts_path=known)
    await wait_for(lambda: _paths(f) == {"one"})
    # saved (off the loop) just after the index is in: wait for it rather than race it
    await wait_for(known.exists, 5, "known_hosts.json to be written")
    await f.stop()
    g = await make_node(discovery=False, known_hosts_path=known)
    await wait_for(lambda: _paths(g) == {"one"})


async def test_port_fallback_and_explicit_port_in_use(make_node, tmp_path: Path) -> None:
    share = make_tree(tmp_path / "a", {"one": b"1"})
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        a = await make_node(share_dir=share, tcp_port=taken)
        assert a.server.port != taken
        b = await make_node(share_dir=share, tcp_port=taken, tcp_port_explicit=True, start=False)
        try:
            await b.start()
        except PortInUse as exc:
            assert str(taken) in str(exc)
        else:
            raise AssertionError("an explicit port in use must be an error")


async def test_a_burst_of_changes_is_announced_twice_not_per_change(make_node,
                                                                    tmp_path: Path) -> None:
    sharer = await make_node(share_dir=make_tree(tmp_path / "share", {"a.txt": b"a"}))
    watcher = await make_node(wants=True)
    await wait_for(lambda: "a.txt" in _paths(watcher))
    seen: list[int] = []
    original = watcher._peers.on_announcement

    def spy(msg: Announcement, addr: tuple[str, int]) -> None:
        if msg.instance_id == sharer.instance_id:
            seen.append(msg.generation)
        original(msg, addr)

    watcher.discovery._on_announcement = spy
    discovery = sharer.discovery
    await asyncio.sleep(0.3)  # past the last change announcement of the start
    base = sharer.generation
    for step in range(1, 21):  # twenty changes of what it shares, in quick succession
        discovery.update(generation=base + step)
        await asyncio.sleep(0.005)
    await wait_for(lambda: base + 20 in seen)
    await asyncio.sleep(0.5)
    changes = [g for g in seen if g > base]
    # the first change at once, the rest folded into one more (then beats repeat the last);
    # never one announcement per change
    assert changes[0] == base + 1 and changes[-1] == base + 20
    assert len(set(changes)) <= 3, changes
