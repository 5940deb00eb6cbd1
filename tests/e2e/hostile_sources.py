"""A hostile source for the end-to-end tests of slow and failing sources (issue 13, parts 2-3).

Run as a script inside a namespace of the harness::

    host.popen([sys.executable, hostile_sources.__file__, "source", "--port", P, "--mode", M,
                "--folder", DIR, ...])

It announces itself like a real host (multicast on its own namespace's interface, TTL 1) and
offers the files of ``--folder`` (the very names and contents an honest host shares) plus
``--extra`` files of its own, then misbehaves on every download in one of ``SOURCE_MODES``. It
prints ``READY`` once it listens, a ``CONN {json}`` line per connection, and on SIGTERM a final
``RESULT {json}`` with the requests it saw per path.

It speaks the real protocol through ``hostile.Channel`` (mfsync's own sans-IO session over a
blocking socket), so the downloader sees a proper peer up to the moment it breaks a rule.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hostile import Channel, load_key, out

from mfsync.protocol.announce import Announcement, Flags, Kind, encode_announcement
from mfsync.protocol.content import block_hash, block_size_for, content_id_of
from mfsync.protocol.messages import (
    MAX_HASHES_PER_MESSAGE,
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    Hello,
    IndexEntry,
    IndexRequest,
    chunk_index,
)
from mfsync.protocol.session import Role

__all__ = ["SOURCES_SCRIPT", "SOURCE_MODES", "main"]

SOURCES_SCRIPT = os.path.abspath(__file__)

#: What the source does to every download.
SOURCE_MODES = (
    "trickle",  # honest block lists, then data at one byte every --interval seconds
    "bad-blocklist",  # block lists whose hashes are random: they never fit the content id
    "close-mid-block",  # honest block lists, then half a block and an orderly close
)
#: Long enough for any answer on a LAN of namespaces, however loaded the machine is.
IO_TIMEOUT = 120.0
#: How often it announces itself.
ANNOUNCE_EVERY = 0.5


class _File:
    """One offered file: its bytes and hashes."""

    def __init__(self, path: str, data: bytes, mtime_ns: int) -> None:
        self.path = path
        self.data = data
        self.mtime_ns = mtime_ns
        self.block_size = block_size_for(len(data))
        self.hashes = tuple(block_hash(data[i : i + self.block_size])
                            for i in range(0, len(data), self.block_size))
        self.content_id = content_id_of(len(data), self.block_size, self.hashes)

    def entry(self) -> IndexEntry:
        return IndexEntry(self.path, len(self.data), self.mtime_ns, self.content_id)

    def block_lists(self, honest: bool) -> list[BlockList]:
        hashes = self.hashes if honest else tuple(os.urandom(32) for _ in self.hashes)
        parts = []
        for first in range(0, max(1, len(hashes)), MAX_HASHES_PER_MESSAGE):
            part = hashes[first : first + MAX_HASHES_PER_MESSAGE]
            parts.append(BlockList(self.content_id, len(self.data), self.block_size, first,
                                   part, first + len(part) >= len(hashes)))
        return parts


class Source:
    """Serves ``files`` in ``mode`` to whoever connects."""

    def __init__(self, mode: str, files: dict[str, _File], interval: float,
                 key: X25519PrivateKey) -> None:
        self.mode = mode
        self.key = key
        self.files = files
        self.interval = interval
        self.lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()
        self.connections = 0
        self.first: float | None = None
        self.last: float | None = None

    def _count(self, kind: str, path: str) -> None:
        now = time.time()
        with self.lock:
            self.requests[f"{kind} {path}"] += 1
            self.first = self.first or now
            self.last = now

    def answer(self, channel: Channel, request: Any) -> bool:
        """Answer one request; False once the connection is to end."""
        sock = channel.sock
        if isinstance(request, IndexRequest):
            for chunk in chunk_index([f.entry() for f in self.files.values()], 1):
                channel.send(chunk)
            return True
        path = getattr(request, "path", "")
        offered = self.files.get(path)
        if offered is None or not isinstance(request, BlocksRequest | GetRequest):
            channel.send(ErrorMessage(ErrorCode.NOT_FOUND, "no"))
            return True
        if isinstance(request, BlocksRequest):
            self._count("blocks", path)
            for part in offered.block_lists(honest=self.mode != "bad-blocklist"):
                channel.send(part)
            return True
        self._count("get", path)
        start, end = request.offset, request.offset + request.length
        if self.mode == "close-mid-block":
            half = max(1, min(offered.block_size, end - start) // 2)
            channel.send(Data(start, offered.data[start : start + half]))
            sock.shutdown(socket.SHUT_WR)  # an orderly close (FIN), in the middle of a block
            return False
        for offset in range(start, end):  # trickle: one byte, then a pause
            channel.send(Data(offset, offered.data[offset : offset + 1]))
            time.sleep(self.interval)
        channel.send(End(end))
        return True

    def serve(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        """One connection: handshake, hello, then the requests one by one."""
        sock.settimeout(IO_TIMEOUT)
        channel = Channel(sock, Role.SERVER, self.key)
        why = "closed"
        try:
            for event in channel.requests(Hello(capabilities=("index",), name="hostile-source")):
                if not self.answer(channel, event):
                    time.sleep(0.5)  # let the half-block and the FIN arrive before the socket goes
                    break
        except Exception as exc:  # the client gave up on us
            why = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close()
        with self.lock:
            self.connections += 1
        out("CONN " + json.dumps({"client": peer[0], "end": why[:120]}))


def _announce(address: str, port: int, public: bytes, stop: threading.Event) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    instance = os.urandom(8)
    while not stop.is_set():
        sock.sendto(encode_announcement(Announcement(
            kind=Kind.ANNOUNCE, flags=Flags.SHARES, instance_id=instance, public_key=public,
            tcp_port=port, beat_ms=1000, generation=1, name="hostile-source")),
            ("239.255.0.1", 30001))
        stop.wait(ANNOUNCE_EVERY)


def _files(folder: str | None, extra: int, extra_size: int) -> dict[str, _File]:
    files: dict[str, _File] = {}
    if folder:
        root = Path(folder)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            name = path.relative_to(root).as_posix()
            files[name] = _File(name, path.read_bytes(), path.stat().st_mtime_ns)
    for n in range(extra):
        # "!" sorts before letters and digits: these are queued first, as an attacker would
        # arrange it.
        name = f"!mine-{n}.bin"
        files[name] = _File(name, os.urandom(extra_size), time.time_ns())
    return files


def main(argv: list[str] | None = None) -> None:
    """``source --port P --mode M [--folder DIR] [--extra N]``: serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="hostile_sources")
    modes = parser.add_subparsers(dest="command", required=True)
    p = modes.add_parser("source")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=SOURCE_MODES, required=True)
    p.add_argument("--folder", help="offer the files of this folder, same names and contents")
    p.add_argument("--extra", type=int, default=0, help="files of its own to offer too")
    p.add_argument("--extra-size", type=int, default=256 * 1024)
    p.add_argument("--interval", type=float, default=2.0, help="trickle: seconds per byte")
    p.add_argument("--key", help="our private key, 64 hex digits")
    p.add_argument("--announce", metavar="ADDRESS", help="announce ourselves from ADDRESS")
    args = parser.parse_args(argv)

    key = load_key(args.key)
    source = Source(args.mode, _files(args.folder, args.extra, args.extra_size), args.interval,
                    key)
    listener = socket.create_server(("0.0.0.0", args.port), backlog=64)  # our own namespace

    def accept() -> None:
        while True:
            sock, peer = listener.accept()
            threading.Thread(target=source.serve, args=(sock, peer), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    stop = threading.Event()
    if args.announce:
        public = key.public_key().public_bytes_raw()
        threading.Thread(target=_announce, args=(args.announce, args.port, public, stop),
                         daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out("READY")
    stop.wait()
    with source.lock:
        out("RESULT " + json.dumps({"connections": source.connections,
                                    "requests": dict(source.requests),
                                    "first": source.first, "last": source.last},
                                   sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
