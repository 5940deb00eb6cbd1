"""Hostile peers about names and paths: a server offering files under names of its choosing, and
a client that asks for a file at the moment the test chooses.

Run as a script inside a namespace of the harness (like ``hostile.py``, whose ``Channel`` and
helpers these modes use)::

    host.popen([sys.executable, hostile_names.__file__, MODE, ARGS...])

Modes:

- ``names-server``: serves the files given as ``--file NAME=LOCAL_PATH`` honestly (real block
  lists, real data) under whatever NAME says: a partial download's name, ``link`` beside
  ``link/x``, ... Prints ``READY``, and ``RESULT`` with what it was asked once SIGTERM ends it.
- ``get-on-cue``: connects, handshakes and says hello, prints ``READY``, then waits for a line
  on its stdin before it asks for ``--path`` (``--content-id``, ``--size``) in one
  ``GetRequest``; ``RESULT`` says what came back (the SHA-256 of the bytes, or the error).

Addresses come from the command line only; the tests pass addresses of the harness's own
namespaces, never anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hostile import IO_TIMEOUT, Channel, connect, load_key, out, result

from mfsync.protocol.content import block_hash, block_size_for, content_id_of
from mfsync.protocol.messages import (
    MAX_DATA,
    MAX_HASHES_PER_MESSAGE,
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    Hello,
    IndexChunk,
    IndexEntry,
    IndexRequest,
)
from mfsync.protocol.session import PeerHello, Role

__all__ = ["HOSTILE_NAMES_SCRIPT", "main"]

HOSTILE_NAMES_SCRIPT = str(Path(__file__).resolve())
#: The modification time every offered file claims (any fixed value will do).
MTIME_NS = 1_700_000_000_000_000_000


class _Offered:
    """One file offered: its content and block hashes."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.data = data
        self.block_size = block_size_for(len(data))
        self.hashes = tuple(block_hash(data[i : i + self.block_size])
                            for i in range(0, len(data), self.block_size))
        self.content_id = content_id_of(len(data), self.block_size, self.hashes)

    def entry(self) -> IndexEntry:
        return IndexEntry(self.name, len(self.data), MTIME_NS, self.content_id)


def _serve(sock: socket.socket, key: X25519PrivateKey, files: dict[str, _Offered],
           asked: list[str], lock: threading.Lock) -> None:
    """One connection: handshake, hello, then answer every request honestly."""
    sock.settimeout(IO_TIMEOUT)
    channel = Channel(sock, Role.SERVER, key)
    try:
        for event in channel.requests(Hello(capabilities=("index",), name="names")):
            if isinstance(event, IndexRequest):
                channel.send(IndexChunk(1, tuple(f.entry() for f in files.values()), last=True))
                continue
            if isinstance(event, BlocksRequest | GetRequest):
                with lock:
                    asked.append(f"{type(event).__name__} {event.path}")
                offered = files.get(event.path)
                if offered is None:
                    channel.send(ErrorMessage(ErrorCode.NOT_FOUND, "no such file"))
                elif isinstance(event, BlocksRequest):
                    _send_blocks(channel, offered)
                else:
                    end = event.offset + event.length
                    for start in range(event.offset, end, MAX_DATA):
                        channel.send(Data(start, offered.data[start : min(end, start + MAX_DATA)]))
                    channel.send(End(end))
                continue
            channel.send(ErrorMessage(ErrorCode.BAD_REQUEST, "no"))
    except Exception:  # the client went away, or broke a rule of its own
        return
    finally:
        sock.close()


def _send_blocks(channel: Channel, offered: _Offered) -> None:
    first = 0
    while True:
        part = offered.hashes[first : first + MAX_HASHES_PER_MESSAGE]
        last = first + len(part) >= len(offered.hashes)
        channel.send(BlockList(offered.content_id, len(offered.data), offered.block_size,
                               first, part, last))
        if last:
            return
        first += len(part)


def mode_names_server(args: argparse.Namespace) -> None:
    """Serve ``--file NAME=PATH`` (repeatable) on ``--listen PORT`` until SIGTERM."""
    key = load_key(args.key)
    files: dict[str, _Offered] = {}
    for spec in args.file:
        name, _, path = spec.rpartition("=")
        files[name] = _Offered(name, Path(path).read_bytes())
    asked: list[str] = []
    lock = threading.Lock()
    listener = socket.create_server(("0.0.0.0", args.listen), backlog=64)
    connections = [0]

    def accept() -> None:
        while True:
            sock, _peer = listener.accept()
            connections[0] += 1
            threading.Thread(target=_serve, args=(sock, key, files, asked, lock),
                             daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out("READY")
    stop.wait()
    with lock:
        result(connections=connections[0], asked=list(asked))


def mode_get_on_cue(args: argparse.Namespace) -> None:
    """Open a session, print READY, wait for a line on stdin, then ask for one file."""
    sock = connect(args.host, args.port)
    channel = Channel(sock, Role.CLIENT, load_key(args.key))
    hello = channel.open()
    if not isinstance(hello, PeerHello):
        result(connections=1, error=f"no hello: {hello!r}")
        return
    out(f"READY {channel.port}")
    sys.stdin.readline()
    channel.send(GetRequest(args.path, bytes.fromhex(args.content_id), 0, args.size))
    got = bytearray()
    answer: dict[str, Any] = {}
    while True:
        message = channel.receive()
        if isinstance(message, Data):
            got += message.payload
        elif isinstance(message, End):
            answer = {"end": message.offset}
            break
        elif isinstance(message, ErrorMessage):
            answer = {"error": message.code.name, "text": message.text}
            break
        else:
            answer = {"unexpected": repr(message)[:200]}
            break
    sock.close()
    result(connections=1, port=channel.port, received=len(got),
           sha256=hashlib.sha256(got).hexdigest(), **answer)


def main(argv: list[str] | None = None) -> None:
    """Parse the mode and its arguments; run it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    p = modes.add_parser("names-server")
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--key")
    p.add_argument("--file", action="append", default=[], metavar="NAME=PATH")
    p.set_defaults(func=mode_names_server)
    p = modes.add_parser("get-on-cue")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--key")
    p.add_argument("--path", required=True)
    p.add_argument("--content-id", required=True)
    p.add_argument("--size", type=int, required=True)
    p.set_defaults(func=mode_get_on_cue)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
