"""What every message module shares: the type tags, the error codes and the size caps.

A message is one encrypted record whose plaintext is a one-byte type tag and a body
(PROTOCOL.md 3). The tags and codes are listed here once, so that the modules defining the
messages (``index_messages``, ``transfer_messages``, ``folder_messages``, ``offer_messages``,
``messages``) and the document agree on them.
"""

import enum

from mfsync.protocol.errors import LocalProtocolError

__all__ = [
    "CONTENT_ID_SIZE",
    "HASH_SIZE",
    "MAX_MESSAGE_SIZE",
    "PROTOCOL_VERSIONS",
    "ErrorCode",
    "Tag",
    "check_size",
]

#: Protocol versions this build speaks, newest last.
PROTOCOL_VERSIONS: tuple[int, ...] = (1,)
#: Largest plaintext of one record (type tag included).
MAX_MESSAGE_SIZE = (1 << 20) + 1024
CONTENT_ID_SIZE = 32
HASH_SIZE = 32


class Tag(enum.IntEnum):
    """One-byte type tags of the messages."""

    HELLO = 0x01
    INDEX_REQUEST = 0x02
    INDEX_CHUNK = 0x03
    BLOCKS_REQUEST = 0x04
    BLOCK_LIST = 0x05
    GET = 0x06
    DATA = 0x07
    END = 0x08
    FOLDERS_REQUEST = 0x09
    FOLDER_LIST = 0x0A
    OFFER_REQUEST = 0x0B
    OFFER_REPLY = 0x0C
    ANSWER_REQUEST = 0x0D
    RECEIPT_REQUEST = 0x0E
    CANCEL_REQUEST = 0x0F
    ACK = 0x10
    GET_FILES = 0x11
    FILE_DATA = 0x12
    FILE_FAILED = 0x13
    ERROR = 0x7F


class ErrorCode(enum.IntEnum):
    """Why a peer refused or ended something."""

    NOT_TRUSTED = 1
    UNSUPPORTED_VERSION = 2
    BAD_REQUEST = 3
    NOT_FOUND = 4
    BUSY = 5
    INTERNAL = 6
    CHANGED = 7  #: the file is no longer the content asked for
    #: the folder named is not one the server has, or not one this peer may see (the same
    #: answer for both: a peer learns nothing of folders it may not see); also the answer to an
    #: offer's answer, receipt or cancel naming an offer that is not this peer's
    NO_SUCH_FOLDER = 8


def check_size(name: str, value: bytes, size: int) -> bytes:
    """``value`` if it is ``size`` bytes long, else ``LocalProtocolError`` (we are sending)."""
    if len(value) != size:
        raise LocalProtocolError(f"{name} must be {size} bytes, not {len(value)}")
    return value
