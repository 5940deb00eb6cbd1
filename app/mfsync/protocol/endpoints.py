"""Where hosts meet: the well-known ports and multicast group, and ``HOST[:PORT]`` as people
write it.

These are facts of the protocol (PROTOCOL.md's table of defaults names them), so they live here,
where every layer may read them: ``net`` listens and announces on them, ``config`` offers them as
defaults and checks what a user types against the same rules. Nothing here does any I/O.
"""

import ipaddress

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_TCP_PORT",
    "DEFAULT_TTL",
    "DEFAULT_UDP_PORT",
    "check_group",
    "format_host_port",
    "parse_host_port",
]

#: The TCP port a sharing host listens on, unless it is taken (then a free one is announced).
DEFAULT_TCP_PORT = 8000
#: The multicast group and UDP port of discovery.
DEFAULT_GROUP = "239.255.0.1"
DEFAULT_UDP_PORT = 30001
#: 1 keeps announcements on the local link, which is where mfsync's peers are.
DEFAULT_TTL = 1


def check_group(text: str) -> str:
    """Return ``text`` if it is an IPv4 multicast address, else raise ``ValueError``."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 address") from None
    if not address.is_multicast:
        raise ValueError(f"{text} is not a multicast address (224.0.0.0 to 239.255.255.255)")
    return text


def parse_host_port(text: str) -> tuple[str, int | None]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; ``ValueError`` if malformed."""
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    port_text: str | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host:
            raise ValueError(f"malformed address {text!r}")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"malformed address {text!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text  # a bare IPv6 address or a plain host name
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"malformed address {text!r}")
    if port_text is None:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port in {text!r}: a port is a number from 1 to 65535")
    return host, int(port_text)


def format_host_port(host: str, port: int) -> str:
    """The inverse of ``parse_host_port`` for a known port."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
