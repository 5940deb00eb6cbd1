"""A download in progress: the hidden partial file beside its target, block by block.

The partial is opened (or created) at the file's final size. Blocks it already holds are hashed
and kept when they match, so an interrupted download resumes where it stopped, from any host with
the same content, and a partial with wrong content is repaired block by block. Each received
block is checked against its hash before it is written; zero blocks in the part of the file that
was never written stay holes (so a sparse file stays sparse). ``finalize`` fsyncs, sets the
modification time and renames the partial over the target in one atomic step: a partial never
replaces a good file. Everything from ``open`` to ``finalize`` goes through descriptors held
open (``mfsync.store.dirfd``): the folders on the way and the partial itself, so that what
lands is the file that was verified.

This is the one place where a received block meets its hash (``PartialFile.block_matches``):
blocks of a listed file against the block list (which the exchange has already proven against
the content id), and the one block of a small file, fetched without its list, against the
content id itself (``PartialFile.unlisted``).

How bytes arrive: ``resume`` says which blocks the partial already holds and ``missing_runs``
the ranges still to ask for; a ``BlockWriter`` cuts the byte stream of each range into blocks
(without a copy when a block arrives whole in one chunk; a block of several chunks is gathered
into a reused buffer, one copy) and verifies and writes them in worker threads, a few at once,
while the network keeps reading.

The methods of ``PartialFile`` block: the engine calls them off the event loop (the
``BlockWriter`` does that itself).
"""

import asyncio
import contextlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from mfsync.protocol.content import block_hash, content_id_of
from mfsync.store.dirfd import Folder, HeldFolders, open_folder, rename_between
from mfsync.store.failures import local
from mfsync.store.safe_paths import UnsafePath, partial_path_for

__all__ = ["MAX_INFLIGHT_BLOCKS", "MAX_RANGE", "BadBlock", "BlockWriter", "PartialFile",
           "fsync_dir", "missing_runs"]

#: Largest byte range asked for in one request (a run of missing blocks is cut to it).
MAX_RANGE = 64 * 1024 * 1024
#: Received blocks being verified and written at once, per download.
MAX_INFLIGHT_BLOCKS = 4


class BadBlock(Exception):
    """A host sent a block whose hash does not match."""


