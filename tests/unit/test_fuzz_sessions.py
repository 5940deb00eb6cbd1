"""Fuzzed decoders, part two: the sans-IO session, as responder and as initiator, fed garbage
before, during and after the handshake.

Properties: a session fed anything raises only ``RemoteProtocolError`` and is closed after it;
it never reports a handshake with a key other than the honest peer's, never delivers a message
before the handshake or a non-hello message before the peer's hello; and what it allocates
stays within ``EXPANSION`` times the bytes fed plus a margin (``fuzz_support``), even when a
record header claims 4 GiB. To reach the message decoders through the session, the honest
peer's own cipher encrypts arbitrary plaintexts, as a hostile peer that completed the handshake
would.
"""

from __future__ import annotations

import itertools
import struct

import pytest
from fuzz_support import (
    ALLOC_MARGIN,
    EXPANSION,
    Mutation,
    apply_mutations,
    fuzz_figures,  # noqa: F401 - an autouse fixture: imported, it counts this module's cases
    fuzz_settings,
    mutated,
    mutations,
    run_decoder,
    tally,
)
from hypothesis import example, given
from hypothesis import strategies as st

from mfsync.crypto.keys import Identity
from mfsync.protocol.errors import RemoteProtocolError
from mfsync.protocol.messages import (
    CONTENT_ID_SIZE,
    BlockList,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    GetRequest,
    Hello,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Message,
    encode_message,
)
from mfsync.protocol.session import (
    MAX_RECORD,
    NEED_DATA,
    PREFACE,
    ConnectionClosed,
    HandshakeComplete,
    PeerHello,
    Role,
    Session,
)
from mfsync.protocol.version import VersionVector

REMOTE = (RemoteProtocolError,)
#: The fuzzed streams are at most this long (the strategies below).
MAX_STREAM = 16 * 1024

CLIENT_ID = Identity.generate()
SERVER_ID = Identity.generate()
_IDS = {Role.CLIENT: CLIENT_ID, Role.SERVER: SERVER_ID}
_OTHER = {Role.CLIENT: Role.SERVER, Role.SERVER: Role.CLIENT}


class Observed:
    """What a fuzzed session reported, checked event by event against the session rules."""

    def __init__(self, session: Session, honest_key: bytes | None) -> None:
        self.session = session
        self.honest_key = honest_key
        self.handshakes = 0
        self.hellos = 0
        self.closed = False

    def drain(self) -> None:
        """Take every event the session has; a RemoteProtocolError leaves it closed."""
        while not self.closed:
            try:
                event = self.session.next_event()
            except RemoteProtocolError:
                self.closed = True
                # the error is final: the session is closed and says so from now on
                assert isinstance(self.session.next_event(), ConnectionClosed)
                assert not self.session.is_open
                raise
            if event is NEED_DATA:
                return
            self.check(event)

    def check(self, event: object) -> None:
        """One event against the rules."""
        assert isinstance(event, HandshakeComplete | PeerHello | ConnectionClosed | Message)
        if isinstance(event, ConnectionClosed):
            self.closed = True
        elif isinstance(event, HandshakeComplete):
            # a mutated stream can only complete the handshake with the key that made it
            assert self.handshakes == 0 and event.remote_key == self.honest_key
            self.handshakes += 1
            tally.reached["session_handshakes_completed"] += 1
        else:
            assert self.handshakes == 1, "a message before the handshake"
            if isinstance(event, PeerHello):
                assert self.hellos == 0 and event.version in event.hello.versions
                self.hellos += 1
            else:
                assert self.hellos == 1 or isinstance(event, ErrorMessage), "before hello"
                tally.reached["session_messages_delivered"] += 1

    def feed(self, data: bytes, cuts: list[int], *, eof: bool = False) -> None:
        """Give the session ``data`` in pieces cut at ``cuts``, draining after each."""
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        for start, stop in itertools.pairwise(points):
            if self.closed:
                return
            self.session.receive_data(data[start:stop])
            self.drain()
        if eof and not self.closed:
            self.session.receive_data(b"")
            self.drain()
            assert self.closed


def _session_budget(stream: int) -> int:
    # Handshake state lives mostly in the cryptography library (not traced); what is traced
    # is the buffered input, one decrypted record and the decoded message.
    return EXPANSION * stream + 4 * ALLOC_MARGIN


_cuts = st.lists(st.integers(0, MAX_STREAM), max_size=6)
_garbage = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=300).map(lambda b: PREFACE + b),
    st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=300)).map(
        lambda t: PREFACE + struct.pack(">H", t[0]) + t[1]),
)


@fuzz_settings(500)
@given(st.sampled_from(Role), _garbage, _cuts, st.booleans())
@example(Role.SERVER, PREFACE + b"\x04\x00" + bytes(1024), [], False)  # the longest message 1
@example(Role.SERVER, PREFACE + b"\x00\x00", [], True)  # empty handshake message
@example(Role.CLIENT, PREFACE + b"\xff\xff", [], False)  # claims 64 KiB
def test_session_fed_garbage_from_the_start(role: Role, data: bytes, cuts: list[int],
                                            eof: bool) -> None:
    """Bytes from no mfsync peer at all, as the first thing on a connection."""
    observed = Observed(Session(role, _IDS[role].private_key), honest_key=None)
    run_decoder(f"session_{role.value}_garbage", lambda: observed.feed(data, cuts, eof=eof),
                refusals=REMOTE, budget=_session_budget(len(data)))
    assert observed.handshakes == 0


