"""Tests for mfsync.protocol.session: two sans-IO sessions joined in memory (as h11's tests do)."""

import struct

import pytest

import mfsync.protocol.session as session_module
from mfsync.crypto.keys import Identity
from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.messages import (
    MAX_DATA,
    MAX_HASHES_PER_MESSAGE,
    MAX_MESSAGE_SIZE,
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    Hello,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    encode_message,
)
from mfsync.protocol.session import (
    FRAMING_VERSION,
    MAX_HANDSHAKE_MESSAGE,
    MAX_RECORD,
    NEED_DATA,
    PREFACE,
    ConnectionClosed,
    HandshakeComplete,
    PeerHello,
    Role,
    Session,
    SessionEvent,
)
from mfsync.protocol.version import VersionVector


def _events(session: Session) -> list[SessionEvent]:
    out: list[SessionEvent] = []
    while True:
        event = session.next_event()
        if event is NEED_DATA:
            return out
        out.append(event)
        if isinstance(event, ConnectionClosed):
            return out


def _pump(src: Session, dst: Session, *, one_byte: bool = False) -> list[SessionEvent]:
    """Move everything ``src`` has queued into ``dst`` and return the events it produced."""
    data = src.data_to_send()
    if not one_byte:
        dst.receive_data(data)
        return _events(dst)
    events: list[SessionEvent] = []
    for i in range(len(data)):
        dst.receive_data(data[i : i + 1])
        events += _events(dst)
    return events


class Pair:
    def __init__(self) -> None:
        self.client_id = Identity.generate()
        self.server_id = Identity.generate()
        self.client = Session(Role.CLIENT, self.client_id.private_key)
        self.server = Session(Role.SERVER, self.server_id.private_key)

    def handshake(self, *, one_byte: bool = False) -> tuple[list[SessionEvent], ...]:
        s1 = _pump(self.client, self.server, one_byte=one_byte)  # preface + msg 1
        c1 = _pump(self.server, self.client, one_byte=one_byte)  # preface + msg 2
        s2 = _pump(self.client, self.server, one_byte=one_byte)  # msg 3
        return s1, c1, s2

    def open(self) -> None:
        self.handshake()
        self.client.send(Hello(name="client"))
        self.server.send(Hello(name="server"))
        assert len(_pump(self.client, self.server)) == 1
        assert len(_pump(self.server, self.client)) == 1


def test_full_handshake_and_hello_both_ways() -> None:
    p = Pair()
    assert not p.client.is_open
    s1, c1, s2 = p.handshake()
    assert s1 == []
    assert c1 == [HandshakeComplete(p.server_id.public_key)]
    assert s2 == [HandshakeComplete(p.client_id.public_key)]
    assert p.client.remote_key == p.server_id.public_key
    assert p.server.remote_key == p.client_id.public_key
    assert p.client.is_open
    assert p.server.is_open

    p.client.send(Hello(capabilities=("x",), name="anna"))
    assert _pump(p.client, p.server) == [PeerHello(Hello((1,), ("x",), "anna"), 1)]
    p.server.send(Hello(name="bob"))
    assert _pump(p.server, p.client) == [PeerHello(Hello((1,), (), "bob"), 1)]
    assert p.client.version == 1
    assert p.server.version == 1


def test_the_sessions_capabilities_are_those_both_hellos_name() -> None:
    p = Pair()
    p.handshake()
    assert p.client.capabilities == p.server.capabilities == frozenset()
    p.client.send(Hello(capabilities=("index", "delta", "x"), name="anna"))
    assert p.client.capabilities == frozenset()  # not before the peer's hello
    _pump(p.client, p.server)
    assert p.server.capabilities == frozenset()  # nor before our own
    p.server.send(Hello(capabilities=("x", "index", "offer"), name="bob"))
    _pump(p.server, p.client)
    assert p.client.capabilities == p.server.capabilities == frozenset({"index", "x"})


def test_a_peer_naming_no_capabilities_leaves_the_session_none() -> None:
    p = Pair()
    p.handshake()
    p.client.send(Hello(capabilities=("index",)))
    p.server.send(Hello())
    _pump(p.client, p.server)
    _pump(p.server, p.client)
    assert p.client.capabilities == p.server.capabilities == frozenset()


