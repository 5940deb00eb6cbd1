"""``mfsync daemon``: the desktop app's folders without a window, from the command line.

Parsing and refusals without the network; one real run on loopback (multicast with
IP_MULTICAST_IF 127.0.0.1 and TTL 0, a TCP port of its own) that serves the config file's
folders, logs each, saves the ids it gave them and nothing else, and stops on ``-w``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopback_ports import GROUP, free_tcp_port, free_udp_port
from mfsync.cli import main
from mfsync.cli.parser import build_parser
from mfsync.config import load_config
from mfsync.store.folder_lock import FolderLocks


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        assert isinstance(exc.code, int)
        return exc.code


def test_daemon_is_a_mode_named_in_help_and_in_the_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["daemon"]).mode == "daemon"
    assert "daemon" in build_parser().format_help()
    assert _code([]) == 2
    assert "share, fetch, get, sync, folders, send, receive, daemon" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "needle"), [
    (["daemon", "--folder", "Notes"], "unrecognized arguments: --folder"),
    (["daemon", "--share-with", "everyone"], "unrecognized arguments: --share-with"),
    (["daemon", "/some/dir"], "unrecognized arguments"),
    (["daemon", "--port", "9000"], "--port does not apply to mfsync daemon"),
    (["--peer", "10.0.0.9", "daemon"], "--peer does not apply to mfsync daemon"),
    (["daemon", "--name", "x"], "--name does not apply to mfsync daemon"),
])
def test_options_that_do_not_apply_are_refused(argv: list[str], needle: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert _code(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_a_broken_config_is_a_usage_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "c.json").write_text("{not json")
    assert _code(["daemon", "--config", str(home / "c.json")]) == 2
    assert "c.json" in capsys.readouterr().err


def test_daemon_serves_the_configs_folders_and_saves_only_their_ids(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = home / "Notes"
    photos = home / "Photos"
    for root in (notes, photos):
        root.mkdir()
        (root / "a.txt").write_text(root.name)
    config_path = home / "config.json"
    settings = {"port": free_tcp_port(), "multicastAddress": GROUP,
                "multicastPort": free_udp_port(), "interfaces": ["127.0.0.1"], "ttl": 0}
    config_path.write_text(json.dumps({**settings, "folders": [
        {"path": str(notes), "mode": "sync"},  # no ids yet: the app's first start gives them
        {"path": str(photos), "mode": "sync", "id": "ab12-cd34", "label": "Photos"},
    ]}))
    assert _code(["daemon", "--config", str(config_path), "-w", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    saved = json.loads(config_path.read_text())
    notes_id = saved["folders"][0]["id"]
    # the default folder: the app's one sync folder without an id becomes it (phase 1)
    assert f"Serving Notes ({notes_id}), sync: {notes}" in out, out
    assert f"Serving Photos (ab12-cd34), sync: {photos}" in out, out
    assert any(line.startswith("Daemon running 2 folders from ") for line in out), out
    assert {k: v for k, v in saved.items() if k != "folders"} == settings
    assert [f["path"] for f in saved["folders"]] == [str(notes), str(photos)]
    assert saved["folders"][1]["id"] == "ab12-cd34"
    assert notes_id == "0000-0000"  # the app's sync folder became the default folder
    assert [str(f.id) for f in load_config(config_path, explicit=True).folders] == [
        notes_id, "ab12-cd34"]
    # a second run changes nothing in the file
    before = config_path.read_text()
    assert _code(["daemon", "--config", str(config_path), "-w", "1"]) == 0
    assert config_path.read_text() == before


def test_a_folder_served_by_another_process_is_refused_naming_it(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = home / "Photos"
    photos.mkdir()
    config_path = home / "config.json"
    config_path.write_text(json.dumps({
        "port": free_tcp_port(), "multicastAddress": GROUP, "multicastPort": free_udp_port(),
        "interfaces": ["127.0.0.1"], "ttl": 0,
        "folders": [{"path": str(photos), "mode": "sync", "id": "ab12-cd34", "label": "Photos"}],
    }))
    held = FolderLocks(home / ".mfsync", command="mfsync sync")
    held.take_all([photos])
    try:
        assert _code(["daemon", "--config", str(config_path), "-w", "1"]) == 1
    finally:
        held.release_all()
    err = capsys.readouterr().err
    assert "`mfsync sync`" in err and "Traceback" not in err, err
