"""The sans-IO secure session: bytes in, typed events out; messages in, bytes out.

How it works: the client opens with an 8-byte preface (magic and framing version) and the first
Noise XX handshake message; the server answers with its own preface and the second message; the
client sends the third. Handshake messages travel with a u16 length prefix. From then on every
record is a u32 length prefix and a ChaCha20-Poly1305 ciphertext whose plaintext is one message
(``mfsync.protocol.messages``). The first message each way must be ``Hello`` (or an
``ErrorMessage`` refusing the peer); the session negotiates the highest common version from them,
and the session's capabilities: those both hellos name (binding: a message or field that a later
revision adds under a capability is sent only when the session has it, PROTOCOL.md 10).

The session never touches a socket or a clock: the caller feeds it ``receive_data`` (``b""`` for
end of stream), or reads the socket straight into the session's own buffer (``get_buffer``, then
``buffer_updated``: no copy on the way), drains ``records_to_send`` (or ``data_to_send``) and
asks ``next_event`` until it answers ``NEED_DATA``. Timeouts, trust decisions and closing the
socket are the caller's.

Records are decrypted into reused buffers (``mfsync.protocol.records``) and a ``Data`` payload
is a view into one: such a buffer is reused only once nothing holds a view of it, so a payload
a caller keeps is never overwritten by a later record.
"""

import enum
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mfsync.crypto.noise import CipherState, HandshakeState, NoiseError
from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.messages import (
    MAX_MESSAGE_SIZE,
    PROTOCOL_VERSIONS,
    ErrorCode,
    ErrorMessage,
    Hello,
    Message,
    decode_message,
    encode_message,
)
from mfsync.protocol.records import POOLED_SIZE, READ_AHEAD, LentBuffers, ReceiveBuffer

__all__ = [
    "FRAMING_VERSION",
    "MAX_HANDSHAKE_MESSAGE",
    "MAX_RECORD",
    "NEED_DATA",
    "PREFACE",
    "PROLOGUE",
    "ConnectionClosed",
    "HandshakeComplete",
    "NeedData",
    "PeerHello",
    "Role",
    "Session",
    "SessionEvent",
    "UndecodedMessage",
]

FRAMING_VERSION = 1
PREFACE = b"MFSYNC" + struct.pack(">H", FRAMING_VERSION)
#: Bound into the Noise handshake so that a peer speaking another protocol fails it.
PROLOGUE = b"mfsync secure channel\x00" + PREFACE
#: Our handshake messages are 32 to 96 bytes; anything much larger is not from an mfsync peer.
MAX_HANDSHAKE_MESSAGE = 1024
_TAG_SIZE = 16
#: Largest ciphertext of one record.
MAX_RECORD = MAX_MESSAGE_SIZE + _TAG_SIZE
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class Role(enum.Enum):
    """Which end of the connection this session is."""

    CLIENT = "client"
    SERVER = "server"


class _State(enum.Enum):
    PREFACE = "preface"
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


class NeedData:
    """``next_event`` has nothing more until more bytes arrive."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The peer proved it holds the private key of ``remote_key`` (32 raw bytes)."""

    remote_key: bytes