class PartialFile:
    """The partial download of one target, for one content.

    ``root`` is the destination folder the target is below (by default the target's own
    folder): the folders from it to the target are opened one by one without following a
    symlink, and held open from ``open`` to ``finalize``, so that the file verified is the
    file that lands, in the folder it was written in, whatever happens to the paths meanwhile.
    """

    def __init__(self, target: Path, size: int, block_size: int, hashes: tuple[bytes, ...],
                 root: Path | None = None):
        self.target = target
        self.root = root if root is not None else target.parent
        self.path = partial_path_for(target)
        self.size = size
        self.block_size = block_size
        self.hashes = hashes
        #: The content id that proves the one block of an ``unlisted`` file, until it has.
        self._proof: bytes | None = None
        self._fd: int | None = None
        self._folder: Folder | None = None
        self._folder_held = False  # (the folder belongs to a batch's HeldFolders)
        self._written_until = 0  # bytes below this may hold old data; above it are holes
        self._zero_hashes: dict[int, bytes] = {}
        self._write_lock = threading.Lock()

    @classmethod
    def unlisted(cls, target: Path, size: int, block_size: int, content_id: bytes,
                 root: Path | None = None) -> "PartialFile":
        """The partial of a file of one block (or none), fetched without its block list: its
        one block is proven by ``content_id`` when it arrives (``block_matches``)."""
        partial = cls(target, size, block_size, (), root)
        partial._proof = content_id
        return partial

    @property
    def blocks(self) -> int:
        """Number of blocks of the file."""
        return len(self.hashes)

    def block_range(self, index: int) -> tuple[int, int]:
        """(offset, length) of block ``index``."""
        offset = index * self.block_size
        return offset, min(self.block_size, self.size - offset)

    def open(self, held: HeldFolders | None = None) -> int:
        """Open (creating them as needed) the folders from the root to the target, then open
        or create the partial at the final size; returns how many bytes it had. With
        ``held``, the folder is taken from there (opened once for a batch of files landing
        together) and left to it to close."""
        if held is not None:
            folder = held.get(self.root, self._parts(self.target), create=True)
        else:
            folder = open_folder(self.root, self._parts(self.target), create=True)
        try:
            fd = folder.open(self.path.name, os.O_RDWR | os.O_CREAT)
        except BaseException:
            if held is None:
                folder.close()
            raise
        self._folder, self._fd, self._folder_held = folder, fd, held is not None
        had = os.fstat(fd).st_size
        if had != self.size:
            os.ftruncate(fd, self.size)
        self._written_until = min(had, self.size)
        return had

    def _parts(self, path: Path) -> tuple[str, ...]:
        """The folders from the root to ``path``'s folder."""
        return path.parent.relative_to(self.root).parts

    def resume(self) -> list[bool]:
        """Open (or create) the folders from the root up to the partial and the partial itself,
        never through a symlink, and say which blocks it already holds."""
        self.open()
        return self.verify_existing()

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
        """Whether ``data`` is block ``index``'s content: every received block is checked
        here, and nowhere else."""
        _, length = self.block_range(index)
        if len(data) != length:
            return False
        digest = block_hash(data)
        if self._proof is None:
            return digest == self.hashes[index]
        # The one block of an unlisted file (or none): its hash is the whole block list, which
        # must hash to the content id. Proven, it is the list from now on.
        hashes = (digest,) if self.size else ()
        if content_id_of(self.size, self.block_size, hashes) != self._proof:
            return False
        self.hashes, self._proof = hashes, None
        return True

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

        Done through the descriptors held since ``open``, never by resolving a path again: the
        modification time is set on the open file, and the rename happens in the folder held
        open, after checking that the partial's name there is still the very file written and
        verified (another file put under that name meanwhile is refused, not landed).
        ``final`` must be below the same root; in another folder than the target's, that
        folder is opened from the root like the target's was.

        ``synced``: the caller has already flushed the data (``durable.sync_files``, for many
        files at once) and will flush the folder after its renames.
        """
        assert self._fd is not None and self._folder is not None
        fd, folder = self._fd, self._folder
        if not synced:
            os.fsync(fd)
        if os.utime in os.supports_fd:
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        else:
            os.utime(self.path, ns=(mtime_ns, mtime_ns))  # (Windows)
        destination = final or self.target
        st, mine = folder.lstat(self.path.name), os.fstat(fd)
        if (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino):
            raise UnsafePath(f"{self.path} was replaced by another file after it was verified; "
                             f"not landing it as {destination}")
        if destination.parent == self.target.parent:
            _check_not_folder(folder, destination, self)
        if folder.fd is None:
            # Without dir_fd (Windows) an open file cannot be renamed: close it first.
            os.close(fd)
            self._fd = None
        if destination.parent == self.target.parent:
            folder.rename(self.path.name, destination.name)
            if not synced:
                folder.fsync()
        else:
            # (a conflict copy in another folder: the partial moves there, from the folder
            # held open into one opened from the root the same way)
            with open_folder(self.root, self._parts(destination)) as other:
                rename_between(folder, self.path.name, other, destination.name)
                if not synced:
                    other.fsync()
                    folder.fsync()
        self.close()
        return destination

    def close(self) -> None:
        """Close without finishing; the partial stays for a later resume."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._folder is not None:
            if not self._folder_held:
                self._folder.close()
            self._folder = None

    def discard(self) -> None:
        """Close and delete the partial (in the folder it was written in, when open)."""
        if self._folder is not None:
            with contextlib.suppress(FileNotFoundError):
                self._folder.unlink(self.path.name)
            self.close()
            return
        self.close()
        self.path.unlink(missing_ok=True)