def _honest_messages() -> list[Message]:
    cid = bytes(range(CONTENT_ID_SIZE))
    version = VersionVector.of({bytes(32): 3})
    return [
        IndexRequest(0),
        IndexChunk(7, (IndexEntry("a/b.txt", 5, 1, cid, version),), last=True),
        BlockList(cid, 5, 1 << 17, 0, (cid,), last=True),
        GetRequest("a/b.txt", cid, 0, 5),
        Data(0, b"hello"),
        End(5),
        ErrorMessage(ErrorCode.NOT_FOUND, "gone"),
    ]


@fuzz_settings(400)
@given(st.sampled_from(Role), st.tuples(mutations(3), mutations(3), mutations(3)), _cuts,
       st.booleans())
def test_session_with_a_tampered_handshake(role: Role, steps: tuple[list[Mutation], ...],
                                           cuts: list[int], eof: bool) -> None:
    """A real peer's stream (handshake, hello, a few messages) mutated on its way to the
    fuzzed session, step by step: before, during and after the handshake."""
    target = Session(role, _IDS[role].private_key)
    peer_role = _OTHER[role]
    peer = Session(peer_role, _IDS[peer_role].private_key)
    observed = Observed(target, honest_key=_IDS[peer_role].public_key)
    hello_sent = False

    def converse() -> None:
        nonlocal hello_sent
        for ops in steps:
            out = peer.data_to_send()
            if peer.is_open and not hello_sent:
                hello_sent = True
                # the honest peer's hello and messages go out as soon as it can send them
                peer.send(Hello(name="peer"))
                for message in _honest_messages():
                    peer.send(message)
                out += peer.data_to_send()
            observed.feed(apply_mutations(out, ops), cuts)
            if observed.closed:
                return
            answer = target.data_to_send()
            if answer:  # b"" would tell the peer that the stream ended
                peer.receive_data(answer)
            Observed(peer, honest_key=_IDS[role].public_key).drain()
        if eof:
            observed.feed(b"", [], eof=True)

    run_decoder(f"session_{role.value}_handshake", converse, refusals=REMOTE,
                budget=_session_budget(MAX_STREAM))
    if not any(steps):
        assert observed.handshakes == 1 and observed.hellos == 1  # the control case works


def _open_pair(role: Role) -> tuple[Session, Session, Observed]:
    """A fuzzed session of ``role`` and its honest peer, the handshake done."""
    target = Session(role, _IDS[role].private_key)
    peer_role = _OTHER[role]
    peer = Session(peer_role, _IDS[peer_role].private_key)
    observed = Observed(target, honest_key=_IDS[peer_role].public_key)
    client, server = (target, peer) if role is Role.CLIENT else (peer, target)
    for src, dst in ((client, server), (server, client), (client, server)):
        dst.receive_data(src.data_to_send())
        while (event := dst.next_event()) is not NEED_DATA:
            if dst is target:
                observed.check(event)
    assert observed.handshakes == 1 and peer.is_open
    return target, peer, observed


def _encrypt(peer: Session, plaintext: bytes) -> bytes:
    """A record as ``peer`` would frame it, around any plaintext (even one it would refuse to
    send): how a hostile peer that completed the handshake reaches the message decoders."""
    assert peer._send is not None
    ciphertext = peer._send.encrypt(plaintext)
    return struct.pack(">I", len(ciphertext)) + ciphertext


_valid_plaintexts = st.sampled_from([encode_message(m) for m in _honest_messages()]
                                    + [encode_message(Hello()),
                                       encode_message(Hello(versions=(2, 3)))])
_plaintexts = st.one_of(
    mutated(_valid_plaintexts, max_ops=3),
    st.binary(max_size=200),
    _valid_plaintexts,
)


@fuzz_settings(400)
@given(st.sampled_from(Role), st.booleans(), st.lists(_plaintexts, max_size=6),
       st.tuples(mutations(2), _cuts, st.booleans()))
@example(Role.SERVER, True, [b"\x07" + bytes(12)], ([("int", 0, (4, MAX_RECORD + 1))], [], False))
@example(Role.CLIENT, False, [encode_message(Hello(versions=(9,)))], ([], [], True))
def test_session_after_the_handshake(role: Role, hello_first: bool, plaintexts: list[bytes],
                                     delivery: tuple[list[Mutation], list[int], bool]) -> None:
    """Authenticated records with any plaintext (mutated messages, random bytes, hellos of
    other versions), the framed stream itself sometimes mutated too (``delivery``: those
    mutations, where the stream is cut into reads, and whether it ends with end of stream)."""
    ops, cuts, eof = delivery
    _, peer, observed = _open_pair(role)
    records = [_encrypt(peer, encode_message(Hello()))] if hello_first else []
    records += [_encrypt(peer, p) for p in plaintexts]
    data = apply_mutations(b"".join(records), ops)
    run_decoder(f"session_{role.value}_open", lambda: observed.feed(data, cuts, eof=eof),
                refusals=REMOTE, budget=_session_budget(len(data)))


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("length", [MAX_RECORD, MAX_RECORD + 1, 2**32 - 1])
def test_session_record_claims_allocate_nothing(role: Role, length: int) -> None:
    """A record header claiming up to 4 GiB costs nothing before the bytes arrive."""
    target, _, observed = _open_pair(role)
    data = struct.pack(">I", length) + bytes(32)
    run_decoder("session_claims", lambda: observed.feed(data, []), refusals=REMOTE,
                budget=_session_budget(len(data)))
    assert observed.closed == (length > MAX_RECORD) and target.is_open != observed.closed
