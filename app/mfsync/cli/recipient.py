"""Who ``mfsync send --to`` names: a public key, an address, or a name.

How it works: :func:`parse_target` sorts the text once, without the network: 64 hex digits
are a key; an IP address, or anything with a port (``HOST:PORT``, ``[v6]:PORT``), is an
address; everything else is a name. A name is looked up, once the discovery window has passed,
in ``keyNames`` (the names the user gave keys) and in the names hosts announce
(:func:`keys_named`): one key is the recipient, several are a usage error listing them
(:func:`check_one`), none an error saying what was seen. An address becomes a static peer of
the run; the handshake with it proves its key (:func:`proven_at`), which ``send`` prints, so
that the user sees which key the files go to. Names are never looked up in DNS: a host name
of the DNS needs its port (``office-pc.lan:8000``), so that a typo of a known name never turns
into a connection to whatever that name resolves to.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mfsync.cli.parser import UsageError
from mfsync.crypto.keys import KEY_TEXT_LENGTH, format_key, parse_key
from mfsync.display import shown
from mfsync.engine.status import PeerSnapshot, PeerState
from mfsync.protocol.endpoints import DEFAULT_TCP_PORT, format_host_port, parse_host_port

__all__ = [
    "AddressTarget",
    "KeyTarget",
    "NameTarget",
    "Target",
    "check_one",
    "keys_named",
    "parse_target",
    "peer_at",
    "proven_at",
    "seen_with_key",
]


@dataclass(frozen=True)
class KeyTarget:
    """``--to KEY``: the host that proves this key."""

    key: bytes


@dataclass(frozen=True)
class AddressTarget:
    """``--to HOST[:PORT]``: the host at this address, whatever key it proves."""

    host: str
    port: int

    def __str__(self) -> str:
        return format_host_port(self.host, self.port)


@dataclass(frozen=True)
class NameTarget:
    """``--to NAME``: the one key that ``keyNames`` or the hosts seen give this name."""

    name: str


Target = KeyTarget | AddressTarget | NameTarget


def parse_target(text: str) -> Target:
    """What ``--to`` names (``UsageError`` for an empty or malformed one)."""
    text = text.strip()
    if not text:
        raise UsageError("--to: name the host to send to (a name, a key or HOST[:PORT])")
    if len(text) == KEY_TEXT_LENGTH:
        try:
            return KeyTarget(parse_key(text))
        except ValueError:
            pass  # 64 characters that are not hex: a (long) name
    try:
        host, port = parse_host_port(text)
    except ValueError as exc:
        if ":" in text:
            raise UsageError(f"--to: {exc}") from None
        return NameTarget(text)
    if port is not None or _is_ip(host):
        return AddressTarget(host, port or DEFAULT_TCP_PORT)
    return NameTarget(text)


def keys_named(name: str, key_names: Mapping[bytes, str],
               peers: Iterable[PeerSnapshot]) -> frozenset[bytes]:
    """Every key called ``name`` (compared without regard to case): in ``key_names``, and
    among the hosts seen (a proven key, else the one announced)."""
    wanted = name.casefold()
    found = {key for key, given in key_names.items() if given.casefold() == wanted}
    for peer in peers:
        key = peer.key or peer.announced_key
        if key is not None and peer.name.casefold() == wanted:
            found.add(key)
    return frozenset(found)


def check_one(name: str, keys: frozenset[bytes], key_names: Mapping[bytes, str],
              peers: Iterable[PeerSnapshot]) -> bytes:
    """The one key of ``keys`` (those called ``name``); ``UsageError`` listing them when
    there are several, ``LookupError`` saying so when there is none."""
    if len(keys) == 1:
        return next(iter(keys))
    if not keys:
        raise LookupError(f"no host named {shown(name)!r} was seen")
    seen = {(p.key or p.announced_key): p for p in peers}
    lines = []
    for key in sorted(keys):
        peer = seen.get(key)
        where = f"  {format_host_port(peer.address, peer.port)}" if peer is not None else ""
        given = key_names.get(key) or (peer.name if peer is not None else "")
        lines.append(f"  {format_key(key)}{where}  {shown(given)}")
    raise UsageError(f"--to {shown(name)!r} names {len(keys)} hosts; give one of their keys "
                     "instead:\n" + "\n".join(lines))


def seen_with_key(key: bytes, peers: Iterable[PeerSnapshot]) -> PeerSnapshot | None:
    """The host seen with ``key`` (proven first, else announced), if any."""
    candidates = [p for p in peers if key in (p.key, p.announced_key)]
    candidates.sort(key=lambda p: (p.key != key, p.state is not PeerState.CONNECTED))
    return candidates[0] if candidates else None


def peer_at(target: AddressTarget, peers: Iterable[PeerSnapshot]) -> PeerSnapshot | None:
    """The peer the run dialled for ``target``: the static peer at its address and port (for
    a host name, the static peer on that port: the engine keeps the address it resolved)."""
    on_port = [p for p in peers if p.static and p.port == target.port]
    exact = [p for p in on_port if p.address == target.host]
    if exact or _is_ip(target.host):
        return exact[0] if exact else None
    return on_port[0] if len(on_port) == 1 else None


def proven_at(target: AddressTarget, peers: Iterable[PeerSnapshot]) -> bytes | None:
    """The key the host at ``target`` proved in a handshake (None: not yet); ``LookupError``
    when it cannot be reached or refused us (the message says which)."""
    peer = peer_at(target, peers)
    if peer is None:
        return None
    if peer.key is not None:
        return peer.key
    if peer.state is PeerState.REFUSED:
        raise LookupError(f"{target} refused us: this host's key is not on its trust list")
    if peer.state is PeerState.UNREACHABLE:
        why = f": {shown(peer.error)}" if peer.error else ""
        raise LookupError(f"cannot reach {target}{why}")
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
