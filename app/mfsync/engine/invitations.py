"""Invitations: sync folders the network offers us that we do not have, for the app to ask about.

How it works: whenever the node's snapshot changes, ``InvitationBoard.update`` looks at the
network's folders (``NodeStatus.remote_folders``). A folder that some host syncs (``sync``), that
we neither serve nor ignore, is an invitation, named by the first host that lists it ("office-pc
shares 'Photos'"). The app shows each as a row and a notification: *Sync it here…*, *Download
once*, *Ignore*. Ignored ids are the ``ignoredFolders`` setting of ``config.json``, so an ignored
invitation stays ignored across restarts.

A host decides what it offers, and a host can offer many folders or make new ones at will: each
host may bring at most ``PER_HOST`` new invitations per ``WINDOW`` seconds; the rest are held
back (logged once per folder) until its allowance comes back. A folder admitted once stays
admitted while the service runs, so a host that drops and offers it again gives no second
notification. Pure bookkeeping: no I/O, no clock of its own (tests pass one).
"""

import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from mfsync.engine.status import NodeStatus, RemoteFolder
from mfsync.protocol.folder_id import FolderId

__all__ = ["PER_HOST", "WINDOW", "Invitation", "InvitationBoard", "local_name",
           "suggested_folder"]

log = logging.getLogger("mfsync.service")

#: New invitations one host may bring per ``WINDOW``: more than a person makes in an hour.
PER_HOST = 5
#: Seconds over which ``PER_HOST`` counts.
WINDOW = 3600.0


@dataclass(frozen=True, slots=True)
class Invitation:
    """A sync folder a host offers us that we do not have (and have not ignored).

    ``host`` is the name the first host listing it announces (may be empty: then its
    ``host_key`` names it), ``hosts`` how many connected hosts list it; ``files`` and ``size``
    are as the most complete of them lists.
    """

    folder: FolderId
    label: str
    host: str
    host_key: bytes
    hosts: int
    files: int
    size: int


class InvitationBoard:
    """The invitations to show, kept from one node snapshot to the next (see the module)."""

    def __init__(self, *, per_host: int = PER_HOST, window: float = WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._per_host = per_host
        self._window = window
        self._clock = clock
        #: Folders admitted as invitations while the service runs.
        self._admitted: set[FolderId] = set()
        #: When each host's recent invitations were admitted (the allowance), by key.
        self._spent: dict[bytes, deque[float]] = {}
        #: Folders held back, so each is logged once.
        self._held: set[FolderId] = set()
        self.current: tuple[Invitation, ...] = ()

    def update(self, status: NodeStatus, ours: Collection[FolderId],
               ignored: Collection[FolderId]) -> bool:
        """Take the network's folders of ``status`` into account, beside the folders we have
        (``ours``) and those the user ignored; whether ``current`` changed."""
        names = {p.key: p.name for p in status.peers if p.key is not None}
        invitations = []
        for offered in status.remote_folders:
            if not offered.sync or offered.id in ours or offered.id in ignored:
                continue
            key = next((h.key for h in offered.hosts if h.key), b"")
            if offered.id not in self._admitted and not self._admit(offered, key):
                continue
            invitations.append(Invitation(
                offered.id, offered.label, names.get(key, ""), key, len(offered.hosts),
                offered.files, offered.size))
        current = tuple(invitations)
        changed = current != self.current
        self.current = current
        return changed

    def find(self, folder: FolderId) -> Invitation | None:
        """The current invitation to ``folder``, if there is one."""
        return next((i for i in self.current if i.folder == folder), None)

    def _admit(self, offered: RemoteFolder, key: bytes) -> bool:
        """Whether the host of ``key`` still has an invitation to spend on ``offered``."""
        now = self._clock()
        spent = self._spent.setdefault(key, deque())
        while spent and now - spent[0] >= self._window:
            spent.popleft()
        if len(spent) >= self._per_host:
            if offered.id not in self._held:
                self._held.add(offered.id)
                log.warning("a host offers more new sync folders than %d an hour; the "
                            "invitation to %r (%s) waits", self._per_host,
                            offered.label, offered.id)
            return False
        spent.append(now)
        self._admitted.add(offered.id)
        self._held.discard(offered.id)
        return True


def local_name(label: str, folder: FolderId) -> str:
    """The name a folder offered as ``label`` gets on this disk (the folder *Sync it here*
    suggests, the one *Download once* fills): never a path (no separator) nor hidden (no
    leading dot); its id when nothing is left."""
    return label.replace("/", "_").replace("\\", "_").lstrip(".") or str(folder)


def suggested_folder(home: Path, label: str, folder: FolderId) -> Path:
    """Where *Sync it here* suggests to sync ``label``: ``~/LABEL``, or ``~/LABEL (ID)`` when
    ``~/LABEL`` exists and holds something (syncing into it would mix it with what it holds).
    Stats at most two paths: quick enough for the GUI's thread. A label with a path
    separator or a leading dot cannot reach here (labels are checked on the wire), but the
    name is made safe anyway, never leaving ``home``."""
    name = local_name(label, folder)
    plain = home / name
    try:
        empty = not plain.exists() or (plain.is_dir() and not any(plain.iterdir()))
    except OSError:
        empty = False
    return plain if empty else home / f"{name} ({folder})"

