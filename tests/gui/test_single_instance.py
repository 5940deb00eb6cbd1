"""Two SingleInstance objects in one process talk over a local socket (no network)."""

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PySide6.QtNetwork import QLocalSocket
from pytestqt.qtbot import QtBot

from mfsync.gui.single_instance import (
    SingleInstance,
    format_message,
    instance_name,
    parse_message,
)


@pytest.fixture
def name(tmp_path: Path) -> str:
    # a unique name, so parallel runs and a real app of this user do not meet
    return f"mfsync-test-{uuid.uuid4().hex[:12]}"


def test_second_instance_reaches_the_first(qtbot: QtBot, name: str) -> None:
    received: list[bytes] = []
    first = SingleInstance(name)
    assert first.listen(received.append)
    assert first.listening
    try:
        second = SingleInstance(name)
        assert not second.listen(received.append)  # the first one is alive
        assert second.try_send(format_message("show"))
        qtbot.waitUntil(lambda: received == [b"mfsync-gui 1 show"], timeout=10000)
        assert parse_message(received[0]) == ["show"]
        assert second.try_send(b"mfsync-gui 1 open /tmp/x\n")
        qtbot.waitUntil(lambda: len(received) == 2, timeout=10000)
        assert parse_message(received[1]) == ["open", "/tmp/x"]
        # paths of any kind travel intact: spaces, newlines, percent signs, bytes not UTF-8
        odd = ["/tmp/My notes.txt", "/tmp/two\nlines", "/tmp/100%", os.fsdecode(b"/tmp/\xff")]
        assert second.try_send(format_message("send", *odd))
        qtbot.waitUntil(lambda: len(received) == 3, timeout=10000)
        assert len(received[2].split(b" ")) == 3 + len(odd)  # one word per path
        assert parse_message(received[2]) == ["send", *odd]
    finally:
        first.close()


def test_a_message_of_thousands_of_paths_arrives(qtbot: QtBot, name: str) -> None:
    """From another process, as from a file manager: a message larger than the socket's
    buffer leaves in pieces while the running instance reads."""
    received: list[bytes] = []
    first = SingleInstance(name)
    assert first.listen(received.append)
    paths = [f"/home/someone/Pictures/holiday 2026/IMG_{n:05}.jpg" for n in range(5000)]
    sender = subprocess.Popen(
        [sys.executable, "-c", "import sys\n"
         "from PySide6.QtCore import QCoreApplication\n"
         "from mfsync.gui.single_instance import SingleInstance, format_message\n"
         "app = QCoreApplication([])\n"
         "sys.exit(0 if SingleInstance(sys.argv[1]).try_send(\n"
         "    format_message('send', *sys.argv[2:]), timeout_ms=5000) else 1)\n",
         name, *paths])
    try:
        qtbot.waitUntil(lambda: len(received) == 1, timeout=30000)
        assert sender.wait(30) == 0
        assert parse_message(received[0]) == ["send", *paths]
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
        first.close()


def test_a_command_must_be_a_plain_word() -> None:
    with pytest.raises(ValueError):
        format_message("send me")


def test_after_the_first_closes_listen_succeeds_again(qtbot: QtBot, name: str) -> None:
    first = SingleInstance(name)
    assert first.listen(lambda _m: None)
    first.close()
    first.close()  # idempotent
    second = SingleInstance(name)
    assert not second.try_send(format_message("show"))  # nobody is running
    received: list[bytes] = []
    assert second.listen(received.append)
    try:
        assert SingleInstance(name).try_send(format_message("show"))
        qtbot.waitUntil(lambda: received == [b"mfsync-gui 1 show"], timeout=10000)
    finally:
        second.close()


def test_nobody_listening(qtbot: QtBot, name: str) -> None:
    assert not SingleInstance(name).try_send(format_message("show"), timeout_ms=200)


@pytest.mark.skipif(sys.platform == "win32", reason="Unix socket files")
def test_a_stale_socket_of_a_crashed_instance_is_removed(
    qtbot: QtBot, tmp_path: Path
) -> None:
    path = str(tmp_path / "s")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound and closed without unlink: what a killed process leaves
    stale.close()
    assert os.path.exists(path)
    received: list[bytes] = []
    instance = SingleInstance(path)
    assert instance.listen(received.append)
    try:
        assert SingleInstance(path).try_send(format_message("show"))
        qtbot.waitUntil(lambda: received == [b"mfsync-gui 1 show"], timeout=10000)
    finally:
        instance.close()
    assert not os.path.exists(path)


def test_an_over_long_or_unfinished_message_is_dropped(qtbot: QtBot, name: str) -> None:
    received: list[bytes] = []
    first = SingleInstance(name)
    assert first.listen(received.append)
    try:
        raw = QLocalSocket()
        raw.connectToServer(name)
        assert raw.waitForConnected(1000)
        raw.write(b"x" * 5000)
        raw.waitForBytesWritten(1000)
        qtbot.waitUntil(
            lambda: raw.state() == QLocalSocket.LocalSocketState.UnconnectedState,
            timeout=10000)
        unfinished = QLocalSocket()
        unfinished.connectToServer(name)
        assert unfinished.waitForConnected(1000)
        unfinished.write(b"mfsync-gui 1 sh")
        unfinished.waitForBytesWritten(1000)
        unfinished.disconnectFromServer()
        assert SingleInstance(name).try_send(format_message("show"))
        qtbot.waitUntil(lambda: received == [b"mfsync-gui 1 show"], timeout=10000)
        qtbot.wait(100)
        assert received == [b"mfsync-gui 1 show"]
    finally:
        first.close()


def test_messages() -> None:
    assert format_message("show") == b"mfsync-gui 1 show\n"
    assert parse_message(b"mfsync-gui 1 show\n") == ["show"]
    assert parse_message(b"mfsync-gui 2 show\n") is None  # another version
    assert parse_message(b"GET / HTTP/1.1\r\n") is None
    assert parse_message(b"mfsync-gui 1") is None
    assert parse_message(b"mfsync-gui 1 \xff") is None
    assert format_message("open", "a b") == b"mfsync-gui 1 open a%20b\n"
    assert parse_message(b"mfsync-gui 1 open a%20b%2") == ["open", "a b%2"]  # (a stray %)
    with pytest.raises(ValueError, match="one line"):
        SingleInstance("x").try_send(b"a\nb")


def test_instance_name_depends_on_the_config_folder_and_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    a = instance_name(tmp_path / "a" / ".mfsync")
    assert a == instance_name(tmp_path / "a" / ".mfsync")
    assert a != instance_name(tmp_path / "b" / ".mfsync")
    assert a.startswith("mfsync-gui-") and len(a) < 40
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert instance_name(tmp_path / "a" / ".mfsync") != a


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG runtime dir")
def test_instance_name_in_the_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    name = instance_name(tmp_path / ".mfsync")
    assert name.startswith(str(tmp_path) + os.sep + "mfsync-gui-")
