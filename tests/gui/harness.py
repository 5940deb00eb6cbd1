"""A real desktop app and real headless nodes on one qasync loop, pinned to loopback.

Every node here sends multicast with IP_MULTICAST_IF 127.0.0.1 and TTL 0, joins on 127.0.0.1 and
listens for TCP on 127.0.0.1 only, on a discovery port of the test's own: nothing leaves the
machine. HOME is a temporary folder, so the identity, config and autostart files are the test's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl

from loopback_ports import GROUP
from mfsync.config import load_config
from mfsync.crypto.keys import Identity
from mfsync.engine.node import Node, NodeOptions
from mfsync.engine.service import Service
from mfsync.gui.app import DesktopApp
from mfsync.gui.gui_settings import GuiSettings, gui_settings_path
from waiting import wait_for_blocking


def loopback_options(udp_port: int, **overrides: Any) -> NodeOptions:
    """Node options that keep every packet on this machine."""
    options: dict[str, Any] = {
        "identity": Identity.generate(), "interfaces": ("127.0.0.1",), "ttl": 0,
        "group": GROUP, "udp_port": udp_port, "tcp_port": 0, "listen_host": "127.0.0.1",
        "beat": 0.5, "handshake_timeout": 3.0, "rescan_interval": 2.0,
    }
    options.update(overrides)
    return NodeOptions(**options)


class RecordingSink:
    """A notification sink that remembers what would have been shown."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str, str | None]] = []

    def show(self, title: str, text: str, kind: str, target: str | None) -> None:
        """Record one notification."""
        self.shown.append((title, text, kind, target))

    def kinds(self) -> list[str]:
        """The kinds shown so far."""
        return [kind for _, _, kind, _ in self.shown]


class FakeNotifications:
    """The desktop's notification service, as ``ActionNotifications``: records each notification
    shown and closed; ``invoke`` clicks a button as a user would (``ActionInvoked``)."""

    def __init__(self, actions: bool = True) -> None:
        self.actions = actions
        #: (id, summary, body, actions) of each notification shown.
        self.shown: list[tuple[int, str, str, tuple[tuple[str, str], ...]]] = []
        self.closed: list[int] = []
        self._handler: Callable[[int, str], None] | None = None

    async def has_actions(self) -> bool:
        return self.actions

    async def notify(self, summary: str, body: str,
                     actions: Sequence[tuple[str, str]]) -> int:
        notification_id = len(self.shown) + 1
        self.shown.append((notification_id, summary, body, tuple(actions)))
        return notification_id

    async def close(self, notification_id: int) -> None:
        self.closed.append(notification_id)

    def set_handler(self, on_action: Callable[[int, str], None]) -> None:
        self._handler = on_action

    def invoke(self, notification_id: int, key: str) -> None:
        """Click the button ``key`` of the notification ``notification_id``."""
        assert self._handler is not None, "nobody listens to the notifications"
        self._handler(notification_id, key)


class FakePower:
    """A power source the test switches between battery and mains."""

    def __init__(self) -> None:
        self.on_battery: bool | None = False

    def __call__(self) -> bool | None:
        return self.on_battery


class FakeAutostart:
    """Records enable and disable calls."""

    location = "(test)"

    def __init__(self) -> None:
        self.on = False

    def enabled(self) -> bool:
        return self.on

    def enable(self) -> None:
        self.on = True

    def disable(self) -> None:
        self.on = False


#: Stopped apps, kept until the process ends (see ``Rig.close``).
_KEEP_ALIVE: list[Any] = []


