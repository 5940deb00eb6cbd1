"""Tests for the settings added for the desktop app, ``save_config`` and ``to_json_value``."""

import json
import os
import stat
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from mfsync.config import (
    KINDS,
    MAX_CONCURRENT_DOWNLOADS,
    SETTINGS,
    Config,
    ConfigError,
    FolderConfig,
    load_config,
    save_config,
    setting,
    to_json_value,
)
from mfsync.engine.transfers import DEFAULT_CONCURRENCY
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.store import locations

KEY_A = "AB" * 32
KEY_B = "0123456789ABCDEF" * 4

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    return path


# -- the table ---------------------------------------------------------------------------------

def test_every_setting_has_a_config_field_with_the_same_default() -> None:
    defaults = {f.name: f.default for f in fields(Config)}
    defaults["key_names"] = {}
    for item in SETTINGS:
        assert item.attr in defaults, item.key
        assert item.default == defaults[item.attr], item.key
        assert item.kind in KINDS, item.key
        assert item.label and item.help, item.key
        assert (item.limits is not None) == (item.kind in ("int", "port")), item.key
    assert len({s.key for s in SETTINGS}) == len(SETTINGS)


def test_defaults_of_the_new_settings() -> None:
    config = Config()
    assert config.download_folder == ""
    assert config.folders == ()
    assert config.concurrent_downloads == DEFAULT_CONCURRENCY
    assert (config.notify_downloads, config.notify_failures, config.notify_refused) == (
        True, True, True)
    assert (config.autostart, config.pause_on_battery) == (False, False)
    assert setting("trustedKeys").kind == setting("folders").kind == "internal"
    assert setting("concurrentDownloads").limits == (1, MAX_CONCURRENT_DOWNLOADS) == (1, 16)


def test_every_default_dumps_to_json_that_parses_back() -> None:
    for item in SETTINGS:
        dumped = to_json_value(item.key, item.default)
        json.dumps(dumped)
        assert item.parse(dumped) == item.default, item.key


# -- parsing the new settings --------------------------------------------------------------------

def test_new_settings_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = _write(tmp_path / "config.json", {
        "downloadFolder": "~/in",
        "folders": [{"path": "~/a", "mode": "share"}, {"path": str(tmp_path / "b"),
                                                       "mode": "sync"}, {"path": "/c"}],
        "concurrentDownloads": 16,
        "notifyDownloads": False, "notifyFailures": True, "notifyRefused": False,
        "autostart": True, "pauseOnBattery": True,
    })
    config = load_config(path, explicit=True)
    assert config.download_folder == "~/in"
    # (the file has no folder ids, as mfsync 0.3 wrote it: loading gives them, see
    # test_config_folders.py; the synced folder becomes the default folder)
    assert [(f.path, f.mode) for f in config.folders] == [
        (tmp_path / "a", "share"), (tmp_path / "b", "sync"), (Path("/c"), "share")]
    assert config.folders[1].id == DEFAULT_FOLDER
    assert config.concurrent_downloads == 16
    assert (config.notify_downloads, config.notify_failures, config.notify_refused) == (
        False, True, False)
    assert config.autostart and config.pause_on_battery


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("downloadFolder", 3, "must be a string"),
        ("downloadFolder", "relative/dir", "not an absolute path"),
        ("concurrentDownloads", 0, "1 to 16"),
        ("concurrentDownloads", 17, "1 to 16"),
        ("concurrentDownloads", True, "1 to 16"),
        ("concurrentDownloads", "3", "1 to 16"),
        ("notifyDownloads", 1, "true or false"),
        ("autostart", "yes", "true or false"),
        ("pauseOnBattery", None, "true or false"),
        ("folders", "/a", "list of"),
        ("folders", ["/a"], "list of"),
        ("folders", [{"mode": "share"}], "entry 1: path must be a folder path"),
        ("folders", [{"path": "rel"}], "entry 1: path 'rel' is not an absolute path"),
        ("folders", [{"path": "/a", "mode": "mirror"}], "entry 1: mode must be"),
        ("folders", [{"path": "/a"}, {"path": "/a", "mode": "sync"}], "entry 2: /a is listed"),
        ("folders", [{"path": "/a", "mode": "sync", "id": "k3x9-pq2m"},
                     {"path": "/b", "mode": "sync", "id": "k3x9-pq2m"}],
         "entry 2 \\(/b\\): id k3x9-pq2m is also the id of /a"),
    ],
)
def test_invalid_new_settings_name_the_setting(
    tmp_path: Path, key: str, value: Any, match: str
) -> None:
    path = _write(tmp_path / "config.json", {key: value})
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path, explicit=True)
    assert repr(key) in str(info.value)


