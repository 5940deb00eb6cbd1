"""Records read into the session's own buffer and decrypted into reused ones
(``mfsync.protocol.records``): a payload a caller keeps is never overwritten by a later record,
buffers let go of are reused, and everything a record must pass is still checked on this path
(tag, length cap, truncation)."""

import os
import random
import struct

import pytest

from mfsync.crypto.keys import Identity
from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.messages import (
    DATA_HEADER,
    MAX_DATA,
    Data,
    End,
    Hello,
    Message,
    decode_message,
    encode_message,
)
from mfsync.protocol.records import (
    LENT_BUFFERS,
    POOLED_SIZE,
    READ_AHEAD,
    LentBuffers,
    ReceiveBuffer,
)
from mfsync.protocol.session import MAX_RECORD, NEED_DATA, Role, Session, SessionEvent


def _open_pair() -> tuple[Session, Session]:
    client = Session(Role.CLIENT, Identity.generate().private_key)
    server = Session(Role.SERVER, Identity.generate().private_key)
    for src, dst in ((client, server), (server, client), (client, server)):
        dst.receive_data(src.data_to_send())
        while dst.next_event() is not NEED_DATA:
            pass
    client.send(Hello(name="c"))
    server.send(Hello(name="s"))
    for src, dst in ((client, server), (server, client)):
        dst.receive_data(src.data_to_send())
        while dst.next_event() is not NEED_DATA:
            pass
    return client, server


def _read_in_place(dst: Session, stream: bytes, rng: random.Random) -> list[SessionEvent]:
    """Feed ``stream`` to ``dst`` the way a socket does through ``get_buffer`` (reads of
    random sizes, never more than the room offered), collecting every event."""
    events: list[SessionEvent] = []
    pos = 0
    while pos < len(stream):
        with dst.get_buffer() as room:
            count = min(len(room), len(stream) - pos, rng.randint(1, 3 * READ_AHEAD))
            room[:count] = stream[pos : pos + count]
        dst.buffer_updated(count)
        pos += count
        while (event := dst.next_event()) is not NEED_DATA:
            events.append(event)
    return events


def _payloads(count: int, size: int) -> list[bytes]:
    return [os.urandom(size) for _ in range(count)]


@pytest.mark.parametrize("size", [POOLED_SIZE, 300_000, MAX_DATA])
def test_kept_payloads_are_never_overwritten_by_later_records(size: int) -> None:
    """A caller that keeps every Data payload (a view, not a copy) finds each one intact after
    many more records were decrypted: no buffer with a live view is written again."""
    client, server = _open_pair()
    sent = _payloads(3 * LENT_BUFFERS, size)
    for i, payload in enumerate(sent):
        server.send(Data(i * size, payload))
    events = _read_in_place(client, server.data_to_send(), random.Random(size))
    kept = [event.payload for event in events if isinstance(event, Data)]
    assert len(kept) == len(sent)
    assert all(isinstance(payload, memoryview) for payload in kept)  # no copy was made
    assert [bytes(payload) for payload in kept] == sent


def test_payloads_let_go_are_decrypted_into_reused_buffers() -> None:
    client, server = _open_pair()
    sent = _payloads(40, MAX_DATA)
    rng = random.Random(1)
    buffers: set[int] = set()
    for i, payload in enumerate(sent):
        server.send(Data(i * MAX_DATA, payload))
        for event in _read_in_place(client, server.data_to_send(), rng):
            assert isinstance(event, Data)
            assert event.payload == payload
            assert isinstance(event.payload, memoryview)
            buffers.add(id(event.payload.obj))
    assert len(buffers) <= 2  # one buffer, reused (id() may repeat for freed ones anyway)


def test_a_caller_holding_some_payloads_gets_the_others_intact() -> None:
    """Holding every other payload: the held ones stay, the rest of the pool keeps turning."""
    client, server = _open_pair()
    sent = _payloads(4 * LENT_BUFFERS, POOLED_SIZE * 2)
    rng = random.Random(2)
    held: list[tuple[bytes, memoryview | bytes]] = []
    for i, payload in enumerate(sent):
        server.send(Data(i, payload))
        (event,) = _read_in_place(client, server.data_to_send(), rng)
        assert isinstance(event, Data) and event.payload == payload
        if i % 2:
            held.append((payload, event.payload))
    assert all(bytes(view) == payload for payload, view in held)


def test_in_place_and_copied_input_give_the_same_messages() -> None:
    rng = random.Random(3)
    messages: list[Message] = [Data(0, os.urandom(10)), Data(10, os.urandom(MAX_DATA)), End(5),
                               Data(7, os.urandom(POOLED_SIZE - 20)), End(9)]
    client_a, server_a = _open_pair()
    for message in messages:
        server_a.send(message)
    events = _read_in_place(client_a, server_a.data_to_send(), rng)
    assert [_plain(e) for e in events] == [_plain(m) for m in messages]


def _plain(message: object) -> object:
    if isinstance(message, Data):
        return ("data", message.offset, bytes(message.payload))
    return message


