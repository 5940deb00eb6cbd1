"""Hostile peers for the end-to-end security suite: clients and a server that misbehave on purpose.

Run as a script inside a namespace of the harness::

    host.popen([sys.executable, hostile.__file__, MODE, ARGS...])

Every mode prints ``READY`` once its attack is under way (where a test needs to know) and, when
done, one line ``RESULT {json}`` saying what it did and what it saw (``connections`` is always
there: how many TCP connections it opened or accepted). Each attacking connection reports its
local port, so a test can find the one line of the server's log that is about it.

How it works: the attacks speak the real protocol through mfsync's own sans-IO ``Session`` (and
so its own Noise code) over blocking sockets: they get exactly as far as an attacker on the LAN
could get (up to a completed handshake and hellos, with a key the server trusts where the case
needs one), then break one rule. ``Channel.seal`` builds records under the session's send key
without the session's checks, which is how a hostile peer sends what the session would refuse
to.

Addresses come from the command line only; the tests pass addresses of the harness's own
namespaces, never anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mfsync.protocol.announce import Announcement, Flags, Kind, encode_announcement
from mfsync.protocol.content import block_hash, block_size_for, content_id_of
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import (
    MAX_HASHES_PER_MESSAGE,
    MAX_INDEX_ENTRIES,
    BlockList,
    BlocksRequest,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    FolderFlags,
    FolderInfo,
    FolderList,
    FoldersRequest,
    GetRequest,
    Hello,
    IndexChunk,
    IndexEntry,
    IndexRequest,
    Message,
    encode_message,
)
from mfsync.protocol.session import (
    PREFACE,
    ConnectionClosed,
    HandshakeComplete,
    NeedData,
    PeerHello,
    Role,
    Session,
    SessionEvent,
)
from mfsync.protocol.version import VersionVector

__all__ = ["EVIL_MODES", "HOSTILE_SCRIPT", "JUNK_REASONS", "Channel", "main"]

HOSTILE_SCRIPT = os.path.abspath(__file__)
#: What a hostile server lists when asked for its folders: the default folder, which every
#: client then asks the index of.
#: A folder id no host of the tests has: what ``absurd`` asks for.
FORGED_FOLDER = FolderId.parse("k3x9-pq2m")
DEFAULT_FOLDERS = FolderList((FolderInfo(DEFAULT_FOLDER, "default", FolderFlags.ANNOUNCED, 1,
                                         0, 0),))

#: What the server's log must say about each case of ``junk`` (a regex fragment per case).
JUNK_REASONS: dict[str, str] = {
    "garbage-before-preface": "bad preface",
    "http-request": "bad preface",
    "framing-version-2": "framing version 2",
    "oversized-handshake-length": "handshake message of 65535 bytes is too long",
    "short-handshake-message": "at least 32 required",
    "small-order-key": "small-order",
    "truncated-handshake-then-eof": "stream ended inside a frame",
    "garbage-as-message-3": "handshake or decryption failed",
    "oversized-record-length": "record of 4294967295 bytes exceeds",
    "undersized-record-length": "record of 5 bytes is too short",
    "truncated-record-then-eof": "stream ended inside a frame",
    "unknown-message-type": "unknown message type 0x55",
    "trailing-bytes": "unexpected trailing bytes",
    "request-before-hello": "IndexRequest before hello",
    "second-hello": "second hello",
    "garbage-after-hellos": "exceeds|too short|decryption failed",
}

#: Modes of ``evil-server``: what it answers to a downloading client.
EVIL_MODES = (
    "huge-index",  # endless IndexChunks of 16 384 small entries ("millions of files")
    "fat-index",  # endless IndexChunks of the largest entries the codec allows
    "empty-chunks",  # endless empty IndexChunks that are never the last
    "huge-file",  # one file of 2**60 bytes, then endless full BlockLists for it
    "empty-blocklists",  # a real-looking file, then endless empty BlockLists
    "empty-data",  # a real file and block list, then endless empty Data messages
)

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
HELLO = Hello(capabilities=("index",), name="hostile")
#: Long enough for any answer on a LAN of namespaces, however loaded the machine is.
IO_TIMEOUT = 20.0


def out(line: str) -> None:
    """Print a line for the test at once."""
    print(line, flush=True)


def result(**numbers: Any) -> None:
    """The final line of every mode."""
    out("RESULT " + json.dumps(numbers, sort_keys=True))


def load_key(text: str | None) -> X25519PrivateKey:
    """A private key from 64 hex digits, or a fresh one."""
    if not text:
        return X25519PrivateKey.generate()
    return X25519PrivateKey.from_private_bytes(bytes.fromhex(text))


def connect(host: str, port: int, timeout: float = IO_TIMEOUT) -> socket.socket:
    """A TCP connection with a timeout on every operation."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def wait_closed(sock: socket.socket, timeout: float) -> tuple[bool, int, float]:
    """Read (and discard) until the peer closes or resets: (closed, bytes read, seconds)."""
    start = time.monotonic()
    got = 0
    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, got, time.monotonic() - start
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return False, got, time.monotonic() - start
        except OSError:  # reset
            return True, got, time.monotonic() - start
        if not data:
            return True, got, time.monotonic() - start
        got += len(data)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes, or fewer if the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        try:
            data = sock.recv(n - len(buf))
        except OSError:
            break
        if not data:
            break
        buf += data
    return bytes(buf)


