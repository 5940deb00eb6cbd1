"""Large index chunks are handed over undecoded by the session and decoded in slices, with the
same result and the same refusals as ``decode_message``."""

import os

import pytest

from mfsync.crypto.keys import Identity
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.messages import (
    MAX_INDEX_ENTRIES,
    Hello,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Tag,
    decode_index_chunk_in_steps,
    decode_message,
    encode_message,
)
from mfsync.protocol.session import NEED_DATA, Role, Session, SessionEvent, UndecodedMessage
from mfsync.protocol.version import VersionVector


def _chunk(count: int) -> IndexChunk:
    version = VersionVector.of({b"k" * 32: 3})
    return IndexChunk(5, tuple(IndexEntry(f"d/f{n:05d}", n, -n, os.urandom(32), version)
                               for n in range(count)), last=False)


def _steps_of(data: bytes, step: int) -> tuple[int, IndexChunk]:
    steps = decode_index_chunk_in_steps(data, step)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return pauses, done.value
        pauses += 1


def test_stepped_decoding_gives_what_decode_message_gives() -> None:
    data = encode_message(_chunk(1000))
    pauses, chunk = _steps_of(data, 128)
    assert chunk == decode_message(data)
    assert pauses == 1000 // 128  # after every 128 entries but the last ones
    assert _steps_of(encode_message(_chunk(0)), 128) == (0, decode_message(
        encode_message(_chunk(0))))


def test_stepped_decoding_refuses_what_decode_message_refuses() -> None:
    data = bytearray(encode_message(_chunk(3)))
    at = data.index(b"d/f00001")
    data[at] = 0xFF  # not UTF-8
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        decode_message(bytes(data))
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        _steps_of(bytes(data), 1)
    with pytest.raises(RemoteProtocolError, match="trailing"):
        _steps_of(encode_message(_chunk(3)) + b"\0", 2)
    with pytest.raises(RemoteProtocolError, match="not an index chunk"):
        _steps_of(encode_message(IndexRequest(1)), 2)


def _events(session: Session) -> list[SessionEvent]:
    out = []
    while (event := session.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def test_the_session_hands_over_large_chunks_undecoded_when_asked() -> None:
    client = Session(Role.CLIENT, Identity.generate().private_key)
    server = Session(Role.SERVER, Identity.generate().private_key)
    for src, dst in ((client, server), (server, client), (client, server)):
        dst.receive_data(src.data_to_send())
        _events(dst)
    client.defer_decoding = (frozenset({Tag.INDEX_CHUNK}), 1024)
    client.send(Hello())
    server.send(Hello())
    client.receive_data(server.data_to_send())
    assert len(_events(client)) == 1  # the hello: never deferred
    big, small = _chunk(MAX_INDEX_ENTRIES // 16), _chunk(2)
    server.send(big)
    server.send(small)
    client.receive_data(server.data_to_send())
    first, second = _events(client)
    assert isinstance(first, UndecodedMessage) and decode_message(first.plaintext) == big
    assert second == small  # below the size: decoded as usual
