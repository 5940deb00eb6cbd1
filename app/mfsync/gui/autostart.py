"""Start the app at login: an XDG autostart entry, a macOS LaunchAgent or a Windows Run value.

How it works: ``autostart_for`` picks the backend for a platform. Every backend starts the same
command, ``launch_command()`` plus ``--hidden`` (the app comes up in the tray without a window).
What runs at login is not this process's environment: the login session's PATH may not
contain a virtual environment's ``bin`` folder, so the command names the ``mfsync-gui`` script
next to the running interpreter by its absolute path when there is one, and a frozen app starts
its own executable. The Linux and macOS files are written from the templates in
``mfsync.resources`` (which packagers reuse) and replaced atomically; Windows goes through the
small ``RegistryBackend`` protocol so that tests can check what would be written. Nothing here
needs Qt.
"""

import abc
import logging
import os
import plistlib
import shutil
import subprocess
import sys
import xml.parsers.expat
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mfsync.gui.icons import icon_path, resource_path
from mfsync.store.files import atomic_write

__all__ = [
    "HIDDEN_ARG",
    "Autostart",
    "LaunchAgentAutostart",
    "RegistryBackend",
    "WinRegRunKey",
    "WindowsRunAutostart",
    "XdgAutostart",
    "autostart_for",
    "launch_command",
]

log = logging.getLogger("mfsync.gui")

#: The argument that starts the app in the tray, without its window.
HIDDEN_ARG = "--hidden"
#: The console script of the desktop app.
GUI_SCRIPT = "mfsync-gui"
#: Placeholders in the templates (see resources/README.md).
EXEC_PLACEHOLDER = "@EXEC@"
ICON_PLACEHOLDER = "@ICON@"
#: The LaunchAgent's label, also its file name.
LAUNCH_AGENT_LABEL = "net.mfsync.gui"
#: Where Windows starts programs for the current user at login, and our value's name there.
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "mfsync"
_NOT_WINDOWS = "the Windows registry exists only on Windows"


def launch_command(
    platform: str = sys.platform,
    executable: str = sys.executable,
    frozen: bool | None = None,
) -> list[str]:
    """The program (and arguments before ``--hidden``) that starts the desktop app at login.

    A frozen bundle names its ``mfsync-gui`` executable: the running one, or the one beside
    the running ``mfsync`` (a user who ran ``mfsync gui``)."""
    if frozen is None:
        frozen = bool(getattr(sys, "frozen", False))
    name = f"{GUI_SCRIPT}.exe" if platform == "win32" else GUI_SCRIPT
    if frozen:
        # The bundle's CLI runs the app too (``mfsync gui``), but login must start the GUI
        # executable beside it: the CLI is a console program on Windows.
        sibling = Path(executable).with_name(name)
        return [str(sibling)] if sibling.is_file() else [executable]
    # not resolved: a virtual environment's python is a symlink to the base interpreter, and the
    # script lives beside the link. Windows puts scripts in Scripts\ beside a base python.exe.
    here = Path(executable).parent
    for candidate in (here / name, here / "Scripts" / name):
        if candidate.is_file():
            return [str(candidate)]
    found = shutil.which(GUI_SCRIPT)
    return [str(Path(found).absolute()) if found else GUI_SCRIPT]


class Autostart(abc.ABC):
    """Whether the app starts at login, for one platform's mechanism."""

    def __init__(self, command: Sequence[str]) -> None:
        #: What starts at login: the program and its arguments, ``--hidden`` last.
        self.command = [*command, HIDDEN_ARG]

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the entry lives, for the user to read (a file path or a registry value)."""

    @abc.abstractmethod
    def enabled(self) -> bool:
        """Whether an entry exists and is switched on."""

    @abc.abstractmethod
    def enable(self) -> None:
        """Create or refresh the entry (idempotent; ``OSError`` if it cannot be written)."""

    @abc.abstractmethod
    def disable(self) -> None:
        """Remove the entry (idempotent)."""


class XdgAutostart(Autostart):
    """Linux and other XDG desktops: ``$XDG_CONFIG_HOME/autostart/mfsync.desktop``."""

    def __init__(self, command: Sequence[str], config_home: Path) -> None:
        super().__init__(command)
        self.path = config_home / "autostart" / "mfsync.desktop"

    @property
    def location(self) -> str:
        return str(self.path)

    def enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        entries = _desktop_entries(text)
        # a user may switch the entry off in the desktop's settings instead of deleting it
        return (entries.get("Hidden", "false").lower() != "true"
                and entries.get("X-GNOME-Autostart-enabled", "true").lower() != "false")

    def enable(self) -> None:
        try:
            icon = str(icon_path("mfsync"))
        except FileNotFoundError:
            icon = "mfsync"
        template = resource_path("linux", "mfsync-autostart.desktop").read_text(encoding="utf-8")
        text = (template.replace(EXEC_PLACEHOLDER, _desktop_exec(self.command[:-1]))
                .replace(ICON_PLACEHOLDER, _desktop_escape(icon)))
        _write_if_changed(self.path, text.encode("utf-8"))

    def disable(self) -> None:
        _remove(self.path)


class LaunchAgentAutostart(Autostart):
    """macOS: ``~/Library/LaunchAgents/net.mfsync.gui.plist``, loaded by launchd at login."""

    def __init__(self, command: Sequence[str], home: Path) -> None:
        super().__init__(command)
        self.path = home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"

    @property
    def location(self) -> str:
        return str(self.path)

    def enabled(self) -> bool:
        try:
            with self.path.open("rb") as handle:
                agent = plistlib.load(handle)
        except (OSError, ValueError, xml.parsers.expat.ExpatError):
            return False
        return isinstance(agent, dict) and agent.get("RunAtLoad") is True

    def enable(self) -> None:
        with resource_path("macos", f"{LAUNCH_AGENT_LABEL}.plist").open("rb") as handle:
            agent = plistlib.load(handle)
        agent["ProgramArguments"] = list(self.command)
        _write_if_changed(self.path, plistlib.dumps(agent))

    def disable(self) -> None:
        # the agent is only read at the next login, so there is nothing to unload now
        _remove(self.path)


class RegistryBackend(Protocol):
    """String values of the current user's Run key (the real one is ``WinRegRunKey``)."""

    def get(self, name: str) -> str | None:
        """The value ``name``, or None if it does not exist."""

    def set(self, name: str, value: str) -> None:
        """Create or replace the value ``name``."""

    def delete(self, name: str) -> None:
        """Remove the value ``name`` if it exists."""