class Channel:
    """One end of an mfsync connection over a blocking socket, driven by mfsync's ``Session``."""

    def __init__(self, sock: socket.socket, role: Role, key: X25519PrivateKey) -> None:
        self.sock = sock
        self.session = Session(role, key)
        self.port = sock.getsockname()[1]

    def flush(self) -> None:
        """Send whatever the session has queued."""
        data = self.session.data_to_send()
        if data:
            self.sock.sendall(data)

    def event(self) -> SessionEvent:
        """The next event, reading as needed (``ConnectionClosed`` when the peer goes)."""
        while True:
            event = self.session.next_event()
            if not isinstance(event, NeedData):
                return event
            self.flush()
            try:
                data = self.sock.recv(1 << 20)
            except (ConnectionError, TimeoutError):
                data = b""
            self.session.receive_data(data)

    def handshake(self) -> bytes:
        """Run the handshake (either role) up to its completion; returns the peer's key."""
        event = self.event()
        if not isinstance(event, HandshakeComplete):
            raise ConnectionError(f"handshake ended with {event!r}")
        return event.remote_key

    def open(self, hello: Hello = HELLO) -> Message | PeerHello:
        """Handshake and exchange hellos; returns the peer's hello (or its refusal)."""
        self.handshake()
        self.session.send(hello)
        self.flush()
        event = self.event()
        if isinstance(event, HandshakeComplete | NeedData | ConnectionClosed):
            raise ConnectionError(f"no hello from the peer: {event!r}")
        return event

    def seal(self, plaintext: bytes) -> bytes:
        """A record of ``plaintext`` under our send key, bypassing the session's rules (hello
        first, known message types): what a hostile peer can send once it holds the keys."""
        cipher = self.session._send  # a hostile peer uses the keys as it likes
        assert cipher is not None, "handshake not complete"
        ciphertext = cipher.encrypt(plaintext)
        return _U32.pack(len(ciphertext)) + ciphertext

    def record(self, message: Message) -> bytes:
        """The record of one well-formed message."""
        return self.seal(encode_message(message))

    def send(self, message: Message) -> None:
        """Send one well-formed message."""
        self.sock.sendall(self.record(message))

    def requests(self, hello: Hello) -> Iterator[Message]:
        """As the server: complete the handshake, send ``hello``, then yield each request the
        client sends, until it closes (the loop of every hostile server). A folder-list
        request is answered here, with the default folder (what every client asks first)."""
        self.handshake()
        self.session.send(hello)
        self.flush()
        while True:
            event = self.event()
            if isinstance(event, ConnectionClosed):
                return
            if isinstance(event, PeerHello | HandshakeComplete | NeedData):
                continue
            if isinstance(event, FoldersRequest):
                self.send(DEFAULT_FOLDERS)
                continue
            yield event

    def receive(self) -> Message | ConnectionClosed:
        """The next message from the peer."""
        event = self.event()
        if isinstance(event, HandshakeComplete | PeerHello | NeedData):
            raise ConnectionError(f"unexpected {event!r}")
        return event


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    buf = bytearray(data)
    buf[index] ^= 1 << bit
    return bytes(buf)


def _describe(message: Message | ConnectionClosed) -> str:
    if isinstance(message, ErrorMessage):
        return f"ErrorMessage:{message.code.name}"
    if isinstance(message, End):
        return f"End:{message.offset}"
    return type(message).__name__


# -- clients that break one rule each ------------------------------------------------------------


def _case(name: str, results: list[dict[str, Any]], sock: socket.socket, timeout: float,
          **extra: Any) -> None:
    closed, got, seconds = wait_closed(sock, timeout)
    results.append({"case": name, "port": sock.getsockname()[1], "closed": closed,
                    "bytes": got, "seconds": round(seconds, 2), **extra})
    sock.close()


def _opened(host: str, port: int, key: X25519PrivateKey, *, hello: bool = True,
            name: str = "connection") -> Channel:
    """A channel to the server after a real handshake and, with ``hello``, the exchange of
    hellos; ``ConnectionError`` (naming case ``name``) if the server refused us."""
    channel = Channel(connect(host, port), Role.CLIENT, key)
    if not hello:
        channel.handshake()
        return channel
    answer = channel.open()
    if not isinstance(answer, PeerHello):
        raise ConnectionError(f"{name}: the server refused us: {answer!r}")
    return channel


