"""Hostile peers that attack with numbers: handshake floods and announcement floods.

Run as a script inside a namespace of the harness, as ``hostile.py`` is::

    host.popen([sys.executable, hostile_conns.__file__, MODE, ARGS...])

Modes:

- ``handshake-flood``: from each of ``--sources`` (addresses of the attacker's own namespace),
  keep ``--per-source`` connections open that send the first bytes of a handshake and then
  nothing; every ``--interval`` s (0: at once) reopen those the server closed.
- ``honest``: ``--count`` honest clients, one every ``--gap`` s, spread over ``--sources``:
  each runs the real handshake (mfsync's own ``Session``), exchanges hellos and asks for the
  index. Reports how many were served (the last index chunk arrived) and how long each took.
- ``announce-flood``: ``--rate`` announcements a second with random keys, instance ids and
  TCP ports and the longest beat a datagram can carry; from ``--sources`` (real sockets bound
  to addresses of the attacker's namespace) or, with ``--spoof-prefix``, from forged source
  addresses ``PREFIX.<spoof-first..spoof-last>`` (raw IP packets, as ``hostile.py spoof``).

Each mode prints ``READY`` once its attack is under way and ends with one ``RESULT {json}``
line (see ``hostile.py``). Addresses come from the command line only; the tests pass
addresses of their own namespaces.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import sys
import threading
import time

from hostile import IO_TIMEOUT, Channel, _udp_ip_packet, load_key, out, result

from mfsync.protocol.announce import Announcement, Flags, Kind, encode_announcement
from mfsync.protocol.messages import IndexChunk, IndexRequest
from mfsync.protocol.session import PeerHello, Role, Session

__all__ = ["HOSTILE_CONNS_SCRIPT", "main"]

HOSTILE_CONNS_SCRIPT = os.path.abspath(__file__)
#: How many bytes of its first handshake message a flooding connection sends.
FLOOD_BYTES = 8
#: The longest beat an announcement can claim (milliseconds in 16 bits).
WIRE_MAX_BEAT_MS = 0xFFFF
#: Announcements are sent in batches this often (a sleep per datagram is far too coarse).
BATCH_INTERVAL = 0.01


# -- handshake flood -------------------------------------------------------------------------------


def _flood_source(args: argparse.Namespace, source: str, end: float, stats: dict[str, int],
                  lock: threading.Lock) -> None:
    """Keep ``--per-source`` stalled handshakes open from ``source`` until ``end``."""
    host, port, count, interval = args.host, args.port, args.per_source, args.interval
    first_bytes = Session(Role.CLIENT, load_key(None)).data_to_send()[:FLOOD_BYTES]
    open_socks: list[socket.socket] = []
    opened = closed = failed = 0
    while time.monotonic() < end:
        while len(open_socks) < count and time.monotonic() < end:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(2.0)
            try:
                sock.bind((source, 0))
                sock.connect((host, port))
                sock.sendall(first_bytes)
            except OSError:
                failed += 1
                sock.close()
                continue
            sock.setblocking(False)
            open_socks.append(sock)
            opened += 1
        # Wait for the server to close some of them (or for the next round).
        wait = interval if interval > 0 else 0.05
        deadline = min(end, time.monotonic() + wait)
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(open_socks, [], [], left)
            for sock in readable:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    open_socks.remove(sock)
                    sock.close()
                    closed += 1
            if interval <= 0 and len(open_socks) < count:
                break  # reconnect at once
    for sock in open_socks:
        sock.close()
    with lock:
        stats["opened"] += opened
        stats["closed_by_server"] += closed
        stats["failed"] += failed


def mode_handshake_flood(args: argparse.Namespace) -> None:
    """Stalled handshakes from several addresses, reopened as the server closes them."""
    sources = args.sources.split(",")
    stats = {"opened": 0, "closed_by_server": 0, "failed": 0}
    lock = threading.Lock()
    end = time.monotonic() + args.seconds
    threads = [threading.Thread(
        target=_flood_source, args=(args, source, end, stats, lock), daemon=True)
        for source in sources]
    for thread in threads:
        thread.start()
    time.sleep(min(args.seconds, 1.0))
    out("READY")
    for thread in threads:
        thread.join()
    result(connections=stats["opened"], **stats)


# -- honest clients --------------------------------------------------------------------------------


def _honest_client(host: str, port: int, source: str) -> tuple[bool, float, str]:
    """One honest client: handshake, hellos, the whole index. (served, seconds, why not)."""
    start = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(IO_TIMEOUT)
    try:
        sock.bind((source, 0))
        sock.connect((host, port))
        channel = Channel(sock, Role.CLIENT, load_key(None))
        answer = channel.open()
        if not isinstance(answer, PeerHello):
            return False, time.monotonic() - start, f"refused: {answer!r}"
        channel.send(IndexRequest())
        while True:
            message = channel.receive()
            if not isinstance(message, IndexChunk):
                return False, time.monotonic() - start, f"got {message!r}"
            if message.last:
                return True, time.monotonic() - start, ""
    except (OSError, ConnectionError) as exc:
        return False, time.monotonic() - start, f"{type(exc).__name__}: {exc}"
    finally:
        sock.close()


def mode_honest(args: argparse.Namespace) -> None:
    """``count`` honest clients, one every ``gap`` s, each in its own thread."""
    sources = args.sources.split(",")
    outcomes: list[tuple[bool, float, str] | None] = [None] * args.count

    def run(index: int) -> None:
        outcomes[index] = _honest_client(args.host, args.port, sources[index % len(sources)])

    threads = []
    for index in range(args.count):
        thread = threading.Thread(target=run, args=(index,), daemon=True)
        thread.start()
        threads.append(thread)
        time.sleep(args.gap)
    for thread in threads:
        thread.join(IO_TIMEOUT * 3)
    done = [o for o in outcomes if o is not None]
    served = [round(seconds, 3) for ok, seconds, _ in done if ok]
    failures = sorted({why for ok, _, why in done if not ok})
    result(connections=args.count, served=len(served), seconds=served, failures=failures[:10])


# -- announcement flood ----------------------------------------------------------------------------


def _random_announcement() -> bytes:
    return encode_announcement(Announcement(
        kind=Kind.ANNOUNCE, flags=Flags.SHARES, instance_id=os.urandom(8),
        public_key=os.urandom(32), tcp_port=random.randint(1024, 65535),
        beat_ms=WIRE_MAX_BEAT_MS, generation=random.getrandbits(32), name="flood",
    ))


def mode_announce_flood(args: argparse.Namespace) -> None:
    """Announcements with random keys and ports at ``rate`` a second for ``seconds``."""
    senders: list[tuple[socket.socket, str]] = []
    raw: socket.socket | None = None
    spoofed: list[str] = []
    if args.spoof_prefix:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        spoofed = [f"{args.spoof_prefix}.{n}"
                   for n in range(args.spoof_first, args.spoof_last + 1)]
    else:
        for source in args.sources.split(","):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(source))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sock.bind((source, 0))
            senders.append((sock, source))
    per_batch = max(1, round(args.rate * BATCH_INTERVAL))
    sent = errors = 0
    first = time.monotonic()
    out(f"READY {first:.6f}")
    batch = 0
    while time.monotonic() - first < args.seconds:
        for _ in range(per_batch):
            payload = _random_announcement()
            try:
                if raw is not None:
                    packet = _udp_ip_packet(random.choice(spoofed), args.group, 30001,
                                            args.udp_port, payload)
                    raw.sendto(packet, (args.group, 0))
                else:
                    sock, _ = senders[sent % len(senders)]
                    sock.sendto(payload, (args.group, args.udp_port))
                sent += 1
            except OSError:
                errors += 1
        batch += 1
        time.sleep(max(0.0, first + batch * BATCH_INTERVAL - time.monotonic()))
    seconds = time.monotonic() - first
    result(connections=0, datagrams=sent, errors=errors, seconds=round(seconds, 2),
           rate=round(sent / seconds) if seconds else 0, first=first, last=time.monotonic())


# -- command line ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Parse ``MODE ARGS`` and run the mode."""
    parser = argparse.ArgumentParser(prog="hostile_conns")
    modes = parser.add_subparsers(dest="mode", required=True)

    p = modes.add_parser("handshake-flood")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--sources", required=True, help="our addresses to connect from, a,b,c")
    p.add_argument("--per-source", type=int, default=64)
    p.add_argument("--interval", type=float, default=1.0, help="0: reconnect at once")
    p.add_argument("--seconds", type=float, required=True)
    p.set_defaults(func=mode_handshake_flood)

    p = modes.add_parser("honest")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--sources", required=True)
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--gap", type=float, default=0.1)
    p.set_defaults(func=mode_honest)

    p = modes.add_parser("announce-flood")
    p.add_argument("--sources", default="", help="our addresses to send from, a,b,c")
    p.add_argument("--spoof-prefix", default="", help="forge sources PREFIX.N instead")
    p.add_argument("--spoof-first", type=int, default=100)
    p.add_argument("--spoof-last", type=int, default=250)
    p.add_argument("--rate", type=float, default=10_000)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--group", default="239.255.0.1")
    p.add_argument("--udp-port", type=int, default=30001)
    p.set_defaults(func=mode_announce_flood)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
