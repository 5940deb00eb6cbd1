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

Every message of an answer goes through the server role of the exchange table
(``mfsync.protocol.exchange``) before it is sent, so that what we send is held to the rules a
client checks (data continuous, one End, a block list contiguous and hashing to its content id):
breaking one is a ``LocalProtocolError``, a bug of ours, and the connection is closed.
"""

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from mfsync.net.channel import ProtocolBroken, SecureChannel
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.exchange import Exchange
from mfsync.protocol.exchange_events import NotARequest, PeerReport, RequestReceived
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
    IndexRequest,
    Message,
    chunk_index,
)
from mfsync.protocol.session import Role
from mfsync.store.dirfd import open_under
from mfsync.store.shareset import LocalFile, ShareSet

__all__ = ["READ_SIZE", "FileServer", "Reply", "refuse"]

log = logging.getLogger("mfsync.serve")

#: Bytes read from disk per step (several Data messages).
READ_SIZE = 4 * 1024 * 1024


async def refuse(channel: SecureChannel, error: ErrorMessage,
                 reply: "Reply | None" = None) -> None:
    """Answer a request with ``error`` (through ``reply``'s table when given), and say so in the
    log: a peer asking for what no honest client asks (BAD_REQUEST) at INFO, the ordinary races
    (a file gone or changed) at DEBUG."""
    level = logging.INFO if error.code is ErrorCode.BAD_REQUEST else logging.DEBUG
    address, port = channel.peer_address
    log.log(level, "refused a request from %s:%d: %s", address, port, error.text)
    if reply is not None:
        await reply.send(error)
    else:
        await channel.send(error)


class Reply:
    """The server's side of one request and its answer: every message goes through the
    exchange table (``Exchange`` in the server role) on its way to the channel."""

    def __init__(self, channel: SecureChannel, request: Message) -> None:
        self.channel = channel
        self.exchange = Exchange(Role.SERVER)
        try:
            self.event = self.exchange.receive(request)
        except RemoteProtocolError as exc:
            raise ProtocolBroken(str(exc)) from None

    async def send(self, message: Message) -> None:
        """Check ``message`` against the table (``LocalProtocolError`` if it may not follow),
        then send it."""
        self.exchange.send(message)
        await self.channel.send(message)


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

    async def answer(self, channel: SecureChannel, message: Message, generation: int) -> None:
        """Answer one message of a client, as the exchange table reads it: a request is
        answered by its method in ``_ANSWERS`` (the index at ``generation``), a message that is
        no request with BAD_REQUEST, an ``ErrorMessage`` is logged. ``ProtocolBroken`` for a
        message the table has no row for."""
        reply = Reply(channel, message)
        event = reply.event
        if isinstance(event, RequestReceived):
            # (answered in a cycle of its own: this one only read the message)
            await _ANSWERS[type(event.request)](self, channel, event.request, generation)
        elif isinstance(event, PeerReport):
            log.info("peer %s reports: %s", channel.peer_address[0], event.error.text)
        elif isinstance(event, NotARequest):
            await refuse(channel, ErrorMessage(
                ErrorCode.BAD_REQUEST, f"unsupported request {type(message).__name__}"), reply)

    async def send_index(self, channel: SecureChannel, request: IndexRequest,
                         generation: int) -> None:
        """Answer an index request: the whole index (``since_generation`` is reserved), in
        chunks that each fit one message, the last flagged."""
        reply = Reply(channel, request)  # the whole index, whatever generation was asked (3.3)
        for chunk in chunk_index(self.entries(), generation):
            await reply.send(chunk)

    def _lookup(self, path: str, content_id: bytes) -> tuple[ShareSet, LocalFile] | ErrorMessage:
        found = self.find(path)
        if found is None:
            return ErrorMessage(ErrorCode.NOT_FOUND, f"{path!r} is not shared here")
        if found[1].hashes.content_id != content_id:
            return ErrorMessage(ErrorCode.CHANGED, f"{path!r} has changed")
        return found

    async def send_blocks(self, channel: SecureChannel, request: BlocksRequest) -> None:
        """Answer a block-list request."""
        await self._send_blocks(Reply(channel, request), request)

    async def _send_blocks(self, reply: Reply, request: BlocksRequest) -> None:
        found = self._lookup(request.path, request.content_id)
        if isinstance(found, ErrorMessage):
            await refuse(reply.channel, found, reply)
            return
        local = found[1]
        hashes = local.hashes.block_hashes
        first = 0
        while True:
            part = hashes[first : first + MAX_HASHES_PER_MESSAGE]
            last = first + len(part) >= len(hashes)
            await reply.send(BlockList(local.hashes.content_id, local.size,
                                       local.hashes.block_size, first, part, last))
            if last:
                return
            first += len(part)

    async def send_range(self, channel: SecureChannel, request: GetRequest) -> None:
        """Answer a data request: Data messages for the range, then End (or an error)."""
        await self._send_range(Reply(channel, request), request)

    async def _send_range(self, reply: Reply, request: GetRequest) -> None:
        found = self._lookup(request.path, request.content_id)
        if isinstance(found, ErrorMessage):
            await refuse(reply.channel, found, reply)
            return
        share, local = found
        if request.offset > local.size or request.length > local.size - request.offset:
            await refuse(reply.channel, ErrorMessage(
                ErrorCode.BAD_REQUEST,
                f"range {request.offset}+{request.length} is outside {request.path!r} "
                f"({local.size} bytes)",
            ), reply)
            return
        if request.length <= READ_SIZE:
            await self._send_piece(reply, request, share.root, local)
            return
        loop = asyncio.get_running_loop()
        try:
            fd = await loop.run_in_executor(None, _open_unchanged, share.root, local)
        except OSError as exc:
            await self._changed(reply, request, f"cannot serve {local.path}: {exc}")
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
                await _send_data(reply, position, memoryview(buffers[turn % 2])[:got])
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
            await self._changed(reply, request, f"{local.path} changed while it was being sent")
            return
        await reply.send(End(end))

    async def _send_piece(self, reply: Reply, request: GetRequest, root: Path,
                          local: LocalFile) -> None:
        """Answer a request for at most ``READ_SIZE`` bytes (a small file, say): read in one
        trip off the loop, into a buffer of its own size."""
        try:
            data = await asyncio.to_thread(_read_piece, root, local, request.offset,
                                           request.length)
        except OSError as exc:
            await self._changed(reply, request, f"cannot serve {local.path}: {exc}")
            return
        if data is None:
            await self._changed(reply, request, f"{local.path} changed since it was indexed")
            return
        await _send_data(reply, request.offset, memoryview(data))
        await reply.send(End(request.offset + request.length))

    async def _changed(self, reply: Reply, request: GetRequest, why: str) -> None:
        """The file is not what the index says any more: say so, and rescan."""
        log.info("%s", why)
        self._on_changed()
        await reply.send(ErrorMessage(ErrorCode.CHANGED, f"{request.path!r} has changed"))


async def _send_data(reply: Reply, offset: int, view: memoryview) -> None:
    """``view`` (the file's bytes from ``offset``) as Data messages of at most ``MAX_DATA``."""
    for start in range(0, len(view), MAX_DATA):
        await reply.send(Data(offset + start, view[start : start + MAX_DATA]))


#: How each request the table lets a client make is answered, through the public methods (one
#: place to change or wrap an answer): (server, channel, request, generation).
_ANSWERS: dict[type[Message], Callable[[FileServer, SecureChannel, Any, int], Awaitable[None]]] = {
    IndexRequest: lambda server, channel, request, generation: server.send_index(
        channel, request, generation),
    BlocksRequest: lambda server, channel, request, _: server.send_blocks(channel, request),
    GetRequest: lambda server, channel, request, _: server.send_range(channel, request),
}


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