def mode_junk(args: argparse.Namespace) -> None:
    """Garbage before and during the handshake, truncated and oversized frames, broken records."""
    key = load_key(args.key)
    host, port, wait = args.host, args.port, args.wait
    results: list[dict[str, Any]] = []

    def raw(name: str, payload: bytes, *, eof: bool = False) -> None:
        sock = connect(host, port)
        sock.sendall(payload)
        if eof:
            sock.shutdown(socket.SHUT_WR)
        _case(name, results, sock, wait)

    raw("garbage-before-preface", b"\x16\x03\x01" + os.urandom(4093))
    raw("http-request", b"GET / HTTP/1.1\r\nHost: mfsync\r\n\r\n")
    raw("framing-version-2", b"MFSYNC\x00\x02" + os.urandom(34))
    raw("oversized-handshake-length", PREFACE + b"\xff\xff" + bytes(64))
    raw("short-handshake-message", PREFACE + _U16.pack(10) + os.urandom(10))
    raw("small-order-key", PREFACE + _U16.pack(32) + bytes(32))
    raw("truncated-handshake-then-eof", PREFACE + _U16.pack(32) + os.urandom(10), eof=True)

    # A real first message, the server's real answer, then 64 random bytes as message 3.
    channel = Channel(connect(host, port), Role.CLIENT, key)
    channel.flush()
    answer = recv_exact(channel.sock, len(PREFACE) + 2 + 96)
    channel.sock.sendall(_U16.pack(64) + os.urandom(64))
    _case("garbage-as-message-3", results, channel.sock, wait, answered=len(answer))

    def after_hellos(name: str, payload: Callable[[Channel], bytes], *, eof: bool = False,
                     hello: bool = True) -> None:
        channel = _opened(host, port, key, hello=hello, name=name)
        if not hello:
            channel.flush()  # message 3 goes out; our hello does not
        channel.sock.sendall(payload(channel))
        if eof:
            channel.sock.shutdown(socket.SHUT_WR)
        _case(name, results, channel.sock, wait)

    index_request = encode_message(IndexRequest())
    after_hellos("oversized-record-length", lambda c: b"\xff\xff\xff\xff" + os.urandom(64))
    after_hellos("undersized-record-length", lambda c: _U32.pack(5) + os.urandom(5))
    after_hellos("truncated-record-then-eof", lambda c: c.seal(index_request)[:-10], eof=True)
    after_hellos("unknown-message-type", lambda c: c.seal(b"\x55" + bytes(8)))
    after_hellos("trailing-bytes", lambda c: c.seal(index_request + b"\x00"))
    after_hellos("request-before-hello", lambda c: c.seal(index_request), hello=False)
    after_hellos("second-hello", lambda c: c.record(HELLO))
    after_hellos("garbage-after-hellos", lambda c: os.urandom(4096))
    result(connections=len(results), cases=results)