class Rig:
    """The app under test, the headless nodes beside it, and what they would show or open."""

    def __init__(self, home: Path, udp_port: int) -> None:
        self.home = home
        self.udp_port = udp_port
        self.config_path = home / ".mfsync" / "config.json"
        self.sink = RecordingSink()
        self.power = FakePower()
        self.autostart = FakeAutostart()
        self.opened: list[str] = []
        self.chosen: list[Path | None] = []
        #: Answers to file choosers, in order (None: the user cancels).
        self.chosen_files: list[list[Path] | None] = []
        self.notifications = FakeNotifications()
        #: Answers to yes/no questions, in order (True when none is left); the questions asked.
        self.answers: list[bool] = []
        self.questions: list[str] = []
        self.nodes: list[Node] = []
        self.app: DesktopApp | None = None

    def open_url(self, url: QUrl) -> bool:
        """Record a file or folder the app would open."""
        self.opened.append(url.toLocalFile())
        return True

    def confirm(self, title: str, _text: str, on_yes: Callable[[], None]) -> None:
        """Answer a yes/no question with the next prepared answer (as the window's
        non-blocking question would, later: through the callback)."""
        self.questions.append(title)
        if self.answers.pop(0) if self.answers else True:
            on_yes()

    def choose_folder(self, _title: str, on_chosen: Callable[[Path], object]) -> None:
        """Answer a folder dialog with the next prepared answer (None: the user cancels)."""
        folder = self.chosen.pop(0) if self.chosen else None
        if folder is not None:
            on_chosen(folder)

    def choose_files(self, _title: str, on_chosen: Callable[[list[Path]], object]) -> None:
        """Answer a file chooser with the next prepared answer (None: the user cancels)."""
        files = self.chosen_files.pop(0) if self.chosen_files else None
        if files is not None:
            on_chosen(files)

    async def start_app(self, *, hidden: bool = False, tray: bool = True,
                        **overrides: Any) -> DesktopApp:
        """Start the desktop app with its config file under the temporary HOME."""
        config = load_config(self.config_path, explicit=False)
        service = Service(loopback_options(self.udp_port, **overrides), config,
                          config_path=self.config_path)
        self.app = DesktopApp(
            service, hidden=hidden, tray_available=tray, sink=self.sink, power_source=self.power,
            autostart=self.autostart, open_url=self.open_url, choose_folder=self.choose_folder,
            confirm=self.confirm, choose_files=self.choose_files,
            offer_notifications=self.notifications,
            gui_settings=GuiSettings(gui_settings_path(self.config_path)),
        )
        await self.app.start()
        return self.app

    async def node(self, **overrides: Any) -> Node:
        """Start a headless node beside the app."""
        node = Node(loopback_options(self.udp_port, **overrides))
        self.nodes.append(node)
        await node.start()
        return node

    async def close(self) -> None:
        """Stop the app and every node.

        The stopped app's Qt objects are kept alive to the end of the process: deleting them
        between tests, while the next test's loop runs, let a Qt timer fire on a deleted object
        now and then (a segfault in ``QTimerInfoList::activateTimers``).

        A test that leaves work running (a sync folder, files being received) calls this at
        its end: after the test, pytest-qt processes the Qt events once more before the
        fixtures are torn down, and qasync then runs the engine's callbacks outside the running
        loop ("bound to a different event loop", "no running event loop"). Closing twice does
        nothing more.
        """
        app, self.app = self.app, None
        if app is not None:
            await app.stop()
            _KEEP_ALIVE.append(app)
        nodes, self.nodes = self.nodes, []
        for node in reversed(nodes):
            await node.stop()


# -- the real app on a real (virtual) X display -----------------------------------------------
#
# The smoke test and scripts/screenshots.py run the app as a user sees it: on an Xvfb server (an
# X display without a screen, on a Unix socket only: -nolisten tcp) with trayer as the tray host.


#: Programs the X display helpers run, and the Debian package of each (scripts/system-deps.sh).
X_TOOLS = {"Xvfb": "xvfb", "trayer": "trayer", "xwininfo": "x11-utils", "import": "imagemagick"}


def gui_command() -> list[str]:
    """How to start the real ``mfsync-gui``: the venv's script, else the module."""
    script = Path(sys.executable).with_name("mfsync-gui")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mfsync.gui.launch"]


def missing_x_tools(*names: str) -> list[str]:
    """Those of ``names`` (keys of ``X_TOOLS``) not on PATH, as "program (package)"."""
    return [f"{name} ({X_TOOLS.get(name, name)})" for name in names if shutil.which(name) is None]


@dataclass(frozen=True)
class XWindow:
    """One window of ``xwininfo -root -tree``: its id, title, WM_CLASS, size, absolute position,
    parent and depth below the root (1 for a top-level window)."""

    id: int
    name: str
    wm_class: tuple[str, ...]
    width: int
    height: int
    x: int
    y: int
    parent: int | None
    depth: int


_TREE_LINE = re.compile(
    r'^(?P<indent>\s*)(?P<id>0x[0-9a-f]+) (?:"(?P<name>.*)"|\(has no name\)): '
    r"\((?P<cls>[^)]*)\)\s+(?P<w>\d+)x(?P<h>\d+)[+-]-?\d+[+-]-?\d+\s+"
    r"\+(?P<x>-?\d+)\+(?P<y>-?\d+)")


def parse_window_tree(text: str) -> list[XWindow]:
    """The windows below the root in the output of ``xwininfo -root -tree``."""
    windows: list[XWindow] = []
    stack: list[tuple[int, int]] = []  # (indent, id) of the ancestors of the next line
    for line in text.splitlines():
        match = _TREE_LINE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        window_id = int(match["id"], 16)
        windows.append(XWindow(
            window_id, match["name"] or "", tuple(re.findall(r'"([^"]*)"', match["cls"])),
            int(match["w"]), int(match["h"]), int(match["x"]), int(match["y"]),
            stack[-1][1] if stack else None, len(stack) + 1))
        stack.append((indent, window_id))
    return windows


