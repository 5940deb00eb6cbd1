"""The network's folders on loopback: a node keeps each host's folder list and one index per
folder it lists, fetches a folder's index again only when its generation moved, polls hosts
that list a folder without ANNOUNCED, and keys the network's offer by (folder, path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from loopback import make_tree

from mfsync.crypto.keys import Identity
from mfsync.engine import index_fetches
from mfsync.engine.folder_view import LocalFolderView, admit_everyone
from mfsync.engine.node import Node
from mfsync.engine.serve import FileServer
from mfsync.engine.status import PeerState
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.net.channel import SecureChannel
from mfsync.net.server import Server
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import (
    FolderFlags,
    FolderInfo,
    FolderList,
    FoldersRequest,
    Hello,
    IndexRequest,
    Message,
)
from mfsync.store.shareset import ShareSet
from waiting import wait_for

NOTES = FolderId.parse("k3x9-pq2m")
GHOST = FolderId.parse("zzzz-zzzz")


@dataclass
class Folders:
    """A sharer node whose file server serves the folders the test says, and what it was
    asked."""

    node: Node
    notes: ShareSet
    notes_generation: int = 1
    notes_announced: bool = True
    asked: list[tuple[str, FolderId | None]] = field(default_factory=list)

    def index_requests(self, folder: FolderId) -> int:
        return self.asked.count(("IndexRequest", folder))


@pytest.fixture
async def folders(make_node: Any, tmp_path: Path) -> AsyncIterator[Folders]:
    sharer: Node = await make_node(start=False)
    await sharer.add_share(make_tree(tmp_path / "public", {"a.txt": b"default a",
                                                           "only.txt": b"only here"}))
    notes = ShareSet(make_tree(tmp_path / "notes", {"a.txt": b"notes a, other bytes",
                                                    "sub/n.txt": b"note"}))
    await notes.rescan()
    state = Folders(sharer, notes)

    def views() -> Sequence[LocalFolderView]:
        return (
            LocalFolderView(DEFAULT_FOLDER, "default", tuple(sharer.shares), admit_everyone,
                            sharer.generation),
            LocalFolderView(NOTES, "Notes", (notes,), admit_everyone, state.notes_generation,
                            sync=True, announced=state.notes_announced),
        )

    server: FileServer = sharer._files
    server._folders = views
    answer = server.answer

    async def counting(channel: SecureChannel, message: Message) -> None:
        folder = message.folder if isinstance(message, IndexRequest) else None
        state.asked.append((type(message).__name__, folder))
        await answer(channel, message)

    server.answer = counting  # type: ignore[method-assign]
    await sharer.start()
    yield state
    notes.close()


async def test_each_folder_is_kept_apart_and_listed(make_node: Any, folders: Folders,
                                                    tmp_path: Path) -> None:
    fetcher: Node = await make_node()
    await wait_for(lambda: len(fetcher.status.files) == 4, detail=lambda: fetcher.status.files)
    files = fetcher.status.files
    # Sorted by folder (the default folder first), then path: a.txt is two entries.
    assert [(f.folder, f.path) for f in files] == [
        (DEFAULT_FOLDER, "a.txt"), (DEFAULT_FOLDER, "only.txt"),
        (NOTES, "a.txt"), (NOTES, "sub/n.txt")]
    assert files[0].content_id != files[2].content_id
    assert [f.path for f in fetcher.files_for("a.txt")] == ["a.txt"]
    assert fetcher.files_for("a.txt")[0].folder == DEFAULT_FOLDER
    assert fetcher.files_for("a.txt", NOTES)[0].content_id == files[2].content_id
    assert fetcher.files_for("sub/n.txt") == []  # not in the default folder
    assert fetcher.status.peers[0].files == 4

    remote = {f.id: f for f in fetcher.status.remote_folders}
    assert list(remote) == [DEFAULT_FOLDER, NOTES]
    notes = remote[NOTES]
    assert (notes.label, notes.files, notes.size, notes.sync) == ("Notes", 2, 24, True)
    assert [h.port for h in notes.hosts] == [folders.node.server.port]  # type: ignore[union-attr]
    assert not remote[DEFAULT_FOLDER].sync

    # A download names its folder: the same name from each folder, each its own bytes.
    downloader = Downloader(fetcher, concurrency=2)
    try:
        for folder, into in ((DEFAULT_FOLDER, "d"), (NOTES, "n")):
            (tmp_path / into).mkdir()
            downloader.add(DownloadJob("a.txt", (tmp_path / into).resolve(), folder=folder))
        await downloader.join()
    finally:
        await downloader.stop()
    assert [r.state for r in downloader.results] == [TransferState.DONE] * 2
    assert (tmp_path / "d" / "a.txt").read_bytes() == b"default a"
    assert (tmp_path / "n" / "a.txt").read_bytes() == b"notes a, other bytes"


async def test_only_a_folder_whose_generation_moved_is_fetched_again(
        make_node: Any, folders: Folders, tmp_path: Path) -> None:
    fetcher: Node = await make_node()
    await wait_for(lambda: len(fetcher.status.files) == 4)
    assert folders.index_requests(NOTES) == folders.index_requests(DEFAULT_FOLDER) == 1
    # The default folder changes (and with it the announced generation): only its index is
    # fetched again.
    make_tree(tmp_path / "public", {"new.txt": b"new"})
    await folders.node.rescan()
    await wait_for(lambda: len(fetcher.status.files) == 5)
    assert folders.index_requests(DEFAULT_FOLDER) == 2
    assert folders.index_requests(NOTES) == 1


async def test_a_folder_not_announced_is_polled(make_node: Any, folders: Folders,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_fetches, "FOLDER_POLL", 0.3)
    folders.notes_announced = False
    fetcher: Node = await make_node()
    await wait_for(lambda: len(fetcher.status.files) == 4)
    # Notes changes; the announced generation does not (its changes do not count there).
    make_tree(folders.notes.root, {"later.txt": b"later"})
    await folders.notes.rescan()
    folders.notes_generation += 1
    await wait_for(lambda: any(f.path == "later.txt" and f.folder == NOTES
                               for f in fetcher.status.files))
    assert folders.index_requests(DEFAULT_FOLDER) == 1  # its generation did not move


async def test_an_announced_folder_is_not_polled(make_node: Any, folders: Folders,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_fetches, "FOLDER_POLL", 0.1)
    fetcher: Node = await make_node()
    await wait_for(lambda: len(fetcher.status.files) == 4)
    asked = folders.asked.count(("FoldersRequest", None))
    polled = [p for p in fetcher._peers._table.values()]
    assert [p.next_folder_poll for p in polled] == [None]
    await asyncio.sleep(0.6)  # six polls, were it polled
    assert fetcher.status.peers[0].state is PeerState.CONNECTED
    assert folders.asked.count(("FoldersRequest", None)) == asked


async def test_a_folder_listed_then_refused_is_left_out(make_node: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that lists a folder it then refuses (NO_SUCH_FOLDER: removed, or no longer for
    us, in between) stays connected; its other folders are offered, the refused one is not."""
    public = ShareSet(make_tree(tmp_path / "public", {"p.txt": b"public"}))
    await public.rescan()
    files = FileServer(lambda: (LocalFolderView(DEFAULT_FOLDER, "default", (public,),
                                                admit_everyone, 3),), lambda: None)

    async def handler(channel: SecureChannel, message: Message) -> None:
        if isinstance(message, FoldersRequest):
            listed = FolderList((
                FolderInfo(GHOST, "Ghost", FolderFlags.ANNOUNCED, 7, 1, 1),
                FolderInfo(DEFAULT_FOLDER, "default", FolderFlags.ANNOUNCED, 3, 1, 6)))
            await channel.send(listed)
            return
        await files.answer(channel, message)

    srv = Server(Identity.generate(), hello=Hello(name="liar"), authorize=lambda _key: True,
                 handler=handler, port=0, host="127.0.0.1")
    await srv.start()
    try:
        monkeypatch.setattr(index_fetches, "STATIC_POLL", 0.2)
        fetcher: Node = await make_node(discovery=False, static_peers=(("127.0.0.1", srv.port),))
        await wait_for(lambda: fetcher.status.peers
                       and fetcher.status.peers[0].state is PeerState.CONNECTED
                       and fetcher.status.files)
        assert [(f.folder, f.path) for f in fetcher.status.files] == [(DEFAULT_FOLDER, "p.txt")]
        assert [f.id for f in fetcher.status.remote_folders] == [DEFAULT_FOLDER]
    finally:
        await srv.stop()
        public.close()