def mode_bitflip(args: argparse.Namespace) -> None:
    """Completed handshakes, then records altered, replayed, reordered or transplanted."""
    key = load_key(args.key)
    host, port, wait = args.host, args.port, args.wait
    results: list[dict[str, Any]] = []

    def one(name: str, attack: Callable[[Channel], dict[str, Any] | None],
            hello: bool = True) -> None:
        channel = _opened(host, port, key, hello=hello, name=name)
        extra = attack(channel) or {}
        _case(name, results, channel.sock, wait, **extra)

    def flipped_request(c: Channel) -> None:
        record = c.record(IndexRequest())
        c.sock.sendall(_flip(record, 4 + len(record[4:]) // 2, 3))

    def flipped_tag(c: Channel) -> None:
        record = c.record(IndexRequest())
        c.sock.sendall(_flip(record, len(record) - 1, 7))

    def flipped_length(c: Channel) -> None:
        record = c.record(IndexRequest())
        (length,) = _U32.unpack(record[:4])
        c.sock.sendall(_U32.pack(length - 1) + record[4:])

    def flipped_hello(c: Channel) -> None:
        c.flush()  # message 3
        c.sock.sendall(_flip(c.record(HELLO), 6))

    def flipped_message_3(c: Channel) -> None:
        data = c.session.data_to_send()  # message 3 (u16 length, 64 bytes), not sent yet
        c.sock.sendall(_flip(data, 2 + 40, 1))

    def replayed(c: Channel) -> dict[str, Any]:
        record = c.record(IndexRequest())
        c.sock.sendall(record)
        answers = []
        while True:  # the index is served: the channel works
            message = c.receive()
            answers.append(_describe(message))
            if not isinstance(message, IndexChunk) or message.last:
                break
        c.sock.sendall(record)  # the very same bytes again: its nonce is spent
        return {"answered_first": answers}

    def reordered(c: Channel) -> None:
        first, second = c.record(IndexRequest()), c.record(IndexRequest())
        c.sock.sendall(second + first)

    other = _opened(host, port, key)  # records sealed for another session's keys
    foreign = other.record(IndexRequest())

    def transplanted(c: Channel) -> None:
        c.sock.sendall(foreign)

    one("flipped-bit-in-request", flipped_request)
    one("flipped-bit-in-tag", flipped_tag)
    one("altered-record-length", flipped_length)
    one("flipped-bit-in-hello", flipped_hello, hello=False)
    one("flipped-bit-in-message-3", flipped_message_3, hello=False)
    one("replayed-record", replayed)
    one("reordered-records", reordered)
    one("record-from-another-session", transplanted)
    other.sock.close()
    result(connections=len(results) + 1, cases=results)


def mode_keys(args: argparse.Namespace) -> None:
    """A client claiming a trusted key it cannot prove, and one with an untrusted key."""
    host, port, wait = args.host, args.port, args.wait
    results: list[dict[str, Any]] = []

    # Impersonation: message 3 carries the claimed (trusted) public key, but the DH that proves
    # it (se) can only use the private key we really hold.
    channel = Channel(connect(host, port), Role.CLIENT, load_key(None))
    channel.session._hs._s_pub = bytes.fromhex(args.claim)  # the forgery
    channel.handshake()
    channel.session.send(HELLO)
    channel.flush()
    _case("claimed-key-without-its-private-key", results, channel.sock, wait)

    # An untrusted key that ignores the refusal and asks anyway.
    channel = Channel(connect(host, port), Role.CLIENT, load_key(args.untrusted))
    channel.handshake()
    channel.session.send(HELLO)
    channel.flush()
    channel.send(IndexRequest())
    answers: list[str] = []
    with contextlib.suppress(OSError, ConnectionError):
        while len(answers) < 5:
            message = channel.receive()
            answers.append(_describe(message))
            if isinstance(message, ConnectionClosed):
                break
    _case("untrusted-key", results, channel.sock, wait, answers=answers)
    result(connections=len(results), cases=results)


def mode_replay(args: argparse.Namespace) -> None:
    """Record a real client's session through a relay, then replay it to new connections."""
    host, port, wait = args.host, args.port, args.wait
    listener = socket.create_server(("0.0.0.0", args.relay_port))  # in our own namespace
    listener.settimeout(args.relay_wait)
    out("READY")
    client, _ = listener.accept()
    listener.close()
    upstream = connect(host, port)
    c2s, s2c = bytearray(), bytearray()

    def pump(src: socket.socket, dst: socket.socket, log: bytearray) -> None:
        src.settimeout(IO_TIMEOUT)
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                log += data
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    threads = [threading.Thread(target=pump, args=(client, upstream, c2s)),
               threading.Thread(target=pump, args=(upstream, client, s2c))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(IO_TIMEOUT + 5)
    client.close()
    upstream.close()
    first = len(PREFACE) + 2 + 32  # preface and message 1
    third = first + 2 + 64  # then message 3
    server_first = len(PREFACE) + 2 + 96
    recorded = {"client_bytes": len(c2s), "server_bytes": len(s2c),
                "client_records": len(c2s) > third, "server_records": len(s2c) > server_first}
    results: list[dict[str, Any]] = []

    # Message 1 again: the server answers with fresh keys, and recorded message 3 cannot fit.
    sock = connect(host, port)
    sock.sendall(bytes(c2s[:first]))
    answer = recv_exact(sock, server_first)
    sock.sendall(bytes(c2s[first:third]))
    _case("replayed-messages-1-and-3", results, sock, wait,
          answered=len(answer), fresh=answer != bytes(s2c[:server_first]))

    # The whole recorded session at once: nothing beyond the server's handshake comes back.
    sock = connect(host, port)
    sock.sendall(bytes(c2s))
    _case("replayed-whole-session", results, sock, wait)

    # Message 1 on several connections at once: every answer is different.
    socks = [connect(host, port) for _ in range(4)]
    answers = set()
    for sock in socks:
        sock.sendall(bytes(c2s[:first]))
    for sock in socks:
        answers.add(recv_exact(sock, server_first))
    for index, sock in enumerate(socks):
        sock.shutdown(socket.SHUT_WR)
        _case(f"replayed-message-1-copy-{index}", results, sock, wait)
    result(connections=len(results) + 1, cases=results, distinct_answers=len(answers),
           **recorded)


def mode_mitm(args: argparse.Namespace) -> None:
    """Sit where a client expects a server, with our own key: does the client notice?"""
    listener = socket.create_server(("0.0.0.0", args.listen_port))  # in our own namespace
    listener.settimeout(args.wait)
    out("READY")
    sock, peer = listener.accept()
    listener.close()
    sock.settimeout(IO_TIMEOUT)
    channel = Channel(sock, Role.SERVER, load_key(args.key))
    client_key = channel.handshake()
    channel.session.send(Hello(capabilities=("index",), name="server"))
    channel.flush()
    first: list[str] = []
    requests = 0
    with contextlib.suppress(OSError, ConnectionError):
        while True:
            event = channel.event()
            if isinstance(event, ConnectionClosed):
                break
            first.append(type(event).__name__ if not isinstance(event, ErrorMessage)
                         else _describe(event))
            if isinstance(event, FoldersRequest):
                requests += 1
                channel.send(DEFAULT_FOLDERS)
            elif isinstance(event, IndexRequest | BlocksRequest | GetRequest):
                requests += 1
                channel.send(IndexChunk(1, (), last=True))
    sock.close()
    result(connections=1, client=peer[0], client_key=client_key.hex().upper(), messages=first,
           requests=requests)


def mode_absurd(args: argparse.Namespace) -> None:
    """After a real handshake: ranges and names no honest client asks for, on one connection."""
    channel = _opened(args.host, args.port, load_key(args.key))
    path, cid, size = args.path, bytes.fromhex(args.content_id), args.size
    top = (1 << 64) - 1
    asks: list[tuple[str, Message]] = [
        ("offset-and-length-max", GetRequest(path, cid, top, top)),
        ("length-max", GetRequest(path, cid, 0, top)),
        ("offset-past-end", GetRequest(path, cid, size + 1, 0)),
        ("one-byte-too-many", GetRequest(path, cid, size - 1, 2)),
        ("offset-max-length-1", GetRequest(path, cid, top, 1)),
        ("empty-range-at-end", GetRequest(path, cid, size, 0)),
        ("last-byte", GetRequest(path, cid, size - 1, 1)),
        ("wrong-content-id", GetRequest(path, bytes(32), 0, 1)),
        ("dot-dot-path", GetRequest("../../../../etc/passwd", cid, 0, 1)),
        ("absolute-path", BlocksRequest("/etc/shadow", cid)),
        ("longest-path", BlocksRequest("a" * 4096, cid)),
        ("blocks-wrong-content-id", BlocksRequest(path, bytes(32))),
        ("server-message-as-request", Data(0, b"x")),
        ("index-chunk-as-request", IndexChunk(1, (), last=True)),
        ("block-list-as-request", BlockList(cid, size, 1, 0, (), last=True)),
        # a folder this host does not have (or may not see): the same refusal either way
        ("forged-folder-index", IndexRequest(0, FORGED_FOLDER)),
        ("forged-folder-blocks", BlocksRequest(path, cid, FORGED_FOLDER)),
        ("forged-folder-get", GetRequest(path, cid, 0, 1, FORGED_FOLDER)),
    ]
    answers: dict[str, list[str]] = {}
    for name, message in asks:
        channel.send(message)
        got: list[str] = []
        while True:
            reply = channel.receive()
            got.append(_describe(reply))
            if isinstance(reply, Data):
                got[-1] = f"Data:{reply.offset}:{bytes(reply.payload).hex()}"
                continue
            break
        answers[name] = got
    channel.send(IndexRequest())  # and the connection still works
    still = _describe(channel.receive())
    channel.sock.close()
    result(connections=1, port=channel.port, answers=answers, still_served=still)


def _closed_by_now(sock: socket.socket) -> bool:
    """Whether the peer has closed (or reset) ``sock``, reading past whatever it sent first
    (the server's answer to a first handshake message, say)."""
    sock.setblocking(False)
    try:
        while True:
            try:
                if not sock.recv(4096):
                    return True
            except BlockingIOError:
                return False  # nothing more came: the server holds it
            except OSError:
                return True  # reset
    finally:
        sock.settimeout(IO_TIMEOUT)


def mode_flood(args: argparse.Namespace) -> None:
    """Open many connections at once; count those the server drops at once and those it holds
    (half say nothing, half send the first handshake message and then nothing)."""
    socks: list[socket.socket] = []
    refused = 0
    for index in range(args.count):
        try:
            sock = connect(args.host, args.port)
        except OSError:
            refused += 1
            continue
        if index % 2:
            session = Session(Role.CLIENT, load_key(None))
            with contextlib.suppress(OSError):
                sock.sendall(session.data_to_send())
        socks.append(sock)
    time.sleep(args.settle)
    dropped, held = [], []
    for sock in socks:
        (dropped if _closed_by_now(sock) else held).append(sock)
    out(f"HELD {len(held)} DROPPED {len(dropped)}")
    start = time.monotonic()
    closed_after: list[float] = []
    for sock in held:
        closed, _, _ = wait_closed(sock, max(0.1, args.hold - (time.monotonic() - start)))
        if closed:
            closed_after.append(time.monotonic() - start + args.settle)
    for sock in socks:
        sock.close()
    result(connections=len(socks) + refused, refused=refused, dropped=len(dropped),
           held=len(held), held_closed=len(closed_after),
           held_closed_max_s=round(max(closed_after, default=0.0), 2))


# -- slow clients ---------------------------------------------------------------------------------


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Wait ``seconds``; whether the peer closed meanwhile. Whatever it sends (the server's
    preface, say) is read and dropped: readable is not closed."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return False
        try:
            if not sock.recv(65536):
                return True
        except OSError:
            return True
    return False


def mode_slow_handshake(args: argparse.Namespace) -> None:
    """The preface and message 1, one byte every ``interval`` s: never done in time."""
    sock = connect(args.host, args.port)
    payload = Session(Role.CLIENT, load_key(None)).data_to_send()
    out("READY")
    start = time.monotonic()
    sent = 0
    closed = False
    for byte in payload:
        if _closed_within(sock, args.interval):
            closed = True
            break
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        sent += 1
    if not closed:
        closed, _, _ = wait_closed(sock, args.wait)
    result(connections=1, port=sock.getsockname()[1], closed=closed, bytes_sent=sent,
           of=len(payload), seconds=round(time.monotonic() - start, 2))


def mode_slow_request(args: argparse.Namespace) -> None:
    """A completed handshake, then an IndexRequest one byte every ``interval`` s."""
    channel = _opened(args.host, args.port, load_key(args.key))
    record = channel.record(IndexRequest())
    out("READY")
    start = time.monotonic()
    sent = 0
    closed = False
    for byte in record:
        if _closed_within(channel.sock, args.interval):
            closed = True
            break
        try:
            channel.sock.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        sent += 1
    answered = False
    if not closed:  # the whole request went out: was it answered, or were we cut off?
        message = channel.receive()
        answered = isinstance(message, IndexChunk)
        closed = not answered
    result(connections=1, port=channel.port, closed=closed, answered=answered, bytes_sent=sent,
           of=len(record), seconds=round(time.monotonic() - start, 2))


def mode_stop_reading(args: argparse.Namespace) -> None:
    """Ask for a large file, then never read, holding the socket for ``watch`` s.

    Prints ``READY PORT`` once the request is out. Whether the server lets go of its end can
    only be seen on the server (its window to us is shut, so not even a FIN reaches us): the
    test looks at the server's sockets.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # fill up fast
    sock.settimeout(IO_TIMEOUT)
    sock.connect((args.host, args.port))
    channel = Channel(sock, Role.CLIENT, load_key(args.key))
    if not isinstance(channel.open(), PeerHello):
        raise ConnectionError("the server refused our key")
    channel.send(GetRequest(args.path, bytes.fromhex(args.content_id), 0, args.size))
    out(f"READY {channel.port}")
    time.sleep(args.watch)
    sock.close()
    result(connections=1, port=channel.port)


# -- announcements --------------------------------------------------------------------------------


def _udp_ip_packet(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4 + UDP packet; the kernel fills in the IP checksum, total length and id (raw(7)),
    and a UDP checksum of 0 means "none" in IPv4."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 1, socket.IPPROTO_UDP,
                         0, socket.inet_aton(src), socket.inet_aton(dst))
    return header + udp


def mode_spoof(args: argparse.Namespace) -> None:
    """Forged announcements that claim to come from ``victim`` and point at its ports; one in
    ``junk_every`` is malformed or oversized instead."""
    ports = [int(p) for p in args.ports.split(",")]
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    interval = 1.0 / args.rate
    sent = junk = 0
    first = time.monotonic()
    out(f"FIRST {first:.6f}")
    while time.monotonic() - first < args.seconds:
        if args.junk_every and sent % args.junk_every == args.junk_every - 1:
            payload = (b"MFSA\x01\x01\x01\x00" + os.urandom(700)) if junk % 2 else (
                b"MFSA\x07" + os.urandom(80))
            junk += 1
        else:
            payload = encode_announcement(Announcement(
                kind=Kind.ANNOUNCE, flags=Flags.SHARES, instance_id=os.urandom(8),
                public_key=os.urandom(32), tcp_port=random.choice(ports),
                beat_ms=1000, generation=random.getrandbits(32), name="victim",
            ))
        packet = _udp_ip_packet(args.victim, args.group, 30001, args.udp_port, payload)
        sock.sendto(packet, (args.group, 0))
        sent += 1
        time.sleep(interval)
    result(connections=0, datagrams=sent, junk=junk, first=first, last=time.monotonic())


def mode_listen(args: argparse.Namespace) -> None:
    """Accept (and at once close) connections on ``ports``; one line per connection."""
    listeners = [socket.create_server(("0.0.0.0", int(p)), backlog=128)
                 for p in args.ports.split(",")]
    out("READY")
    accepted: list[tuple[str, int, float]] = []
    end = time.monotonic() + args.seconds
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select(listeners, [], [], left)
        for listener in readable:
            conn, peer = listener.accept()
            when = time.monotonic()
            accepted.append((peer[0], listener.getsockname()[1], when))
            out(f"ACCEPT {peer[0]} {listener.getsockname()[1]} {when:.6f}")
            conn.close()
    result(connections=len(accepted), accepted=accepted)


def _announce_forever(address: str, port: int, key: X25519PrivateKey) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    instance = os.urandom(8)
    public = key.public_key().public_bytes_raw()
    generation = 1
    while True:
        sock.sendto(encode_announcement(Announcement(
            kind=Kind.ANNOUNCE, flags=Flags.SHARES, instance_id=instance, public_key=public,
            tcp_port=port, beat_ms=1000, generation=generation, name="evil")),
            ("239.255.0.1", 30001))
        time.sleep(0.5)


# -- a hostile server -----------------------------------------------------------------------------


def _fat_chunk() -> bytes:
    """An IndexChunk (not last) of the largest entries the codec accepts: 4096-byte paths and
    256 version items each, 72 to a message."""
    version = VersionVector.of([(os.urandom(32), n + 1) for n in range(256)])
    entries = tuple(
        IndexEntry(("f" * 4091) + f"{n:05d}", 1, 0, os.urandom(32), version) for n in range(72)
    )
    return encode_message(IndexChunk(1, entries, last=False))


def _huge_chunk() -> bytes:
    """An IndexChunk (not last) of 16 384 small entries."""
    entries = tuple(IndexEntry(f"h{n:06d}", 1, 0, os.urandom(32)) for n in range(MAX_INDEX_ENTRIES))
    return encode_message(IndexChunk(1, entries, last=False))


class EvilServer:
    """Serves one of ``EVIL_MODES`` on a port: real handshakes, then answers that never end."""

    HUGE_SIZE = 1 << 60
    SMALL_SIZE = 1 << 20
    TINY = b"hello"

    def __init__(self, mode: str, key: X25519PrivateKey) -> None:
        self.mode = mode
        self.key = key
        self.stats: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        tiny_hashes = [block_hash(self.TINY)]
        self.tiny_id = content_id_of(len(self.TINY), block_size_for(len(self.TINY)), tiny_hashes)
        self.tiny_hashes = tuple(tiny_hashes)
        self.some_id = os.urandom(32)
        self.plain: bytes = b""
        if mode == "huge-index":
            self.plain = _huge_chunk()
        elif mode == "fat-index":
            self.plain = _fat_chunk()
        elif mode == "empty-chunks":
            self.plain = encode_message(IndexChunk(1, (), last=False))

    def index(self) -> IndexChunk:
        """The one-file index of the transfer modes."""
        if self.mode == "huge-file":
            entry = IndexEntry("huge.bin", self.HUGE_SIZE, 0, self.some_id)
        elif self.mode == "empty-blocklists":
            entry = IndexEntry("small.bin", self.SMALL_SIZE, 0, self.some_id)
        else:
            entry = IndexEntry("tiny.bin", len(self.TINY), 0, self.tiny_id)
        return IndexChunk(1, (entry,), last=True)

    def endless(self, channel: Channel, request: Message) -> Iterator[bytes]:
        """The records answering ``request``, for as long as the client reads them."""
        if isinstance(request, IndexRequest):
            if self.plain:
                while True:
                    yield channel.seal(self.plain)
            yield channel.record(self.index())
        elif isinstance(request, BlocksRequest) and self.mode == "huge-file":
            hashes = tuple(os.urandom(32) for _ in range(MAX_HASHES_PER_MESSAGE))
            block = block_size_for(self.HUGE_SIZE)
            first = 0
            while True:
                yield channel.record(BlockList(request.content_id, self.HUGE_SIZE, block,
                                               first % (1 << 32), hashes, last=False))
                first += len(hashes)
        elif isinstance(request, BlocksRequest) and self.mode == "empty-blocklists":
            plain = encode_message(BlockList(request.content_id, self.SMALL_SIZE,
                                             block_size_for(self.SMALL_SIZE), 0, (), last=False))
            while True:
                yield channel.seal(plain)
        elif isinstance(request, BlocksRequest):
            yield channel.record(BlockList(self.tiny_id, len(self.TINY),
                                           block_size_for(len(self.TINY)), 0, self.tiny_hashes,
                                           last=True))
        elif isinstance(request, GetRequest):
            plain = encode_message(Data(request.offset, b""))
            while True:
                yield channel.seal(plain)
        else:
            yield channel.record(ErrorMessage(ErrorCode.BAD_REQUEST, "no"))

    def serve(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        """One connection: handshake, hello, then answer each request endlessly."""
        sock.settimeout(IO_TIMEOUT)
        channel = Channel(sock, Role.SERVER, self.key)
        sent = messages = 0
        requests: list[str] = []
        why = "closed"
        try:
            for event in channel.requests(Hello(capabilities=("index",), name="evil")):
                requests.append(type(event).__name__)
                for record in self.endless(channel, event):
                    sock.sendall(record)
                    sent += len(record)
                    messages += 1
        except Exception as exc:  # the client gave up on us, or broke a rule of its own
            why = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close()
        with self.lock:
            self.stats.append({"client": peer[0], "requests": requests, "messages": messages,
                               "bytes": sent, "end": why[:120]})
        out("CONN " + json.dumps(self.stats[-1]))


def mode_evil_server(args: argparse.Namespace) -> None:
    """Serve ``--serve PORT:MODE`` (repeatable) until SIGTERM; announce ``--announce PORT``."""
    key = load_key(args.key)
    servers: list[EvilServer] = []
    for spec in args.serve:
        port_text, mode = spec.split(":", 1)
        if mode not in EVIL_MODES:
            raise SystemExit(f"unknown mode {mode}")
        server = EvilServer(mode, key)
        servers.append(server)
        listener = socket.create_server(("0.0.0.0", int(port_text)), backlog=64)

        def accept(listener: socket.socket = listener, server: EvilServer = server) -> None:
            while True:
                sock, peer = listener.accept()
                threading.Thread(target=server.serve, args=(sock, peer), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
    if args.announce:
        threading.Thread(target=_announce_forever, args=(args.address, args.announce, key),
                         daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out("READY")
    stop.wait()
    total = sum(len(s.stats) for s in servers)
    result(connections=total, served=[s.stats for s in servers])


# -- command line ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Parse ``MODE ARGS`` and run the mode."""
    parser = argparse.ArgumentParser(prog="hostile")
    modes = parser.add_subparsers(dest="mode", required=True)

    def target(name: str, func: Callable[[argparse.Namespace], None],
               key: bool = True) -> argparse.ArgumentParser:
        p = modes.add_parser(name)
        p.add_argument("host")
        p.add_argument("port", type=int)
        p.add_argument("--wait", type=float, default=IO_TIMEOUT,
                       help="how long to wait for the server to close a connection")
        if key:
            p.add_argument("--key", help="our private key, 64 hex digits (a trusted one)")
        p.set_defaults(func=func)
        return p

    target("junk", mode_junk)
    target("bitflip", mode_bitflip)
    p = target("keys", mode_keys, key=False)
    p.add_argument("--claim", required=True, help="a trusted public key we do not hold")
    p.add_argument("--untrusted", help="an untrusted private key")
    p = target("replay", mode_replay, key=False)
    p.add_argument("--relay-port", type=int, required=True)
    p.add_argument("--relay-wait", type=float, default=30.0)
    p = target("absurd", mode_absurd)
    p.add_argument("--path", required=True)
    p.add_argument("--content-id", required=True)
    p.add_argument("--size", type=int, required=True)
    p = target("flood", mode_flood, key=False)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--settle", type=float, default=1.5)
    p.add_argument("--hold", type=float, default=30.0)
    p = target("slow-handshake", mode_slow_handshake, key=False)
    p.add_argument("--interval", type=float, default=0.5)
    p = target("slow-request", mode_slow_request)
    p.add_argument("--interval", type=float, default=2.5)
    p = target("stop-reading", mode_stop_reading)
    p.add_argument("--path", required=True)
    p.add_argument("--content-id", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--watch", type=float, default=90.0)

    p = modes.add_parser("mitm")
    p.add_argument("--listen-port", type=int, required=True)
    p.add_argument("--key")
    p.add_argument("--wait", type=float, default=30.0)
    p.set_defaults(func=mode_mitm)
    p = modes.add_parser("spoof")
    p.add_argument("--victim", required=True)
    p.add_argument("--ports", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--junk-every", type=int, default=10)
    p.add_argument("--group", default="239.255.0.1")
    p.add_argument("--udp-port", type=int, default=30001)
    p.set_defaults(func=mode_spoof)
    p = modes.add_parser("listen")
    p.add_argument("--ports", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.set_defaults(func=mode_listen)
    p = modes.add_parser("evil-server")
    p.add_argument("--key")
    p.add_argument("--serve", action="append", required=True, metavar="PORT:MODE")
    p.add_argument("--announce", type=int, metavar="PORT")
    p.add_argument("--address", help="our address, for --announce")
    p.set_defaults(func=mode_evil_server)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
