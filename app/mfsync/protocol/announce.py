"""The discovery datagram: what a host multicasts to say "I am here, connect to me at this port".

An announcement is a hint, never proof of identity: the key in it only tells a listener whom to
expect, and the encrypted channel's handshake is what proves it. The codec is pure (bytes in,
frozen objects out) and checks the size cap before parsing anything.

Layout (all integers big-endian; see PROTOCOL.md):

    magic "MFSA" | version u8 | kind u8 | flags u8 | reserved u8 | instance 8 | key 32 |
    tcp port u16 | beat ms u16 | generation u64 | name length u8 | name (UTF-8)
"""

import enum
from dataclasses import dataclass

from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.names import clean_label, has_control
from mfsync.protocol.wire import Reader, Writer

__all__ = [
    "ANNOUNCE_MAGIC",
    "ANNOUNCE_VERSION",
    "HEADER_SIZE",
    "MAX_DATAGRAM",
    "MAX_NAME_BYTES",
    "Announcement",
    "Flags",
    "Kind",
    "decode_announcement",
    "encode_announcement",
]

ANNOUNCE_MAGIC = b"MFSA"
ANNOUNCE_VERSION = 1
#: Datagrams larger than this are dropped unread; ours are at most HEADER_SIZE + 1 + 63 bytes.
MAX_DATAGRAM = 512
MAX_NAME_BYTES = 63
INSTANCE_ID_SIZE = 8
PUBLIC_KEY_SIZE = 32
#: magic, version, kind, flags, reserved, instance id, key, port, beat, generation.
HEADER_SIZE = 4 + 1 + 1 + 1 + 1 + INSTANCE_ID_SIZE + PUBLIC_KEY_SIZE + 2 + 2 + 8


class Kind(enum.IntEnum):
    """What a datagram asks of its listeners."""

    ANNOUNCE = 1  #: "here I am"
    QUERY = 2  #: "here I am, and please announce yourselves now"


class Flags(enum.IntFlag):
    """What the sender does on the network."""

    NONE = 0
    SHARES = 1  #: serves files: connect to its TCP port for its index
    WANTS = 2  #: downloads files (get, sync)


@dataclass(frozen=True, slots=True)
class Announcement:
    """One decoded discovery datagram."""

    kind: Kind
    flags: Flags
    instance_id: bytes
    public_key: bytes
    tcp_port: int
    beat_ms: int
    generation: int
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.instance_id) != INSTANCE_ID_SIZE:
            raise ValueError("instance_id must be 8 bytes")
        if len(self.public_key) != PUBLIC_KEY_SIZE:
            raise ValueError("public_key must be 32 bytes")
        if not 0 <= self.tcp_port <= 0xFFFF:
            raise ValueError("tcp_port out of range")
        if not 0 <= self.beat_ms <= 0xFFFF:
            raise ValueError("beat_ms out of range")


def encode_announcement(msg: Announcement) -> bytes:
    """Encode ``msg``; a host name longer than 63 UTF-8 bytes is cut on a character boundary."""
    name = clean_label(msg.name, MAX_NAME_BYTES)
    return (
        Writer()
        .raw(ANNOUNCE_MAGIC)
        .u8(ANNOUNCE_VERSION)
        .u8(msg.kind)
        .u8(msg.flags)
        .u8(0)
        .raw(msg.instance_id)
        .raw(msg.public_key)
        .u16(msg.tcp_port)
        .u16(msg.beat_ms)
        .u64(msg.generation)
        .text8(name, MAX_NAME_BYTES)
        .getvalue()
    )


def decode_announcement(data: bytes) -> Announcement:
    """Decode one datagram or raise ``RemoteProtocolError`` saying why it is refused.

    Bytes after the name are ignored so that a later minor version can append fields.
    """
    if len(data) > MAX_DATAGRAM:
        raise RemoteProtocolError(f"datagram of {len(data)} bytes exceeds {MAX_DATAGRAM}")
    if len(data) < HEADER_SIZE + 1:
        raise RemoteProtocolError(f"datagram of {len(data)} bytes is too short")
    r = Reader(data)
    if r.raw(4) != ANNOUNCE_MAGIC:
        raise RemoteProtocolError("not an mfsync datagram (bad magic)")
    version = r.u8()
    if version != ANNOUNCE_VERSION:
        raise RemoteProtocolError(f"unsupported announcement version {version}")
    try:
        kind = Kind(r.u8())
    except ValueError:
        raise RemoteProtocolError("unknown datagram kind") from None
    flags = Flags(r.u8() & (Flags.SHARES | Flags.WANTS))
    r.u8()  # reserved
    instance_id = r.raw(INSTANCE_ID_SIZE)
    public_key = r.raw(PUBLIC_KEY_SIZE)
    tcp_port = r.u16()
    beat_ms = r.u16()
    generation = r.u64()
    name = r.text8(MAX_NAME_BYTES)
    if flags & Flags.SHARES and tcp_port == 0:
        raise RemoteProtocolError("a sharing host announced TCP port 0")
    if has_control(name):
        raise RemoteProtocolError("control characters in the host name")
    return Announcement(kind, flags, instance_id, public_key, tcp_port, beat_ms, generation, name)
