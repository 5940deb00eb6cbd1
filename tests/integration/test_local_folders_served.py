"""A node's own folders as objects (engine/local_folders.py), on loopback TCP: each folder of
the settings is served as its own folder with its id, label and devices; one with a restricted
audience is listed and served only to the keys it admits, changes of its audience apply at the
next request, and its changes do not move the generation we announce to everyone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from loopback import make_tree

from mfsync.audience import TRUSTED, Audience
from mfsync.config import Config
from mfsync.crypto.keys import Identity, format_key
from mfsync.defaults import FolderMode
from mfsync.engine.node import Node, NodeOptions
from mfsync.engine.service import Service
from mfsync.folder_config import FolderConfig
from mfsync.net.channel import PeerRefused, SecureChannel, open_channel
from mfsync.net.client import request_folders, request_index
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import ErrorCode, FolderFlags, Hello

NOTES = FolderId.parse("k3x9-pq2m")
PHOTOS = FolderId.parse("p4v7-7777")
FRIEND = Identity.generate()
STRANGER = Identity.generate()


async def _open(node: Node, identity: Identity) -> SecureChannel:
    assert node.server is not None
    return await open_channel("127.0.0.1", node.server.port, identity,
                              hello=Hello(name="client"), authorize=lambda _key: True,
                              timeout=5)


async def _listed(node: Node, identity: Identity) -> dict[FolderId, tuple[str, FolderFlags]]:
    channel = await _open(node, identity)
    try:
        return {f.id: (f.label, f.flags) for f in (await request_folders(channel)).folders}
    finally:
        await channel.close()


async def _index(node: Node, identity: Identity, folder: FolderId) -> list[str] | ErrorCode:
    channel = await _open(node, identity)
    try:
        return [e.path for e in (await request_index(channel, folder=folder))[1]]
    except PeerRefused as refused:
        return refused.code
    finally:
        await channel.close()


def _settled(root: Path, name: str) -> None:
    """A new file, dated a minute ago (settled: offered at the next scan)."""
    make_tree(root, {name: name.encode()})
    os.utime(root / name, (time.time() - 60, time.time() - 60))


@pytest.fixture
def trees(tmp_path: Path) -> dict[str, Path]:
    return {name: make_tree(tmp_path / name, {f"{name}.txt": name.encode()}).resolve()
            for name in ("plain", "notes", "photos")}


async def test_each_folder_is_served_to_its_audience_only(make_node, trees) -> None:
    node = await make_node(discovery=False, share_dirs=(trees["plain"],), folders=(
        FolderConfig(trees["notes"], FolderMode.SYNC, NOTES, "Notes",
                     Audience.of_keys(frozenset({FRIEND.public_key}))),
        FolderConfig(trees["photos"], FolderMode.SHARE, PHOTOS, "Photos"),
    ))
    assert [(f.id, f.label) for f in node.folders] == [
        (DEFAULT_FOLDER, "default"), (NOTES, "Notes"), (PHOTOS, "Photos")]
    everyone = FolderFlags.ANNOUNCED
    assert await _listed(node, FRIEND) == {
        DEFAULT_FOLDER: ("default", everyone), NOTES: ("Notes", FolderFlags.SYNC),
        PHOTOS: ("Photos", everyone)}  # no trust list: a folder naming no devices is everyone's
    assert await _listed(node, STRANGER) == {
        DEFAULT_FOLDER: ("default", everyone), PHOTOS: ("Photos", everyone)}
    # Two folders never mix: each index holds its own files only.
    assert await _index(node, FRIEND, NOTES) == ["notes.txt"]
    assert await _index(node, STRANGER, PHOTOS) == ["photos.txt"]
    assert await _index(node, STRANGER, DEFAULT_FOLDER) == ["plain.txt"]
    assert await _index(node, STRANGER, NOTES) == ErrorCode.NO_SUCH_FOLDER

    # Its audience changes at once: on the next request, on a channel already open.
    channel = await _open(node, FRIEND)
    try:
        assert node.configure_folder(NOTES, audience=Audience.of_keys(frozenset()))
        with pytest.raises(PeerRefused) as refused:
            await request_index(channel, folder=NOTES)
        assert refused.value.code == ErrorCode.NO_SUCH_FOLDER
        assert NOTES not in {f.id for f in (await request_folders(channel)).folders}
    finally:
        await channel.close()
    assert node.configure_folder(NOTES, audience=Audience.of_keys(frozenset({
        STRANGER.public_key})))
    assert await _index(node, STRANGER, NOTES) == ["notes.txt"]
    assert not node.configure_folder(FolderId.parse("zzzz-zzzz"), mode=FolderMode.SYNC)


async def test_a_folder_naming_no_devices_follows_the_trust_list(make_node, trees) -> None:
    node = await make_node(discovery=False, trusted_keys=frozenset({FRIEND.public_key}),
                           share_dirs=(trees["plain"],),
                           folders=(FolderConfig(trees["photos"], id=PHOTOS, label="Photos"),))
    # With a trust list, a folder naming no devices is the trusted keys'; not announced.
    assert await _listed(node, FRIEND) == {
        DEFAULT_FOLDER: ("default", FolderFlags.ANNOUNCED), PHOTOS: ("Photos", FolderFlags.NONE)}
    node.configure_folder(PHOTOS, audience=TRUSTED)
    node.set_trust(frozenset({FRIEND.public_key, STRANGER.public_key}))
    assert PHOTOS in await _listed(node, STRANGER)


async def test_the_announced_generation_counts_only_folders_everyone_sees(
        make_node, trees) -> None:
    node = await make_node(discovery=False, share_dirs=(trees["plain"],), folders=(
        FolderConfig(trees["notes"], id=NOTES, label="Notes",
                     devices=Audience.of_keys(frozenset({FRIEND.public_key}))),))
    notes = next(f for f in node.folders if f.id == NOTES)
    announced, before = node.generation, notes.generation
    _settled(trees["notes"], "more.txt")
    await node.rescan()
    assert notes.generation > before  # its FolderList generation moves: its peers poll it
    assert node.generation == announced  # the announcement says nothing about it
    _settled(trees["plain"], "more.txt")
    await node.rescan()
    assert node.generation > announced
    # A folder that joins everyone's set or leaves it moves the announcement, never back.
    announced = node.generation
    node.configure_folder(NOTES, default_audience=True)
    assert node.generation > announced
    announced = node.generation
    node.configure_folder(NOTES, audience=Audience.of_keys(frozenset()))
    assert node.generation > announced


async def test_the_app_syncs_several_folders_and_share_with_applies_at_once(
        trees, tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    options = NodeOptions(identity=Identity.generate(), discovery=False, tcp_port=0,
                          listen_host="127.0.0.1", state_dir=tmp_path / "state")
    service = Service(options, Config(), config_path=config_path)
    await service.start()
    try:
        notes = await service.add_folder(trees["notes"], FolderMode.SYNC)
        photos = await service.add_folder(trees["photos"], FolderMode.SYNC)
        assert notes.id == DEFAULT_FOLDER and not photos.id.is_default  # (the first sync one)
        assert set(service.transfers.syncers) == {notes.id, photos.id}  # a syncer each
        node = service.node
        stranger = await _open(node, STRANGER)
        try:
            _, entries = await request_index(stranger, folder=photos.id)
            assert [e.path for e in entries] == ["photos.txt"]
            service.set_folder_devices(photos.path, Audience.of_keys(
                frozenset({FRIEND.public_key})))
            with pytest.raises(PeerRefused) as refused:  # the same channel's next request
                await request_index(stranger, folder=photos.id)
            assert refused.value.code == ErrorCode.NO_SUCH_FOLDER
        finally:
            await stranger.close()
        assert await _index(node, FRIEND, photos.id) == ["photos.txt"]
        await service.saved()
        saved = json.loads(config_path.read_text())["folders"]
        assert [f.get("devices") for f in saved] == [None, [format_key(FRIEND.public_key)]]
        service.set_folder_devices(photos.path, None)  # back to the default: everyone's here
        assert await _index(node, STRANGER, photos.id) == ["photos.txt"]
        await service.set_folder_mode(notes.path, FolderMode.SHARE)
        assert set(service.transfers.syncers) == {photos.id}
        assert (await _listed(node, STRANGER))[notes.id][1] == FolderFlags.ANNOUNCED
    finally:
        await service.stop()
