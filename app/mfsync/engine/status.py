"""Immutable snapshots of what the engine knows, for the CLI and the GUI to render.

Observers receive a new ``NodeStatus`` after every change; they may keep it, compare it with the
previous one, or hand it to another thread: nothing in it ever changes.
"""

import enum
from dataclasses import dataclass

from mfsync.protocol.version import EMPTY_VERSION, VersionVector

__all__ = ["HostRef", "NodeStatus", "PeerSnapshot", "PeerState", "RemoteFile"]


class PeerState(enum.Enum):
    """What we know about a peer's endpoint."""

    ANNOUNCED = "announced"  #: heard of, not (yet) connected
    CONNECTED = "connected"  #: handshake done, index fetched
    UNTRUSTED = "untrusted"  #: its proven key is not on our trust list
    REFUSED = "refused"  #: it refused us (we are not on its trust list)
    UNREACHABLE = "unreachable"  #: the last connection attempt failed


@dataclass(frozen=True, slots=True)
class HostRef:
    """One host offering a file: its proven key and endpoint."""

    key: bytes
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    """One peer endpoint as the engine sees it."""

    address: str
    port: int
    name: str
    announced_key: bytes | None
    key: bytes | None  #: proven in a handshake; None until then
    state: PeerState
    files: int | None  #: None until its index is known
    trusted: bool
    error: str = ""
    static: bool = False  #: configured with --peer or remembered, rather than announced


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One distinct content of a path on the network, and the hosts that offer it."""

    path: str
    size: int
    mtime_ns: int
    content_id: bytes
    hosts: tuple[HostRef, ...]
    #: The merge of the versions the hosts announce for this content.
    version: VersionVector = EMPTY_VERSION


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """Everything an observer may want, at one moment."""

    peers: tuple[PeerSnapshot, ...] = ()
    files: tuple[RemoteFile, ...] = ()
    local_files: int = 0
    tcp_port: int | None = None