def missing_runs(have: list[bool], block_size: int) -> list[tuple[int, int]]:
    """Contiguous runs of missing blocks (first, last index), each at most ``MAX_RANGE``
    bytes long."""
    per_run = max(1, MAX_RANGE // block_size)
    runs: list[tuple[int, int]] = []
    index = 0
    while index < len(have):
        if have[index]:
            index += 1
            continue
        start = index
        while index < len(have) and not have[index] and index - start < per_run:
            index += 1
        runs.append((start, index - 1))
    return runs


class BlockWriter:
    """Cuts the received bytes of a range into blocks and verifies and writes them in worker
    threads while the network keeps reading, with a bounded number in flight (so memory stays
    bounded and the pipe stays full). ``written`` hears of each block's length once it is on
    disk; a block that does not match its hash fails the download with ``BadBlock``, a local
    failure with ``LocalFailure``."""

    def __init__(self, partial: PartialFile, written: Callable[[int], None]) -> None:
        self._partial = partial
        self._written = written
        #: Blocks being verified and written: (index, length, the gathering buffer it is in).
        self._inflight: dict[asyncio.Future[bool], tuple[int, int, bytearray | None]] = {}
        self._index = 0
        #: The block being gathered from several chunks, and how much of it has arrived.
        self._gathering: bytearray | None = None
        self._filled = 0
        #: Gathering buffers whose blocks are written: free to gather the next ones.
        self._spare: list[bytearray] = []

    def start(self, first: int) -> None:
        """A range beginning with block ``first`` comes next."""
        self._index = first
        if self._gathering is not None:
            self._spare.append(self._gathering)
        self._gathering, self._filled = None, 0

    async def feed(self, payload: bytes | memoryview) -> None:
        """Take the next bytes of the range: every block they complete goes to be written.

        A block that arrives whole in ``payload`` goes as a view of it (the caller must not
        change ``payload``'s bytes until ``drain``: a session's lent buffer is not); one
        spread over several payloads is gathered into a buffer of this writer's."""
        partial = self._partial
        with memoryview(payload) as view:
            pos = 0
            while pos < len(view):
                length = partial.block_range(self._index)[1]
                gathering = self._gathering
                if gathering is None and len(view) - pos >= length:
                    await self._put(self._index, view[pos : pos + length], None)
                    pos += length
                else:
                    if gathering is None:
                        gathering = self._gathering = self._buffer_for(length)
                    take = min(length - self._filled, len(view) - pos)
                    gathering[self._filled : self._filled + take] = view[pos : pos + take]
                    self._filled += take
                    pos += take
                    if self._filled < length:
                        return
                    self._gathering, self._filled = None, 0
                    await self._put(self._index, memoryview(gathering)[:length], gathering)
                self._index += 1

    def _buffer_for(self, length: int) -> bytearray:
        """A gathering buffer of at least ``length`` bytes whose last block is written."""
        while self._spare:
            buffer = self._spare.pop()
            if len(buffer) >= length:
                return buffer
        return bytearray(length)

    async def drain(self) -> None:
        """Wait for every block in flight; ``BadBlock`` if one did not match its hash."""
        while self._inflight:
            await self._reap(asyncio.ALL_COMPLETED)

    async def abandon(self) -> None:
        """Let blocks in flight finish (their threads cannot be stopped), ignoring outcomes."""
        if self._inflight:
            await asyncio.wait(list(self._inflight))
            for future in self._inflight:
                # Retrieved, or asyncio prints each failure (a full disk fails every block in
                # flight) as "Future exception was never retrieved" with a traceback: the
                # download has already failed with the first of them.
                if not future.cancelled():
                    future.exception()
            self._inflight.clear()

    async def _put(self, index: int, block: memoryview, gathered: bytearray | None) -> None:
        while len(self._inflight) >= MAX_INFLIGHT_BLOCKS:
            await self._reap(asyncio.FIRST_COMPLETED)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, local, self._partial.accept_block, index, block)
        self._inflight[future] = (index, len(block), gathered)

    async def _reap(self, when: str) -> None:
        done, _ = await asyncio.wait(list(self._inflight), return_when=when)
        for future in done:
            index, length, gathered = self._inflight.pop(future)
            if gathered is not None:
                self._spare.append(gathered)  # its thread is done with it
            if not future.result():
                raise BadBlock(f"block {index}")
            self._written(length)


def _check_not_folder(folder: Folder, destination: Path, partial: PartialFile) -> None:
    """A folder where the file is to land (a host offering both ``a`` and ``a/b``): the file
    can never land there, so its partial goes too, and the reason is said plainly."""
    try:
        mode = folder.lstat(destination.name).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        partial.discard()
        raise UnsafePath(f"{destination} is a folder here; a file cannot take its place")


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
