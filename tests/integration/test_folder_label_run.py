"""``sync --folder LABEL`` on loopback: the command line's short discovery-only service lists the
network's folders (a real sharer, reached with ``--peer``) without taking the TCP port the run
needs, and the label names the folder the sharer offers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfsync.cli.modes import FolderChoice, _run_folder, network_folders
from mfsync.cli.parser import build_parser
from mfsync.cli.setup import Settings, load_settings
from mfsync.config import Config
from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import RunPlan, Service
from mfsync.folder_config import FolderConfig
from mfsync.protocol.folder_id import FolderId

NOTES = FolderId.parse("k3x9-pq2m")


@pytest.fixture
def held_port() -> Iterator[int]:
    """A TCP port held (listening, on every address) for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _settings(*argv: str) -> Settings:
    return load_settings(build_parser().parse_args(list(argv)))


async def test_a_label_the_sharer_offers_is_found_without_taking_the_port(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, udp_port: int, held_port: int) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "n.txt").write_bytes(b"a note\n")
    sharer = Service(
        NodeOptions(identity=Identity.generate(), discovery=False, listen_host="127.0.0.1",
                    tcp_port=0, state_dir=tmp_path / "sharer-state"),
        Config(), run=RunPlan(folders=(FolderConfig(notes, FolderMode.SHARE, NOTES, "Notes"),)))
    await sharer.start()
    try:
        port = sharer.status.node.tcp_port
        mine = tmp_path / "mine"
        mine.mkdir()
        # --port names a port another process holds: a service that bound it would fail
        settings = _settings("sync", str(mine), "--folder", "Notes", "--peer",
                             f"127.0.0.1:{port}", "--interface", "127.0.0.1", "--ttl", "0",
                             "--multicast-port", str(udp_port), "--port", str(held_port),
                             "--window", "0.5")
        offered = await network_folders(settings)
        assert [(f.id, f.label, f.files) for f in offered] == [(NOTES, "Notes", 1)], offered
        chosen = await _run_folder(settings, str(mine), FolderMode.SYNC, FolderChoice("Notes"))
        assert (chosen.id, chosen.label, chosen.path) == (NOTES, "Notes", mine.resolve())
    finally:
        await sharer.stop()
