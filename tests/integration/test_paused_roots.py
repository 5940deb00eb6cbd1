"""A shared folder whose root is not the folder that was shared (an unmounted drive leaves its
empty mount point) is paused, on real sockets: nothing marked deleted, nothing served or synced
into it, peers keep their files; putting it back resumes. Removing a folder never touches its
files."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from loopback import make_tree, read_tree

from mfsync.engine.node import Node
from mfsync.engine.sync import Syncer
from waiting import wait_for

FILES = {"a.txt": b"alpha", "sub/b.txt": b"beta"}


def _settled(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    make_tree(root, files)
    for rel in files:
        os.utime(root / rel, (time.time() - 60, time.time() - 60))
    return root.resolve()


async def test_an_unmounted_root_is_paused_and_resumes(make_node, tmp_path: Path) -> None:
    roots = [_settled(tmp_path / "a", FILES), _settled(tmp_path / "b", {})]
    nodes: list[Node] = []
    syncers: list[Syncer] = []
    try:
        for root in roots:
            node = await make_node(share_dir=root, wants=True,
                                   state_dir=tmp_path / f"state-{root.name}")
            nodes.append(node)
            syncers.append(Syncer(node))
            syncers[-1].start()
        a, b = nodes
        await wait_for(lambda: read_tree(roots[1]) == FILES, 20)
        generation = a.generation

        roots[0].rename(tmp_path / "away")  # unmounted: the empty mount point is left
        roots[0].mkdir()
        await a.rescan()
        await wait_for(lambda: a.status.folders[0].error, 5)
        paused = f"{roots[0]} is not the folder that was shared (unmounted?)"
        assert a.status.folders[0].error == paused
        assert a.share is not None and a.share.paused and not a.offers(a.share)
        assert all(not a.share.record(p).deleted for p in FILES)  # no tombstone
        assert a.generation > generation  # its files left the offer: peers are told
        await wait_for(lambda: not b.files_for("a.txt"), 10)  # A offers nothing now
        _settled(roots[1], {"c.txt": b"new on B"})  # a new file elsewhere: not fetched
        await b.rescan()
        await asyncio.sleep(1.5)  # time enough for a deletion or a fetch to spread
        assert read_tree(roots[1]) == {**FILES, "c.txt": b"new on B"}  # B keeps its files
        assert read_tree(roots[0]) == {}  # nothing synced into the empty mount point
        assert not syncers[0].downloader.status.transfers

        roots[0].rmdir()
        (tmp_path / "away").rename(roots[0])  # mounted again
        await a.rescan()
        await wait_for(lambda: not a.status.folders[0].error, 5)
        assert a.offers(a.share)
        await wait_for(lambda: b.files_for("a.txt"), 10)
        await wait_for(lambda: read_tree(roots[0]) == read_tree(roots[1]), 20)
        assert read_tree(roots[0]) == {**FILES, "c.txt": b"new on B"}
    finally:
        for syncer in syncers:
            await syncer.stop()


async def test_a_root_with_a_new_identity_that_holds_its_files_is_the_same_folder(
        make_node, tmp_path: Path) -> None:
    # A drive mounted under another device number, a folder restored from a backup: another
    # inode, but its files are there, so it is not paused (the command line has no way to say
    # "this is it" short of removing the index).
    root = _settled(tmp_path / "shared", FILES)
    node = await make_node(share_dir=root, state_dir=tmp_path / "state", discovery=False)
    assert node.share is not None and not node.share.paused
    before = os.stat(root).st_ino
    root.rename(tmp_path / "old")
    root.mkdir()
    for rel, data in FILES.items():  # a copy: the same files in a new folder
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        os.utime(root / rel, (time.time() - 60, time.time() - 60))
    assert os.stat(root).st_ino != before
    await node.rescan()
    assert not node.share.paused and not node.status.folders[0].error
    assert node.offers(node.share)
    assert all(not node.share.record(p).deleted for p in FILES)
    # ... and from now on that folder is the one recorded: emptied by an unmount, it pauses.
    root.rename(tmp_path / "copy-away")
    root.mkdir()
    await node.rescan()
    assert node.share.paused


async def test_removing_a_folder_never_touches_its_files(make_node, tmp_path: Path) -> None:
    root = _settled(tmp_path / "shared", FILES)
    node = await make_node(share_dir=root, state_dir=tmp_path / "state", discovery=False)
    assert await node.remove_share(root)
    assert read_tree(root) == FILES and node.shares == ()
    # Shared again: the same files, none of them marked deleted meanwhile.
    share = await node.add_share(root)
    assert set(share.files) == set(FILES)
    assert all(not record.deleted for p in FILES if (record := share.record(p)))
