"""Serving file contents: block lists and byte ranges from the share set, in constant memory.

A request names a path and the content id the client expects. A file that is gone answers
NOT_FOUND; one whose content is no longer that id answers CHANGED (and, when the file on disk no
longer matches our index, asks for a rescan); a
range outside the file answers BAD_REQUEST. Data is read off the event loop in pieces and sent
with back-pressure, so memory stays flat whatever the file size. A file that changes while it is
being sent is noticed by comparing its size and modification time before and after, and the
transfer ends with CHANGED instead of End; the client also verifies every block by its hash.
A batch of whole small files (``GetFilesRequest``) is read in one worker-thread trip and sent
back to back (``serve_files``).

Every request but the folder list names a folder. The folders come from the node
(``folder_view``): a peer is told only of the folders it may see (``FoldersRequest``), and a
request naming a folder we do not have, or one the peer may not see, is answered NO_SUCH_FOLDER
by one path (``_folder_for``), so the two cannot be told apart. A folder held by several share
sets offers their union: a path present in more than one is offered (and served) from the
earliest that has it, so the index and the file contents always agree.

The offer requests (PROTOCOL.md 3.13) are answered from ``offer_inbox`` (an ``OfferInbox``, set
by the node's owner; see ``offer_inbox``): an offer part with the inbox's ``OfferReply``, an
answer, receipt or cancel with ``Ack`` when the inbox knows the offer as the peer's, else with
the same NO_SUCH_FOLDER bytes as a folder the peer may not see. Without an inbox, offers are
refused.

Every message of an answer goes through the server role of the exchange table
(``mfsync.protocol.exchange``) before it is sent, so that what we send is held to the rules a
client checks (data continuous, one End, a block list contiguous and hashing to its content id):
breaking one is a ``LocalProtocolError``, a bug of ours, and the connection is closed.
"""

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mfsync.crypto.keys import short_key
from mfsync.engine.folder_view import FolderOffers, FolderViews, LocalFolderView, ServedRoot
from mfsync.engine.index_cache import IndexAnswers
from mfsync.engine.offer_inbox import OfferInbox, refuse_offer
from mfsync.engine.serve_files import open_unchanged, read_piece, send_batch, unchanged
from mfsync.net.channel import ProtocolBroken, SecureChannel
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.exchange import Exchange
from mfsync.protocol.exchange_events import NotARequest, PeerReport, RequestReceived
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import (
    DATA_HEADER,
    FILES_CAPABILITY,
    MAX_DATA,
    MAX_HASHES_PER_MESSAGE,
    Ack,
    AnswerRequest,
    BlockList,
    BlocksRequest,
    CancelRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    FolderList,
    FoldersRequest,
    GetFilesRequest,
    GetRequest,
    IndexEntry,
    IndexRequest,
    Message,
    OfferRequest,
    ReceiptRequest,
)
from mfsync.protocol.session import Role
from mfsync.store.local_file import LocalFile

__all__ = ["FOLDER_REFUSAL_LOG_INTERVAL", "READ_SIZE", "FileServer", "Reply", "refuse"]

log = logging.getLogger("mfsync.serve")

