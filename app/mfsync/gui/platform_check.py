"""Before Qt starts: can its platform plugin start here? If not, say what to install.

Without a library that Qt's X11 platform plugin loads (``libxcb-cursor.so.0`` is missing on
many Debian and Ubuntu desktops), Qt aborts the process with SIGABRT and a message that names
neither the package nor the fix. So the desktop app asks first, without importing Qt (its own
libraries may be what is missing): which platform Qt will try (``QT_QPA_PLATFORM``, else
Wayland in a Wayland session with X11 after it, else X11), whether that platform has a display
to talk to, and whether the dynamic linker finds every library the plugin needs
(``ctypes.CDLL``, as Qt's own loading would). When no platform can start, ``platform_problem``
is one paragraph that names the missing libraries and the packages that hold them on
Debian/Ubuntu, Fedora and Arch; the app prints it and exits with code 2.

Platforms other than X11 and Wayland (``offscreen`` for tests, ``vnc``, ``eglfs``) are not
judged: whoever chose one knows what it needs.
"""

import ctypes
import importlib.util
import os
import re
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LIBRARIES", "Package", "desktop_packages", "platform_problem"]


@dataclass(frozen=True)
class Package:
    """The package holding a library, by distribution family."""

    debian: str
    fedora: str
    arch: str


