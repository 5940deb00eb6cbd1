"""The freedesktop notification service over a real D-Bus: a private bus daemon (a Unix socket
of this test's) and a fake service in a process of its own (``fake_notification_server.py``),
whose slots have the specification's signatures, so a call typed otherwise is refused as a
real service refuses it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtDBus import QDBusConnection

from mfsync.gui.offer_prompt import ACCEPT, DECLINE, DBusNotifications, desktop_notifications

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None,
                                reason="needs dbus-daemon (package dbus)")

SERVER = Path(__file__).with_name("fake_notification_server.py")


@pytest.fixture
def bus_address() -> Iterator[str]:
    """A private session bus, ended after the test."""
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert daemon.stdout is not None
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


class Server:
    """The fake notification service's process: its lines, and buttons to click."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    async def line(self) -> str:
        assert self.process.stdout is not None
        return await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), 10.0)

    def click(self, notification_id: int, key: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"invoke {notification_id} {key}\n")
        self.process.stdin.flush()


@pytest.fixture
async def start_server(bus_address: str) -> AsyncIterator[Callable[..., Any]]:
    processes: list[subprocess.Popen[str]] = []

    async def start(*capabilities: str) -> Server:
        process = subprocess.Popen([sys.executable, "-u", str(SERVER), bus_address,
                                    *capabilities], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        processes.append(process)
        server = Server(process)
        assert await server.line() == "ready\n"
        return server

    yield start
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()  # it quits at the end of its input
        process.wait(timeout=10)


_connections = iter(range(1_000_000))


def _client(bus_address: str) -> DBusNotifications:
    connection = QDBusConnection.connectToBus(bus_address, f"client-{next(_connections)}")
    assert connection.isConnected()
    return DBusNotifications(connection)


async def test_notify_with_buttons_and_a_click(bus_address: str,
                                               start_server: Callable[..., Any]) -> None:
    server = await start_server("actions", "body", "body-markup")
    notifications = _client(bus_address)
    clicks: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    notifications.set_handler(lambda number, key: clicks.put_nowait((number, key)))
    assert await notifications.has_actions()
    number = await notifications.notify("anna <b>wants</b> to send you 1 file",
                                        "a&b.txt <i>(1 kB)</i>",
                                        ((ACCEPT, "Accept"), (DECLINE, "Decline")))
    # answered at all: the id went out unsigned, as the specification's slot takes it
    assert number == 1
    assert await server.line() == "notify 1 " + repr((
        "mfsync", 0, "mfsync", "anna <b>wants</b> to send you 1 file",
        "a&amp;b.txt &lt;i&gt;(1 kB)&lt;/i&gt;",  # the service reads markup: escaped
        [ACCEPT, "Accept", DECLINE, "Decline"], 0)) + "\n"
    server.click(1, DECLINE)
    assert await asyncio.wait_for(clicks.get(), 10.0) == (1, DECLINE)
    await notifications.close(1)
    assert await server.line() == "close 1\n"


async def test_plain_text_bodies_stay_as_they_are(bus_address: str,
                                                  start_server: Callable[..., Any]) -> None:
    server = await start_server("actions", "body")
    notifications = _client(bus_address)
    assert await notifications.has_actions()
    await notifications.notify("s", "a&b.txt", ((ACCEPT, "Accept"),))
    assert "'a&b.txt'" in await server.line()


async def test_a_service_without_buttons_or_no_service_means_dialogs(
        bus_address: str, start_server: Callable[..., Any]) -> None:
    assert not await _client(bus_address).has_actions()  # nobody owns the name
    await start_server("body", "persistence")
    assert not await _client(bus_address).has_actions()


async def test_the_apps_own_service_is_made_whatever_the_session_bus() -> None:
    # the app's default (no fake): made and asked without raising, bus or none
    notifications = desktop_notifications()
    assert notifications is not None
    assert isinstance(await notifications.has_actions(), bool)
