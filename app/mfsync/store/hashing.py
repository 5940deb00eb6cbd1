"""Hashing local files into block hashes and a content id (``mfsync.protocol.content``)."""

import os
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.content import (
    MAX_BLOCK_SIZE,
    MIN_BLOCK_SIZE,
    block_hasher,
    block_size_for,
    content_id_of,
)
from mfsync.store.dirfd import open_under

__all__ = [
    "MAX_BLOCK_SIZE",
    "MIN_BLOCK_SIZE",
    "FileChanged",
    "FileHashes",
    "block_size_for",
    "content_id_of",
    "hash_file",
]

_READ_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileHashes:
    """What hashing a file found."""

    size: int
    block_size: int
    block_hashes: tuple[bytes, ...]
    content_id: bytes


class FileChanged(Exception):
    """The file changed size while it was hashed; hash it again once it has settled."""


def hash_file(path: Path, root: Path | None = None) -> FileHashes:
    """Hash the file at ``path`` block by block (blocking: run it off the event loop).

    With ``root`` (a folder ``path`` is below), the file is opened from the root's descriptor
    one component at a time, none followed if it is a symlink (``dirfd.open_under``): a folder
    swapped for a symlink during a scan is not hashed through.

    Raises ``FileChanged`` when the bytes read do not match the size the file had when opened,
    so that a file still being written is never described by a mix of old and new content.
    """
    if root is None:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    else:
        fd = open_under(root, path.relative_to(root).as_posix())
    with open(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        block_size = block_size_for(size)
        hashes: list[bytes] = []
        total = 0
        buf = bytearray(min(block_size, _READ_SIZE))
        view = memoryview(buf)
        while True:
            h = block_hasher()
            got = 0
            while got < block_size:
                n = handle.readinto(view[: min(len(buf), block_size - got)])
                if not n:
                    break
                h.update(view[:n])
                got += n
            if not got:
                break
            hashes.append(h.digest())
            total += got
            if got < block_size:
                break
    if total != size:
        raise FileChanged(f"{path} changed size while being hashed ({size} -> {total} bytes)")
    return FileHashes(size, block_size, tuple(hashes), content_id_of(size, block_size, hashes))
