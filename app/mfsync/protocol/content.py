"""How file content is named on the wire: block sizes and the content id.

A file is cut into blocks whose size depends only on the file's size (so every host cuts the
same content the same way); each block gets a BLAKE3 hash (32 bytes); the content id is a BLAKE3
hash over a label, the file size, the block size and the block hashes. Block hashes let a
download verify (and resume) block by block, and the content id names the whole content in one
value, so each byte is hashed once.

Why BLAKE3 rather than SHA-256: on the receiving side of a transfer, hashing every block is a
quarter of the CPU time with SHA-256 (2 GB/s here, with SHA extensions); BLAKE3 does the same
work at about 10 GB/s, which is what let a 2-core machine reach the throughput floor
(benchmarks/transfer.py). Both are 256-bit hashes with no known weakness.
"""

import struct
from collections.abc import Iterable

from blake3 import blake3

__all__ = [
    "HASH_SIZE",
    "MAX_BLOCK_SIZE",
    "MIN_BLOCK_SIZE",
    "TARGET_BLOCKS",
    "block_count",
    "block_hash",
    "block_hasher",
    "block_size_for",
    "content_id_of",
]

MIN_BLOCK_SIZE = 128 * 1024
MAX_BLOCK_SIZE = 16 * 1024 * 1024
#: Block sizes grow (by powers of two) until a file has at most this many blocks.
TARGET_BLOCKS = 2000
_CONTENT_LABEL = b"mfsync content id v1\x00"
#: Bytes of a block hash and of a content id.
HASH_SIZE = 32


def block_hash(data: bytes | bytearray | memoryview) -> bytes:
    """The hash of one block."""
    return blake3(data).digest()


def block_hasher() -> "blake3":
    """An incremental hasher for a block read in pieces (``update``, then ``digest``)."""
    return blake3()


#: The block sizes, smallest first.
_BLOCK_SIZES = tuple(MIN_BLOCK_SIZE << n for n in range((MAX_BLOCK_SIZE // MIN_BLOCK_SIZE)
                                                         .bit_length()))


def block_size_for(size: int) -> int:
    """The block size for a file of ``size`` bytes (128 KiB to 16 MiB, a power of two)."""
    for block in _BLOCK_SIZES:  # (one int object per size, not one per file)
        if size <= block * TARGET_BLOCKS:
            return block
    return MAX_BLOCK_SIZE


def block_count(size: int) -> int:
    """How many blocks a file of ``size`` bytes has (0 for an empty file)."""
    return -(-size // block_size_for(size))


def content_id_of(size: int, block_size: int, block_hashes: Iterable[bytes]) -> bytes:
    """The content id of a file with these block hashes."""
    h = blake3(_CONTENT_LABEL)
    h.update(struct.pack(">QI", size, block_size))
    for block_hash in block_hashes:
        h.update(block_hash)
    return h.digest()
