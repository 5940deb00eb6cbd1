"""Index answers served from a cache per folder generation, and deltas (engine/index_cache.py,
PROTOCOL.md 3.3/3.4): a hidden folder is never answered from a cache entry made for a peer that
may see it, an audience change applies to the next request, a delta carries only what changed
and what left, a generation this process never served gets the whole index, and a client holds
a server to the delta rules (exchange table)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from mfsync.engine.folder_view import LocalFolderView
from mfsync.engine.serve import FileServer
from mfsync.net.channel import SecureChannel
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.exchange import Exchange
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import (
    ErrorCode,
    ErrorMessage,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Message,
    chunk_index,
    decode_message,
    encode_message,
)
from mfsync.protocol.session import Role
from mfsync.store.shareset import ShareSet

NOTES = FolderId.parse("k3x9-pq2m")
ALICE = b"\x0a" * 32
BOB = b"\x0b" * 32


class Recorder:
    """A channel that records what is sent."""

    def __init__(self, key: bytes) -> None:
        self.sent: list[Message] = []
        self.peer_address = ("192.0.2.1", 1)
        self.remote_key = key

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def _ask(server: FileServer, key: bytes, since: int = 0) -> list[Message]:
    recorder = Recorder(key)
    await server.answer(cast(SecureChannel, cast(Any, recorder)), IndexRequest(since, NOTES))
    return recorder.sent


def _old(path: Path) -> None:
    past = time.time() - 3600
    os.utime(path, (past, past))


@pytest.fixture
async def share(tmp_path: Path) -> ShareSet:
    for i in range(20):
        (tmp_path / f"f{i:02}.txt").write_bytes(b"x" * i)
    share = ShareSet(tmp_path)
    await share.rescan()
    return share


def _server(share: ShareSet, audience: set[bytes], bumps: list[int]) -> FileServer:
    def views() -> Sequence[LocalFolderView]:
        return [LocalFolderView(NOTES, "Notes", (share,), lambda key: key in audience,
                                share.generation + bumps[0])]

    return FileServer(views, lambda: None)


async def test_a_hidden_folder_is_never_answered_from_the_cache(share: ShareSet) -> None:
    audience = {ALICE}
    server = _server(share, audience, [0])
    seen = await _ask(server, ALICE)
    assert isinstance(seen[-1], IndexChunk) and len(seen[-1].read_entries()) == 20
    assert await _ask(server, ALICE) == seen  # (from the cache: the same chunks)
    no_such = [ErrorMessage(ErrorCode.NO_SUCH_FOLDER, "no such folder")]
    assert await _ask(server, BOB) == no_such
    assert await _ask(server, BOB, since=seen[-1].generation) == no_such
    audience.discard(ALICE)  # the audience changes: the next request is refused at once
    assert await _ask(server, ALICE) == no_such


async def test_the_whole_index_is_encoded_once_per_generation(
    share: ShareSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server(share, {ALICE}, [0])
    built: list[int] = []
    real = IndexChunk.with_wire_body

    def counting(chunk: IndexChunk) -> IndexChunk:
        built.append(chunk.generation)
        return real(chunk)

    monkeypatch.setattr(IndexChunk, "with_wire_body", counting)
    for _ in range(3):
        await _ask(server, ALICE)
    assert built == [share.generation]
    (share.root / "new.txt").write_bytes(b"n")
    _old(share.root / "new.txt")
    await share.rescan()
    sent = await _ask(server, ALICE)
    assert built == [1, 2]
    assert "new.txt" in {e.path for e in cast(IndexChunk, sent[-1]).read_entries()}


async def test_a_delta_carries_what_changed_and_what_left(share: ShareSet) -> None:
    server = _server(share, {ALICE}, [0])
    first = cast(IndexChunk, (await _ask(server, ALICE))[-1])
    root = share.root
    (root / "f00.txt").unlink()
    (root / "f01.txt").write_bytes(b"changed")
    (root / "new.txt").write_bytes(b"new")
    for name in ("f01.txt", "new.txt"):
        _old(root / name)
    await share.rescan()
    sent = await _ask(server, ALICE, since=first.generation)
    (delta,) = cast(list[IndexChunk], sent)
    assert delta.delta and delta.last and delta.generation == share.generation
    assert [e.path for e in delta.read_entries()] == ["f01.txt", "new.txt"]
    assert delta.removed == ("f00.txt",)
    # Nothing since: an empty delta. From the newest generation again: the same.
    again = cast(list[IndexChunk], await _ask(server, ALICE, since=delta.generation))
    assert again == [IndexChunk(delta.generation, (), True, delta=True)]


@pytest.mark.parametrize("since", [1_000, 7])
async def test_a_generation_never_served_gets_the_whole_index(share: ShareSet,
                                                              since: int) -> None:
    # A restarted host (or a forged request) names a generation this process did not serve.
    server = _server(share, {ALICE}, [0])
    (chunk,) = cast(list[IndexChunk], await _ask(server, ALICE, since=since))
    assert not chunk.delta and len(chunk.read_entries()) == 20


async def test_an_audience_or_trust_change_gets_the_whole_index(share: ShareSet) -> None:
    bumps = [0]
    server = _server(share, {ALICE}, bumps)
    first = cast(IndexChunk, (await _ask(server, ALICE))[-1])
    bumps[0] += 1  # the folder's audience changed (a count besides its roots')
    (chunk,) = cast(list[IndexChunk], await _ask(server, ALICE, since=first.generation))
    assert not chunk.delta and len(chunk.read_entries()) == 20


def test_delta_chunks_round_trip_and_split() -> None:
    entries = [IndexEntry(f"d/{i:05}", i, i, bytes([i % 256]) * 32) for i in range(20_000)]
    removed = [f"gone/{i:06}" for i in range(30_000)]
    chunks = list(chunk_index(entries, 9, removed=removed))
    assert all(c.delta for c in chunks) and chunks[-1].last
    assert sum(len(c.entries) for c in chunks) == 20_000
    assert [p for c in chunks for p in c.removed] == removed
    for chunk in chunks:
        assert chunk.entries or chunk.removed
        assert decode_message(encode_message(chunk)) == chunk
        assert encode_message(chunk.with_wire_body()) == encode_message(chunk)


def test_the_documented_delta_example() -> None:
    # PROTOCOL.md 3.4: a delta at generation 7, the last chunk, no entries, "a.txt" and "b"
    # removed.
    raw = bytes.fromhex("03 0000000000000007 03 00000000 00000007 612e747874 00 62")
    chunk = IndexChunk(7, (), True, delta=True, removed_paths="a.txt\0b")
    assert decode_message(raw) == chunk and chunk.removed == ("a.txt", "b")
    assert encode_message(chunk) == raw


def _client(since: int) -> Exchange:
    exchange = Exchange(Role.CLIENT)
    exchange.send(IndexRequest(since, NOTES))
    return exchange


def test_a_delta_to_a_request_from_zero_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="delta"):
        _client(0).receive(IndexChunk(5, (), True, delta=True, removed_paths="x"))


def test_a_delta_older_than_asked_or_mixed_with_a_whole_index_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="older"):
        _client(5).receive(IndexChunk(4, (), True, delta=True))
    entry = IndexEntry("a", 1, 1, b"\x01" * 32)
    client = _client(5)
    client.receive(IndexChunk(6, (entry,), False, delta=True))
    with pytest.raises(RemoteProtocolError, match="differ"):
        client.receive(IndexChunk(6, (), True))
    client = _client(5)
    client.receive(IndexChunk(6, (entry,), False, delta=True))
    with pytest.raises(RemoteProtocolError, match="differ"):
        client.receive(IndexChunk(7, (), True, delta=True))


@pytest.mark.parametrize("removed", [b"\x00", b"a\x00", b"\x00a", b"a\x00\x00b",
                                     b"x" * 4097, b"\xff"])
def test_malformed_removed_paths_are_refused(removed: bytes) -> None:
    raw = bytes.fromhex("03 0000000000000007 03 00000000") + len(removed).to_bytes(4, "big")
    with pytest.raises(RemoteProtocolError):
        decode_message(raw + removed)


def test_a_delta_is_not_an_empty_chunk_when_it_only_removes() -> None:
    client = _client(5)
    client.receive(IndexChunk(6, (), False, delta=True, removed_paths="gone"))
    client.receive(IndexChunk(6, (), True, delta=True))


def test_a_cached_chunk_keeps_its_bytes_not_its_entries() -> None:
    entries = [IndexEntry(f"d/{i:05}", i, i, bytes([i % 256]) * 32) for i in range(20_000)]
    chunks = list(chunk_index(entries, 9))
    assert len(chunks) > 1
    slim = [chunk.with_wire_body() for chunk in chunks]
    for chunk, cached in zip(chunks, slim, strict=True):
        assert cached.entries == () and cached.count == len(chunk.entries) > 0
        assert cached.with_wire_body() is cached  # (encoded once, whatever it is asked)
        assert encode_message(cached) == encode_message(chunk)
        assert cached.read_entries() == chunk.entries
        assert decode_message(encode_message(cached)) == chunk
    # A server sends them: a chunk with no entries left is not taken for an empty one.
    server = Exchange(Role.SERVER)
    server.receive(IndexRequest(0))
    for cached in slim:
        server.send(cached)


async def test_the_cached_index_of_a_folder_is_its_newest_generation_only(
    share: ShareSet,
) -> None:
    server = _server(share, {ALICE}, [0])
    first = await _ask(server, ALICE)
    (share.root / "new.txt").write_bytes(b"n")
    _old(share.root / "new.txt")
    await share.rescan()
    newer = await _ask(server, ALICE)
    assert newer != first
    whole = server._answers._whole  # (what the cache holds)
    assert [(generation, chunks) for generation, _, chunks in whole.values()] == [
        (share.generation, newer)]
    assert all(chunk.entries == () and chunk.wire_body for chunk in newer)
