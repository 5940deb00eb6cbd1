"""Where the packaging steps read and write, and the facts they take from mfsync itself.

Every script in this folder imports this module; nothing here builds anything. The folder is
not a Python package (its name would shadow the PyPI ``packaging`` library): scripts run as
``python packaging/build.py ...`` and import their siblings as top-level modules.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

#: The repository's top folder.
ROOT = Path(__file__).resolve().parent.parent
#: This folder: the spec, the launchers and the build scripts.
PACKAGING = ROOT / "packaging"
#: Scratch space of every build step (ignored by git).
BUILD = ROOT / "build" / "packaging"
#: Wheels of mfsync, its dependencies, PyInstaller and the build backend: ``build.py prepare``
#: fills it so that every later step (and the per-user installer's test) runs offline.
WHEELS = BUILD / "wheels"
#: The virtual environment that PyInstaller runs in (mfsync installed from its wheel).
BUILD_VENV = BUILD / "venv"
#: PyInstaller's work folder.
PYINSTALLER_WORK = BUILD / "pyinstaller"
#: Icons rendered from the SVG for hicolor, Windows and macOS.
ICONS = BUILD / "icons"
#: What ships: the onedir bundle (``dist/mfsync``), the .deb and friends.
DIST = ROOT / "dist"
#: The onedir bundle: ``mfsync``, ``mfsync-gui`` and their shared ``_internal`` folder.
BUNDLE = DIST / "mfsync"
#: The installers' sources.
INSTALLER = ROOT / "installer"
#: The app's resources (icons, desktop files, the LaunchAgent template).
RESOURCES = ROOT / "resources"

#: The executables in the bundle, by the name they have on Linux and macOS.
CLI_NAME = "mfsync"
GUI_NAME = "mfsync-gui"


def _mfsync() -> object:
    # the build may run from a checkout whose mfsync is not installed in this interpreter
    app = str(ROOT / "app")
    if app not in sys.path:
        sys.path.insert(0, app)
    import mfsync  # noqa: PLC0415

    return mfsync


def version() -> str:
    """mfsync's version, from its single source (``mfsync.__version__``)."""
    return str(_mfsync().__version__)  # type: ignore[attr-defined]


def app_id() -> str:
    """The reverse-DNS application id (desktop file, AppStream, macOS bundle identifier)."""
    return str(_mfsync().APP_ID)  # type: ignore[attr-defined]


def ports() -> tuple[int, int]:
    """The default TCP transfer port and UDP discovery port, from the modules that own them."""
    _mfsync()
    from mfsync.net.discovery import DEFAULT_UDP_PORT  # noqa: PLC0415
    from mfsync.net.server import DEFAULT_TCP_PORT  # noqa: PLC0415

    return DEFAULT_TCP_PORT, DEFAULT_UDP_PORT


def deb_arch() -> str:
    """Debian's name for this machine's architecture."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(machine, machine)
