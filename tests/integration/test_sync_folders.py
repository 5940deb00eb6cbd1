"""Several sync folders on real sockets (issue 15): one ``Syncer`` per folder, each taking only
its own folder's files, from the hosts its folder admits. A name held by two folders stays two
files: neither folder ever receives the other's version."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from loopback import make_tree, read_tree

from mfsync.audience import Audience
from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.engine.folder_sources import FolderSources
from mfsync.engine.node import Node
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.sync import Syncer
from mfsync.folder_config import FolderConfig
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from waiting import wait_for

NOTES = FolderId.parse("k3x9-pq2m")
FRIEND = HostRef(Identity.generate().public_key, "127.0.0.1", 1)
STRANGER = HostRef(Identity.generate().public_key, "127.0.0.1", 2)


def _settled_tree(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    make_tree(root, files)
    for rel in files:
        os.utime(root / rel, (time.time() - 60, time.time() - 60))
    return root.resolve()


def _remote(path: str, folder: FolderId, *hosts: HostRef) -> RemoteFile:
    return RemoteFile(path, 1, 0, os.urandom(32), hosts, folder=folder)


class _Network:
    """The few things FolderSources asks of a node: a fixed offer."""

    def __init__(self, files: list[RemoteFile]) -> None:
        self.files = files

    def files_for(self, path: str, folder: FolderId = DEFAULT_FOLDER) -> list[RemoteFile]:
        # (every folder's files: FolderSources must do its own filtering)
        return [f for f in self.files if f.path == path]


def test_a_folder_sees_only_its_own_files_from_the_hosts_it_admits() -> None:
    ours = _remote("readme.txt", NOTES, FRIEND, STRANGER)
    theirs = _remote("readme.txt", DEFAULT_FOLDER, FRIEND)
    stranger_only = _remote("s.txt", NOTES, STRANGER)
    network = _Network([ours, theirs, stranger_only])
    sources = FolderSources(network, NOTES, lambda key: key == FRIEND.key)  # type: ignore[arg-type]
    [taken] = sources.files_for("readme.txt", NOTES)
    assert taken.content_id == ours.content_id and taken.hosts == (FRIEND,)
    assert sources.files_for("readme.txt", DEFAULT_FOLDER) == []  # a job of another folder
    assert sources.files_for("s.txt", NOTES) == []  # offered only by a host not admitted
    assert sources.offers(network.files) == [taken]
    everyone = FolderSources(network, DEFAULT_FOLDER, lambda _key: True)  # type: ignore[arg-type]
    assert everyone.offers(network.files) == [theirs]


@pytest.fixture
async def pair(make_node, tmp_path: Path):
    """Two nodes, each with two sync folders: the default folder and Notes (A's everyone's, B's
    A's only), with a ``readme.txt`` of different content in each folder of A; one syncer per
    folder."""
    syncers: list[Syncer] = []
    nodes: list[Node] = []
    roots: dict[str, Path] = {}
    for name, files in (("a", {"readme.txt": b"default of A", "d.txt": b"d"}),
                        ("b", {})):
        roots[f"{name}-default"] = _settled_tree(tmp_path / name / "default", files)
        notes_files = {"readme.txt": b"notes of A", "n.txt": b"n"} if files else {}
        roots[f"{name}-notes"] = _settled_tree(tmp_path / name / "notes", notes_files)
        node = await make_node(wants=True, folders=(
            FolderConfig(roots[f"{name}-default"], FolderMode.SYNC),
            FolderConfig(roots[f"{name}-notes"], FolderMode.SYNC, NOTES, "Notes",
                         Audience.of_keys(frozenset({nodes[0].identity.public_key})))
            if name == "b" else
            FolderConfig(roots[f"{name}-notes"], FolderMode.SYNC, NOTES, "Notes")))
        nodes.append(node)
        for share in node.shares:
            syncer = Syncer(node, share=share)
            syncer.start()
            syncers.append(syncer)
    yield nodes, syncers, roots
    for syncer in syncers:
        await syncer.stop()


async def test_each_sync_folder_has_its_own_syncer_and_files(pair) -> None:
    _nodes, syncers, roots = pair
    assert [s.folder for s in syncers] == [DEFAULT_FOLDER, NOTES] * 2
    await wait_for(lambda: read_tree(roots["b-default"]) == read_tree(roots["a-default"]), 20)
    await asyncio.sleep(1.0)  # time enough for a wrong fetch into Notes to begin
    # Nothing of A's default folder is ever taken into B's Notes (A's Notes may be, once the
    # remote side fetches every folder): the same name stays two files.
    notes_of_a = {"readme.txt": b"notes of A", "n.txt": b"n"}
    assert read_tree(roots["b-notes"]).items() <= notes_of_a.items()
    assert read_tree(roots["b-default"])["readme.txt"] == b"default of A"


async def test_two_sync_folders_converge_separately(make_node, tmp_path: Path) -> None:
    nodes: list[Node] = []
    syncers: list[Syncer] = []
    roots = {}
    try:
        for name in ("a", "b"):
            default = _settled_tree(tmp_path / name / "default",
                                    {"readme.txt": b"default of A"} if name == "a" else {})
            notes = _settled_tree(tmp_path / name / "notes",
                                  {"readme.txt": b"notes of A"} if name == "a" else {})
            roots[name] = (default, notes)
            node = await make_node(wants=True, folders=(
                FolderConfig(default, FolderMode.SYNC),
                FolderConfig(notes, FolderMode.SYNC, NOTES, "Notes")))
            nodes.append(node)
            for share in node.shares:
                syncers.append(Syncer(node, share=share))
                syncers[-1].start()
        await wait_for(lambda: read_tree(roots["b"][1]) == {"readme.txt": b"notes of A"}, 20)
        await wait_for(lambda: read_tree(roots["b"][0]) == {"readme.txt": b"default of A"}, 20)
    finally:
        for syncer in syncers:
            await syncer.stop()
