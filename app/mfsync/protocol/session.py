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
end of stream), drains ``data_to_send`` and asks ``next_event`` until it answers ``NEED_DATA``.
Timeouts, trust decisions and closing the socket are the caller's.
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
        self._in = bytearray()
        self._out: list[bytes] = []  # joined once in data_to_send: no copy per append
        self._send: CipherState | None = None
        self._recv: CipherState | None = None
        self._eof = False
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

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed its side."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after end of stream")
        self._in += data

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
            preface = bytes(self._in[: len(PREFACE)])
            del self._in[: len(PREFACE)]
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
        (length,) = _U16.unpack(self._in[:2])
        if length > MAX_HANDSHAKE_MESSAGE:
            raise RemoteProtocolError(f"handshake message of {length} bytes is too long")
        if len(self._in) < 2 + length:
            return self._need_data()
        message = bytes(self._in[2 : 2 + length])
        del self._in[: 2 + length]
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
        (length,) = _U32.unpack(self._in[:4])
        if length > MAX_RECORD:
            raise RemoteProtocolError(f"record of {length} bytes exceeds {MAX_RECORD}")
        if length < _TAG_SIZE + 1:
            raise RemoteProtocolError(f"record of {length} bytes is too short")
        if len(self._in) < 4 + length:
            return self._need_data()
        assert self._recv is not None
        # Decrypt straight out of the receive buffer (no copy of the ciphertext); the view
        # must be released before the buffer shrinks.
        with memoryview(self._in) as view:
            plaintext = self._recv.decrypt(view[4 : 4 + length])
        del self._in[: 4 + length]
        tags, min_size = self.defer_decoding
        if (self._hello_received and plaintext and plaintext[0] in tags
                and len(plaintext) >= min_size):
            return UndecodedMessage(plaintext)
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

    def _need_data(self) -> SessionEvent:
        if self._eof:
            if self._in:
                self._state = _State.CLOSED
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
        ciphertext = self._send.encrypt(encode_message(message))
        self._out += (_U32.pack(len(ciphertext)), ciphertext)

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        data = b"".join(self._out)
        self._out.clear()
        return data
