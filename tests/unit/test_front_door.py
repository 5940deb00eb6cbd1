"""The engine's front door: its start error, the rules of its folder list, its background config
writer, and where the defaults live."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from pathlib import Path

import pytest

import mfsync.config
import mfsync.engine.transfers
import mfsync.net.discovery
import mfsync.net.server
from mfsync import defaults
from mfsync.cli.modes import ModeError, start_failure
from mfsync.cli.parser import UsageError
from mfsync.config import Config, ConfigError, FolderConfig, load_config, preview_save, save_config
from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.engine.config_writer import ConfigWriter
from mfsync.engine.folder_rules import check_addition, find_folder
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import (
    RunPlan,
    Service,
    ServiceError,
    StartError,
    StartFailure,
    _start_error,
    check_folder,
)
from mfsync.net.server import PortInUse
from mfsync.net.sockets import InterfaceError
from mfsync.protocol import endpoints
from mfsync.store.shareset import ShareSetError


@pytest.mark.parametrize(("raised", "failure", "message"), [
    (PortInUse(errno.EADDRINUSE, "TCP port 8000 is in use"), StartFailure.PORT_IN_USE,
     "TCP port 8000 is in use"),
    (InterfaceError("no interface called eth9"), StartFailure.SETTING, "no interface called eth9"),
    (ShareSetError("/x does not exist"), StartFailure.FOLDER, "/x does not exist"),
    (OSError(errno.EACCES, "Permission denied"), StartFailure.NETWORK,
     "cannot start networking: [Errno 13] Permission denied"),
])
def test_what_stops_a_start_becomes_one_start_error(raised: Exception, failure: StartFailure,
                                                     message: str) -> None:
    error = _start_error(raised)
    assert isinstance(error, StartError) and isinstance(error, ServiceError)
    assert error.failure is failure and str(error) == message


@pytest.mark.parametrize(("failure", "kind", "text"), [
    (StartFailure.PORT_IN_USE, ModeError, "port 8000 is taken; choose another with --port"),
    (StartFailure.SETTING, UsageError, "port 8000 is taken"),
    (StartFailure.FOLDER, UsageError, "port 8000 is taken"),
    (StartFailure.FOLDER_IN_USE, ModeError, "port 8000 is taken"),
    (StartFailure.NETWORK, ModeError, "port 8000 is taken"),
])
def test_the_command_line_adds_its_hint_and_exit_code(failure: StartFailure, kind: type,
                                                      text: str) -> None:
    error = start_failure(StartError(failure, "port 8000 is taken"))
    assert type(error) is kind and str(error) == text


async def test_a_taken_explicit_port_stops_the_start_with_a_start_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        options = NodeOptions(identity=Identity.generate(), discovery=False, tcp_port=taken,
                              tcp_port_explicit=True, listen_host="127.0.0.1")
        share = tmp_path / "share"
        share.mkdir()
        service = Service(options, Config(),
                          run=RunPlan(folders=(FolderConfig(share, FolderMode.SHARE),)))
        with pytest.raises(StartError) as caught:
            await service.start()
        assert caught.value.failure is StartFailure.PORT_IN_USE
        assert str(taken) in str(caught.value)
        await service.stop()  # harmless after a failed start


async def test_an_unusable_index_location_stops_the_start_with_a_folder_error(
        tmp_path: Path) -> None:
    # building the service touches no disk; the index is opened by start, in a worker thread
    state = tmp_path / "state"
    state.write_text("a file where the state folder should be")
    share = tmp_path / "share"
    share.mkdir()
    options = NodeOptions(identity=Identity.generate(), discovery=False, state_dir=state,
                          listen_host="127.0.0.1", tcp_port=0)
    service = Service(options, Config(),
                      run=RunPlan(folders=(FolderConfig(share, FolderMode.SHARE),)))
    with pytest.raises(StartError) as caught:
        await service.start()
    assert caught.value.failure is StartFailure.FOLDER
    assert f"cannot share {share}" in str(caught.value) and "index" in str(caught.value)
    await service.stop()


async def test_check_folder_says_why_in_the_services_terms(tmp_path: Path) -> None:
    assert await check_folder(tmp_path) == tmp_path.resolve()
    with pytest.raises(ServiceError, match="does not exist"):
        await check_folder(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ServiceError, match="is not a folder"):
        await check_folder(tmp_path / "file")


def test_folder_rules(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    folders = (FolderConfig(a, FolderMode.SHARE), FolderConfig(b, FolderMode.SYNC))
    assert find_folder(folders, a) == folders[0]
    with pytest.raises(ServiceError, match="is not a shared folder"):
        find_folder(folders, tmp_path / "c")
    with pytest.raises(ServiceError, match="is shared already"):
        check_addition(folders, a)
    with pytest.raises(ServiceError, match="overlaps the shared folder"):
        check_addition(folders, a / "inner")
    with pytest.raises(ServiceError, match="overlaps the shared folder"):
        check_addition(folders[:1], tmp_path)
    check_addition(folders, tmp_path / "c")  # (a second sync folder too: any number may sync)


def test_preview_save_is_what_save_config_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"name": "desk", "unknownKey": 1}))
    updates = {"ttl": 3, "name": None, "peers": ["h:1"]}
    preview = preview_save(path, updates)
    assert json.loads(path.read_text()) == {"name": "desk", "unknownKey": 1}  # nothing written
    assert save_config(path, updates) == preview == load_config(path, explicit=True)
    with pytest.raises(ConfigError, match="'ttl' must be a whole number"):
        preview_save(path, {"ttl": 999})
    with pytest.raises(ConfigError, match="no setting called 'nope'"):
        preview_save(path, {"nope": 1})


async def test_the_config_writer_saves_in_order_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "home" / "config.json"
    adopted: list[Config] = []
    errors: list[str] = []
    writer = ConfigWriter(path, on_saved=adopted.append, on_error=errors.append)
    for ttl in range(1, 6):
        writer.save({"ttl": ttl})
        # a preview counts every save queued before it, written or not
        assert writer.preview({"name": "x"}).ttl == ttl
    assert writer.pending and not path.exists()  # nothing written on the caller's turn
    await writer.wait()
    assert json.loads(path.read_text()) == {"ttl": 5}
    assert [c.ttl for c in adopted] == [5]  # only the last result is adopted
    assert errors == []

    path.write_text("{broken")
    writer.save({"ttl": 2})
    await writer.wait()
    assert len(errors) == 1 and str(path) in errors[0]
    assert path.read_text() == "{broken"


def test_without_a_loop_the_writer_saves_at_once(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    adopted: list[Config] = []
    writer = ConfigWriter(path, on_saved=adopted.append, on_error=pytest.fail)
    writer.save({"name": "now"})
    assert json.loads(path.read_text()) == {"name": "now"} and adopted[0].name == "now"
    asyncio.run(writer.wait())


async def test_update_settings_answers_at_once_and_saves_in_the_background(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    service = Service(NodeOptions(identity=Identity.generate(), discovery=False), Config(),
                      config_path=path)
    config = service.update_settings({"name": "study"})
    assert config.name == "study" and service.config is config
    service.set_trust(frozenset({b"k" * 32}), {b"k" * 32: "desk"})
    assert service.config.trusted_keys == {b"k" * 32} and service.config.name == "study"
    with pytest.raises(ServiceError, match="'ttl'"):
        service.update_settings({"ttl": -1})
    await service.saved()
    assert load_config(path, explicit=True) == service.config

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mfsync.config, "atomic_write", disk_full)
    assert service.update_settings({"name": "later"}).name == "later"  # accepted at once
    assert service.status.errors == ()
    await service.saved()  # the disk refuses it later: the service shows why
    assert "cannot write config file" in service.status.errors[-1]
    assert "No space left" in service.status.errors[-1]


def test_a_command_line_run_never_writes_the_settings(tmp_path: Path) -> None:
    service = Service(NodeOptions(identity=Identity.generate(), discovery=False), Config(),
                      config_path=tmp_path / "config.json", run=RunPlan())
    with pytest.raises(ServiceError, match="does not change the settings"):
        service.update_settings({"name": "x"})
    assert not (tmp_path / "config.json").exists()


def test_each_default_is_known_in_one_place() -> None:
    assert mfsync.net.server.DEFAULT_TCP_PORT is endpoints.DEFAULT_TCP_PORT
    assert mfsync.net.discovery.DEFAULT_GROUP is endpoints.DEFAULT_GROUP
    assert mfsync.net.discovery.DEFAULT_UDP_PORT is endpoints.DEFAULT_UDP_PORT
    assert mfsync.net.discovery.DEFAULT_TTL is endpoints.DEFAULT_TTL
    assert mfsync.net.discovery.check_group is endpoints.check_group
    assert mfsync.engine.transfers.DEFAULT_CONCURRENCY is defaults.DEFAULT_CONCURRENCY
    assert Config().concurrent_downloads == defaults.DEFAULT_CONCURRENCY
    assert defaults.FOLDER_MODES == (FolderMode.SHARE, FolderMode.SYNC) == ("share", "sync")