#: Bytes read from disk per step (several Data messages).
READ_SIZE = 4 * 1024 * 1024
#: A step's Data messages are each read into their own slot of the step's buffer, behind room
#: for the message's header (``Data.framed``): the file's bytes are encrypted from where they
#: were read.
_SLOT = DATA_HEADER + MAX_DATA
#: A peer's requests for folders it may not see are logged once per this many seconds (and
#: counted meanwhile): a hostile peer could otherwise fill the log with them.
FOLDER_REFUSAL_LOG_INTERVAL = 60.0
#: The answer to a request for a folder we do not have or the peer may not see: the same bytes
#: whatever was asked (the id is not repeated: the peer knows what it asked).
_NO_SUCH_FOLDER = ErrorMessage(ErrorCode.NO_SUCH_FOLDER, "no such folder")
#: Peers whose folder refusals are remembered for the rate limit (bounded, as a flood's keys).
_MAX_REFUSAL_PEERS = 256


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
    """Answers FoldersRequest, IndexRequest, BlocksRequest, GetRequest and GetFilesRequest
    from the folders ``folders()`` returns, each only for the peers it admits, and the offer
    requests from ``offer_inbox``."""

    def __init__(self, folders: FolderViews, on_changed: Callable[[], None]) -> None:
        self._folders = folders
        self._on_changed = on_changed
        self._offers = FolderOffers()
        self._answers = IndexAnswers(self._offers)
        #: Who takes the offers peers make us and the answers to ours (None: offers refused).
        self.offer_inbox: OfferInbox | None = None
        #: Per peer key: when its last folder refusal was logged, and those not logged since.
        self._refusals: dict[bytes, tuple[float, int]] = {}

    def visible(self, peer_key: bytes) -> list[LocalFolderView]:
        """The folders the peer with ``peer_key`` may see, in our order."""
        return [view for view in self._folders() if view.admits(peer_key)]

    def folder(self, folder: FolderId = DEFAULT_FOLDER) -> LocalFolderView | None:
        """Our folder ``folder``, whoever asks (for callers that are not a peer)."""
        return next((view for view in self._folders() if view.id == folder), None)

    def find(self, path: str, folder: FolderId = DEFAULT_FOLDER
             ) -> tuple[ServedRoot, LocalFile] | None:
        """The share set of our folder ``folder`` that offers ``path`` and its file there."""
        view = self.folder(folder)
        return self._offers.find(view, path) if view is not None else None

    def entries(self, folder: FolderId = DEFAULT_FOLDER) -> list[IndexEntry]:
        """The index of our folder ``folder`` (empty if we have no such folder)."""
        view = self.folder(folder)
        return self._offers.entries(view) if view is not None else []

    def count(self) -> int:
        """How many files our folders offer (without building an index, unless they changed)."""
        total = 0
        for view in self._folders():
            if len(view.shares) == 1:
                total += view.shares[0].count
            else:
                total += self._offers.totals(view)[0]
        return total

    async def answer(self, channel: SecureChannel, message: Message) -> None:
        """Answer one message of a client, as the exchange table reads it: a request is
        answered by its method in ``_ANSWERS``, a message that is no request with BAD_REQUEST,
        an ``ErrorMessage`` is logged. ``ProtocolBroken`` for a message the table has no row
        for."""
        reply = Reply(channel, message)
        event = reply.event
        if isinstance(event, RequestReceived):
            # (answered in a cycle of its own: this one only read the message)
            await _ANSWERS[type(event.request)](self, channel, event.request)
        elif isinstance(event, PeerReport):
            log.info("peer %s reports: %s", channel.peer_address[0], event.error.text)
        elif isinstance(event, NotARequest):
            await refuse(channel, ErrorMessage(
                ErrorCode.BAD_REQUEST, f"unsupported request {type(message).__name__}"), reply)

    async def send_folders(self, channel: SecureChannel, request: FoldersRequest) -> None:
        """Answer a folder-list request: the folders this peer may see, and no other."""
        reply = Reply(channel, request)
        await reply.send(FolderList(tuple(
            self._offers.info(view) for view in self.visible(channel.remote_key))))

    async def send_index(self, channel: SecureChannel, request: IndexRequest) -> None:
        """Answer an index request: what changed since ``since_generation`` when that can be
        told, else the folder's whole index (3.3), in chunks that each fit one message, the
        last flagged; encoded once per generation (engine/index_cache.py)."""
        reply = Reply(channel, request)
        view = await self._folder_for(reply, request.folder)
        if view is None:
            return  # (checked before the cache is asked: it never answers a hidden folder)
        for chunk in self._answers.chunks(view, request.since_generation):
            await reply.send(chunk)

    async def _folder_for(self, reply: Reply, folder: FolderId) -> LocalFolderView | None:
        """Our folder ``folder`` if the peer may see it; else NO_SUCH_FOLDER is sent (None).
        A folder we do not have and one the peer may not see take this one path and get the
        same bytes, so that a peer learns nothing of folders it may not see."""
        key = reply.channel.remote_key
        view = next((v for v in self._folders() if v.id == folder and v.admits(key)), None)
        if view is None:
            self._log_folder_refusal(reply.channel, folder)
            await reply.send(_NO_SUCH_FOLDER)
        return view

    async def take_offer_part(self, channel: SecureChannel, request: OfferRequest) -> None:
        """Answer a part of an offer with the inbox's reply (REFUSED without an inbox)."""
        reply = Reply(channel, request)
        inbox = self.offer_inbox
        if inbox is None:
            answer = refuse_offer(request)
        else:
            answer = await inbox.offer_part(channel.remote_key, channel.peer_address[0], request)
        await reply.send(answer)  # (the table holds it to the request's offer and part)

    async def take_offer_news(self, channel: SecureChannel,
                              request: AnswerRequest | ReceiptRequest | CancelRequest) -> None:
        """Answer an offer's answer, receipt or cancel: ``Ack`` if the inbox knows the offer as
        this peer's, else NO_SUCH_FOLDER (the bytes of a folder it may not see)."""
        reply = Reply(channel, request)
        inbox = self.offer_inbox
        known = False
        if inbox is not None:
            key = channel.remote_key
            if isinstance(request, AnswerRequest):
                known = await inbox.answer(key, request)
            elif isinstance(request, ReceiptRequest):
                known = await inbox.receipt(key, request)
            else:
                known = await inbox.cancel(key, request)
        if known:
            await reply.send(Ack(request.offer))
        else:
            self._log_folder_refusal(channel, request.offer)
            await reply.send(_NO_SUCH_FOLDER)

    def _log_folder_refusal(self, channel: SecureChannel, folder: FolderId) -> None:
        """Log a request for a folder the peer may not see (or that does not exist), at most
        once per ``FOLDER_REFUSAL_LOG_INTERVAL`` per peer key; the others are counted."""
        key = channel.remote_key
        now = time.monotonic()
        last, unsaid = self._refusals.get(key, (now - FOLDER_REFUSAL_LOG_INTERVAL, 0))
        if now - last < FOLDER_REFUSAL_LOG_INTERVAL:
            self._refusals[key] = (last, unsaid + 1)
            return
        if len(self._refusals) >= _MAX_REFUSAL_PEERS and key not in self._refusals:
            self._refusals.clear()  # bounded: at worst a line is said again
        self._refusals[key] = (now, 0)
        more = f" ({unsaid} more since the last said)" if unsaid else ""
        log.info("refused %s:%d (key %s) a request for folder %s: no such folder, or not "
                 "one it may see%s", *channel.peer_address, short_key(key), folder, more)

    def _lookup(self, view: LocalFolderView, path: str,
                content_id: bytes) -> tuple[ServedRoot, LocalFile] | ErrorMessage:
        found = self._offers.find(view, path)
        if found is None:
            return ErrorMessage(ErrorCode.NOT_FOUND, f"{path!r} is not shared here")
        if found[1].hashes.content_id != content_id:
            return ErrorMessage(ErrorCode.CHANGED, f"{path!r} has changed")
        return found

    async def send_blocks(self, channel: SecureChannel, request: BlocksRequest) -> None:
        """Answer a block-list request."""
        await self._send_blocks(Reply(channel, request), request)

    async def _send_blocks(self, reply: Reply, request: BlocksRequest) -> None:
        view = await self._folder_for(reply, request.folder)
        if view is None:
            return
        found = self._lookup(view, request.path, request.content_id)
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
        view = await self._folder_for(reply, request.folder)
        if view is None:
            return
        found = self._lookup(view, request.path, request.content_id)
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
            if await self._send_piece(reply, request, share.root, local):
                view.sent(request.length)
            return
        loop = asyncio.get_running_loop()
        try:
            fd = await loop.run_in_executor(None, open_unchanged, share.root, local)
        except OSError as exc:
            await self._changed(reply, request, f"cannot serve {local.path}: {exc}")
            return
        pending: asyncio.Future[int] | None = None
        try:
            position = request.offset
            end = request.offset + request.length

            # Two buffers, used in turn: the next step is read into one while the other goes
            # out (each message is encrypted from it as it is sent, so a buffer is free again
            # once its step is sent).
            pieces = -(-READ_SIZE // MAX_DATA)
            buffers = [memoryview(bytearray(pieces * _SLOT)) for _ in range(2)]

            def read_at(where: int, turn: int) -> asyncio.Future[int]:
                return loop.run_in_executor(None, _read_into, fd,
                                            _data_slots(buffers[turn % 2], end - where), where)

            turn = 0
            pending = read_at(position, turn) if position < end else None
            while pending is not None:
                got = await pending
                pending = None
                if not got:
                    break  # the file shrank under us
                if position + got < end:
                    pending = read_at(position + got, turn + 1)
                await _send_framed(reply, position, buffers[turn % 2], got)
                view.sent(got)
                position += got
                turn += 1
            changed = position != end or not unchanged(os.fstat(fd), local)
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
                          local: LocalFile) -> bool:
        """Answer a request for at most ``READ_SIZE`` bytes (a small file, say): read in one
        trip off the loop, into a buffer of its own size; whether the data went out."""
        try:
            data = await asyncio.to_thread(read_piece, root, local, request.offset,
                                           request.length)
        except OSError as exc:
            await self._changed(reply, request, f"cannot serve {local.path}: {exc}")
            return False
        if data is None:
            await self._changed(reply, request, f"{local.path} changed since it was indexed")
            return False
        await _send_data(reply, request.offset, memoryview(data))
        await reply.send(End(request.offset + request.length))
        return True

    async def send_files(self, channel: SecureChannel, request: GetFilesRequest) -> None:
        """Answer a batch of whole small files, back to back (``serve_files.send_batch``);
        BAD_REQUEST on a session without the capability (PROTOCOL.md 10)."""
        reply = Reply(channel, request)
        if FILES_CAPABILITY not in channel.capabilities:
            await refuse(channel, ErrorMessage(ErrorCode.BAD_REQUEST, "a batch of files on a "
                                               f"session without {FILES_CAPABILITY!r}"), reply)
            return
        view = await self._folder_for(reply, request.folder)
        if view is not None and (refusal := await send_batch(
                reply.send, request, lambda path: self._offers.find(view, path),
                self._on_changed, view.sent)) is not None:
            await refuse(channel, refusal, reply)

    async def _changed(self, reply: Reply, request: GetRequest, why: str) -> None:
        """The file is not what the index says any more: say so, and rescan."""
        log.info("%s", why)
        self._on_changed()
        await reply.send(ErrorMessage(ErrorCode.CHANGED, f"{request.path!r} has changed"))


