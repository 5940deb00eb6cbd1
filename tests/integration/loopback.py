"""Helpers for the loopback integration tests: file trees, a loopback-only sender.

(Waiting for a condition is ``tests/waiting.py``'s ``wait_for``.)
"""

from __future__ import annotations

import socket
from pathlib import Path


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create ``files`` (relative path -> content) under ``root``."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def multicast_sender() -> socket.socket:
    """A raw UDP socket that can only reach this machine (loopback interface, TTL 0)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    return sock


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative POSIX path -> content), hidden ones included.

    Nodes may be writing under ``root`` while this runs (worker threads rename a finished
    download's ``.mfsync-part`` file into place): a file listed but gone before it is read was
    not there any more, and is left out rather than failing the look.
    """
    tree: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        try:
            if path.is_file():
                tree[path.relative_to(root).as_posix()] = path.read_bytes()
        except FileNotFoundError:
            continue  # renamed or removed between the listing and the read
    return tree
