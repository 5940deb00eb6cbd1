"""A real desktop app and real headless nodes on one qasync loop, pinned to loopback.

Every node here sends multicast with IP_MULTICAST_IF 127.0.0.1 and TTL 0, joins on 127.0.0.1 and
listens for TCP on 127.0.0.1 only, on a discovery port of the test's own: nothing leaves the
machine. HOME is a temporary folder, so the identity, config and autostart files are the test's.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl

from mfsync.config import load_config
from mfsync.crypto.keys import Identity
from mfsync.engine.node import Node, NodeOptions
from mfsync.gui.app import DesktopApp
from mfsync.service import Service

GROUP = "239.255.0.1"


def free_udp_port() -> int:
    """A UDP port nothing on 127.0.0.1 uses now."""
    for _ in range(100):
        port = random.randint(40000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port")


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


async def wait_for(condition: Callable[[], Any], timeout: float = 15.0,
                   what: str = "condition") -> Any:
    """Poll ``condition`` on the running loop (the GUI keeps processing events meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


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
        #: Answers to yes/no questions, in order (True when none is left); the questions asked.
        self.answers: list[bool] = []
        self.questions: list[str] = []
        self.nodes: list[Node] = []
        self.app: DesktopApp | None = None

    def open_url(self, url: QUrl) -> bool:
        """Record a file or folder the app would open."""
        self.opened.append(url.toLocalFile())
        return True

    def confirm(self, title: str, _text: str) -> bool:
        """Answer a yes/no question with the next prepared answer."""
        self.questions.append(title)
        return self.answers.pop(0) if self.answers else True

    def choose_folder(self, _title: str) -> Path | None:
        """Answer a folder dialog with the next prepared answer."""
        return self.chosen.pop(0) if self.chosen else None

    async def start_app(self, *, hidden: bool = False, tray: bool = True,
                        **overrides: Any) -> DesktopApp:
        """Start the desktop app with its config file under the temporary HOME."""
        config = load_config(self.config_path, explicit=False)
        service = Service(loopback_options(self.udp_port, **overrides), config,
                          config_path=self.config_path)
        self.app = DesktopApp(
            service, hidden=hidden, tray_available=tray, sink=self.sink, power_source=self.power,
            autostart=self.autostart, open_url=self.open_url, choose_folder=self.choose_folder,
            confirm=self.confirm,
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
        """Stop the app and every node."""
        if self.app is not None:
            await self.app.stop()
            if self.app.window is not None:
                self.app.window.deleteLater()
        for node in reversed(self.nodes):
            await node.stop()
