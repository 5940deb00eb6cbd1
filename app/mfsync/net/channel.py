"""The secure channel on asyncio streams: drives a sans-IO ``Session`` with timeouts.

``open_channel`` (client) and ``accept_channel`` (server) run the handshake, ask ``authorize``
about the key the peer proved, exchange hellos and return a ``SecureChannel`` whose ``send`` and
``receive`` carry typed messages. Every read has a deadline; anything the peer gets wrong ends
in a ``ChannelError`` that says what. Once made, a channel reads its socket through a
``RecordStream`` (``mfsync.net.record_stream``) straight into the session's buffer.
"""

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import cast

from mfsync.crypto.keys import Identity, short_key
from mfsync.net.record_stream import RecordStream
from mfsync.net.steps import in_steps
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.messages import (
    ErrorCode,
    ErrorMessage,
    Hello,
    Message,
    Tag,
    decode_index_chunk_in_steps,
)
from mfsync.protocol.session import (
    ConnectionClosed,
    HandshakeComplete,
    NeedData,
    PeerHello,
    Role,
    Session,
    UndecodedMessage,
)

__all__ = [
    "DECODE_STEP",
    "HANDSHAKE_TIMEOUT",
    "READ_CHUNK",
    "REQUEST_TIMEOUT",
    "STEPPED_DECODE_SIZE",
    "ChannelClosed",
    "ChannelError",
    "NotTrusted",
    "PeerRefused",
    "ProtocolBroken",
    "RecordCutShort",
    "SecureChannel",
    "accept_channel",
    "open_channel",
]

log = logging.getLogger("mfsync.net")

#: The whole handshake and hello exchange must finish within this many seconds.
HANDSHAKE_TIMEOUT = 10.0
#: Longest wait for the next message once the channel is open.
REQUEST_TIMEOUT = 60.0
READ_CHUNK = 1024 * 1024
#: Index chunks of this many bytes or more are decoded in slices of ``DECODE_STEP`` entries,
#: letting the event loop run between them: a full chunk (16,384 entries) takes 40 to 150 ms of
#: CPU to decode, and peers can send them back to back. (A worker thread is no better: while it
#: holds the interpreter lock, every socket read of the loop waits its turn for it.)
STEPPED_DECODE_SIZE = 64 * 1024
DECODE_STEP = 512
_STEPPED_TAGS = frozenset({Tag.INDEX_CHUNK})

Authorize = Callable[[bytes], bool]


class ChannelError(Exception):
    """The channel failed: the peer misbehaved, refused us, went silent or went away."""


class ChannelClosed(ChannelError):
    """The peer closed the connection."""


class ProtocolBroken(ChannelError):
    """The peer sent what the protocol does not allow (a broken record, a message out of place,
    an answer that does not fit the request): its doing, not the network's."""


class RecordCutShort(ProtocolBroken):
    """The stream ended inside a record: the peer closed the connection (or its process died)
    in the middle of sending one. A protocol error for a server, whose client owes it nothing;
    for a client waiting for a reply, a connection closed mid-reply."""


class NotTrusted(ChannelError):
    """The peer's proven key is not on our trust list; ``key`` is that key."""

    def __init__(self, text: str, key: bytes = b"") -> None:
        super().__init__(text)
        self.key = key


class PeerRefused(ChannelError):
    """The peer answered with an error message."""

    def __init__(self, message: ErrorMessage) -> None:
        super().__init__(f"peer refused: {message.text or message.code.name}")
        self.code = message.code
        self.text = message.text


