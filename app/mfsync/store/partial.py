"""A download in progress: the hidden partial file beside its target, block by block.

The partial is opened (or created) at the file's final size. Blocks it already holds are hashed
and kept when they match, so an interrupted download resumes where it stopped, from any host with
the same content, and a partial with wrong content is repaired block by block. Each received
block is checked against its hash before it is written; zero blocks in the part of the file that
was never written stay holes (so a sparse file stays sparse). ``finalize`` fsyncs, sets the
modification time and renames the partial over the target in one atomic step: a partial never
replaces a good file.

Every method here blocks: the engine calls them off the event loop.
"""

import os
import threading
from pathlib import Path

from mfsync.protocol.content import block_hash
from mfsync.store.safe_paths import partial_path_for

__all__ = ["PartialFile", "fsync_dir"]


class PartialFile:
    """The partial download of one target, for one content."""

    def __init__(self, target: Path, size: int, block_size: int, hashes: tuple[bytes, ...]):
        self.target = target
        self.path = partial_path_for(target)
        self.size = size
        self.block_size = block_size
        self.hashes = hashes
        self._fd: int | None = None
        self._written_until = 0  # bytes below this may hold old data; above it are holes
        self._zero_hashes: dict[int, bytes] = {}
        self._write_lock = threading.Lock()

    @property
    def blocks(self) -> int:
        """Number of blocks of the file."""
        return len(self.hashes)

    def block_range(self, index: int) -> tuple[int, int]:
        """(offset, length) of block ``index``."""
        offset = index * self.block_size
        return offset, min(self.block_size, self.size - offset)

    def open(self) -> int:
        """Open or create the partial at the final size; returns how many bytes it had."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o644)
        had = os.fstat(self._fd).st_size
        if had != self.size:
            os.ftruncate(self._fd, self.size)
        self._written_until = min(had, self.size)
        return had

    def verify_existing(self) -> list[bool]:
        """Which blocks the partial already holds with the right content."""
        assert self._fd is not None
        have = [False] * self.blocks
        for index in range(self.blocks):
            offset, length = self.block_range(index)
            if offset >= self._written_until:
                break
            data = os.pread(self._fd, length, offset)
            have[index] = self.block_matches(index, data)
        return have

    def block_matches(self, index: int, data: bytes | bytearray | memoryview) -> bool:
        """Whether ``data`` is block ``index``'s content."""
        _, length = self.block_range(index)
        return len(data) == length and block_hash(data) == self.hashes[index]

    def write_block(self, index: int, data: bytes | bytearray | memoryview) -> None:
        """Write a verified block."""
        assert self._fd is not None
        offset, length = self.block_range(index)
        if offset >= self._written_until and self._is_zero_block(index, length):
            return  # a hole already reads as zeros: keep it a hole
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view = view[written:]
            offset += written

    def accept_block(self, index: int, data: bytes | bytearray | memoryview) -> bool:
        """Verify block ``index`` and write it if it is right; returns whether it was.

        Safe to call from several threads at once: blocks are hashed in parallel, but written
        one at a time (concurrent writers to one file only contend in the kernel).
        """
        if not self.block_matches(index, data):
            return False
        with self._write_lock:
            self.write_block(index, data)
        return True

    def _is_zero_block(self, index: int, length: int) -> bool:
        # The verified hash tells whether the block is all zeros without scanning its bytes.
        zero = self._zero_hashes.get(length)
        if zero is None:
            zero = self._zero_hashes[length] = block_hash(bytes(length))
        return self.hashes[index] == zero

    @property
    def fileno(self) -> int:
        """The open partial's file descriptor (for ``durable.sync_files``)."""
        assert self._fd is not None
        return self._fd

    def finalize(self, mtime_ns: int, final: Path | None = None, *, synced: bool = False) -> Path:
        """Make the partial the target (or ``final``) atomically; returns the path written.

        ``synced``: the caller has already flushed the data (``durable.sync_files``, for many
        files at once) and will flush the folder after its renames.
        """
        assert self._fd is not None
        if not synced:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        os.utime(self.path, ns=(mtime_ns, mtime_ns))
        destination = final or self.target
        os.replace(self.path, destination)
        if not synced:
            fsync_dir(destination.parent)
        return destination

    def close(self) -> None:
        """Close without finishing; the partial stays for a later resume."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Close and delete the partial."""
        self.close()
        self.path.unlink(missing_ok=True)


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename in it) to disk; where that cannot be done, nothing."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