@dataclass(frozen=True, slots=True)
class PeerHello:
    """The peer's hello arrived; ``version`` is the one both sides will speak."""

    hello: Hello
    version: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer ended the stream."""


@dataclass(frozen=True, slots=True)
class UndecodedMessage:
    """A message after the hellos that the session's owner decodes itself (``decode_message``):
    see ``Session.defer_decoding``. The record was authenticated; its content is unchecked."""

    plaintext: bytes


Buffer = bytes | bytearray | memoryview

SessionEvent = (
    HandshakeComplete | PeerHello | ConnectionClosed | Message | UndecodedMessage | NeedData
)


class Session:
    """One end of an mfsync secure connection, without any I/O."""

    def __init__(self, role: Role, static_key: X25519PrivateKey) -> None:
        self.role = role
        self._hs = HandshakeState(
            initiator=role is Role.CLIENT, static_key=static_key, prologue=PROLOGUE
        )
        self._state = _State.PREFACE
        self._in = ReceiveBuffer()
        self._plaintexts = LentBuffers()
        self._records = LentBuffers()
        self._out: list[Buffer] = []  # handed over as they are by records_to_send
        self._send: CipherState | None = None
        self._recv: CipherState | None = None
        self._eof = False
        #: The stream ended inside a frame (the error ``next_event`` raised for it): the peer
        #: closed, or died, mid-record, rather than sent something wrong.
        self.cut_short = False
        self._closed_reported = False
        self._hello_sent = False
        self._hello_received = False
        self.remote_key: bytes | None = None
        self.version: int | None = None
        self._own_capabilities: frozenset[str] | None = None
        self._peer_capabilities: frozenset[str] | None = None
        #: Messages of these type tags, from this many bytes on, are handed over undecoded once
        #: the hellos are exchanged (``UndecodedMessage``): decoding a large index chunk takes
        #: tens of milliseconds, which an event loop does better in a thread. Off by default.
        self.defer_decoding: tuple[frozenset[int], int] = (frozenset(), 0)
        if role is Role.CLIENT:
            self._out.append(PREFACE)
            self._write_handshake()

    @property
    def is_open(self) -> bool:
        """True once the handshake is complete and until the stream ends."""
        return self._state is _State.OPEN

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities of this session: those both hellos named (empty until both hellos
        are known). Only these may be used: a peer that did not name one cannot read it."""
        if self._own_capabilities is None or self._peer_capabilities is None:
            return frozenset()
        return self._own_capabilities & self._peer_capabilities

    @property
    def pending_bytes(self) -> int:
        """Bytes received and not yet part of a whole record (a message still arriving)."""
        return len(self._in)

    # -- input --------------------------------------------------------------------------------

    def receive_data(self, data: Buffer) -> None:
        """Feed bytes from the peer (a copy is kept); ``b""`` means the peer closed its side."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after end of stream")
        self._in.extend(data)

    def get_buffer(self) -> memoryview:
        """Where the next bytes from the peer go, without a copy: write into the start of
        this view, then call ``buffer_updated`` with their count (and ``receive_data(b"")`` at
        the end of the stream). Sized for the rest of the record in progress (its length is
        checked against ``MAX_RECORD`` first) and at least ``READ_AHEAD`` more. Do not write
        into it after ``buffer_updated``: the next ``get_buffer`` may offer other memory."""
        if self._eof:
            raise LocalProtocolError("data received after end of stream")
        return self._in.room(max(self._bytes_wanted(), READ_AHEAD))

    def buffer_updated(self, count: int) -> None:
        """``count`` bytes were written into the start of the last ``get_buffer``."""
        self._in.wrote(count)

    @property
    def has_whole_record(self) -> bool:
        """Whether what has arrived holds at least one whole record (or handshake message)
        not yet parsed, or the session is closed: a reader can stop reading the socket until
        ``next_event`` has taken it."""
        if self._state is _State.CLOSED:
            return True
        return len(self._in) > 0 and self._bytes_wanted() == 0

    def _bytes_wanted(self) -> int:
        """How many more bytes the frame in progress needs (0: it is whole). A record length
        over the cap is not believed: the frame is then refused by ``next_event``."""
        have = len(self._in)
        if self._state is _State.PREFACE:
            return max(0, len(PREFACE) - have)
        if self._state is _State.HANDSHAKE:
            if have < 2:
                return 2 - have
            length = _U16.unpack(self._in.peek(2))[0]
            return 0 if length > MAX_HANDSHAKE_MESSAGE else max(0, 2 + length - have)
        if have < 4:
            return 4 - have
        length = _U32.unpack(self._in.peek(4))[0]
        return 0 if length > MAX_RECORD else max(0, 4 + length - have)

    def next_event(self) -> SessionEvent:
        """Parse the next event out of what has arrived; raises ``RemoteProtocolError``."""
        try:
            return self._next_event()
        except RemoteProtocolError:
            self._state = _State.CLOSED
            raise
        except NoiseError as exc:
            self._state = _State.CLOSED
            raise RemoteProtocolError(f"handshake or decryption failed: {exc}") from None

    def _next_event(self) -> SessionEvent:
        if self._state is _State.CLOSED:
            return self._closed()
        if self._state is _State.PREFACE:
            if len(self._in) < len(PREFACE):
                return self._need_data()
            preface = self._in.peek(len(PREFACE))
            self._in.consume(len(PREFACE))
            if preface[:6] != PREFACE[:6]:
                raise RemoteProtocolError("peer does not speak mfsync (bad preface)")
            if preface != PREFACE:
                version = _U16.unpack(preface[6:])[0]
                raise RemoteProtocolError(f"peer speaks mfsync framing version {version}")
            self._state = _State.HANDSHAKE
            if self.role is Role.SERVER:
                self._out.append(PREFACE)  # the server's preface goes before its handshake reply
        if self._state is _State.HANDSHAKE:
            return self._handshake_step()
        return self._record_step()

    def _handshake_step(self) -> SessionEvent:
        if len(self._in) < 2:
            return self._need_data()
        (length,) = _U16.unpack(self._in.peek(2))
        if length > MAX_HANDSHAKE_MESSAGE:
            raise RemoteProtocolError(f"handshake message of {length} bytes is too long")
        if len(self._in) < 2 + length:
            return self._need_data()
        message = self._in.peek(2 + length)[2:]
        self._in.consume(2 + length)
        self._hs.read_message(message)
        if not self._hs.complete:
            self._write_handshake()
        if self._hs.complete:
            self._send, self._recv = self._hs.split()
            self._state = _State.OPEN
            self.remote_key = self._hs.remote_static
            assert self.remote_key is not None
            return HandshakeComplete(self.remote_key)
        return self._next_event()

    def _record_step(self) -> SessionEvent:
        if len(self._in) < 4:
            return self._need_data()
        (length,) = _U32.unpack(self._in.peek(4))
        if length > MAX_RECORD:
            raise RemoteProtocolError(f"record of {length} bytes exceeds {MAX_RECORD}")
        if length < _TAG_SIZE + 1:
            raise RemoteProtocolError(f"record of {length} bytes is too short")
        if len(self._in) < 4 + length:
            return self._need_data()
        plaintext = self._decrypt_record(length)
        tags, min_size = self.defer_decoding
        if (self._hello_received and plaintext and plaintext[0] in tags
                and len(plaintext) >= min_size):
            return UndecodedMessage(bytes(plaintext))  # (decoded later: not a lent buffer)
        message = decode_message(plaintext)
        if isinstance(message, Hello):
            if self._hello_received:
                raise RemoteProtocolError("second hello")
            self._hello_received = True
            common = set(message.versions) & set(PROTOCOL_VERSIONS)
            if not common:
                self.send(ErrorMessage(ErrorCode.UNSUPPORTED_VERSION,
                                       f"this host speaks versions {list(PROTOCOL_VERSIONS)}"))
                raise RemoteProtocolError(
                    f"no common protocol version (peer speaks {list(message.versions)})"
                )
            self.version = max(common)
            self._peer_capabilities = frozenset(message.capabilities)
            return PeerHello(message, self.version)
        if not self._hello_received and not isinstance(message, ErrorMessage):
            raise RemoteProtocolError(f"{type(message).__name__} before hello")
        return message

    def _decrypt_record(self, length: int) -> bytes | memoryview:
        """Decrypt the whole record of ``length`` bytes at the front of the receive buffer,
        straight out of it (no copy of the ciphertext), and consume it. A large one goes into
        a reused buffer (``LentBuffers``: a view of it is returned), a small one into new
        bytes."""
        assert self._recv is not None
        size = length - _TAG_SIZE
        with self._in.view(4, 4 + length) as ciphertext:
            if size < POOLED_SIZE:
                plaintext: bytes | memoryview = self._recv.decrypt(ciphertext)
            else:
                plaintext = self._plaintexts.take(size)
                self._recv.decrypt_into(ciphertext, plaintext)
        self._in.consume(4 + length)
        return plaintext

    def _need_data(self) -> SessionEvent:
        if self._eof:
            if self._in:
                self._state = _State.CLOSED
                self.cut_short = True
                raise RemoteProtocolError(f"stream ended inside a frame ({len(self._in)} bytes)")
            return self._closed()
        return NEED_DATA

    def _closed(self) -> SessionEvent:
        self._state = _State.CLOSED
        return ConnectionClosed()

    # -- output -------------------------------------------------------------------------------

    def _write_handshake(self) -> None:
        message = self._hs.write_message()
        self._out += (_U16.pack(len(message)), message)

    def send(self, message: Message) -> None:
        """Queue ``message`` for the peer; drain it with ``data_to_send``."""
        if self._state is not _State.OPEN or self._send is None:
            raise LocalProtocolError(f"cannot send in state {self._state.value}")
        if not self._hello_sent and not isinstance(message, Hello | ErrorMessage):
            raise LocalProtocolError("the first message must be Hello")
        if isinstance(message, Hello):
            if self._hello_sent:
                raise LocalProtocolError("hello already sent")
            self._hello_sent = True
            self._own_capabilities = frozenset(message.capabilities)
        plaintext = encode_message(message)
        # The length prefix and the ciphertext in one buffer, encrypted into place: one
        # object per record for the transport, no joining copy; a large one in a reused
        # buffer, lent to the caller of records_to_send until it lets go of it.
        size = len(plaintext) + _TAG_SIZE
        record = (self._records.take(4 + size) if size >= POOLED_SIZE
                  else memoryview(bytearray(4 + size)))
        _U32.pack_into(record, 0, size)
        self._send.encrypt_into(plaintext, record[4:])
        self._out.append(record)

    def records_to_send(self) -> list[Buffer]:
        """Everything queued for the peer since the last call, in order, as separate buffers
        (no joining copy): the caller owns them and writes them in this order."""
        out, self._out = self._out, []
        return out

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call, in one piece."""
        return b"".join(self.records_to_send())
