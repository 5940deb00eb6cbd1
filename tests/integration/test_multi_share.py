"""Several shared folders on one node, added and removed while it runs, seen by real peers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from loopback import make_tree, read_tree

from mfsync.engine.node import Node
from mfsync.engine.status import PeerState
from mfsync.engine.sync import Syncer
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.protocol.announce import Flags
from waiting import wait_for

JOIN_TIMEOUT = 30.0


def _offered(node: Node) -> dict[str, bytes]:
    """Path -> content id of every file ``node`` sees on the network (one content each here)."""
    return {f.path: f.content_id for f in node.status.files}


def _cid(node: Node, path: str) -> bytes:
    for share in node.shares:
        local = share.get(path)
        if local is not None:
            return local.hashes.content_id
    raise AssertionError(f"{path} is not shared")


async def test_folders_added_and_removed_at_runtime(make_node, tmp_path: Path) -> None:
    one = make_tree(tmp_path / "one", {"a.txt": b"from one", "same.txt": b"one's copy"})
    two = make_tree(tmp_path / "two", {"b/c.txt": b"from two", "same.txt": b"two's copy"})
    node = await make_node(serve=True)
    assert node.server is not None and node.share is None and node.shares == ()
    assert node.discovery is not None and node.discovery.announcement.flags & Flags.SHARES
    peer = await make_node(wants=True)
    await wait_for(lambda: any(p.state is PeerState.CONNECTED and p.files == 0
                               for p in peer.status.peers))
    generations = [node.generation]

    first = await node.add_share(one)
    generations.append(node.generation)
    assert node.share is first and node.shares == (first,)
    assert await node.add_share(one) is first  # the same folder twice is one share
    await wait_for(lambda: set(_offered(peer)) == {"a.txt", "same.txt"})

    second = await node.add_share(two)
    generations.append(node.generation)
    assert node.shares == (first, second)
    await wait_for(lambda: set(_offered(peer)) == {"a.txt", "same.txt", "b/c.txt"})
    # A path in both folders is offered from the first.
    assert _offered(peer)["same.txt"] == first.get("same.txt").hashes.content_id
    assert node.status.local_files == 3
    assert [(f.path, f.files, f.scanning, f.error) for f in node.status.folders] == [
        (first.root, 2, False, ""), (second.root, 2, False, "")]

    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(peer)
    try:
        for path in ("same.txt", "b/c.txt"):
            assert downloader.add(DownloadJob(path, dest))
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
    finally:
        await downloader.stop()
    assert read_tree(dest) == {"same.txt": b"one's copy", "b/c.txt": b"from two"}

    # A file written into the second folder is seen (each folder has its own watcher).
    (two / "new.txt").write_bytes(b"new in two")
    await wait_for(lambda: "new.txt" in _offered(peer), 10.0)
    generations.append(node.generation)

    assert await node.remove_share(one)
    generations.append(node.generation)
    assert not await node.remove_share(one)
    assert node.shares == (second,) and node.share is second
    await wait_for(lambda: set(_offered(peer)) == {"same.txt", "b/c.txt", "new.txt"})
    await wait_for(lambda: _offered(peer)["same.txt"] == second.get("same.txt").hashes.content_id)
    assert [f.path for f in node.status.folders] == [second.root]
    assert node.status.local_files == 3

    assert await node.remove_share(two)
    generations.append(node.generation)
    await wait_for(lambda: not peer.status.files)
    assert node.status.local_files == 0 and node.status.folders == ()
    assert generations == sorted(set(generations)), generations  # every change is a new one


async def test_serving_starts_when_a_first_folder_is_added(make_node, tmp_path: Path) -> None:
    node = await make_node(wants=True)  # serve=None and nothing shared: no server yet
    assert node.server is None
    peer = await make_node(wants=True)
    folder = make_tree(tmp_path / "late", {"late.txt": b"late"})
    share = await node.add_share(folder)
    assert node.server is not None
    assert node.discovery is not None
    assert node.discovery.announcement.flags & Flags.SHARES
    assert node.discovery.announcement.tcp_port == node.server.port
    cid = share.get("late.txt").hashes.content_id
    await wait_for(lambda: _offered(peer).get("late.txt") == cid)


async def test_share_dirs_option_and_a_missing_folder(make_node, tmp_path: Path) -> None:
    one = make_tree(tmp_path / "one", {"a.txt": b"a"})
    missing = tmp_path / "missing"
    node = await make_node(share_dir=one, share_dirs=(missing, one))
    assert [s.root for s in node.shares] == [one, missing]
    folders = node.status.folders
    assert folders[0].error == "" and folders[0].files == 1
    assert folders[1].path == missing and "does not exist" in folders[1].error
    # It comes back: the next scan takes it in and clears the error.
    make_tree(missing, {"m.txt": b"m"})
    await node.rescan()
    await wait_for(lambda: [(f.files, f.error) for f in node.status.folders] == [(1, ""), (1, "")])
    assert node.status.local_files == 2
    peer = await make_node(wants=True)
    await wait_for(lambda: set(_offered(peer)) == {"a.txt", "m.txt"})
    # A folder that goes away (say, an unmounted disk) is not offered while it is gone, and
    # its files are not marked deleted.
    before = node.generation
    for path in missing.iterdir():
        path.unlink()
    missing.rmdir()
    await node.rescan()
    await wait_for(lambda: node.status.folders[1].error != "")
    assert node.generation > before
    await wait_for(lambda: set(_offered(peer)) == {"a.txt"})
    assert node.status.local_files == 1
    record = node.shares[1].record("m.txt")
    assert record is not None and not record.deleted
    assert node.shares[1].get("m.txt") is not None


async def test_syncer_fills_the_chosen_folder(make_node, tmp_path: Path) -> None:
    origin = make_tree(tmp_path / "origin",
                       {"doc.txt": b"the document", "pic.bin": os.urandom(5000)})
    await make_node(share_dir=origin)
    shared_only = make_tree(tmp_path / "shared", {"mine.txt": b"only shared"})
    synced = tmp_path / "synced"
    synced.mkdir()
    node = await make_node(share_dir=shared_only, wants=True)
    target = await node.add_share(synced)
    syncer = Syncer(node, share=target)
    assert syncer.share is target
    syncer.start()
    try:
        await wait_for(lambda: read_tree(synced) == read_tree(origin), 20.0)
        assert read_tree(shared_only) == {"mine.txt": b"only shared"}
        await wait_for(lambda: set(target.files) == {"doc.txt", "pic.bin"})
        assert _cid(node, "doc.txt") == target.get("doc.txt").hashes.content_id
        assert all(t.state is TransferState.DONE for t in syncer.downloader.status.transfers)
    finally:
        await syncer.stop()