# -- to_json_value -------------------------------------------------------------------------------

def test_to_json_value_round_trips_every_kind_of_value() -> None:
    values = {
        "trustedKeys": frozenset({bytes.fromhex(KEY_A), bytes.fromhex(KEY_B)}),
        "keyNames": {bytes.fromhex(KEY_B): "desk", bytes.fromhex(KEY_A): "laptop-anna"},
        "peers": (("host", None), ("host", 9000), ("::1", 9000), ("fe80::1", None)),
        "interfaces": ("eth0", "10.0.0.2"),
        "folders": (FolderConfig(Path("/srv/a"), id=FolderId.parse("k3x9-pq2m")),
                    FolderConfig(Path("/srv/b"), "sync")),
        "concurrentDownloads": 5,
        "notifyRefused": False,
        "downloadFolder": "/tmp/x",
    }
    for key, value in values.items():
        dumped = to_json_value(key, value)
        assert json.loads(json.dumps(dumped)) == dumped
        assert setting(key).parse(dumped) == value, key
    assert to_json_value("trustedKeys", values["trustedKeys"]) == sorted([KEY_A, KEY_B])
    assert to_json_value("peers", values["peers"]) == [
        "host", "host:9000", "[::1]:9000", "[fe80::1]"]
    assert to_json_value("folders", values["folders"]) == [
        {"path": "/srv/a", "mode": "share", "id": "k3x9-pq2m", "label": "a"},
        {"path": "/srv/b", "mode": "sync", "id": "0000-0000", "label": "b"}]
    with pytest.raises(KeyError):
        to_json_value("colour", "blue")


# -- save_config ---------------------------------------------------------------------------------

def test_save_creates_the_file_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state" / "config.json"
    keys = frozenset({bytes.fromhex(KEY_A)})
    names = {bytes.fromhex(KEY_A): "laptop-anna"}
    folders = (FolderConfig(tmp_path / "share", id=FolderId.new()),
               FolderConfig(tmp_path / "sync", "sync"))
    config = save_config(path, {
        "trustedKeys": to_json_value("trustedKeys", keys),
        "keyNames": to_json_value("keyNames", names),
        "folders": to_json_value("folders", folders),
        "concurrentDownloads": 7,
        "pauseOnBattery": True,
    })
    assert config.path == path
    assert (config.trusted_keys, config.key_names, config.folders) == (keys, names, folders)
    assert config.concurrent_downloads == 7
    assert config.pause_on_battery
    assert config == load_config(path, explicit=True)
    assert config.explicit == {
        "trustedKeys", "keyNames", "folders", "concurrentDownloads", "pauseOnBattery"}
    # the file is readable JSON as mfsync 0.2 expects it: trustedKeys a list of key strings
    assert json.loads(path.read_text(encoding="utf-8"))["trustedKeys"] == [KEY_A]


