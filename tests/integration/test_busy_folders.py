"""A folder another process serves: the app starts without it, shows it busy with that process
named, and serves it once that process lets it go; a daemon (or command-line run) refuses to
start instead. Real locks (flock on a second open of the lock file is refused even within one
process), real nodes on loopback (discovery off)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from loopback import make_tree

from mfsync.config import load_config
from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.engine import service_folders
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import Service, StartError, StartFailure
from mfsync.store.folder_lock import FolderLock
from waiting import wait_for


def _options(tmp_path: Path) -> NodeOptions:
    return NodeOptions(identity=Identity.generate(), discovery=False, tcp_port=0,
                       listen_host="127.0.0.1", state_dir=tmp_path / "state")


def _config(tmp_path: Path, *folders: tuple[Path, str]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"folders": [{"path": str(p), "mode": m} for p, m in folders]}))
    path.chmod(0o600)
    return path


async def test_the_app_starts_without_a_busy_folder_and_takes_it_over_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_folders, "BUSY_RETRY", 0.2)
    free = make_tree(tmp_path / "free", {"free.txt": b"free"})
    held = make_tree(tmp_path / "held", {"held.txt": b"held"})
    config_path = _config(tmp_path, (free, FolderMode.SHARE), (held, FolderMode.SYNC))
    options = _options(tmp_path)
    other = FolderLock.acquire(options.state_dir, held.resolve(), command="mfsync sync held")
    service = Service(options, load_config(config_path, explicit=True), config_path=config_path,
                      wait_when_busy=True)
    await service.start()
    try:
        status = service.status
        reason = status.busy_reason(held.resolve())
        assert "`mfsync sync held`" in reason and "pid" in reason, reason
        assert [f.path for f in status.node.folders] == [free.resolve()]
        assert [f.path for f in status.folders] == [free.resolve(), held.resolve()]
        assert not service.transfers.syncers  # a busy sync folder is not synced
        assert service.local_content_id("held.txt") is None
        await asyncio.sleep(0.6)  # tried again and again: still busy
        assert service.status.busy_reason(held.resolve())
        other.release()
        await wait_for(lambda: not service.status.busy, 10.0, what="the folder taken over")
        assert service.local_content_id("held.txt") is not None
        assert {f.path for f in service.status.node.folders} == {free.resolve(), held.resolve()}
        assert len(service.transfers.syncers) == 1  # synced now, as configured
        # Now this process holds it: another one is refused.
        with pytest.raises(Exception, match="already served by mfsync"):
            FolderLock.acquire(options.state_dir, held.resolve(), command="second")
    finally:
        await service.stop()
        other.release()


async def test_a_busy_folder_removed_is_never_served(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_folders, "BUSY_RETRY", 0.2)
    held = make_tree(tmp_path / "held", {"held.txt": b"held"})
    config_path = _config(tmp_path, (held, FolderMode.SHARE))
    options = _options(tmp_path)
    other = FolderLock.acquire(options.state_dir, held.resolve(), command="mfsync share held")
    service = Service(options, load_config(config_path, explicit=True), config_path=config_path,
                      wait_when_busy=True)
    await service.start()
    try:
        await service.remove_folder(held)
        assert service.status.busy == () and service.status.folders == ()
        other.release()
        await asyncio.sleep(0.6)
        assert service.status.node.folders == ()
        # ... and its lock was not taken: a command-line run may serve it.
        FolderLock.acquire(options.state_dir, held.resolve(), command="next").release()
        await service.saved()
        assert json.loads(config_path.read_text())["folders"] == []
    finally:
        await service.stop()
        other.release()


async def test_without_waiting_a_busy_folder_stops_the_start(tmp_path: Path) -> None:
    held = make_tree(tmp_path / "held", {"held.txt": b"held"})
    config_path = _config(tmp_path, (held, FolderMode.SHARE))
    options = _options(tmp_path)
    other = FolderLock.acquire(options.state_dir, held.resolve(), command="mfsync share held")
    try:
        service = Service(options, load_config(config_path, explicit=True),
                          config_path=config_path)
        with pytest.raises(StartError) as refused:
            await service.start()
        assert refused.value.failure is StartFailure.FOLDER_IN_USE
        assert "mfsync share held" in str(refused.value)
    finally:
        other.release()
