"""The file server's folders on loopback TCP: a peer is told only of the folders it may see,
and a request naming a folder it may not see is answered exactly as one naming a folder that
does not exist (NO_SUCH_FOLDER, the same bytes), and logged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from loopback import make_tree

from mfsync.crypto.keys import Identity, short_key
from mfsync.engine import index_fetches, serve
from mfsync.engine.folder_view import LocalFolderView, admit_everyone
from mfsync.engine.serve import FileServer
from mfsync.engine.status import PeerState
from mfsync.net.channel import PeerRefused, SecureChannel, open_channel
from mfsync.net.client import request_blocks, request_folders, request_index, stream_range
from mfsync.net.server import Server
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import ErrorCode, FolderFlags, Hello
from mfsync.store.shareset import ShareSet
from waiting import wait_for

SECRET = FolderId.parse("k3x9-pq2m")
NOWHERE = FolderId.parse("zzzz-zzzz")
FRIEND = Identity.generate()
STRANGER = Identity.generate()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    public = ShareSet(make_tree(tmp_path / "public", {"a.txt": b"hello"}))
    secret = ShareSet(make_tree(tmp_path / "secret", {"s.txt": b"secret!"}))
    for share in (public, secret):
        await share.rescan()

    def views() -> Sequence[LocalFolderView]:
        return (
            LocalFolderView(DEFAULT_FOLDER, "default", (public,), admit_everyone, 4),
            LocalFolderView(SECRET, "Notes", (secret,), lambda key: key == FRIEND.public_key, 9,
                            sync=True, announced=False),
        )

    files = FileServer(views, lambda: None)
    srv = Server(Identity.generate(), hello=Hello(name="folders"), authorize=lambda _key: True,
                 handler=files.answer, port=0, host="127.0.0.1")
    await srv.start()
    yield srv
    await srv.stop()
    for share in (public, secret):
        share.close()


async def _open(server: Server, identity: Identity) -> SecureChannel:
    return await open_channel("127.0.0.1", server.port, identity, hello=Hello(name="client"),
                              authorize=lambda _key: True, timeout=5)


async def _refusal(channel: SecureChannel, kind: str, folder: FolderId,
                   cid: bytes) -> tuple[ErrorCode, str]:
    with pytest.raises(PeerRefused) as refused:
        if kind == "index":
            await request_index(channel, folder=folder)
        elif kind == "blocks":
            await request_blocks(channel, "s.txt", cid, 7, folder=folder)
        else:
            async for _ in stream_range(channel, "s.txt", cid, 0, 7, folder=folder):
                pass
    return refused.value.code, refused.value.text


async def test_a_peer_sees_only_its_folders_and_learns_nothing_of_the_others(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    friend = await _open(server, FRIEND)
    try:
        listed = await request_folders(friend)
        assert [(f.id, f.label) for f in listed.folders] == [(DEFAULT_FOLDER, "default"),
                                                             (SECRET, "Notes")]
        notes = listed.get(SECRET)
        assert notes is not None
        assert (notes.flags, notes.generation, notes.files, notes.size) == (
            FolderFlags.SYNC, 9, 1, 7)
        generation, entries = await request_index(friend, folder=SECRET)
        assert (generation, [e.path for e in entries]) == (9, ["s.txt"])
        cid = entries[0].content_id
        data = [d.payload async for d in stream_range(friend, "s.txt", cid, 0, 7, folder=SECRET)]
        assert b"".join(data) == b"secret!"
    finally:
        await friend.close()

    caplog.set_level(logging.INFO, logger="mfsync.serve")
    stranger = await _open(server, STRANGER)
    try:
        listed = await request_folders(stranger)
        assert [f.id for f in listed.folders] == [DEFAULT_FOLDER]
        for kind in ("index", "blocks", "get"):
            hidden = await _refusal(stranger, kind, SECRET, cid)
            missing = await _refusal(stranger, kind, NOWHERE, cid)
            assert hidden == missing == (ErrorCode.NO_SUCH_FOLDER, "no such folder"), kind
        # The connection goes on: the folder it may see is served.
        _, entries = await request_index(stranger)
        assert [e.path for e in entries] == ["a.txt"]
    finally:
        await stranger.close()
    said = [r.getMessage() for r in caplog.records if "folder" in r.getMessage()]
    assert len(said) == 1, said  # rate-limited: six refusals, one line
    assert f"key {short_key(STRANGER.public_key)}" in said[0]
    assert str(SECRET) in said[0]


async def test_refusals_are_said_again_after_the_interval(
        server: Server, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "FOLDER_REFUSAL_LOG_INTERVAL", 0.0)
    caplog.set_level(logging.INFO, logger="mfsync.serve")
    stranger = await _open(server, STRANGER)
    try:
        for folder in (SECRET, NOWHERE):
            await _refusal(stranger, "index", folder, bytes(32))
    finally:
        await stranger.close()
    said = [r.getMessage() for r in caplog.records if "a request for folder" in r.getMessage()]
    assert [str(SECRET) in said[0], str(NOWHERE) in said[1]] == [True, True]


async def test_a_node_fetches_the_index_of_each_folder_listed(
        make_node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's side: the folder list first, then the index of each folder listed (phase
    1 took the default folder's only); a host listing nothing offers nothing."""
    hidden = ShareSet(make_tree(tmp_path / "hidden", {"h.txt": b"hidden"}))
    await hidden.rescan()
    listed: list[LocalFolderView] = []
    asked: list[str] = []
    files = FileServer(lambda: listed, lambda: None)

    async def handler(channel: SecureChannel, message: object) -> None:
        asked.append(type(message).__name__)
        await files.answer(channel, message)  # type: ignore[arg-type]

    srv = Server(Identity.generate(), hello=Hello(name="folders"), authorize=lambda _key: True,
                 handler=handler, port=0, host="127.0.0.1")
    await srv.start()
    try:
        listed.append(LocalFolderView(SECRET, "Notes", (hidden,), admit_everyone, 1))
        monkeypatch.setattr(index_fetches, "STATIC_POLL", 0.2)
        fetcher = await make_node(discovery=False, static_peers=(("127.0.0.1", srv.port),))
        await wait_for(lambda: [(f.folder, f.path) for f in fetcher.status.files]
                       == [(SECRET, "h.txt")])
        assert fetcher.status.peers[0].state is PeerState.CONNECTED
        assert fetcher.status.peers[0].files == 1 and "FoldersRequest" in asked
        listed.insert(0, LocalFolderView(DEFAULT_FOLDER, "default", (hidden,), admit_everyone, 2))
        await wait_for(lambda: [(f.folder, f.path) for f in fetcher.status.files]
                       == [(DEFAULT_FOLDER, "h.txt"), (SECRET, "h.txt")])
        listed.clear()
        await wait_for(lambda: fetcher.status.files == ())
        assert fetcher.status.peers[0].files == 0
        assert fetcher.status.peers[0].state is PeerState.CONNECTED
    finally:
        await srv.stop()
        hidden.close()
