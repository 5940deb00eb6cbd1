"""A listener that records every discovery datagram a host receives (run inside its namespace).

``python datagram_listener.py GROUP PORT INTERFACE``: joins GROUP on INTERFACE (the host's LAN
interface, inside its namespace: never run in the root namespace) with the project's own receive
socket (``net/sockets.py``: SO_REUSEPORT, so it hears what the host's mfsync hears, beside it),
prints ``READY``, then one JSON line per datagram, ``{"from": ADDRESS, "data": HEX}``, until it
is sent SIGINT or SIGTERM. It sends nothing. The test decodes the datagrams itself (with
``protocol/announce.py``), so that a datagram the decoder refuses is seen too.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

from mfsync.net.sockets import list_interfaces, make_receive_socket

__all__ = ["DATAGRAM_LISTENER_SCRIPT"]

DATAGRAM_LISTENER_SCRIPT = str(Path(__file__).resolve())
#: Larger than any datagram: one that is cut short shows up as such, not as a shorter one.
RECEIVE_SIZE = 65_535


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def listen(group: str, port: int, interface: str) -> None:
    """Record datagrams to stdout until stopped."""
    interfaces = [i for i in list_interfaces() if i.name == interface]
    if not interfaces:
        raise SystemExit(f"no interface {interface!r} with an IPv4 address here")
    sock = make_receive_socket(group, port, interfaces)
    sock.setblocking(True)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print("READY", flush=True)
    while True:
        data, (address, _port) = sock.recvfrom(RECEIVE_SIZE)
        print(json.dumps({"from": address, "data": data.hex()}), flush=True)


if __name__ == "__main__":
    group, port, interface = sys.argv[1:]
    listen(group, int(port), interface)
