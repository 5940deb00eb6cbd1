"""Autostart entries for Linux, macOS and Windows, written under a temporary HOME."""

import configparser
import plistlib
import stat
import sys
from pathlib import Path

import pytest

from mfsync.gui.autostart import (
    HIDDEN_ARG,
    LaunchAgentAutostart,
    WindowsRunAutostart,
    WinRegRunKey,
    XdgAutostart,
    autostart_for,
    launch_command,
)
from mfsync.gui.icons import icon_path

PROGRAM = "/opt/mfsync env/bin/mfsync-gui"  # a space, so quoting matters


class FakeRegistry:
    """The Run key as a dict; counts writes so idempotence shows."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value
        self.writes += 1

    def delete(self, name: str) -> None:
        self.values.pop(name, None)
        self.writes += 1


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def _desktop(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


# -- Linux -----------------------------------------------------------------------------------------

def test_linux_entry_in_xdg_config_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "cfg"))
    autostart = autostart_for("linux", command=[PROGRAM])
    assert isinstance(autostart, XdgAutostart)
    path = home / "cfg" / "autostart" / "mfsync.desktop"
    assert autostart.location == str(path)
    assert not autostart.enabled()

    autostart.enable()
    assert autostart.enabled()
    entry = _desktop(path)
    assert entry["Type"] == "Application"
    assert entry["Exec"] == f'"{PROGRAM}" --hidden'
    assert entry["Exec"].endswith(" --hidden")
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert entry["Icon"] == str(icon_path("mfsync"))
    assert "@" not in path.read_text(encoding="utf-8")  # every placeholder was filled in
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o644

    autostart.disable()
    assert not path.exists()
    assert not autostart.enabled()
    autostart.disable()  # idempotent


def test_linux_default_config_home_and_relative_xdg_is_ignored(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert autostart_for("linux").location == str(home / ".config/autostart/mfsync.desktop")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/cfg")
    assert autostart_for("linux").location == str(home / ".config/autostart/mfsync.desktop")
    assert autostart_for("freebsd14").location == str(home / ".config/autostart/mfsync.desktop")


def test_linux_enable_is_idempotent_and_refreshes_a_stale_entry(home: Path) -> None:
    autostart = autostart_for("linux", command=[PROGRAM])
    autostart.enable()
    path = Path(autostart.location)
    first = path.stat()
    autostart.enable()
    assert path.stat().st_ino == first.st_ino  # unchanged content is not rewritten
    moved = autostart_for("linux", command=["/new/place/mfsync-gui"])
    moved.enable()
    assert _desktop(path)["Exec"] == "/new/place/mfsync-gui --hidden"
    assert sorted(p.name for p in path.parent.iterdir()) == ["mfsync.desktop"]


def test_linux_entry_switched_off_by_the_desktop_counts_as_disabled(home: Path) -> None:
    autostart = autostart_for("linux", command=[PROGRAM])
    autostart.enable()
    path = Path(autostart.location)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("X-GNOME-Autostart-enabled=true",
                                 "X-GNOME-Autostart-enabled=false"), encoding="utf-8")
    assert not autostart.enabled()
    path.write_text(text + "Hidden=true\n", encoding="utf-8")
    assert not autostart.enabled()
    autostart.enable()
    assert autostart.enabled()


@pytest.mark.parametrize(
    ("program", "exec_line"),
    [
        ("/usr/bin/mfsync-gui", "/usr/bin/mfsync-gui --hidden"),
        ("/home/a b/mfsync-gui", '"/home/a b/mfsync-gui" --hidden'),
        ('/x/"q"$v`c', r'"/x/\\"q\\"\\$v\\`c" --hidden'),
        ("/x/back\\slash", r'"/x/back\\\\slash" --hidden'),
        ("/x/100%/gui", "/x/100%%/gui --hidden"),
    ],
)
def test_linux_exec_is_quoted_as_the_desktop_entry_spec_says(
    home: Path, program: str, exec_line: str
) -> None:
    autostart = autostart_for("linux", command=[program])
    autostart.enable()
    assert _desktop(Path(autostart.location))["Exec"] == exec_line


# -- macOS -----------------------------------------------------------------------------------------

def test_macos_launch_agent(home: Path) -> None:
    autostart = autostart_for("darwin", command=[PROGRAM])
    assert isinstance(autostart, LaunchAgentAutostart)
    path = home / "Library" / "LaunchAgents" / "net.mfsync.gui.plist"
    assert autostart.location == str(path)
    assert not autostart.enabled()

    autostart.enable()
    autostart.enable()
    assert autostart.enabled()
    with path.open("rb") as handle:
        agent = plistlib.load(handle)
    assert agent["Label"] == "net.mfsync.gui"
    assert agent["ProgramArguments"] == [PROGRAM, "--hidden"]
    assert agent["RunAtLoad"] is True
    assert agent.get("KeepAlive", False) is False  # Quit means quit

    autostart.disable()
    assert not path.exists()
    assert not autostart.enabled()


def test_macos_broken_plist_counts_as_disabled_and_is_replaced(home: Path) -> None:
    autostart = autostart_for("darwin", command=[PROGRAM])
    path = Path(autostart.location)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"<plist>broken")
    assert not autostart.enabled()
    autostart.enable()
    assert autostart.enabled()


# -- Windows ---------------------------------------------------------------------------------------

def test_windows_run_value() -> None:
    registry = FakeRegistry()
    program = r"C:\Program Files\mfsync\mfsync-gui.exe"
    autostart = autostart_for("win32", registry=registry, command=[program])
    assert isinstance(autostart, WindowsRunAutostart)
    assert autostart.location == (
        r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\mfsync")
    assert not autostart.enabled()

    autostart.enable()
    assert registry.values == {"mfsync": f'"{program}" --hidden'}
    assert autostart.enabled()
    autostart.enable()
    assert registry.writes == 1

    autostart.disable()
    autostart.disable()
    assert registry.values == {}
    assert registry.writes == 2
    assert not autostart.enabled()


def test_windows_value_is_quoted_even_without_spaces() -> None:
    registry = FakeRegistry()
    autostart_for("win32", registry=registry, command=[r"C:\mfsync\mfsync-gui.exe"]).enable()
    assert registry.values["mfsync"] == r'"C:\mfsync\mfsync-gui.exe" --hidden'


# -- what runs at login ----------------------------------------------------------------------------

def test_launch_command_prefers_the_script_beside_the_interpreter(tmp_path: Path) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "mfsync-gui").write_text("#!/bin/sh\n")
    python = str(bin_dir / "python")
    assert launch_command("linux", python, frozen=False) == [str(bin_dir / "mfsync-gui")]


def test_launch_command_on_windows_looks_in_scripts(tmp_path: Path) -> None:
    (tmp_path / "Scripts").mkdir()
    (tmp_path / "Scripts" / "mfsync-gui.exe").write_bytes(b"MZ")
    python = str(tmp_path / "python.exe")
    assert launch_command("win32", python, frozen=False) == [
        str(tmp_path / "Scripts" / "mfsync-gui.exe")]


def test_launch_command_of_a_frozen_app_is_the_app(tmp_path: Path) -> None:
    app = str(tmp_path / "mfsync.app" / "Contents" / "MacOS" / "mfsync")
    assert launch_command("darwin", app, frozen=True) == [app]


def test_launch_command_falls_back_to_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert launch_command("linux", str(tmp_path / "python"), frozen=False) == ["mfsync-gui"]


def test_default_command_ends_with_hidden(home: Path) -> None:
    autostart = autostart_for("linux")
    assert autostart.command[-1] == HIDDEN_ARG
    assert autostart.command[:-1] == launch_command()


@pytest.mark.skipif(sys.platform == "win32", reason="checks the guard elsewhere")
def test_the_real_registry_is_only_on_windows() -> None:
    with pytest.raises(OSError, match="only on Windows"):
        WinRegRunKey().get("mfsync")


@pytest.mark.parametrize(("platform", "suffix"), [("linux", ""), ("darwin", ""),
                                                  ("win32", ".exe")])
def test_launch_command_of_the_frozen_cli_is_the_gui_beside_it(
    tmp_path: Path, platform: str, suffix: str
) -> None:
    # `mfsync gui` from the bundle: login must start mfsync-gui, not the (console) CLI
    for name in ("mfsync", "mfsync-gui"):
        (tmp_path / f"{name}{suffix}").write_bytes(b"")
    cli = str(tmp_path / f"mfsync{suffix}")
    gui = str(tmp_path / f"mfsync-gui{suffix}")
    assert launch_command(platform, cli, frozen=True) == [gui]
    assert launch_command(platform, gui, frozen=True) == [gui]
    # a frozen app without the sibling (renamed, or a single-file build) starts itself
    (tmp_path / f"mfsync-gui{suffix}").unlink()
    assert launch_command(platform, cli, frozen=True) == [cli]
