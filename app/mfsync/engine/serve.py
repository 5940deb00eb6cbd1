"""Serving file contents: block lists and byte ranges from the share set, in constant memory.

A request names a path and the content id the client expects. A file that is gone answers
NOT_FOUND; one whose content is no longer that id answers CHANGED (and, when the file on disk no
longer matches our index, asks for a rescan); a
range outside the file answers BAD_REQUEST. Data is read off the event loop in pieces and sent
with back-pressure, so memory stays flat whatever the file size. A file that changes while it is
being sent is noticed by comparing its size and modification time before and after, and the
transfer ends with CHANGED instead of End; the client also verifies every block by its hash.

With several shared folders, what we offer is their union: a path present in more than one is
offered (and served) from the earliest folder that has it, so the index and the file contents
always agree.
"""

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from mfsync.net.channel import SecureChannel
from mfsync.protocol.messages import (
    MAX_DATA,
    MAX_HASHES_PER_MESSAGE,
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    IndexEntry,
)
from mfsync.store.dirfd import open_under
from mfsync.store.shareset import LocalFile, ShareSet

__all__ = ["READ_SIZE", "FileServer", "refuse"]

log = logging.getLogger("mfsync.serve")

#: Bytes read from disk per step (several Data messages).
READ_SIZE = 4 * 1024 * 1024


async def refuse(channel: SecureChannel, error: ErrorMessage) -> None:
    """Answer a request with ``error``, and say so in the log: a peer asking for what no honest
    client asks (BAD_REQUEST) at INFO, the ordinary races (a file gone or changed) at DEBUG."""
    level = logging.INFO if error.code is ErrorCode.BAD_REQUEST else logging.DEBUG
    address, port = channel.peer_address
    log.log(level, "refused a request from %s:%d: %s", address, port, error.text)
    await channel.send(error)


