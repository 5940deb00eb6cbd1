"""Immutable snapshots of what the engine knows, for the CLI and the GUI to render.

Observers receive a new ``NodeStatus`` after every change; they may keep it, compare it with the
previous one, or hand it to another thread: nothing in it ever changes.
"""

import enum
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.version import EMPTY_VERSION, VersionVector

__all__ = [
    "FolderSnapshot",
    "HostRef",
    "NodeStatus",
    "PeerSnapshot",
    "PeerState",
    "Refusal",
    "RemoteFile",
    "RemoteFolder",
]


class PeerState(enum.Enum):
    """What we know about a peer's endpoint."""

    ANNOUNCED = "announced"  #: heard of, not (yet) connected
    CONNECTED = "connected"  #: handshake done, index fetched
    UNTRUSTED = "untrusted"  #: its proven key is not on our trust list
    REFUSED = "refused"  #: it refused us (we are not on its trust list)
    UNREACHABLE = "unreachable"  #: the last connection attempt failed


@dataclass(frozen=True, slots=True)
class HostRef:
    """One host offering a file: its proven key, endpoint and announced instance id.

    A host that restarts announces a new ``instance`` (8 random bytes per start; empty for a
    host known only through ``--peer``, which announces nothing), so it compares unequal to
    the host it was before: what a download remembers about it starts clean.
    """

    key: bytes
    address: str
    port: int
    instance: bytes = b""


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
    """One distinct content of a path in one folder on the network, and the hosts that offer
    it. (The network's offer is keyed by folder and path: a path in two folders is two
    entries.)"""

    path: str
    size: int
    mtime_ns: int
    content_id: bytes
    hosts: tuple[HostRef, ...]
    #: The merge of the versions the hosts announce for this content.
    version: VersionVector = EMPTY_VERSION
    #: The folder that holds it on the hosts: downloads name it in their requests.
    folder: FolderId = DEFAULT_FOLDER


@dataclass(frozen=True, slots=True)
class RemoteFolder:
    """One folder the network offers us: what the hosts that list it to us say of it.

    Hosts may disagree: ``label`` is the one most of them list (of equally many, the first in
    sort order), ``files`` and ``size`` are the largest any of them lists (the most complete
    copy), ``sync`` says whether any of them syncs it (takes changes into it).
    """

    id: FolderId
    label: str
    hosts: tuple[HostRef, ...]  #: the connected hosts that list it, by endpoint
    files: int
    size: int  #: bytes
    sync: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    """A host refused because its key is not on our trust list.

    ``seq`` grows by one with every refusal recorded, so comparing the largest ``seq`` of two
    snapshots tells which refusals are new. ``inbound``: it connected to us and we refused it;
    otherwise we connected to it and refused to go on once it had proven its key.
    """

    seq: int
    key: bytes
    address: str
    name: str  #: what it announced or we call it; may be empty
    inbound: bool


@dataclass(frozen=True, slots=True)
class FolderSnapshot:
    """One of our shared folders."""

    path: Path  #: the folder, as ``Node.add_share`` resolved it (``ShareSet.root``)
    files: int  #: files it offers
    #: A scan is under way (always shown for its first one; short rescans may pass unseen).
    scanning: bool
    error: str = ""  #: why it cannot be scanned now (gone, unreadable); empty when fine


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """Everything an observer may want, at one moment."""

    peers: tuple[PeerSnapshot, ...] = ()
    files: tuple[RemoteFile, ...] = ()
    #: Files we offer: the union of every shared folder (a path in two counts once).
    local_files: int = 0
    tcp_port: int | None = None
    #: The latest refusals (at most ``MAX_REFUSALS``), oldest first.
    refusals: tuple[Refusal, ...] = ()
    #: Our shared folders, in the order they are looked up in.
    folders: tuple[FolderSnapshot, ...] = ()
    #: The folders the connected hosts list to us, by id (the default folder first).
    remote_folders: tuple[RemoteFolder, ...] = ()
