"""``mfsync gui`` starts the desktop app with the options that apply to it."""

from __future__ import annotations

import pytest

import mfsync.gui.launch
from mfsync.cli import EXIT_USAGE, main


def test_gui_mode_passes_its_options_to_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(mfsync.gui.launch, "main", lambda argv: seen.append(argv) or 0)
    config = tmp_path / "c.json"
    config.write_text("{}")
    assert main(["-v", "--config", str(config), "gui", "--hidden",
                 "--trusted-keys", "ab" * 32]) == 0
    assert seen == [["--hidden", "--config", str(config), "--trusted-keys", "ab" * 32, "-v"]]


@pytest.mark.parametrize("option", [["--port", "9000"], ["--interface", "lo"], ["--ttl", "0"]])
def test_gui_mode_refuses_network_options(option: list[str], capsys, monkeypatch,
                                          tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["gui", *option]) == EXIT_USAGE
    assert "Settings" in capsys.readouterr().err


def test_mfsync_gui_version(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        mfsync.gui.launch.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("mfsync-gui ")