class FileServer:
    """Answers index, BlocksRequest and GetRequest from the share sets ``shares()`` returns
    (in order of precedence)."""

    def __init__(self, shares: Callable[[], Sequence[ShareSet]],
                 on_changed: Callable[[], None]) -> None:
        self._shares = shares
        self._on_changed = on_changed
        self._shadowed: set[str] = set()  # paths offered by several folders, logged once
        self._count_key: tuple[tuple[int, int], ...] = ()
        self._count = 0

    def find(self, path: str) -> tuple[ShareSet, LocalFile] | None:
        """The folder that offers ``path`` (the earliest that has it) and its file there."""
        for share in self._shares():
            local = share.get(path)
            if local is not None:
                return share, local
        return None

    def entries(self) -> list[IndexEntry]:
        """The index of every folder together, sorted by path."""
        shares = self._shares()
        if len(shares) == 1:
            return shares[0].entries()
        union: dict[str, IndexEntry] = {}
        for share in shares:
            for entry in share.entries():
                if entry.path not in union:
                    union[entry.path] = entry
                elif entry.path not in self._shadowed:
                    self._shadowed.add(entry.path)
                    log.debug("%s is in more than one shared folder; offering it from the "
                              "first, not from %s", entry.path, share.root)
        return [union[path] for path in sorted(union)]

    def count(self) -> int:
        """How many files are offered (without building the index, unless folders changed)."""
        shares = self._shares()
        if len(shares) <= 1:
            return shares[0].count if shares else 0
        key = tuple((id(share), share.generation) for share in shares)
        if key != self._count_key:
            self._count_key = key
            self._count = len(set().union(*(share.files for share in shares)))
        return self._count

    def _lookup(self, path: str, content_id: bytes) -> tuple[ShareSet, LocalFile] | ErrorMessage:
        found = self.find(path)
        if found is None:
            return ErrorMessage(ErrorCode.NOT_FOUND, f"{path!r} is not shared here")
        if found[1].hashes.content_id != content_id:
            return ErrorMessage(ErrorCode.CHANGED, f"{path!r} has changed")
        return found

    async def send_blocks(self, channel: SecureChannel, request: BlocksRequest) -> None:
        """Answer a block-list request."""
        found = self._lookup(request.path, request.content_id)
        if isinstance(found, ErrorMessage):
            await refuse(channel, found)
            return
        local = found[1]
        hashes = local.hashes.block_hashes
        first = 0
        while True:
            part = hashes[first : first + MAX_HASHES_PER_MESSAGE]
            last = first + len(part) >= len(hashes)
            await channel.send(BlockList(local.hashes.content_id, local.size,
                                         local.hashes.block_size, first, part, last))
            if last:
                return
            first += len(part)

    async def send_range(self, channel: SecureChannel, request: GetRequest) -> None:
        """Answer a data request: Data messages for the range, then End (or an error)."""
        found = self._lookup(request.path, request.content_id)
        if isinstance(found, ErrorMessage):
            await refuse(channel, found)
            return
        share, local = found
        if request.offset > local.size or request.length > local.size - request.offset:
            await refuse(channel, ErrorMessage(
                ErrorCode.BAD_REQUEST,
                f"range {request.offset}+{request.length} is outside {request.path!r} "
                f"({local.size} bytes)",
            ))
            return
        if request.length <= READ_SIZE:
            await self._send_piece(channel, request, share.root, local)
            return
        loop = asyncio.get_running_loop()
        try:
            fd = await loop.run_in_executor(None, _open_unchanged, share.root, local)
        except OSError as exc:
            await self._changed(channel, request, f"cannot serve {local.path}: {exc}")
            return
        pending: asyncio.Future[int] | None = None
        try:
            position = request.offset
            end = request.offset + request.length

            # Two buffers, used in turn: the next piece is read into one while the other goes
            # out (encoding copies it, so a buffer is free again once its piece is sent).
            buffers = [bytearray(READ_SIZE), bytearray(READ_SIZE)]

            def read_at(where: int, turn: int) -> asyncio.Future[int]:
                view = memoryview(buffers[turn % 2])[: min(READ_SIZE, end - where)]
                return loop.run_in_executor(None, _read_into, fd, view, where)

            turn = 0
            pending = read_at(position, turn) if position < end else None
            while pending is not None:
                got = await pending
                pending = None
                if not got:
                    break  # the file shrank under us
                if position + got < end:
                    pending = read_at(position + got, turn + 1)
                await _send_data(channel, position, memoryview(buffers[turn % 2])[:got])
                position += got
                turn += 1
            changed = position != end or not _unchanged(os.fstat(fd), local)
        finally:
            if pending is not None and not pending.done():
                # A read ahead is still running in a worker thread: close the descriptor only
                # once it has finished, so its number cannot be reused by another file meanwhile.
                pending.add_done_callback(lambda future: _close_after(future, fd))
            else:
                os.close(fd)
        if changed:
            await self._changed(channel, request, f"{local.path} changed while it was being sent")
            return
        await channel.send(End(end))

    async def _send_piece(self, channel: SecureChannel, request: GetRequest, root: Path,
                          local: LocalFile) -> None:
        """Answer a request for at most ``READ_SIZE`` bytes (a small file, say): read in one
        trip off the loop, into a buffer of its own size."""
        try:
            data = await asyncio.to_thread(_read_piece, root, local, request.offset,
                                           request.length)
        except OSError as exc:
            await self._changed(channel, request, f"cannot serve {local.path}: {exc}")
            return
        if data is None:
            await self._changed(channel, request, f"{local.path} changed since it was indexed")
            return
        await _send_data(channel, request.offset, memoryview(data))
        await channel.send(End(request.offset + request.length))

    async def _changed(self, channel: SecureChannel, request: GetRequest, why: str) -> None:
        """The file is not what the index says any more: say so, and rescan."""
        log.info("%s", why)
        self._on_changed()
        await channel.send(ErrorMessage(ErrorCode.CHANGED, f"{request.path!r} has changed"))


async def _send_data(channel: SecureChannel, offset: int, view: memoryview) -> None:
    """``view`` (the file's bytes from ``offset``) as Data messages of at most ``MAX_DATA``."""
    for start in range(0, len(view), MAX_DATA):
        await channel.send(Data(offset + start, view[start : start + MAX_DATA]))


def _read_piece(root: Path, local: LocalFile, offset: int, length: int) -> bytes | None:
    """``length`` bytes of ``local`` (below ``root``) from ``offset``, or None if the file is
    no longer the one indexed (or shrank)."""
    fd = _open_unchanged(root, local)
    try:
        data = os.pread(fd, length, offset)
        if len(data) != length or not _unchanged(os.fstat(fd), local):
            return None
        return data
    finally:
        os.close(fd)


def _close_after(future: "asyncio.Future[int]", fd: int) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a failed read ahead is of no interest any more
    os.close(fd)


def _read_into(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    data = os.pread(fd, len(view), offset)  # Windows has no preadv
    view[: len(data)] = data
    return len(data)


def _unchanged(st: os.stat_result, local: LocalFile) -> bool:
    return (st.st_size, st.st_mtime_ns) == (local.size, local.mtime_ns)


def _open_unchanged(root: Path, local: LocalFile) -> int:
    """Open ``local`` for serving: from the share root's descriptor one component at a time,
    none followed if it is a symlink (a folder swapped for a symlink after the scan must not
    serve what is outside the share); ``OSError`` if it is not the file indexed any more."""
    fd = open_under(root, local.disk_path)
    if not _unchanged(os.fstat(fd), local):
        os.close(fd)
        raise OSError(f"{local.path} changed since it was indexed")
    return fd
