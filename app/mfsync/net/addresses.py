"""Parsing ``HOST[:PORT]`` as users type it, IPv6 in brackets included."""

__all__ = ["format_host_port", "parse_host_port"]


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