def test_preface_is_sent_first_by_both_sides() -> None:
    client = Session(Role.CLIENT, Identity.generate().private_key)
    server = Session(Role.SERVER, Identity.generate().private_key)
    assert server.data_to_send() == b""  # the server waits for the client
    first = client.data_to_send()
    assert first.startswith(PREFACE)
    assert PREFACE == b"MFSYNC\x00\x01"
    (length,) = struct.unpack(">H", first[8:10])
    assert length == 32 == len(first) - 10  # "-> e": an ephemeral key, no payload
    server.receive_data(first)
    assert _events(server) == []
    reply = server.data_to_send()
    assert reply.startswith(PREFACE)
    assert struct.unpack(">H", reply[8:10])[0] == len(reply) - 10 == 96


def test_messages_after_hello_both_ways() -> None:
    p = Pair()
    p.open()
    p.client.send(IndexRequest(7))
    p.client.send(ErrorMessage(ErrorCode.BUSY, "later"))
    assert _pump(p.client, p.server) == [IndexRequest(7), ErrorMessage(ErrorCode.BUSY, "later")]
    chunk = IndexChunk(3, (IndexEntry("a/b.txt", 5, 6, b"\x01" * 32),), last=True)
    p.server.send(chunk)
    assert _pump(p.server, p.client) == [chunk]


def test_transfer_messages_after_hello_both_ways() -> None:
    p = Pair()
    p.open()
    cid = b"\x03" * 32
    requests = [BlocksRequest("d/f.bin", cid), GetRequest("d/f.bin", cid, 0, 2 * MAX_DATA)]
    for message in requests:
        p.client.send(message)
    assert _pump(p.client, p.server) == requests
    replies = [
        BlockList(cid, 2 * MAX_DATA, 128 * 1024, 0, (b"\x04" * 32,) * MAX_HASHES_PER_MESSAGE,
                  last=True),
        Data(0, b"\x05" * MAX_DATA),
        Data(MAX_DATA, b"\x06" * MAX_DATA),
        End(2 * MAX_DATA),
        ErrorMessage(ErrorCode.CHANGED, "changed"),
    ]
    for message in replies:
        p.server.send(message)
    assert _pump(p.server, p.client, one_byte=False) == replies


def test_index_entries_with_versions_pass() -> None:
    p = Pair()
    p.open()
    version = VersionVector.of({b"\x07" * 32: 4, b"\x08" * 32: 1})
    chunk = IndexChunk(2, (IndexEntry("v.txt", 1, 2, b"\x09" * 32, version),), last=True)
    p.server.send(chunk)
    assert _pump(p.server, p.client) == [chunk]


def test_a_large_message_passes() -> None:
    p = Pair()
    p.open()
    entries = tuple(IndexEntry(f"{i:05d}" + "x" * 3000, i, i, b"\x02" * 32) for i in range(300))
    chunk = IndexChunk(1, entries, last=True)
    assert len(encode_message(chunk)) > 65536
    p.server.send(chunk)
    assert _pump(p.server, p.client) == [chunk]


def test_feeding_bytes_one_at_a_time() -> None:
    p = Pair()
    s1, c1, s2 = p.handshake(one_byte=True)
    assert (s1, c1, s2) == (
        [], [HandshakeComplete(p.server_id.public_key)], [HandshakeComplete(p.client_id.public_key)]
    )
    p.client.send(Hello())
    p.client.send(IndexRequest(1))
    assert _pump(p.client, p.server, one_byte=True) == [
        PeerHello(Hello(), 1), IndexRequest(1)
    ]
    p.server.send(Hello())
    p.server.send(ErrorMessage(ErrorCode.NOT_FOUND, "nope"))
    assert _pump(p.server, p.client, one_byte=True) == [
        PeerHello(Hello(), 1), ErrorMessage(ErrorCode.NOT_FOUND, "nope")
    ]


def test_everything_at_once_in_one_buffer() -> None:
    p = Pair()
    p.handshake()
    p.client.send(Hello())
    for i in range(5):
        p.client.send(IndexRequest(i))
    events = _pump(p.client, p.server)
    assert events == [PeerHello(Hello(), 1)] + [IndexRequest(i) for i in range(5)]


def _server() -> Session:
    return Session(Role.SERVER, Identity.generate().private_key)


def test_client_sending_garbage() -> None:
    server = _server()
    server.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="bad preface"):
        server.next_event()
    assert server.data_to_send() == b""  # nothing is said to a stranger


def test_bad_preface() -> None:
    server = _server()
    server.receive_data(b"MFSYNX\x00\x01")
    with pytest.raises(RemoteProtocolError, match="bad preface"):
        server.next_event()


def test_other_framing_version() -> None:
    server = _server()
    server.receive_data(b"MFSYNC" + struct.pack(">H", FRAMING_VERSION + 1))
    with pytest.raises(RemoteProtocolError, match="framing version 2"):
        server.next_event()