class XDisplay:
    """An Xvfb server on a free display number, and trayer on it as the tray host when asked.

    Use as a context manager, or call ``close``: it ends the processes it started, and only them.
    """

    def __init__(self, size: tuple[int, int] = (1280, 800), log_dir: Path | None = None) -> None:
        self.size = size
        self.log_dir = log_dir
        self.display = ""
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._tray: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> XDisplay:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for X clients of this display: Qt on X11, and no session bus (so Qt
        uses the X11 tray protocol that trayer speaks, not a desktop's D-Bus tray)."""
        env = dict(os.environ if base is None else base)
        for name in ("WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XAUTHORITY"):
            env.pop(name, None)
        env.update(DISPLAY=self.display, QT_QPA_PLATFORM="xcb", XDG_SESSION_TYPE="x11")
        return env

    def start(self, timeout: float = 30.0) -> None:
        """Start Xvfb; it picks a free display number and tells it on a pipe (-displayfd)."""
        read_end, write_end = os.pipe()
        try:
            width, height = self.size
            with self._log("xvfb") as log:
                self._xvfb = subprocess.Popen(
                    ["Xvfb", "-displayfd", str(write_end), "-screen", "0",
                     f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
                    pass_fds=(write_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=log, preexec_fn=_die_with_parent)
            os.close(write_end)
            write_end = -1
            number = b""
            deadline = time.monotonic() + timeout
            while not number.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_end], [], [], left)[0]:
                    raise RuntimeError(f"Xvfb told no display number within {timeout} s")
                chunk = os.read(read_end, 16)
                if not chunk:
                    raise RuntimeError(f"Xvfb exited with {self._xvfb.wait()}")
                number += chunk
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        self.display = f":{int(number)}"

    def start_tray(self, timeout: float = 30.0) -> None:
        """Start trayer (a small panel at the top right) and wait until it manages the tray."""
        with self._log("trayer") as log:
            self._tray = subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                 "--height", "24", "--transparent", "false"],
                env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                preexec_fn=_die_with_parent)
        # the panel, and the invisible window (GTK puts those at -100,-100) that owns the
        # tray selection
        wait_for_blocking(lambda: self.tray_panel() is not None and any(
            w.name == "trayer" and (w.x, w.y) == (-100, -100) for w in self.windows()),
            timeout, "trayer's panel")
        time.sleep(0.5)

    def stop_tray(self) -> None:
        """End trayer: from now on the display has no tray."""
        _end(self._tray)
        self._tray = None

    def close(self) -> None:
        """End trayer and Xvfb."""
        self.stop_tray()
        _end(self._xvfb)
        self._xvfb = None

    def windows(self) -> list[XWindow]:
        """Every window on the display."""
        out = subprocess.run(["xwininfo", "-root", "-tree"], env=self.env(), capture_output=True,
                             text=True, timeout=30, check=True).stdout
        return parse_window_tree(out)

    def tray_panel(self) -> XWindow | None:
        """trayer's panel window, if it is up."""
        return next((w for w in self.windows() if w.wm_class == ("panel", "trayer")), None)

    def tray_icons(self) -> list[XWindow]:
        """The windows embedded in trayer's panel (one per tray icon)."""
        windows = self.windows()
        panel = next((w for w in windows if w.wm_class == ("panel", "trayer")), None)
        if panel is None:
            return []
        by_id = {w.id: w for w in windows}

        def inside_panel(window: XWindow) -> bool:
            parent = window.parent
            while parent is not None:
                if parent == panel.id:
                    return True
                parent = by_id[parent].parent if parent in by_id else None
            return False

        return [w for w in windows if w.wm_class and inside_panel(w)]

    def viewable(self, window: XWindow) -> bool:
        """Whether ``window`` is mapped and all its ancestors are (it can be seen)."""
        out = subprocess.run(["xwininfo", "-id", hex(window.id)], env=self.env(),
                             capture_output=True, text=True, timeout=30, check=False).stdout
        return "Map State: IsViewable" in out

    def screenshot(self, path: Path, rect: tuple[int, int, int, int] | None = None) -> None:
        """Save the screen, or the part ``(x, y, width, height)`` of it, as a PNG file."""
        crop = [] if rect is None else ["-crop", "{2}x{3}+{0}+{1}".format(*rect), "+repage"]
        subprocess.run(["import", "-display", self.display, "-window", "root", *crop, str(path)],
                       env=self.env(), check=True, timeout=60, stdin=subprocess.DEVNULL,
                       capture_output=True)

    def _log(self, name: str) -> contextlib.AbstractContextManager[Any]:
        # the child keeps its own copy of the file: ours is closed once it has started
        if self.log_dir is None:
            return contextlib.nullcontext(subprocess.DEVNULL)
        return (self.log_dir / f"{name}.log").open("ab")


def _die_with_parent() -> None:
    # In the child, before exec: on Linux, get SIGTERM when the parent dies, so a test or
    # script that crashes leaves no X server behind (PR_SET_PDEATHSIG).
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def _end(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