class SecureChannel:
    """An open, authenticated, encrypted connection carrying typed messages."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, session: Session,
    ) -> None:
        self._writer = writer
        self._session = session
        session.defer_decoding = (_STEPPED_TAGS, STEPPED_DECODE_SIZE)
        self._stream = RecordStream.take_over(
            session, reader, cast(asyncio.Transport, writer.transport))
        self._closed = False
        self._close_callbacks: list[Callable[[SecureChannel], None]] = []
        self.peer_hello: Hello | None = None
        peer = writer.get_extra_info("peername")
        self.peer_address: tuple[str, int] = (str(peer[0]), int(peer[1])) if peer else ("?", 0)

    @property
    def bytes_received(self) -> int:
        """Bytes read from the peer so far (records not yet complete included): what a download
        measures a source's rate by, below the granularity of its 1 MiB messages."""
        return self._stream.bytes_received

    @property
    def remote_key(self) -> bytes:
        """The 32-byte public key the peer proved in the handshake."""
        assert self._session.remote_key is not None
        return self._session.remote_key

    @property
    def version(self) -> int:
        """The protocol version both sides speak."""
        assert self._session.version is not None
        return self._session.version

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities both hellos named: what this connection may use (PROTOCOL.md 10)."""
        return self._session.capabilities

    async def send(self, message: Message, timeout: float = REQUEST_TIMEOUT) -> None:
        """Encrypt and send ``message``, waiting (at most ``timeout`` s) while the peer's window
        is full; ``ChannelError`` when the peer stops reading or goes away."""
        self._session.send(message)
        await self._flush(timeout)

    async def receive(self, timeout: float = REQUEST_TIMEOUT) -> Message:
        """The next message, within ``timeout`` seconds; ``ChannelError`` otherwise.

        An ``ErrorMessage`` from the peer is returned like any other message.
        """
        try:
            async with asyncio.timeout(timeout):
                event = await self._next_event()
        except TimeoutError:
            raise ChannelError(f"no message from the peer within {timeout:g} s") from None
        if isinstance(event, ConnectionClosed):
            raise ChannelClosed("peer closed the connection")
        if isinstance(event, HandshakeComplete | PeerHello):
            raise ProtocolBroken(f"unexpected {type(event).__name__}")
        return event

    async def _next_event(self) -> HandshakeComplete | PeerHello | ConnectionClosed | Message:
        while True:
            try:
                event = self._session.next_event()
            except RemoteProtocolError as exc:
                if self._session.cut_short:
                    # Everything complete before the end was handled already: what is left is
                    # a record cut short, as a killed process leaves it.
                    raise RecordCutShort(str(exc)) from None
                # The session may have queued a last word (UNSUPPORTED_VERSION): try to send it.
                with contextlib.suppress(ChannelError, TimeoutError):
                    await asyncio.wait_for(self._flush(), 2.0)
                raise ProtocolBroken(str(exc)) from None
            if not isinstance(event, NeedData):
                self._stream.read_on()  # (an idle channel still hears the peer close)
            if isinstance(event, UndecodedMessage):
                try:
                    return await in_steps(
                        decode_index_chunk_in_steps(event.plaintext, DECODE_STEP))
                except RemoteProtocolError as exc:
                    raise ProtocolBroken(str(exc)) from None
            if not isinstance(event, NeedData):
                return event
            await self._flush()  # a handshake reply may be waiting to go out before we read
            try:
                await self._stream.wait_for_data()
            except (ConnectionError, OSError) as exc:
                raise ChannelClosed(f"connection lost: {exc}") from None

    async def _flush(self, timeout: float = REQUEST_TIMEOUT) -> None:
        records = self._session.records_to_send()
        if not records:
            return
        try:
            async with asyncio.timeout(timeout):
                self._stream.write(records)
                await self._stream.drain()
        except TimeoutError:
            raise ChannelError(f"the peer read nothing for {timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise ChannelClosed(f"connection lost: {exc}") from None

    @property
    def closed(self) -> bool:
        """Whether ``close`` or ``abort`` was called."""
        return self._closed

    @property
    def peer_closed(self) -> bool:
        """Whether the peer has closed its side and nothing it sent is left to read: a channel
        kept idle for reuse that the server has let go."""
        return self._stream.eof and not self._session.pending_bytes

    def when_closed(self, callback: "Callable[[SecureChannel], None]") -> None:
        """Call ``callback(self)`` once the channel is closed or aborted (at once if it is)."""
        if self._closed:
            callback(self)
        else:
            self._close_callbacks.append(callback)

    def abort(self) -> None:
        """Drop the connection at once, discarding anything not yet sent; never raises.

        For revoking a peer's access: unlike ``close``, nothing queued reaches it any more,
        and whoever is reading or writing on the channel gets a ``ChannelError``.
        """
        self._writer.transport.abort()
        self._mark_closed()

    @property
    def mid_message(self) -> bool:
        """Whether part of a message from the peer has arrived and the rest has not."""
        return self._session.pending_bytes > 0

    def close_soon(self) -> None:
        """Close the connection without waiting: what was sent still goes out, then the peer
        reads the end of the stream (a server letting an idle kept connection go)."""
        self._mark_closed()
        with contextlib.suppress(OSError, ConnectionError):
            self._writer.close()

    async def close(self) -> None:
        """Close the connection; never raises. Data the peer has not taken within 2 s is
        dropped with the connection."""
        self._mark_closed()
        try:
            self._writer.close()
            await asyncio.wait_for(self._stream.wait_closed(), 2.0)
        except TimeoutError:
            # A closing transport waits until its buffer is sent: with a peer that stopped
            # reading, for ever, holding the socket and the buffer (one per such client).
            self._writer.transport.abort()
        except (OSError, ConnectionError):
            pass

    def _mark_closed(self) -> None:
        if self._closed:
            return
        self._closed = True
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("channel close callback failed")

    async def _handshake(self, authorize: Authorize, hello: Hello) -> None:
        try:
            while True:
                await self._flush()
                event = await self._next_event()
                if isinstance(event, ConnectionClosed):
                    raise ChannelClosed("peer closed the connection during the handshake")
                if isinstance(event, HandshakeComplete):
                    if not authorize(event.remote_key):
                        await self._refuse(ErrorCode.NOT_TRUSTED, "your key is not trusted here")
                        raise NotTrusted(f"key {short_key(event.remote_key)} is not trusted",
                                         event.remote_key)
                    self._session.send(hello)
                elif isinstance(event, PeerHello):
                    self.peer_hello = event.hello
                    await self._flush()
                    return
                elif isinstance(event, ErrorMessage):
                    raise PeerRefused(event)
                else:
                    raise ChannelError(f"{type(event).__name__} before hello")
        except (ConnectionError, OSError) as exc:
            raise ChannelClosed(f"connection lost during the handshake: {exc}") from None

    async def _refuse(self, code: ErrorCode, text: str) -> None:
        self._session.send(ErrorMessage(code, text))
        with contextlib.suppress(ChannelError):
            await self._flush(2.0)


async def _establish(  # noqa: PLR0917 - private helper of the two public openers
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, role: Role,
    identity: Identity, hello: Hello, authorize: Authorize, timeout: float,
) -> SecureChannel:
    channel = SecureChannel(reader, writer, Session(role, identity.private_key))
    try:
        async with asyncio.timeout(timeout):
            await channel._handshake(authorize, hello)
    except TimeoutError:
        await channel.close()
        raise ChannelError(f"handshake not completed within {timeout:g} s") from None
    except BaseException:
        await channel.close()
        raise
    return channel


async def open_channel(
    host: str, port: int, identity: Identity, *, hello: Hello, authorize: Authorize,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> SecureChannel:
    """Connect to ``host:port`` and run the client side of the handshake."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=READ_CHUNK)
    except TimeoutError:
        raise ChannelError(f"no answer from {host}:{port} within {timeout:g} s") from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ChannelError(f"cannot connect to {host}:{port}: {reason}") from None
    return await _establish(reader, writer, Role.CLIENT, identity, hello, authorize, timeout)


async def accept_channel(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, identity: Identity, *,
    hello: Hello, authorize: Authorize, timeout: float = HANDSHAKE_TIMEOUT,
) -> SecureChannel:
    """Run the server side of the handshake on an accepted connection."""
    return await _establish(reader, writer, Role.SERVER, identity, hello, authorize, timeout)