def test_client_checks_the_server_preface() -> None:
    client = Session(Role.CLIENT, Identity.generate().private_key)
    client.data_to_send()
    client.receive_data(b"MFSYNC\x00\x07")
    with pytest.raises(RemoteProtocolError, match="framing version 7"):
        client.next_event()


def test_partial_preface_needs_data() -> None:
    server = _server()
    server.receive_data(PREFACE[:5])
    assert server.next_event() is NEED_DATA


def test_handshake_message_too_long_is_refused_before_its_body() -> None:
    server = _server()
    server.receive_data(PREFACE + struct.pack(">H", MAX_HANDSHAKE_MESSAGE + 1))
    with pytest.raises(RemoteProtocolError, match="too long"):
        server.next_event()


def test_handshake_message_garbage_is_refused() -> None:
    server = _server()
    server.receive_data(PREFACE + struct.pack(">H", 10) + b"\x00" * 10)  # shorter than a key
    with pytest.raises(RemoteProtocolError, match="handshake"):
        server.next_event()


def test_tampered_handshake_message_2_is_refused() -> None:
    p = Pair()
    _pump(p.client, p.server)
    reply = bytearray(p.server.data_to_send())
    reply[-1] ^= 0x01
    p.client.receive_data(bytes(reply))
    with pytest.raises(RemoteProtocolError, match="handshake or decryption failed"):
        p.client.next_event()
    assert p.client.remote_key is None


def test_tampered_handshake_message_1_fails_the_handshake() -> None:
    p = Pair()
    first = bytearray(p.client.data_to_send())
    first[12] ^= 0x40  # inside the client's ephemeral key
    p.server.receive_data(bytes(first))
    assert _events(p.server) == []  # message 1 is unauthenticated: caught at message 2
    p.client.receive_data(p.server.data_to_send())
    with pytest.raises(RemoteProtocolError, match="handshake or decryption failed"):
        p.client.next_event()


def test_peer_with_another_prologue_fails_the_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "PROLOGUE", b"some other protocol")
    client = Session(Role.CLIENT, Identity.generate().private_key)
    monkeypatch.undo()
    server = _server()
    server.receive_data(client.data_to_send())
    assert _events(server) == []
    client.receive_data(server.data_to_send())
    with pytest.raises(RemoteProtocolError, match="handshake or decryption failed"):
        client.next_event()


def _opened_record_header(length: int) -> tuple[Pair, bytes]:
    p = Pair()
    p.handshake()
    return p, struct.pack(">I", length)


@pytest.mark.parametrize("length", [MAX_RECORD + 1, 0xFFFFFFFF, 16, 0, 1])
def test_bad_record_length_is_refused_from_the_header_alone(length: int) -> None:
    p, header = _opened_record_header(length)
    p.server.receive_data(header)  # only the 4-byte header: the body never arrives
    with pytest.raises(RemoteProtocolError, match="record of"):
        p.server.next_event()


def test_record_of_max_length_waits_for_its_body() -> None:
    p, header = _opened_record_header(MAX_RECORD)
    p.server.receive_data(header)
    assert p.server.next_event() is NEED_DATA
    assert MAX_RECORD == MAX_MESSAGE_SIZE + 16


def test_record_of_17_bytes_waits_for_its_body() -> None:
    p, header = _opened_record_header(17)
    p.server.receive_data(header)
    assert p.server.next_event() is NEED_DATA


def test_tampered_ciphertext_is_refused() -> None:
    p = Pair()
    p.handshake()
    p.client.send(Hello())
    data = bytearray(p.client.data_to_send())
    data[6] ^= 0x80
    p.server.receive_data(bytes(data))
    with pytest.raises(RemoteProtocolError, match="decryption failed"):
        p.server.next_event()


def test_replayed_record_is_refused() -> None:
    p = Pair()
    p.handshake()
    p.client.send(Hello())
    record = p.client.data_to_send()
    p.server.receive_data(record)
    assert isinstance(p.server.next_event(), PeerHello)
    p.server.receive_data(record)
    with pytest.raises(RemoteProtocolError):
        p.server.next_event()


def _raw_send(session: Session, plaintext: bytes) -> None:
    """Send a record without the checks of ``Session.send`` (a misbehaving peer)."""
    cipher = session._send
    assert cipher is not None
    ciphertext = cipher.encrypt(plaintext)
    session._out.append(struct.pack(">I", len(ciphertext)) + ciphertext)


def test_message_other_than_hello_before_hello_is_refused() -> None:
    p = Pair()
    p.handshake()
    _raw_send(p.client, encode_message(IndexRequest(0)))
    with pytest.raises(RemoteProtocolError, match="IndexRequest before hello"):
        _pump(p.client, p.server)


