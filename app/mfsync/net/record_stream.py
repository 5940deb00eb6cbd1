"""The socket end of a secure channel: reads straight into the session's receive buffer.

A ``SecureChannel`` is made from an asyncio stream pair (``open_connection``, ``start_server``);
``RecordStream.take_over`` puts this protocol in the stream's place on the same transport, so the
socket is read with ``recv_into`` into the session's own buffer (``Session.get_buffer``): no
``bytes`` object per read, no copy into a stream buffer and out of it again. Reading pauses while
a whole record waits to be parsed and resumes when the channel needs more, so what is held per
connection stays one record and a read-ahead. Writes go to the transport as they are (one
buffer per record), with the stream's flow control: ``drain`` waits while the transport's
buffer is over its high-water mark.
"""

import asyncio
import contextlib

from mfsync.protocol.session import Session

__all__ = ["RecordStream"]


class RecordStream(asyncio.BufferedProtocol):
    """Feeds one ``Session`` from its transport, and tells its channel when to read on."""

    def __init__(self, session: Session, transport: asyncio.Transport) -> None:
        self._session = session
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        #: Bytes read from the peer so far.
        self.bytes_received = 0
        #: The peer closed its side (the session has been told).
        self.eof = False
        #: The connection is gone (``error``: why, if it was not an orderly close).
        self.lost = False
        self.error: Exception | None = None
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] = self._loop.create_future()

    @classmethod
    def take_over(cls, session: Session, reader: asyncio.StreamReader,
                  transport: asyncio.Transport) -> "RecordStream":
        """Replace the stream protocol of ``transport`` with a ``RecordStream`` for
        ``session``; whatever the stream had read already goes to the session first."""
        stream = cls(session, transport)
        # Bytes a peer sent before the channel existed (its preface, say) are in the stream's
        # buffer; asyncio offers no public way to take them without awaiting.
        early = getattr(reader, "_buffer", None)
        if early:
            session.receive_data(bytes(early))
            stream.bytes_received += len(early)
            early.clear()
        transport.set_protocol(stream)
        if transport.is_closing():
            stream.lost = True
            stream._closed.set_result(None)
        elif reader.at_eof():
            stream.eof_received()
        elif not transport.is_reading():
            transport.resume_reading()  # (the stream may have paused it, its buffer full)
        return stream

    # -- asyncio.BufferedProtocol -----------------------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the transport's next ``recv_into`` goes: the session's own buffer."""
        return self._session.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` arrived in the last buffer."""
        self._session.buffer_updated(nbytes)
        self.bytes_received += nbytes
        if self._session.has_whole_record:
            # Enough to parse: read on only when the channel asks (bounded memory, and
            # back-pressure to the peer through TCP while a download's disk is busy).
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        """The peer closed its side: the session hears of it; keep our side open to write."""
        if not self.eof:
            self.eof = True
            self._session.receive_data(b"")
        self._wake_reader()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: wake whoever waits to read or write."""
        self.lost = True
        self.error = exc
        if not self.eof:
            self.eof = True
            with contextlib.suppress(Exception):
                self._session.receive_data(b"")
        self._wake_reader()
        self._wake_writer()
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        """The transport's buffer is over its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The transport's buffer has drained below its low-water mark."""
        self._write_paused = False
        self._wake_writer()

    # -- for the channel ------------------------------------------------------------------

    def read_on(self) -> None:
        """Read the socket again, unless a whole record still waits to be parsed."""
        if not self._session.has_whole_record and not self.eof:
            self.transport.resume_reading()  # (nothing when it is reading already)

    async def wait_for_data(self) -> None:
        """Wait until more bytes (or the end of the stream) have arrived; ``ConnectionError``
        when the connection was lost with an error."""
        if self.error is not None:
            raise ConnectionResetError(str(self.error))
        if self.eof or self.lost:
            return
        self.transport.resume_reading()  # (nothing when it is reading already)
        self._read_waiter = self._loop.create_future()
        try:
            await self._read_waiter
        finally:
            self._read_waiter = None
        if self.error is not None:
            raise ConnectionResetError(str(self.error))

    def write(self, records: list[bytes | bytearray | memoryview]) -> None:
        """Hand ``records`` to the transport, in order (each one as it is)."""
        for record in records:
            self.transport.write(record)

    async def drain(self) -> None:
        """Wait while the transport holds more than its high-water mark unsent;
        ``ConnectionError`` when the connection is gone."""
        if self.lost:
            raise ConnectionResetError("connection lost")
        while self._write_paused and not self.lost:
            self._drain_waiter = self._loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
        if self.lost:
            raise ConnectionResetError("connection lost")

    async def wait_closed(self) -> None:
        """Wait until the connection is gone."""
        await asyncio.shield(self._closed)

    def _wake_reader(self) -> None:
        if self._read_waiter is not None and not self._read_waiter.done():
            self._read_waiter.set_result(None)

    def _wake_writer(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
