"""An index bomb for the end-to-end suite: endpoints that announce themselves and serve an index
of a million files, every entry well-formed and within the per-peer caps.

Run as a script inside a namespace of the harness::

    host.popen([sys.executable, hostile_index.__file__, "--address", ADDR,
                "--ports", "9401,9402", "--entries", "1000000"])

Every port is announced (multicast, TTL 1, from ``--address``: the harness's own bridge) as a
host that shares, and answers every ``IndexRequest`` with ``--entries`` entries of distinct,
valid names (``bNNNNN/NNNNN``, 9 bytes) in chunks of ``MAX_INDEX_ENTRIES``, the last one marked
last: an index that ``MAX_REMOTE_INDEX`` (1,000,000 entries) and ``MAX_REMOTE_INDEX_BYTES``
(128 MiB; these take about 61 MB) let through. The chunks are encoded once, with ``struct``
rather than ``IndexEntry`` objects, so that the attacker costs little CPU: what is measured is
the victim. Prints ``READY`` once listening and, on SIGTERM, ``RESULT {json}`` with the
connections served and the chunks sent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any

from hostile import HELLO, IO_TIMEOUT, Channel, load_key, out, result

from mfsync.protocol.announce import Announcement, Flags, Kind, encode_announcement
from mfsync.protocol.messages import MAX_INDEX_ENTRIES, IndexRequest, Tag
from mfsync.protocol.session import Role

__all__ = ["BOMB_SCRIPT", "bomb_chunks", "main"]

BOMB_SCRIPT = os.path.abspath(__file__)
#: The generation every chunk carries (and the announcements).
GENERATION = 1
#: Seconds between two announcements of each port.
ANNOUNCE_INTERVAL = 0.5
_HEADER = struct.Struct(">BQBI")  # tag, generation, flags, count
#: path length, then (after the path) size, mtime, content id and an empty version vector.
_PATH_LEN = struct.Struct(">H")
_FIXED = struct.Struct(">Qq32sH")


def bomb_chunks(entries: int) -> list[bytes]:
    """The plaintexts of the IndexChunk messages of an index of ``entries`` small entries."""
    chunks = []
    for first in range(0, entries, MAX_INDEX_ENTRIES):
        count = min(MAX_INDEX_ENTRIES, entries - first)
        last = first + count >= entries
        ids = os.urandom(32 * count)
        parts = [_HEADER.pack(Tag.INDEX_CHUNK, GENERATION, 1 if last else 0, count)]
        for n in range(count):
            number = first + n
            path = f"b{number // 100_000:05d}/{number % 100_000:05d}".encode()
            parts.append(_PATH_LEN.pack(len(path)) + path
                         + _FIXED.pack(1000 + n, 0, ids[32 * n : 32 * n + 32], 0))
        chunks.append(b"".join(parts))
    return chunks


class Bomb:
    """Serves the chunks on every accepted connection; counts what it sent."""

    def __init__(self, chunks: list[bytes], key: Any) -> None:
        self.chunks = chunks
        self.key = key
        self.lock = threading.Lock()
        self.connections = 0
        self.indexes_sent = 0
        self.chunks_sent = 0

    def serve(self, sock: socket.socket, port: int) -> None:
        """One connection: handshake, hello, then the whole index for every IndexRequest."""
        sock.settimeout(IO_TIMEOUT)
        channel = Channel(sock, Role.SERVER, self.key)
        sent = 0
        why = "closed"
        try:
            for event in channel.requests(HELLO):
                if not isinstance(event, IndexRequest):
                    break
                for plain in self.chunks:
                    sock.sendall(channel.seal(plain))
                    sent += 1
                with self.lock:
                    self.indexes_sent += 1
        except Exception as exc:  # the victim gave up on us: what the test wants to see
            why = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close()
            with self.lock:
                self.chunks_sent += sent
        out("CONN " + json.dumps({"port": port, "chunks": sent, "end": why[:120]}))


def _announce(address: str, ports: list[int], key: Any) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    public = key.public_key().public_bytes_raw()
    instances = {port: os.urandom(8) for port in ports}
    while True:
        for port in ports:
            sock.sendto(encode_announcement(Announcement(
                kind=Kind.ANNOUNCE, flags=Flags.SHARES, instance_id=instances[port],
                public_key=public, tcp_port=port, beat_ms=1000, generation=GENERATION,
                name=f"bomb-{port}")), ("239.255.0.1", 30001))
        time.sleep(ANNOUNCE_INTERVAL)


def main(argv: list[str] | None = None) -> None:
    """Serve the bomb on ``--ports`` until SIGTERM."""
    parser = argparse.ArgumentParser(prog="hostile_index")
    parser.add_argument("--address", required=True, help="our address, for the announcements")
    parser.add_argument("--ports", required=True, help="comma-separated TCP ports")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    key = load_key(args.key)
    ports = [int(p) for p in args.ports.split(",")]
    bomb = Bomb(bomb_chunks(args.entries), key)
    for port in ports:
        listener = socket.create_server(("0.0.0.0", port), backlog=64)

        def accept(listener: socket.socket = listener, port: int = port) -> None:
            while True:
                sock, _ = listener.accept()
                with bomb.lock:
                    bomb.connections += 1
                threading.Thread(target=bomb.serve, args=(sock, port), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
    threading.Thread(target=_announce, args=(args.address, ports, key), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out("READY")
    stop.wait()
    result(connections=bomb.connections, indexes=bomb.indexes_sent, chunks=bomb.chunks_sent)


if __name__ == "__main__":
    sys.exit(main())
