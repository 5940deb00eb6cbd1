"""The buffers of a session's records: what arrived and is not parsed yet, where records are
decrypted to, and where records to send are encrypted to. All are reused from record to record,
so a large transfer does not allocate (and fault in) a megabyte per record; none does any I/O
(the caller reads the socket into ``ReceiveBuffer.room`` or hands bytes to
``ReceiveBuffer.extend``).

Who owns what: the receive buffer is the session's alone (a ciphertext is decrypted out of it
before it is consumed). A plaintext buffer is lent to whoever keeps a view of the decoded
message (a ``Data`` payload is a view into it, not a copy), a record to send to whoever writes
it (a transport may keep a view of what it could not send yet): ``LentBuffers`` hands a buffer
out again only once no view of it is alive, which CPython can tell exactly (a ``bytearray``
with live exports refuses to be resized). So a payload kept by a caller is never overwritten by
a later record, whatever the caller does with it; a caller that lets go of its views early just
lets the buffer be reused sooner.
"""

__all__ = ["LENT_BUFFERS", "POOLED_SIZE", "READ_AHEAD", "LentBuffers", "ReceiveBuffer"]

#: Bytes read beyond the end of the record in progress, at least: a reader that fetched exactly
#: one record per read would take one trip through the event loop per record of small messages.
READ_AHEAD = 64 * 1024
#: Plaintexts of this many bytes or more are decrypted into reused buffers; smaller ones into a
#: new ``bytes`` (cheap at that size, and owned by nobody else).
POOLED_SIZE = 64 * 1024
#: Reused buffers per session and direction: enough for the blocks a download verifies and
#: writes at once (``store.partial.MAX_INFLIGHT_BLOCKS``) and the record being decoded, or the
#: records a flush writes at once, with room to spare.
LENT_BUFFERS = 8


class ReceiveBuffer:
    """Bytes from the peer not yet parsed: ``[start, end)`` of one bytearray, which is compacted
    or grown only when a record does not fit behind what is there."""

    __slots__ = ("_buf", "_end", "_start")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def room(self, at_least: int) -> memoryview:
        """A writable view of ``at_least`` free bytes after the data (the caller writes the
        next bytes from the peer into its start, then calls ``wrote``)."""
        self._make_room(at_least)
        return memoryview(self._buf)[self._end : self._end + at_least]

    def wrote(self, count: int) -> None:
        """``count`` bytes were written at the start of the last ``room``."""
        if count < 0 or self._end + count > len(self._buf):
            raise ValueError(f"{count} bytes do not fit the room given")
        self._end += count

    def extend(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (a copy)."""
        count = len(data)
        self._make_room(count)
        self._buf[self._end : self._end + count] = data
        self._end += count

    def peek(self, count: int) -> bytes:
        """A copy of the first ``count`` bytes (``count <= len(self)``): headers, small parts."""
        return bytes(self._buf[self._start : self._start + count])

    def view(self, begin: int, end: int) -> memoryview:
        """A view of bytes ``begin`` to ``end`` of the data: release it before the next
        ``room`` or ``extend`` (a bytearray with a live view cannot be resized)."""
        return memoryview(self._buf)[self._start + begin : self._start + end]

    def consume(self, count: int) -> None:
        """Drop the first ``count`` bytes."""
        self._start += count
        if self._start >= self._end:
            self._start = self._end = 0  # empty: the next record starts at the front again

    def _make_room(self, count: int) -> None:
        if self._end + count <= len(self._buf):
            return
        live = self._end - self._start
        if live + count <= len(self._buf):
            # Compact: move the part of a record already here to the front. Through a copy,
            # as the two ranges may overlap; it is at most a record's tail (usually a
            # READ_AHEAD's worth), once per record at most.
            self._buf[:live] = bytes(self._buf[self._start : self._end])
        else:
            # Grow to what is needed (so what a peer makes us hold is what it sent, or one
            # record it announced and the cap allowed), at least doubling.
            grown = bytearray(max(live + count, 2 * len(self._buf)))
            grown[:live] = self._buf[self._start : self._end]
            self._buf = grown
        self._start, self._end = 0, live


class LentBuffers:
    """Reused buffers for large records (decrypted, or to send); one is handed out again only
    when no view of it is alive (see the module's docstring)."""

    __slots__ = ("_buffers",)

    def __init__(self) -> None:
        self._buffers: list[bytearray] = []

    def take(self, size: int) -> memoryview:
        """A writable view of exactly ``size`` bytes, of a buffer that nothing else sees."""
        smallest = -1
        for index, buffer in enumerate(self._buffers):
            if not _unshared(buffer):
                continue
            if len(buffer) >= size:
                return memoryview(buffer)[:size]
            if smallest < 0 or len(buffer) < len(self._buffers[smallest]):
                smallest = index
        buffer = _new_buffer(size)
        if len(self._buffers) < LENT_BUFFERS:
            self._buffers.append(buffer)
        elif smallest >= 0:
            self._buffers[smallest] = buffer  # a free one too small for records this size
        # (else every buffer is lent out: this one is the caller's alone, not reused)
        return memoryview(buffer)[:size]


def _new_buffer(size: int) -> bytearray:
    # One spare byte of capacity, so that ``_unshared`` never makes it reallocate.
    buffer = bytearray(size + 1)
    del buffer[-1]
    return buffer


def _unshared(buffer: bytearray) -> bool:
    """Whether no view of ``buffer`` is alive: CPython refuses to resize a bytearray that has
    exports (``BufferError``). Growing by one byte into its spare capacity and back costs no
    copy."""
    try:
        buffer.append(0)
    except BufferError:
        return False
    del buffer[-1]
    return True
