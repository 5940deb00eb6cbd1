"""Invitations: which of the network's folders the app offers to sync, and how often a host may
bring new ones (``engine.invitations``), with snapshots and a fake clock."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mfsync.engine.invitations import InvitationBoard, suggested_folder
from mfsync.engine.status import HostRef, NodeStatus, PeerSnapshot, PeerState, RemoteFolder
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

OFFICE = bytes([1]) * 32
ROGUE = bytes([2]) * 32


def _peer(key: bytes, name: str, port: int) -> PeerSnapshot:
    return PeerSnapshot("127.0.0.1", port, name, key, key, PeerState.CONNECTED, 0, True)


def _offered(folder: FolderId, label: str, *keys: bytes, sync: bool = True) -> RemoteFolder:
    hosts = tuple(HostRef(k, "127.0.0.1", 8000 + n) for n, k in enumerate(keys))
    return RemoteFolder(folder, label, hosts, 3, 300, sync)


def _status(*folders: RemoteFolder) -> NodeStatus:
    return NodeStatus(peers=(_peer(OFFICE, "office-pc", 8000), _peer(ROGUE, "rogue", 8001)),
                      remote_folders=folders)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_sync_folders_we_neither_have_nor_ignored_are_invitations() -> None:
    photos, notes, shared, mine, gone = (FolderId.new() for _ in range(5))
    board = InvitationBoard()
    changed = board.update(_status(
        _offered(photos, "Photos", OFFICE), _offered(notes, "Notes", OFFICE),
        _offered(shared, "Public", OFFICE, sync=False), _offered(mine, "Mine", OFFICE),
    ), ours={mine}, ignored={notes})
    assert changed
    assert [(i.folder, i.label, i.host, i.host_key) for i in board.current] == [
        (photos, "Photos", "office-pc", OFFICE)]
    assert board.find(photos) is not None and board.find(gone) is None
    assert not board.update(_status(_offered(photos, "Photos", OFFICE)), set(), {notes})


def test_the_default_folder_synced_elsewhere_is_an_invitation_too() -> None:
    board = InvitationBoard()
    board.update(_status(_offered(DEFAULT_FOLDER, "Public", OFFICE, ROGUE)), set(), set())
    (invitation,) = board.current
    assert (invitation.folder, invitation.hosts) == (DEFAULT_FOLDER, 2)


def test_a_host_brings_at_most_its_allowance_per_window(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    board = InvitationBoard(per_host=3, window=3600.0, clock=clock)
    flood = [_offered(FolderId.new(), f"spam{n}", ROGUE) for n in range(6)]
    office = _offered(FolderId.new(), "Photos", OFFICE)
    with caplog.at_level(logging.WARNING, "mfsync.service"):
        board.update(_status(*flood, office), set(), set())
        board.update(_status(*flood, office), set(), set())  # held ones are logged once
    labels = [i.label for i in board.current]
    assert labels == ["spam0", "spam1", "spam2", "Photos"], labels  # another host is not held
    assert len([r for r in caplog.records if "waits" in r.getMessage()]) == 3
    clock.now += 3599.0
    board.update(_status(*flood, office), set(), set())
    assert len(board.current) == 4
    clock.now += 1.0  # the allowance comes back an hour after it was spent
    board.update(_status(*flood, office), set(), set())
    assert [i.label for i in board.current] == [f"spam{n}" for n in range(6)] + ["Photos"]


def test_a_folder_admitted_once_costs_nothing_when_it_comes_back() -> None:
    clock = Clock()
    board = InvitationBoard(per_host=1, clock=clock)
    photos = _offered(FolderId.new(), "Photos", OFFICE)
    board.update(_status(photos), set(), set())
    board.update(_status(), set(), set())  # the host went away
    assert board.current == ()
    board.update(_status(photos), set(), set())
    assert [i.label for i in board.current] == ["Photos"]
    board.update(_status(photos, _offered(FolderId.new(), "Notes", OFFICE)), set(), set())
    assert [i.label for i in board.current] == ["Photos"]  # its one invitation was spent


def test_the_suggested_folder_is_under_home_and_never_mixes_with_a_full_one(
        tmp_path: Path) -> None:
    folder = FolderId.parse("k3x9-pq2m")
    assert suggested_folder(tmp_path, "Photos", folder) == tmp_path / "Photos"
    (tmp_path / "Photos").mkdir()
    assert suggested_folder(tmp_path, "Photos", folder) == tmp_path / "Photos"  # empty: fine
    (tmp_path / "Photos" / "old.jpg").write_bytes(b"x")
    assert suggested_folder(tmp_path, "Photos", folder) == tmp_path / "Photos (k3x9-pq2m)"
    for hostile in ("../etc", "..", ".ssh", "a/../../b"):
        path = suggested_folder(tmp_path, hostile, folder)
        assert path.parent == tmp_path and not path.name.startswith("."), path
