"""The service and folder identities: one process per folder, ids for new folders, and the
desktop app's one save of a migrated config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfsync.config import Config, FolderConfig, load_config
from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import (
    APP_COMMAND,
    RunPlan,
    Service,
    ServiceError,
    StartError,
    StartFailure,
)
from mfsync.protocol.folder_id import DEFAULT_FOLDER


def _options(state: Path) -> NodeOptions:
    return NodeOptions(identity=Identity.generate(), discovery=False, state_dir=state,
                       listen_host="127.0.0.1", tcp_port=0)


def _run(folder: Path, command: str = "mfsync share") -> RunPlan:
    return RunPlan(folders=(FolderConfig(folder, FolderMode.SHARE),), command=command)


async def test_a_second_service_of_one_folder_is_refused_until_the_first_stops(
        tmp_path: Path) -> None:
    state, folder = tmp_path / "state", tmp_path / "Photos"
    folder.mkdir()
    first = Service(_options(state), Config(), run=_run(folder, "mfsync sync"))
    await first.start()
    try:
        second = Service(_options(state), Config(), run=_run(folder))
        with pytest.raises(StartError) as caught:
            await second.start()
        assert caught.value.failure is StartFailure.FOLDER_IN_USE
        assert str(caught.value).startswith(f"{folder} is already served by mfsync (pid ")
        assert "`mfsync sync`" in str(caught.value)
        # fetch and get serve no folder: they run beside it
        fetch = Service(_options(state), Config(), run=RunPlan())
        await fetch.start()
        await fetch.stop()
    finally:
        await first.stop()
    again = Service(_options(state), Config(), run=_run(folder))
    await again.start()
    await again.stop()


async def test_the_app_locks_a_folder_it_adds_and_releases_one_it_removes(
        tmp_path: Path) -> None:
    state, folder = tmp_path / "state", tmp_path / "Notes"
    folder.mkdir()
    app = Service(_options(state), Config(), config_path=tmp_path / "config.json")
    await app.start()
    try:
        added = await app.add_folder(folder)
        assert not added.id.is_default and added.label == "Notes"
        cli = Service(_options(state), Config(), run=_run(folder))
        with pytest.raises(StartError, match=f"`{APP_COMMAND}`"):
            await cli.start()
        await app.remove_folder(folder)
        await cli.start()  # released
        with pytest.raises(ServiceError, match="is already served by mfsync"):
            await app.add_folder(folder)
        assert app.status.folders == ()
        await cli.stop()
        synced = await app.add_folder(folder, FolderMode.SYNC)
        assert synced.id == DEFAULT_FOLDER  # the app's one synced folder: the default folder
        await app.set_folder_mode(folder, FolderMode.SHARE)
        assert app.status.folders[0].id == DEFAULT_FOLDER  # a mode switch keeps the id
    finally:
        await app.stop()


def _old_config(tmp_path: Path) -> Path:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    path = tmp_path / "home" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"port": 9100, "folders": [
        {"path": str(a), "mode": "share"}, {"path": str(b), "mode": "sync"}]}))
    path.chmod(0o600)
    return path


async def test_the_apps_first_start_saves_the_migrated_folders_once(tmp_path: Path) -> None:
    path = _old_config(tmp_path)
    config = load_config(path, explicit=True)
    assert config.migrated == {"folders"}
    app = Service(_options(tmp_path / "state"), config, config_path=path)
    await app.start()
    await app.saved()
    await app.stop()
    saved = json.loads(path.read_text())
    assert saved["port"] == 9100
    assert [f["id"] for f in saved["folders"]] == [str(f.id) for f in config.folders]
    assert saved["folders"][1]["id"] == "0000-0000"
    reloaded = load_config(path, explicit=True)
    assert reloaded.folders == config.folders and reloaded.migrated == frozenset()
    before = path.read_bytes()
    second = Service(_options(tmp_path / "state"), reloaded, config_path=path)
    await second.start()
    await second.saved()
    await second.stop()
    assert path.read_bytes() == before  # nothing more to save


async def test_the_command_line_never_writes_the_migrated_file(tmp_path: Path) -> None:
    path = _old_config(tmp_path)
    before = path.read_bytes()
    config = load_config(path, explicit=True)
    run = Service(_options(tmp_path / "state"), config, config_path=path, run=RunPlan())
    await run.start()
    await run.saved()
    await run.stop()
    assert path.read_bytes() == before
