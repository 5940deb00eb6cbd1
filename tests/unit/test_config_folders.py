"""config.json folders with ids, labels and devices; the migration of files without ids."""

import json
from pathlib import Path
from typing import Any

import pytest

from mfsync.audience import EVERYONE, TRUSTED, Audience
from mfsync.config import ConfigError, load_config, save_config, to_json_value
from mfsync.crypto.keys import format_key
from mfsync.folder_config import FolderConfig, new_folder_id
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

KEY = bytes(range(32))


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    return path


def _old_file(tmp_path: Path) -> Path:
    """A config.json as mfsync 0.3 wrote it: folders without ids, one in sync mode."""
    return _write(tmp_path / "config.json", {
        "trustedKeys": [format_key(KEY)], "port": 9100, "futureSetting": {"x": 1},
        "folders": [
            {"path": str(tmp_path / "Pictures"), "mode": "share"},
            {"path": str(tmp_path / "Notes: 2026"), "mode": "sync", "colour": "green"},
            {"path": str(tmp_path / "Music")},
        ],
    })


def test_an_old_file_loads_with_ids_and_labels(tmp_path: Path) -> None:
    config = load_config(_old_file(tmp_path), explicit=True)
    pictures, notes, music = config.folders
    assert notes.id == DEFAULT_FOLDER  # the synced folder meets `mfsync sync` hosts there
    assert not pictures.id.is_default and not music.id.is_default
    assert pictures.id != music.id
    assert (pictures.label, notes.label, music.label) == ("Pictures", "Notes_ 2026", "Music")
    assert [f.mode for f in config.folders] == ["share", "sync", "share"]
    assert all(f.devices is None for f in config.folders)
    assert config.migrated == {"folders"}
    assert (config.trusted_keys, config.port) == (frozenset({KEY}), 9100)


def test_saving_writes_the_ids_and_keeps_everything_else(tmp_path: Path) -> None:
    path = _old_file(tmp_path)
    loaded = load_config(path, explicit=True)
    saved = save_config(path, {"folders": to_json_value("folders", loaded.folders)})
    assert saved.folders == loaded.folders
    assert saved.migrated == frozenset()
    again = load_config(path, explicit=True)
    assert again.folders == loaded.folders  # the same ids, every time from now on
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["futureSetting"] == {"x": 1} and data["port"] == 9100
    assert data["folders"][1] == {"path": str(tmp_path / "Notes: 2026"), "mode": "sync",
                                  "id": "0000-0000", "label": "Notes_ 2026", "colour": "green"}
    assert data["folders"][0]["id"] == str(loaded.folders[0].id)


def test_without_saving_each_load_migrates_afresh(tmp_path: Path) -> None:
    """The command line never writes the file: it loads random ids each time, and the synced
    folder is the default folder every time."""
    path = _old_file(tmp_path)
    first, second = (load_config(path, explicit=True) for _ in range(2))
    assert first.folders[1].id == second.folders[1].id == DEFAULT_FOLDER
    assert first.folders[0].id != second.folders[0].id
    assert json.loads(path.read_text(encoding="utf-8"))["folders"][0].keys() == {"path", "mode"}


def test_a_sync_folder_without_id_leaves_the_default_to_the_folder_that_has_it(
        tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {"folders": [
        {"path": "/srv/sync", "mode": "sync"},
        {"path": "/srv/plain", "mode": "share", "id": "0000-0000"},
    ]})
    synced, plain = load_config(path, explicit=True).folders
    assert plain.id == DEFAULT_FOLDER
    assert not synced.id.is_default


def test_labels_and_devices_round_trip(tmp_path: Path) -> None:
    folders = (
        FolderConfig(Path("/srv/a"), "share", FolderId.parse("k3x9-pq2m"), "Photos", EVERYONE),
        FolderConfig(Path("/srv/b"), "sync", DEFAULT_FOLDER, "Notes", TRUSTED),
        FolderConfig(Path("/srv/c"), "share", FolderId.parse("abcd-efgh"), "Ç c",
                     Audience.of_keys(frozenset({KEY}))),
    )
    config = save_config(tmp_path / "config.json",
                         {"folders": to_json_value("folders", folders)})
    assert config.folders == folders
    dumped = to_json_value("folders", folders)
    assert [d["devices"] for d in dumped] == ["everyone", "trusted", [format_key(KEY)]]


def test_two_folders_with_one_id_name_both_paths(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.json", {"folders": [
        {"path": "/srv/a", "id": "k3x9-pq2m"}, {"path": "/srv/b"},
        {"path": "/srv/c", "id": "K3X9PQ2M"},
    ]})
    with pytest.raises(ConfigError, match=r"entry 3 \(/srv/c\): id k3x9-pq2m is also the id "
                                          r"of /srv/a"):
        load_config(path, explicit=True)


def test_saving_two_folders_with_one_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    twins = (FolderConfig(Path("/srv/a"), id=FolderId.parse("k3x9-pq2m")),
             FolderConfig(Path("/srv/b"), id=FolderId.parse("k3x9-pq2m")))
    with pytest.raises(ConfigError, match="also the id of /srv/a"):
        save_config(path, {"folders": to_json_value("folders", twins)})
    assert not path.exists()


@pytest.mark.parametrize(("entry", "match"), [
    ({"id": "k3x9-pq2"}, r"entry 1 \(/srv/a\): id .* is not a folder id"),
    ({"id": "k3x9-pq2u"}, r"entry 1 \(/srv/a\): id .*'u' is not used"),
    ({"id": 12345}, r"entry 1 \(/srv/a\): id must be a string"),
    ({"label": "a:b"}, r"entry 1 \(/srv/a\): label 'a:b': .*cannot hold ':'"),
    ({"label": ""}, r"entry 1 \(/srv/a\): label '': .*cannot be empty"),
    ({"label": " x"}, r"entry 1 \(/srv/a\): label ' x': .*start or end with a space"),
    ({"label": "x" * 64}, r"entry 1 \(/srv/a\): label .*at most 63 bytes"),
    ({"label": 7}, r"entry 1 \(/srv/a\): label must be a string"),
    ({"devices": "all"}, r"entry 1 \(/srv/a\): devices must be \"everyone\""),
    ({"devices": ["AB"]}, r"entry 1 \(/srv/a\): devices .*64 hex"),
])
def test_a_bad_field_says_which_folder_and_what(tmp_path: Path, entry: dict[str, Any],
                                                match: str) -> None:
    path = _write(tmp_path / "config.json", {"folders": [{"path": "/srv/a", **entry}]})
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path, explicit=True)
    assert "'folders'" in str(info.value)


def test_new_folder_id_rule() -> None:
    assert new_folder_id((), "sync") == DEFAULT_FOLDER
    assert not new_folder_id((), "share").is_default
    taken = (FolderConfig(Path("/a"), "share"),)  # has the default folder's id
    assert not new_folder_id(taken, "sync").is_default


def test_a_label_is_made_from_the_name_when_left_out() -> None:
    assert FolderConfig(Path("/srv/My Photos")).label == "My Photos"
    assert FolderConfig(Path("/")).label == "folder"
    assert FolderConfig(Path("/srv/x"), label="Other").label == "Other"
