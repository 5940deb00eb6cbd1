"""The raw baseline of benchmarks/versus.py: a plain TCP copy of a folder tree, no encryption,
no hashing, no index, in Python (stdlib only), so "mfsync moves data at 0.7 of a raw TCP file
copy" can be read off.

The stream is one record per file, then an end record::

    record  = name_len (2 bytes, big endian) | size (8 bytes, big endian) | name (UTF-8) | data
    end     = name_len 0 | size 0

The sender (``send_tree``) walks the tree in sorted order, packs small files into 1 MiB writes
and streams large ones through one reused 1 MiB buffer. The receiver (``receive_tree``) reads
through a 1 MiB buffered reader, creates folders as names need them, writes each file straight
to its final name (no temp file: the cheapest way to land bytes) and notes when it created
the first file and when it closed the last one (``time.monotonic()``, comparable across
processes).
"""

from __future__ import annotations

import io
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

__all__ = ["HEADER", "decode_header", "encode_header", "receive_tree", "send_tree", "tree_files"]

HEADER = struct.Struct(">HQ")
CHUNK = 1 << 20
MAX_NAME = 4096


def encode_header(name: str, size: int) -> bytes:
    """The record header and name of one file (``name`` "" with size 0: the end record)."""
    raw = name.encode("utf-8")
    if len(raw) > MAX_NAME:
        raise ValueError(f"name too long: {name[:40]!r}...")
    return HEADER.pack(len(raw), size) + raw


def decode_header(head: bytes) -> tuple[int, int]:
    """(name length, size) of a record header. ValueError for a name that is too long."""
    name_len, size = HEADER.unpack(head)
    if name_len > MAX_NAME:
        raise ValueError(f"name length {name_len} > {MAX_NAME}")
    return name_len, size


def tree_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX name, path) of every file under ``root``, sorted."""
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            yield path.relative_to(root).as_posix(), path


def send_tree(root: Path, address: str, port: int) -> int:
    """Send every file under ``root`` to ``address:port``; returns the bytes of file data."""
    total = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    pending = bytearray()
    with socket.create_connection((address, port)) as sock:
        for name, path in tree_files(root):
            size = path.stat().st_size
            pending += encode_header(name, size)
            with path.open("rb", buffering=0) as f:
                if size <= CHUNK:
                    pending += f.read()
                else:
                    sock.sendall(pending)
                    pending.clear()
                    while n := f.readinto(buf):
                        sock.sendall(view[:n])
            total += size
            if len(pending) >= CHUNK:
                sock.sendall(pending)
                pending.clear()
        pending += encode_header("", 0)
        sock.sendall(pending)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)  # the receiver closes once every file is written
    return total


def _read_exact(stream: io.BufferedReader, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"stream ended inside a record ({len(data)} of {n} bytes)")
    return data


def receive_tree(conn: socket.socket, dest: Path) -> dict[str, float]:
    """Write the files of one connection under ``dest``; returns {"files", "bytes", "first",
    "last"} (first: the first file created; last: the last file closed; monotonic)."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    made: set[str] = set()
    files = total = 0
    first = last = 0.0
    dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    with cast("io.BufferedReader", conn.makefile("rb", buffering=CHUNK)) as stream:
        while True:
            name_len, size = decode_header(_read_exact(stream, HEADER.size))
            if name_len == 0:
                break
            name = _read_exact(stream, name_len).decode("utf-8")
            if name.startswith("/") or ".." in name.split("/"):
                raise ValueError(f"unsafe name {name!r}")
            parent = name.rpartition("/")[0]
            if parent and parent not in made:
                os.makedirs(dest / parent, exist_ok=True)
                made.add(parent)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dest_fd)
            if not first:
                first = time.monotonic()
            try:
                left = size
                while left:
                    n = stream.readinto(view[:min(left, CHUNK)])
                    if not n:
                        raise EOFError(f"stream ended inside {name!r}")
                    os.write(fd, view[:n])
                    left -= n
            finally:
                os.close(fd)
            last = time.monotonic()
            files += 1
            total += size
    os.close(dest_fd)
    return {"files": files, "bytes": total, "first": first, "last": last}
