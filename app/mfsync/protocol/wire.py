"""Bounds-checked readers and writers for the binary encodings of datagrams and messages.

Every variable-length field is length-prefixed; the reader checks each length against what is
left in the buffer (and against the caller's cap) before slicing, so a hostile length can never
make us allocate or read beyond the bytes that actually arrived.
"""

import struct
from typing import Any

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["Reader", "Writer"]

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


class Reader:
    """Sequential reader over one complete buffer; every read fails cleanly when data runs out."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes | memoryview) -> None:
        self._data = memoryview(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Number of unread bytes."""
        return len(self._data) - self._pos

    def _take(self, n: int) -> memoryview:
        if n < 0 or n > self.remaining:
            raise RemoteProtocolError(f"truncated: needed {n} bytes, {self.remaining} left")
        view = self._data[self._pos : self._pos + n]
        self._pos += n
        return view

    def buffer(self) -> tuple[memoryview, int]:
        """The whole buffer and the position of the next unread byte, for a decoder that
        reads many small fields in one loop of its own (it checks every bound itself, then
        moves on with ``seek``)."""
        return self._data, self._pos

    def seek(self, pos: int) -> None:
        """Go on reading at ``pos`` (at most the buffer's end), after reading up to it from
        ``buffer``."""
        if not self._pos <= pos <= len(self._data):
            raise LocalProtocolError(f"cannot seek to {pos}")
        self._pos = pos

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        """Read the fields of ``fmt`` at once (fixed-size fields only: no lengths to check)."""
        pos = self._pos
        if fmt.size > len(self._data) - pos:
            raise RemoteProtocolError(
                f"truncated: needed {fmt.size} bytes, {len(self._data) - pos} left")
        self._pos = pos + fmt.size
        return fmt.unpack_from(self._data, pos)

    def u8(self) -> int:
        """Read an unsigned byte."""
        return int(self.unpack(_U8)[0])

    def u16(self) -> int:
        """Read a big-endian unsigned 16-bit integer."""
        return int(self.unpack(_U16)[0])

    def u32(self) -> int:
        """Read a big-endian unsigned 32-bit integer."""
        return int(self.unpack(_U32)[0])

    def u64(self) -> int:
        """Read a big-endian unsigned 64-bit integer."""
        return int(self.unpack(_U64)[0])

    def i64(self) -> int:
        """Read a big-endian signed 64-bit integer."""
        return int(self.unpack(_I64)[0])

    def raw(self, n: int) -> bytes:
        """Read exactly ``n`` bytes."""
        return bytes(self._take(n))

    def blob16(self, cap: int) -> bytes:
        """Read a u16-length-prefixed byte string of at most ``cap`` bytes."""
        n = self.u16()
        if n > cap:
            raise RemoteProtocolError(f"field of {n} bytes exceeds the cap of {cap}")
        return self.raw(n)

    def view32(self, cap: int) -> memoryview:
        """Like ``blob32``, but a view into the buffer instead of a copy."""
        n = self.u32()
        if n > cap:
            raise RemoteProtocolError(f"field of {n} bytes exceeds the cap of {cap}")
        return self._take(n)

    def blob32(self, cap: int) -> bytes:
        """Read a u32-length-prefixed byte string of at most ``cap`` bytes."""
        n = self.u32()
        if n > cap:
            raise RemoteProtocolError(f"field of {n} bytes exceeds the cap of {cap}")
        return self.raw(n)

    def text8(self, cap: int) -> str:
        """Read a u8-length-prefixed UTF-8 string of at most ``cap`` bytes."""
        n = self.u8()
        if n > cap:
            raise RemoteProtocolError(f"text of {n} bytes exceeds the cap of {cap}")
        return _utf8(self.raw(n))

    def text16(self, cap: int) -> str:
        """Read a u16-length-prefixed UTF-8 string of at most ``cap`` bytes."""
        return _utf8(self.blob16(cap))

    def count(self, cap: int, min_item_size: int) -> int:
        """Read a u32 item count, refusing counts above ``cap`` or that cannot fit what is left."""
        n = self.u32()
        if n > cap:
            raise RemoteProtocolError(f"count {n} exceeds the cap of {cap}")
        if n * min_item_size > self.remaining:
            raise RemoteProtocolError(f"count {n} cannot fit in {self.remaining} bytes")
        return n

    def end(self) -> None:
        """Require that every byte was consumed."""
        if self.remaining:
            raise RemoteProtocolError(f"{self.remaining} unexpected trailing bytes")


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"invalid UTF-8: {exc.reason}") from None


class Writer:
    """Appends encoded fields to a growing buffer; checks our own values against the caps."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes | memoryview] = []

    def u8(self, value: int) -> "Writer":
        """Append an unsigned byte."""
        self._parts.append(_U8.pack(value))
        return self

    def u16(self, value: int) -> "Writer":
        """Append a big-endian unsigned 16-bit integer."""
        self._parts.append(_U16.pack(value))
        return self

    def u32(self, value: int) -> "Writer":
        """Append a big-endian unsigned 32-bit integer."""
        self._parts.append(_U32.pack(value))
        return self

    def u64(self, value: int) -> "Writer":
        """Append a big-endian unsigned 64-bit integer."""
        self._parts.append(_U64.pack(value))
        return self

    def i64(self, value: int) -> "Writer":
        """Append a big-endian signed 64-bit integer."""
        self._parts.append(_I64.pack(value))
        return self

    def raw(self, data: bytes | memoryview) -> "Writer":
        """Append bytes as they are (a memoryview is not copied until ``getvalue``)."""
        self._parts.append(data)
        return self

    def blob16(self, data: bytes, cap: int) -> "Writer":
        """Append a u16-length-prefixed byte string."""
        _check_cap(len(data), cap)
        return self.u16(len(data)).raw(data)

    def blob32(self, data: bytes | memoryview, cap: int) -> "Writer":
        """Append a u32-length-prefixed byte string."""
        _check_cap(len(data), cap)
        return self.u32(len(data)).raw(data)

    def text8(self, text: str, cap: int) -> "Writer":
        """Append a u8-length-prefixed UTF-8 string."""
        data = text.encode("utf-8")
        _check_cap(len(data), min(cap, 255))
        return self.u8(len(data)).raw(data)

    def text16(self, text: str, cap: int) -> "Writer":
        """Append a u16-length-prefixed UTF-8 string."""
        return self.blob16(text.encode("utf-8"), cap)

    def getvalue(self) -> bytes:
        """The encoded bytes."""
        return b"".join(self._parts)


def _check_cap(n: int, cap: int) -> None:
    if n > cap:
        raise LocalProtocolError(f"field of {n} bytes exceeds the cap of {cap}")
