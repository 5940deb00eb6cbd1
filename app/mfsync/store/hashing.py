"""Block hashes and content ids: each byte of a file is hashed once.

A file is cut into blocks whose size depends only on the file's size (so every host cuts the
same content the same way); each block gets a SHA-256; the content id is a SHA-256 over a label,
the file size, the block size and the block hashes. Block hashes let a download verify (and
resume) block by block, and the content id names the whole content in one value.
"""

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_BLOCK_SIZE",
    "MIN_BLOCK_SIZE",
    "FileChanged",
    "FileHashes",
    "block_size_for",
    "content_id_of",
    "hash_file",
]

MIN_BLOCK_SIZE = 128 * 1024
MAX_BLOCK_SIZE = 16 * 1024 * 1024
#: Block sizes grow (by powers of two) until a file has at most this many blocks.
TARGET_BLOCKS = 2000
_CONTENT_LABEL = b"mfsync content id v1\x00"
_READ_SIZE = 1024 * 1024


def block_size_for(size: int) -> int:
    """The block size for a file of ``size`` bytes (128 KiB to 16 MiB, a power of two)."""
    block = MIN_BLOCK_SIZE
    while block < MAX_BLOCK_SIZE and size > block * TARGET_BLOCKS:
        block *= 2
    return block


def content_id_of(size: int, block_size: int, block_hashes: list[bytes]) -> bytes:
    """The content id of a file with these block hashes."""
    h = hashlib.sha256(_CONTENT_LABEL)
    h.update(struct.pack(">QI", size, block_size))
    for block_hash in block_hashes:
        h.update(block_hash)
    return h.digest()


@dataclass(frozen=True, slots=True)
class FileHashes:
    """What hashing a file found."""

    size: int
    block_size: int
    block_hashes: tuple[bytes, ...]
    content_id: bytes


class FileChanged(Exception):
    """The file changed size while it was hashed; hash it again once it has settled."""


def hash_file(path: Path) -> FileHashes:
    """Hash the file at ``path`` block by block (blocking: run it off the event loop).

    Raises ``FileChanged`` when the bytes read do not match the size the file had when opened,
    so that a file still being written is never described by a mix of old and new content.
    """
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        block_size = block_size_for(size)
        hashes: list[bytes] = []
        total = 0
        buf = bytearray(min(block_size, _READ_SIZE))
        view = memoryview(buf)
        while True:
            h = hashlib.sha256()
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