@posix_only
def test_save_writes_mode_0600_in_a_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.json"
    save_config(path, {"name": "box"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 & ~_umask()
    # a file that was too open before is private after a save
    path.chmod(0o644)
    save_config(path, {"name": "box2"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_save_keeps_other_keys_unknown_ones_too_and_their_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {
        "trustedKeys": [KEY_A.lower()], "futureSetting": {"x": [1, 2]}, "port": 9000,
        "colour": "blue",
    })
    config = save_config(path, {"port": 9001, "notifyDownloads": False})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert list(data) == ["trustedKeys", "futureSetting", "port", "colour", "notifyDownloads"]
    assert data["trustedKeys"] == [KEY_A.lower()]  # untouched keys keep their exact form
    assert data["futureSetting"] == {"x": [1, 2]}
    assert data["colour"] == "blue"
    assert (data["port"], config.port) == (9001, 9001)
    assert config.notify_downloads is False


def test_save_none_removes_a_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {"port": 9000, "name": "box"})
    config = save_config(path, {"port": None, "ttl": None})
    assert json.loads(path.read_text(encoding="utf-8")) == {"name": "box"}
    assert config.port == Config().port
    assert config.explicit == {"name"}


@pytest.mark.parametrize(
    ("updates", "match"),
    [
        ({"port": 0}, "'port' must be a port number"),
        ({"trustedKeys": ["nothex"]}, "'trustedKeys'"),
        ({"folders": [{"path": "/a", "id": "k3x9-pq2m"}, {"path": "/b", "id": "k3x9-pq2m"}]},
         "also the id of /a"),
        ({"name": "ok", "concurrentDownloads": 99}, "'concurrentDownloads'"),
        ({"colour": "blue"}, "no setting called 'colour'"),
        ({"trustedKeys": frozenset()}, "'trustedKeys' must be a list"),
        ({"name": float("nan")}, "'name' must be a string"),
    ],
)
def test_save_refuses_invalid_values_and_writes_nothing(
    tmp_path: Path, updates: dict[str, Any], match: str
) -> None:
    path = _write(tmp_path / "config.json", {"port": 9000, "other": 1})
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=match):
        save_config(path, updates)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # no temp file left


def test_several_sync_folders_are_saved_and_loaded_back(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    first = (FolderConfig(tmp_path / "a", "sync"),)
    save_config(path, {"folders": to_json_value("folders", first)})
    second = (*first, FolderConfig(tmp_path / "b", "sync", FolderId.parse("k3x9-pq2m")))
    save_config(path, {"folders": to_json_value("folders", second)})
    assert load_config(path, explicit=True).folders == second


def test_save_refuses_a_broken_file_rather_than_replacing_it(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"port": 9000,,}', encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid JSON"):
        save_config(path, {"port": 9001})
    assert path.read_text(encoding="utf-8") == '{"port": 9000,,}'


def test_save_when_a_value_already_in_the_file_is_invalid(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {"port": "x", "name": "a"})
    with pytest.raises(ConfigError, match="'port'"):
        save_config(path, {"name": "b"})
    config = save_config(path, {"port": 9000})  # fixing it is allowed
    assert (config.port, config.name) == (9000, "a")


def test_concurrent_saves_leave_valid_json_with_every_change(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    errors: list[BaseException] = []

    def worker(key: str, values: list[Any]) -> None:
        try:
            for value in values:
                save_config(path, {key: value})
                json.loads(path.read_text(encoding="utf-8"))  # never a half-written file
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=("concurrentDownloads", list(range(1, 17)))),
        threading.Thread(target=worker, args=("name", [f"host-{i}" for i in range(16)])),
        threading.Thread(target=worker, args=("notifyRefused", [True, False] * 8)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    config = load_config(path, explicit=True)
    # in one process no save loses another's change
    assert (config.concurrent_downloads, config.name, config.notify_refused) == (
        16, "host-15", False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


# -- locations.download_dir ----------------------------------------------------------------------

@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    return tmp_path


def test_download_dir_without_downloads_folder_is_still_the_desktops(home: Path) -> None:
    # (it was ~/mfsync-downloads: a folder of its own beside the one the desktop names)
    assert locations.download_dir() == home / "Downloads" / "mfsync"
    assert not (home / "Downloads").exists()  # created by the first download, not here


def test_download_dir_inside_downloads(home: Path) -> None:
    (home / "Downloads").mkdir()
    assert locations.download_dir() == home / "Downloads" / "mfsync"


def test_download_dir_honours_xdg_download_dir(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "Downloads").mkdir()
    (home / "Téléchargements").mkdir()
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(home / "Téléchargements"))
    assert locations.download_dir() == home / "Téléchargements" / "mfsync"
    # one that does not exist yet is still the desktop's choice: created where missing
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(home / "Neu"))
    assert locations.download_dir() == home / "Neu" / "mfsync"


def test_download_dir_reads_user_dirs(home: Path) -> None:
    (home / "Dl").mkdir()
    (home / ".config").mkdir()
    (home / ".config" / "user-dirs.dirs").write_text(
        '# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/Desktop"\n'
        'XDG_DOWNLOAD_DIR="$HOME/Dl"\n', encoding="utf-8")
    assert locations.download_dir() == home / "Dl" / "mfsync"
