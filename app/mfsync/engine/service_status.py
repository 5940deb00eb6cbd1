"""What the service shows and how it says no: its snapshot, why transfers are paused, and the
errors a front end catches.

Front ends (the command line, the desktop app) read ``ServiceStatus`` snapshots and catch
``ServiceError`` (a request that cannot be carried out) and ``StartError`` (the service cannot
start, with a ``StartFailure`` that says why, so that each front end can add its own hint).
They never see the network's or the store's exceptions.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mfsync.config import FolderConfig
from mfsync.crypto.keys import short_key
from mfsync.engine.inbox import IncomingOffer
from mfsync.engine.invitations import Invitation
from mfsync.engine.outbox import OutgoingStatus
from mfsync.engine.status import NodeStatus
from mfsync.engine.transfer_status import TransfersStatus
from mfsync.protocol.endpoints import format_host_port

__all__ = [
    "BusyFolder",
    "PauseReason",
    "ServiceError",
    "ServiceObserver",
    "ServiceStatus",
    "StartError",
    "StartFailure",
    "describe_key",
]


class PauseReason:
    """Why transfers are paused."""

    NONE = ""
    USER = "paused"
    BATTERY = "paused on battery"


class ServiceError(Exception):
    """A request that cannot be carried out; the message says why, for the user."""


class StartFailure(enum.Enum):
    """What kind of thing stopped a start; a front end picks its hint (and exit code) by it."""

    #: The transfer port asked for explicitly is taken (the message names it).
    PORT_IN_USE = "port in use"
    #: A setting cannot work on this machine: an interface that does not exist, say.
    SETTING = "setting"
    #: A folder to share cannot be used (missing, not a folder, unreadable).
    FOLDER = "folder"
    #: A folder to share is served by another mfsync process of the same ``~/.mfsync``
    #: (the message names its pid and command).
    FOLDER_IN_USE = "folder in use"
    #: Anything else the system refused while the networking started.
    NETWORK = "network"


class StartError(ServiceError):
    """The service could not start; ``failure`` says what kind of thing stopped it, and the
    message says what, for the user (without a front end's hint such as which option to
    change)."""

    def __init__(self, failure: StartFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class BusyFolder:
    """A folder of ours that another process serves: ``reason`` says which, for people."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """Everything a user interface shows, at one moment."""

    node: NodeStatus
    transfers: TransfersStatus
    folders: tuple[FolderConfig, ...]
    own_key: bytes
    trusted_keys: frozenset[bytes]
    key_names: tuple[tuple[bytes, str], ...]
    pause_reason: str = PauseReason.NONE
    on_battery: bool = False
    errors: tuple[str, ...] = ()
    #: Folders of ours another process serves (the app serves them once it lets them go).
    busy: tuple[BusyFolder, ...] = ()
    #: Sync folders the network offers us that we do not have (the app's; see invitations).
    invitations: tuple[Invitation, ...] = ()
    #: The offers we send (files sent to a host), oldest first.
    outgoing: tuple[OutgoingStatus, ...] = ()
    #: The offers made to us, oldest first: PENDING ones wait for ``offers.accept``/``decline``.
    incoming: tuple[IncomingOffer, ...] = ()

    def busy_reason(self, path: Path) -> str:
        """Why the folder ``path`` is busy (which process serves it), or ""."""
        return next((b.reason for b in self.busy if b.path == path), "")

    @property
    def paused(self) -> bool:
        """Whether transfers are paused (by hand or on battery)."""
        return bool(self.pause_reason)

    def name_of(self, key: bytes) -> str:
        """The name configured for ``key``, or an empty string."""
        return dict(self.key_names).get(key, "")

    def host_label(self, source: str) -> str:
        """A transfer's source (``address:port``) as people know the host: the name configured
        for its key, else the name it announces, else the address."""
        for peer in self.node.peers:
            if format_host_port(peer.address, peer.port) == source:
                key = peer.key or peer.announced_key
                return (self.name_of(key) if key else "") or peer.name or source
        return source


#: What an observer of the service's snapshots is called with.
ServiceObserver = Callable[[ServiceStatus], None]


def describe_key(status: ServiceStatus, key: bytes) -> str:
    """A host's key for people: its configured name with the short key, or the short key."""
    name = status.name_of(key)
    return f"{name} ({short_key(key)})" if name else short_key(key)
