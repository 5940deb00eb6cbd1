"""How file content is named on the wire: block sizes and the content id.

A file is cut into blocks whose size depends only on the file's size (so every host cuts the
same content the same way); each block gets a SHA-256; the content id is a SHA-256 over a label,
the file size, the block size and the block hashes. Block hashes let a download verify (and
resume) block by block, and the content id names the whole content in one value, so each byte
is hashed once.
"""

import hashlib
import struct
from collections.abc import Iterable

__all__ = [
    "MAX_BLOCK_SIZE",
    "MIN_BLOCK_SIZE",
    "TARGET_BLOCKS",
    "block_count",
    "block_size_for",
    "content_id_of",
]

MIN_BLOCK_SIZE = 128 * 1024
MAX_BLOCK_SIZE = 16 * 1024 * 1024
#: Block sizes grow (by powers of two) until a file has at most this many blocks.
TARGET_BLOCKS = 2000
_CONTENT_LABEL = b"mfsync content id v1\x00"


def block_size_for(size: int) -> int:
    """The block size for a file of ``size`` bytes (128 KiB to 16 MiB, a power of two)."""
    block = MIN_BLOCK_SIZE
    while block < MAX_BLOCK_SIZE and size > block * TARGET_BLOCKS:
        block *= 2
    return block


def block_count(size: int) -> int:
    """How many blocks a file of ``size`` bytes has (0 for an empty file)."""
    return -(-size // block_size_for(size))


def content_id_of(size: int, block_size: int, block_hashes: Iterable[bytes]) -> bytes:
    """The content id of a file with these block hashes."""
    h = hashlib.sha256(_CONTENT_LABEL)
    h.update(struct.pack(">QI", size, block_size))
    for block_hash in block_hashes:
        h.update(block_hash)
    return h.digest()
