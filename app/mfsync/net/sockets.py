"""Every socket option mfsync sets, in one module: multicast receive and send sockets, and the
list of interfaces they bind to.

One receive socket listens on the discovery port and joins the group on each chosen interface;
one send socket per interface pins ``IP_MULTICAST_IF`` to that interface's address, so an
announcement goes out on every network the host is on, and nowhere else.
"""

import contextlib
import errno
import logging
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import ifaddr

__all__ = [
    "Interface",
    "InterfaceError",
    "choose_interfaces",
    "list_interfaces",
    "make_receive_socket",
    "make_send_socket",
]

log = logging.getLogger("mfsync.net")

#: Receive buffer asked for on the discovery socket.
RECEIVE_BUFFER = 1 << 20
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_MULTICAST = 0x1000


class InterfaceError(Exception):
    """An interface the user named does not exist or has no IPv4 address."""


@dataclass(frozen=True, slots=True)
class Interface:
    """A network interface with one IPv4 address."""

    name: str
    address: str
    up: bool = True
    multicast: bool = True
    loopback: bool = False


def _linux_flags(name: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{name}/flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return None


def list_interfaces() -> list[Interface]:
    """All interfaces with an IPv4 address, with their flags where the OS tells them."""
    result = []
    for adapter in ifaddr.get_adapters():
        name = adapter.nice_name if sys.platform == "win32" else adapter.name
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: discovery is IPv4 multicast
            flags = _linux_flags(adapter.name)
            loopback = ip.ip.startswith("127.")
            if flags is None:
                result.append(Interface(name, ip.ip, True, not loopback, loopback))
            else:
                result.append(
                    Interface(
                        name, ip.ip, bool(flags & _IFF_UP), bool(flags & _IFF_MULTICAST),
                        bool(flags & _IFF_LOOPBACK) or loopback,
                    )
                )
    return result


def choose_interfaces(wanted: tuple[str, ...], available: list[Interface]) -> list[Interface]:
    """The interfaces to use: those named in ``wanted`` (by name or IPv4 address), or else every
    interface that is up and multicast-capable, loopback only when there is nothing else."""
    if wanted:
        chosen: list[Interface] = []
        for item in wanted:
            matches = [i for i in available if item in (i.name, i.address)]
            if not matches:
                names = ", ".join(sorted({f"{i.name} ({i.address})" for i in available})) or "none"
                raise InterfaceError(
                    f"no interface named {item!r} with an IPv4 address (available: {names})"
                )
            chosen.extend(m for m in matches if m not in chosen)
        return chosen
    usable = [i for i in available if i.up and i.multicast and not i.loopback]
    if usable:
        return usable
    return [i for i in available if i.loopback][:1]


def make_receive_socket(group: str, port: int, interfaces: list[Interface]) -> socket.socket:
    """A UDP socket on ``port`` that has joined ``group`` on each of ``interfaces``.

    SO_REUSEADDR/SO_REUSEPORT let several mfsync processes on one host listen together: the
    kernel hands each of them a copy of every multicast datagram.

    A membership belongs to an interface, not to an address: an interface with several IPv4
    addresses is listed once per address, and is joined once (the kernel refuses a second
    join of the same interface with EADDRINUSE, which means it is joined already).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Room for the bursts of a busy network (twenty hosts announcing changes at once) while
        # the event loop is busy elsewhere; the default lost most of them. The kernel caps it
        # (net.core.rmem_max) without complaint.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        # On Linux binding to the group address keeps unrelated unicast traffic to this port out;
        # other systems only accept the wildcard address here.
        sock.bind((group if sys.platform.startswith("linux") else "", port))
        joined: set[str] = set()
        for iface in interfaces:
            if iface.name in joined:
                continue
            mreq = struct.pack("=4s4s", socket.inet_aton(group), socket.inet_aton(iface.address))
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    log.warning("cannot join %s on %s (%s): %s", group, iface.name,
                                iface.address, exc)
                    continue
                # Joined already, through another name or address of the same interface.
                log.debug("%s is joined on %s already (%s)", group, iface.name, iface.address)
            joined.add(iface.name)
        if not joined:
            raise OSError(f"could not join multicast group {group} on any interface")
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def make_send_socket(iface: Interface, ttl: int) -> socket.socket:
    """A UDP socket whose multicast datagrams leave through ``iface`` only, with ``ttl``.

    Loopback delivery stays on so that other mfsync processes on this host hear us too.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface.address))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.bind((iface.address, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