#: Every system library the X11 platform plugin (``libqxcb.so``, ``libQt6XcbQpa.so.6``) and
#: Qt's GUI libraries load, with its packages. (The Wayland plugin's are in
#: ``_WAYLAND_LIBRARIES``.) ``scripts/desktop-deps.sh`` installs the Debian column.
LIBRARIES: dict[str, Package] = {
    "libxcb-cursor.so.0": Package("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": Package("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": Package("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": Package("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": Package("libxcb-render-util0", "xcb-util-renderutil",
                                       "xcb-util-renderutil"),
    "libxcb-util.so.1": Package("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-shape.so.0": Package("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": Package("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-randr.so.0": Package("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": Package("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": Package("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": Package("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-render.so.0": Package("libxcb-render0", "libxcb", "libxcb"),
    "libxcb.so.1": Package("libxcb1", "libxcb", "libxcb"),
    "libxkbcommon-x11.so.0": Package("libxkbcommon-x11-0", "libxkbcommon-x11",
                                     "libxkbcommon-x11"),
    "libX11-xcb.so.1": Package("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": Package("libx11-6", "libX11", "libx11"),
    "libxkbcommon.so.0": Package("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libGL.so.1": Package("libgl1", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": Package("libegl1", "libglvnd-egl", "libglvnd"),
    "libfontconfig.so.1": Package("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": Package("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": Package("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": Package("libglib2.0-0", "glib2", "glib2"),
}
#: What the Wayland plugin loads beyond Qt's GUI libraries.
_WAYLAND_LIBRARIES: dict[str, Package] = {
    "libwayland-client.so.0": Package("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor.so.0": Package("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libwayland-egl.so.1": Package("libwayland-egl1", "libwayland-egl", "wayland"),
    "libxkbcommon.so.0": LIBRARIES["libxkbcommon.so.0"],
}
#: The platforms judged here, and the libraries each needs.
_NEEDS = {"xcb": LIBRARIES, "wayland": _WAYLAND_LIBRARIES, "wayland-egl": _WAYLAND_LIBRARIES}
#: The X11 plugin as PySide6 ships it, under its package folder.
_XCB_PLUGIN = ("Qt", "plugins", "platforms", "libqxcb.so")
#: What the dynamic linker says of a library it cannot find.
_NOT_FOUND = re.compile(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file")

#: Whether a library loads: its soname in, None or the linker's complaint out.
Loader = Callable[[str], str | None]


def desktop_packages() -> list[str]:
    """The Debian packages of every library in ``LIBRARIES``, once each, sorted."""
    return sorted({package.debian for package in LIBRARIES.values()})


def platform_problem(env: Mapping[str, str] | None = None, *, platform: str = sys.platform,
                     load: Loader | None = None,
                     display_reachable: Callable[[str], bool] | None = None) -> str | None:
    """Why Qt could not start a platform plugin here, as one paragraph for a person; None when
    one of the platforms Qt will try can start (or when it is not ours to judge). ``load`` and
    ``display_reachable`` are for tests (by default: the dynamic linker, a connect to the X
    server's local socket)."""
    if not platform.startswith("linux"):
        return None  # Windows and macOS plugins ship inside the wheel
    env = os.environ if env is None else env
    load = load or _load
    display_reachable = display_reachable or _x_display_reachable
    missing: dict[str, Package] = {}
    no_display: list[str] = []
    for name in _platforms_to_try(env):
        needs = _NEEDS.get(name)
        if needs is None:
            return None  # offscreen, vnc, eglfs...: chosen by someone who knows
        display = _display_of(name, env)
        if not display:
            no_display.append(name)
            continue
        if name == "xcb" and not display_reachable(display):
            no_display.append(f"xcb:{display}")
            continue
        lacking = {soname: needs.get(soname) for soname in needs if load(soname) is not None}
        if not lacking and name == "xcb":
            lacking = _plugin_lacks(load)
        if not lacking:
            return None
        for soname, package in lacking.items():
            missing[soname] = package or Package(soname, soname, soname)
    if missing:
        return _missing_text(missing)
    return _no_display_text(no_display)


# -- which platform, which display ------------------------------------------------------------


def _platforms_to_try(env: Mapping[str, str]) -> list[str]:
    """The plugins Qt 6 tries, in order (as ``QGuiApplication`` picks them on Linux)."""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return [part.split(":", 1)[0].strip() for part in chosen.split(";") if part.strip()]
    if env.get("XDG_SESSION_TYPE") == "wayland" or (env.get("WAYLAND_DISPLAY")
                                                    and not env.get("DISPLAY")):
        return ["wayland", "xcb"]
    return ["xcb"]


def _display_of(name: str, env: Mapping[str, str]) -> str:
    if name == "xcb":
        return env.get("DISPLAY", "")
    wayland = env.get("WAYLAND_DISPLAY", "")
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if not wayland and runtime and os.path.exists(os.path.join(runtime, "wayland-0")):
        wayland = "wayland-0"  # what libwayland-client connects to when the variable is unset
    return wayland


def _x_display_reachable(display: str) -> bool:
    """Whether an X server answers at ``display``: for a local one (":0", "unix:0") its socket
    accepts a connection; a remote one (over TCP or SSH forwarding) is taken on trust."""
    match = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if match is None:
        return True
    path = f"/tmp/.X11-unix/X{match.group(1)}"  # noqa: S108 - where every X server listens
    for address in (path, "\0" + path):  # the file, or Linux's abstract socket of that name
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(address)
            except OSError:
                continue
            return True
    return False


# -- which libraries --------------------------------------------------------------------------


def _load(soname: str) -> str | None:
    """None when the dynamic linker loads ``soname`` (or a path), else what it said."""
    try:
        ctypes.CDLL(soname)
    except OSError as exc:
        return str(exc)
    return None


def _plugin_lacks(load: Loader) -> dict[str, Package | None]:
    """A library the X11 plugin needs beyond ``LIBRARIES`` (a newer Qt may add one): loading
    the plugin itself names the first one the linker cannot find."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return {}
    plugin = Path(next(iter(spec.submodule_search_locations)), *_XCB_PLUGIN)
    if not plugin.is_file():
        return {}  # (a frozen bundle lays its plugins out otherwise)
    complaint = load(str(plugin))
    if complaint is None:
        return {}
    match = _NOT_FOUND.search(complaint)
    soname = match.group(1) if match else complaint
    return {soname: LIBRARIES.get(soname)}


# -- what to tell -----------------------------------------------------------------------------


def _missing_text(missing: Mapping[str, Package]) -> str:
    def packages(pick: Callable[[Package], str]) -> str:
        return " ".join(sorted({pick(package) for package in missing.values()}))

    libraries = ", ".join(sorted(missing))
    return (
        f"mfsync-gui cannot start: Qt's desktop platform plugin needs {libraries}, which this "
        f"system lacks. Install it and start again. Debian/Ubuntu: sudo apt install "
        f"{packages(lambda p: p.debian)}; Fedora: sudo dnf install "
        f"{packages(lambda p: p.fedora)}; Arch: sudo pacman -S {packages(lambda p: p.arch)}. "
        f"(./run gui installs what Debian needs itself when run as root.) The command line "
        f"(mfsync share, sync, daemon) needs none of this."
    )


def _no_display_text(tried: list[str]) -> str:
    unreachable = [name.split(":", 1)[1] for name in tried if ":" in name]
    if unreachable:
        where = f"no X server answers at DISPLAY={unreachable[0]}"
    else:
        where = "no graphical session was found (DISPLAY and WAYLAND_DISPLAY are not set)"
    return (
        f"mfsync-gui cannot start: {where}. Start it from a desktop session, or run mfsync "
        f"without a window: mfsync daemon runs the app's folders, mfsync sync DIR one folder "
        f"(see systemctl --user enable --now mfsync in the README)."
    )