def test_error_message_before_hello_is_delivered() -> None:
    p = Pair()
    p.handshake()
    p.server.send(ErrorMessage(ErrorCode.NOT_TRUSTED, "go away"))
    assert _pump(p.server, p.client) == [ErrorMessage(ErrorCode.NOT_TRUSTED, "go away")]
    assert p.client.version is None


def test_second_hello_is_refused() -> None:
    p = Pair()
    p.open()
    _raw_send(p.client, encode_message(Hello()))
    with pytest.raises(RemoteProtocolError, match="second hello"):
        _pump(p.client, p.server)


def test_no_common_version_is_refused() -> None:
    p = Pair()
    p.handshake()
    p.client.send(Hello(versions=(2, 3)))
    with pytest.raises(RemoteProtocolError, match="no common protocol version"):
        _pump(p.client, p.server)


def test_highest_common_version_is_chosen() -> None:
    p = Pair()
    p.handshake()
    p.client.send(Hello(versions=(1, 5, 9)))
    assert _pump(p.client, p.server) == [PeerHello(Hello((1, 5, 9)), 1)]


def test_garbage_plaintext_is_refused() -> None:
    p = Pair()
    p.handshake()
    _raw_send(p.client, b"\x55hello")
    with pytest.raises(RemoteProtocolError, match="unknown message type"):
        _pump(p.client, p.server)


def test_eof_inside_a_frame_is_an_error() -> None:
    p = Pair()
    p.open()
    p.client.send(IndexRequest(1))
    data = p.client.data_to_send()
    p.server.receive_data(data[:-1])
    assert p.server.next_event() is NEED_DATA
    p.server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="stream ended inside a frame"):
        p.server.next_event()


def test_eof_inside_a_record_header_is_an_error() -> None:
    p = Pair()
    p.open()
    p.server.receive_data(b"\x00\x00")
    p.server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="inside a frame"):
        p.server.next_event()


def test_eof_inside_the_handshake_is_an_error() -> None:
    server = _server()
    server.receive_data(PREFACE + b"\x00\x20" + b"\x00" * 5)
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="inside a frame"):
        server.next_event()


def test_eof_at_a_boundary_is_connection_closed() -> None:
    p = Pair()
    p.open()
    p.client.send(IndexRequest(2))
    p.server.receive_data(p.client.data_to_send())
    p.server.receive_data(b"")
    assert _events(p.server) == [IndexRequest(2), ConnectionClosed()]
    assert not p.server.is_open
    assert p.server.next_event() == ConnectionClosed()  # and stays closed
    with pytest.raises(LocalProtocolError):
        p.server.send(IndexRequest(0))


def test_eof_before_anything_is_connection_closed() -> None:
    server = _server()
    server.receive_data(b"")
    assert server.next_event() == ConnectionClosed()


def test_data_after_eof_is_a_local_error() -> None:
    server = _server()
    server.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"x")


def test_sending_before_the_handshake_is_a_local_error() -> None:
    client = Session(Role.CLIENT, Identity.generate().private_key)
    with pytest.raises(LocalProtocolError, match="cannot send"):
        client.send(Hello())
    with pytest.raises(LocalProtocolError, match="cannot send"):
        _server().send(Hello())


def test_non_hello_first_is_a_local_error() -> None:
    p = Pair()
    p.handshake()
    with pytest.raises(LocalProtocolError, match="first message must be Hello"):
        p.client.send(IndexRequest(0))
    assert p.client.data_to_send() == b""


def test_sending_hello_twice_is_a_local_error() -> None:
    p = Pair()
    p.handshake()
    p.client.send(Hello())
    with pytest.raises(LocalProtocolError, match="hello already sent"):
        p.client.send(Hello())


def test_error_message_may_be_sent_before_hello() -> None:
    p = Pair()
    p.handshake()
    p.client.send(ErrorMessage(ErrorCode.UNSUPPORTED_VERSION))
    assert p.client.data_to_send() != b""


def test_after_a_remote_error_the_session_is_closed() -> None:
    server = _server()
    server.receive_data(b"garbage!")
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    assert server.next_event() == ConnectionClosed()
    assert not server.is_open


def test_two_connections_use_different_keys() -> None:
    ident_c, ident_s = Identity.generate(), Identity.generate()
    records = []
    for _ in range(2):
        client = Session(Role.CLIENT, ident_c.private_key)
        server = Session(Role.SERVER, ident_s.private_key)
        _pump(client, server)
        _pump(server, client)
        _pump(client, server)
        client.send(Hello())
        records.append(client.data_to_send())
    assert records[0] != records[1]