async def _send_data(reply: Reply, offset: int, view: memoryview) -> None:
    """``view`` (the file's bytes from ``offset``) as Data messages of at most ``MAX_DATA``."""
    for start in range(0, len(view), MAX_DATA):
        await reply.send(Data(offset + start, view[start : start + MAX_DATA]))


def _data_slots(buffer: memoryview, length: int) -> list[memoryview]:
    """Where the next ``length`` bytes of the file (at most ``READ_SIZE``) are read to: the
    payload part of each Data slot of ``buffer``, in order."""
    size = min(length, READ_SIZE)
    slots = []
    for start in range(0, size, MAX_DATA):
        slot = (start // MAX_DATA) * _SLOT + DATA_HEADER
        slots.append(buffer[slot : slot + min(MAX_DATA, size - start)])
    return slots


async def _send_framed(reply: Reply, offset: int, buffer: memoryview, length: int) -> None:
    """The ``length`` bytes read into the slots of ``buffer`` (``_data_slots``), the file's
    from ``offset``, as Data messages framed where they were read."""
    for start in range(0, length, MAX_DATA):
        slot = (start // MAX_DATA) * _SLOT
        size = min(MAX_DATA, length - start)
        await reply.send(Data.framed(buffer[slot : slot + DATA_HEADER + size], offset + start))


#: How each request the table lets a client make is answered, through the public methods,
#: looked up on the server at each call (one place to change or wrap an answer, in a subclass
#: or a test): (server, channel, request).
_ANSWERS: dict[type[Message], Callable[[FileServer, SecureChannel, Any], Awaitable[None]]] = {
    FoldersRequest: lambda server, channel, request: server.send_folders(channel, request),
    IndexRequest: lambda server, channel, request: server.send_index(channel, request),
    BlocksRequest: lambda server, channel, request: server.send_blocks(channel, request),
    GetRequest: lambda server, channel, request: server.send_range(channel, request),
    GetFilesRequest: lambda server, channel, request: server.send_files(channel, request),
    OfferRequest: lambda server, channel, request: server.take_offer_part(channel, request),
    AnswerRequest: lambda server, channel, request: server.take_offer_news(channel, request),
    ReceiptRequest: lambda server, channel, request: server.take_offer_news(channel, request),
    CancelRequest: lambda server, channel, request: server.take_offer_news(channel, request),
}


def _close_after(future: "asyncio.Future[int]", fd: int) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a failed read ahead is of no interest any more
    os.close(fd)


def _read_into(fd: int, views: list[memoryview], offset: int) -> int:
    """Read the file from ``offset`` into ``views`` in turn; how many bytes were read (fewer
    only at the end of the file)."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, views, offset)
    got = 0
    for view in views:  # (Windows has no preadv)
        data = os.pread(fd, len(view), offset + got)
        view[: len(data)] = data
        got += len(data)
        if len(data) < len(view):
            break
    return got