class WinRegRunKey:
    """``HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`` via winreg."""

    def get(self, name: str) -> str | None:
        """The value ``name``, or None if it does not exist."""
        if sys.platform != "win32":
            raise OSError(_NOT_WINDOWS)
        import winreg  # noqa: PLC0415 - Windows only

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return None
        return value if isinstance(value, str) else None

    def set(self, name: str, value: str) -> None:
        """Create or replace the value ``name`` (a plain string, REG_SZ)."""
        if sys.platform != "win32":
            raise OSError(_NOT_WINDOWS)
        import winreg  # noqa: PLC0415

        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0,
                                winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)

    def delete(self, name: str) -> None:
        """Remove the value ``name`` if it exists."""
        if sys.platform != "win32":
            raise OSError(_NOT_WINDOWS)
        import winreg  # noqa: PLC0415

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0,
                                winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            pass


class WindowsRunAutostart(Autostart):
    """Windows: the value ``mfsync`` under the current user's Run key."""

    def __init__(self, command: Sequence[str], registry: RegistryBackend) -> None:
        super().__init__(command)
        self.registry = registry

    @property
    def location(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{RUN_VALUE}"

    @property
    def value(self) -> str:
        """The command line stored in the Run value: the program always in double quotes (an
        unquoted path with spaces would start something else), then its arguments."""
        program, *args = self.command
        return " ".join([f'"{program}"', subprocess.list2cmdline(args)]).rstrip()

    def enabled(self) -> bool:
        return bool(self.registry.get(RUN_VALUE))

    def enable(self) -> None:
        if self.registry.get(RUN_VALUE) != self.value:
            self.registry.set(RUN_VALUE, self.value)
            log.info("autostart enabled: %s", self.location)

    def disable(self) -> None:
        if self.registry.get(RUN_VALUE) is not None:
            self.registry.delete(RUN_VALUE)
            log.info("autostart disabled: %s", self.location)


def autostart_for(
    platform: str = sys.platform,
    home: Path | None = None,
    registry: RegistryBackend | None = None,
    command: Sequence[str] | None = None,
) -> Autostart:
    """The autostart mechanism of ``platform`` (a ``sys.platform`` value) for the user whose home
    folder is ``home`` (default: this user's); ``registry`` replaces the Windows registry and
    ``command`` the program started (default ``launch_command(platform)``)."""
    home = home if home is not None else Path.home()
    command = list(command) if command is not None else launch_command(platform)
    if platform == "win32":
        return WindowsRunAutostart(command, registry if registry is not None else WinRegRunKey())
    if platform == "darwin":
        return LaunchAgentAutostart(command, home)
    config_home = os.environ.get("XDG_CONFIG_HOME", "")
    # the XDG spec says to ignore a relative value
    base = Path(config_home) if os.path.isabs(config_home) else home / ".config"
    return XdgAutostart(command, base)


# -- helpers -------------------------------------------------------------------------------------

#: Characters that make the Desktop Entry spec require an Exec argument to be quoted.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def _desktop_exec(args: Sequence[str]) -> str:
    """``args`` as the Exec key's value: quoted per the Desktop Entry spec, ``%`` doubled (it
    starts field codes), then escaped as a string value (so a backslash ends up as four)."""
    words = []
    for arg in args:
        if arg and not (_RESERVED & set(arg)):
            words.append(arg)
        else:
            inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            words.append(f'"{inner}"')
    return _desktop_escape(" ".join(words).replace("%", "%%"))


def _desktop_escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            .replace("\r", "\\r"))


def _desktop_entries(text: str) -> dict[str, str]:
    """The keys of the ``[Desktop Entry]`` group (enough to read our own file back)."""
    entries: dict[str, str] = {}
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            group = line
        elif group == "[Desktop Entry]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value.strip()
    return entries


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    atomic_write(path, data, mode=0o644)
    log.info("autostart enabled: %s", path)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    log.info("autostart disabled: %s", path)
