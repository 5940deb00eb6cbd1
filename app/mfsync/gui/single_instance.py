"""One app per user and config folder: a second start hands its request to the first and exits.

How it works: the first instance listens on a local socket (a Unix socket or a Windows named
pipe) named by ``instance_name``; a later one connects, writes one versioned line such as
``b"mfsync-gui 1 show\\n"`` or ``b"mfsync-gui 1 send /home/me/My%20notes.txt\\n"`` and exits.
Arguments (paths, from a file manager) are percent-encoded bytes of the file system's encoding,
so a name with spaces, newlines or bytes that are not UTF-8 travels intact. A socket file left
by a crashed instance accepts no connection, so ``listen`` recognises it as stale and removes
it. On Linux the socket lives in
``$XDG_RUNTIME_DIR`` (private to the user) when there is one, as qutebrowser's IPC does; the
server is also restricted to the user. Messages are capped and a client gets a few seconds to
send its line, so a stray local connection cannot hold the app.
"""

import getpass
import hashlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes

from PySide6.QtCore import QObject, QTimer
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

__all__ = [
    "PROTOCOL_VERSION",
    "SingleInstance",
    "format_message",
    "instance_name",
    "parse_message",
]

log = logging.getLogger("mfsync.gui")

#: The first word of every message, and the protocol version after it.
MAGIC = b"mfsync-gui"
PROTOCOL_VERSION = 1
#: Longest message line accepted, newline included: room for the paths of a few thousand
#: selected files (a file manager passes them all at once).
MAX_MESSAGE = 1 << 20
#: Milliseconds a connected client has to send its line.
CLIENT_TIMEOUT_MS = 5000


def instance_name(config_dir: Path) -> str:
    """The server name for this user and config folder: another user, or a test with another
    HOME, gets another one. On Linux an absolute path in ``$XDG_RUNTIME_DIR`` when set."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (say a container without passwd entry)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    folder = os.path.normcase(os.path.abspath(config_dir))
    digest = hashlib.sha256(f"{user}\0{folder}".encode()).hexdigest()[:16]
    name = f"mfsync-gui-{digest}"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if sys.platform.startswith("linux") and os.path.isabs(runtime) and os.path.isdir(runtime):
        return os.path.join(runtime, name)
    return name  # Qt puts it in the temporary folder, or makes a named pipe on Windows


def format_message(command: str, *args: str) -> bytes:
    """The line that asks the running instance for ``command`` (like ``"show"``) with ``args``
    (any strings: each is percent-encoded)."""
    if not command.isascii() or not command.isalpha():
        raise ValueError(f"not a command: {command!r}")
    words = [command.encode(), *(quote_from_bytes(os.fsencode(arg), safe="/").encode()
                                 for arg in args)]
    return b" ".join([MAGIC, str(PROTOCOL_VERSION).encode(), *words]) + b"\n"


def parse_message(line: bytes) -> list[str] | None:
    """The command and arguments of a message line, or None if it is not one of ours (another
    program, or a protocol version this app does not speak)."""
    words = line.rstrip(b"\r\n").split(b" ")
    if len(words) < 3 or words[0] != MAGIC or words[1] != str(PROTOCOL_VERSION).encode():
        return None
    try:
        command = words[2].decode("ascii")
        return [command, *(os.fsdecode(unquote_to_bytes(word)) for word in words[3:])]
    except UnicodeDecodeError:
        return None


class SingleInstance(QObject):
    """The local socket named ``name``: send to the running instance, or become it."""

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server: QLocalServer | None = None
        self._on_message: Callable[[bytes], None] | None = None
        self._buffers: dict[QLocalSocket, bytearray] = {}

    @property
    def listening(self) -> bool:
        """Whether this object is the running instance."""
        return self._server is not None and self._server.isListening()

    def try_send(self, message: bytes, timeout_ms: int = 1000) -> bool:
        """Send ``message`` (one line; a newline is added) to the running instance. True if one
        accepted it, False if none is running. Blocks for at most about ``2 * timeout_ms``."""
        if b"\n" in message.rstrip(b"\n"):
            raise ValueError("a message is one line")
        data = message.rstrip(b"\n") + b"\n"
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"a message is at most {MAX_MESSAGE} bytes")
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            log.debug("no running instance at %s: %s", self.name, socket.errorString())
            return False
        socket.write(data)
        # A long message (the paths of many files) leaves in several writes, each as the
        # running instance reads; give up only when one makes no progress for timeout_ms.
        while socket.bytesToWrite() > 0 and socket.waitForBytesWritten(timeout_ms):
            pass
        sent = socket.bytesToWrite() == 0
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        if sent:
            log.info("handed %r to the running instance", data.rstrip())
        return sent

    def listen(self, on_message: Callable[[bytes], None]) -> bool:
        """Become the running instance: ``on_message(line)`` gets each message line (without
        its newline) on the Qt event loop. False if another instance is running (or the socket
        cannot be made, which is logged)."""
        if self.listening:
            raise RuntimeError("already listening")
        # asked first: with socket options set, Qt's listen replaces an existing socket file,
        # which would take the name away from a running instance
        if self._alive():
            return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            if server.serverError() != QAbstractSocket.SocketError.AddressInUseError:
                log.warning("cannot listen on %s: %s", self.name, server.errorString())
                return False
            if self._alive():
                return False
            log.info("removing the socket a previous instance left behind: %s", self.name)
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("cannot listen on %s: %s", self.name, server.errorString())
                return False
        self._server = server
        self._on_message = on_message
        server.newConnection.connect(self._accept)
        log.debug("single instance listening on %s", server.fullServerName())
        return True

    def close(self) -> None:
        """Stop being the running instance (the socket is removed); idempotent."""
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None
        for socket in list(self._buffers):
            socket.abort()
        self._buffers.clear()
        self._on_message = None

    # -- the server side ------------------------------------------------------------------------

    def _alive(self) -> bool:
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        alive = probe.waitForConnected(500)
        probe.abort()
        return alive

    def _accept(self) -> None:
        while self._server is not None and self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._drop(s))
            QTimer.singleShot(CLIENT_TIMEOUT_MS, socket, socket.abort)

    def _read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.get(socket)
        if buffer is None:
            return
        buffer += bytes(socket.readAll().data())
        line, newline, _rest = bytes(buffer).partition(b"\n")
        if not newline:
            if len(buffer) >= MAX_MESSAGE:
                log.warning("dropping an over-long message on %s", self.name)
                socket.abort()
            return
        # one message per connection: that is all a second start has to say
        self._buffers.pop(socket, None)
        socket.disconnectFromServer()
        if self._on_message is not None:
            self._on_message(line[:MAX_MESSAGE])

    def _drop(self, socket: QLocalSocket) -> None:
        if socket in self._buffers:
            self._read(socket)  # the client may write and hang up before readyRead ran
            self._buffers.pop(socket, None)  # a line without its newline is not a message
        socket.deleteLater()