def test_a_tampered_large_record_read_in_place_is_refused() -> None:
    client, server = _open_pair()
    server.send(Data(0, os.urandom(MAX_DATA)))
    stream = bytearray(server.data_to_send())
    stream[len(stream) // 2] ^= 1
    with pytest.raises(RemoteProtocolError, match="authentication"):
        _read_in_place(client, bytes(stream), random.Random(4))
    assert not client.is_open


def test_a_record_cut_short_by_the_end_of_the_stream_says_so() -> None:
    client, server = _open_pair()
    server.send(Data(0, os.urandom(MAX_DATA)))
    stream = server.data_to_send()
    assert _read_in_place(client, stream[: len(stream) // 2], random.Random(5)) == []
    client.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="inside a frame"):
        client.next_event()
    assert client.cut_short


def test_a_record_over_the_cap_is_refused_before_room_is_made_for_it() -> None:
    client, _ = _open_pair()
    with client.get_buffer() as room:
        room[:4] = struct.pack(">I", MAX_RECORD + 1)
    client.buffer_updated(4)
    with client.get_buffer() as room:
        assert len(room) == READ_AHEAD  # the claim is not believed: no room for it
    assert client.has_whole_record  # a reader stops reading: the session refuses it next
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        client.next_event()
    assert not client.cut_short  # the peer's doing, not a connection cut
    assert client.has_whole_record  # closed: nothing more is read for it


def test_the_room_offered_is_the_rest_of_the_record_and_a_read_ahead() -> None:
    client, server = _open_pair()
    server.send(Data(0, os.urandom(MAX_DATA)))
    stream = server.data_to_send()
    with client.get_buffer() as room:
        assert len(room) == READ_AHEAD  # no record begun: a read-ahead's worth
        room[:100] = stream[:100]
    client.buffer_updated(100)
    assert not client.has_whole_record
    with client.get_buffer() as room:
        assert len(room) == max(len(stream) - 100, READ_AHEAD)
        room[: len(stream) - 100] = stream[100:]
    client.buffer_updated(len(stream) - 100)
    assert client.has_whole_record
    event = client.next_event()
    assert isinstance(event, Data) and len(event.payload) == MAX_DATA
    assert client.next_event() is NEED_DATA and not client.has_whole_record


def test_the_receive_buffer_compacts_and_grows_without_losing_bytes() -> None:
    buffer = ReceiveBuffer()
    data = os.urandom(5 * READ_AHEAD)
    rng = random.Random(6)
    kept = bytearray()
    pos = 0
    while pos < len(data):
        count = min(rng.randint(1, READ_AHEAD), len(data) - pos)
        if rng.random() < 0.5:
            with buffer.room(count) as room:
                room[:count] = data[pos : pos + count]
            buffer.wrote(count)
        else:
            buffer.extend(data[pos : pos + count])
        kept += data[pos : pos + count]
        pos += count
        drop = rng.randint(0, len(buffer))
        assert buffer.peek(drop) == bytes(kept[:drop])
        buffer.consume(drop)
        del kept[:drop]
        assert len(buffer) == len(kept)
    assert buffer.peek(len(buffer)) == bytes(kept)


def test_a_plaintext_buffer_with_a_live_view_is_not_handed_out_again() -> None:
    pool = LentBuffers()
    first = pool.take(1000)
    first[:3] = b"abc"
    payload = first[1:3]  # what a decoded message keeps
    first_buffer = payload.obj
    del first
    second = pool.take(1000)
    assert second.obj is not first_buffer
    second[:] = bytes(1000)
    assert bytes(payload) == b"bc"
    payload.release()
    third = pool.take(500)  # the first buffer again: nothing sees it any more
    assert third.obj is first_buffer and len(third) == 500


def test_records_to_send_are_the_stream_in_order() -> None:
    client, server = _open_pair()
    messages = [Data(0, os.urandom(MAX_DATA)), End(MAX_DATA), Data(1, b"x")]
    for message in messages:
        server.send(message)
    records = server.records_to_send()
    assert len(records) == len(messages)
    assert server.records_to_send() == []
    client.receive_data(b"".join(records))
    events = []
    while (event := client.next_event()) is not NEED_DATA:
        events.append(_plain(event))
    assert events == [_plain(m) for m in messages]


@pytest.mark.parametrize("size", [0, 1, 4096, MAX_DATA])
def test_a_data_message_framed_in_place_encodes_to_the_same_bytes(size: int) -> None:
    payload = os.urandom(size)
    buffer = memoryview(bytearray(DATA_HEADER + size))
    buffer[DATA_HEADER:] = payload
    framed = Data.framed(buffer, 123456789)
    assert framed == Data(123456789, payload)
    encoded = encode_message(framed)
    assert encoded is buffer  # the buffer itself: no copy
    assert bytes(encoded) == encode_message(Data(123456789, payload))
    assert decode_message(bytes(encoded)) == Data(123456789, payload)


def test_a_data_message_framed_over_the_cap_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="exceeds"):
        Data.framed(memoryview(bytearray(DATA_HEADER + MAX_DATA + 1)), 0)
