"""What the app does with invitations (see ``invitations``): *Sync it here*, *Download once*,
*Ignore*. The service holds one ``InvitationDesk`` (the app's; a command-line run has none) and
front ends call it through ``Service.invitations``.
"""

from collections.abc import Callable
from pathlib import Path

from mfsync.config import FolderConfig
from mfsync.defaults import FolderMode
from mfsync.engine.invitations import Invitation, InvitationBoard, local_name
from mfsync.engine.node import Node
from mfsync.engine.service_folders import FolderDesk, check_folder
from mfsync.engine.service_status import ServiceError
from mfsync.engine.service_transfers import prepare_folder
from mfsync.engine.status import NodeStatus
from mfsync.protocol.folder_id import FolderId
from mfsync.reports import Report

__all__ = ["InvitationDesk"]


class InvitationDesk:
    """What a front end does with invitations: *Sync it here*, *Download once*, *Ignore*.

    ``download(paths, dest, folder)`` queues files (the service's ``download``); ``ignore``
    saves an id in ``ignoredFolders``; ``changed`` tells the service to publish.
    """

    def __init__(self, desk: FolderDesk, node: Node, *,
                 download: Callable[[list[str], Path, FolderId], int],
                 ignore: Callable[[FolderId], None], changed: Callable[[], None],
                 board: InvitationBoard | None = None) -> None:
        self._desk = desk
        self._node = node
        self._download = download
        self._ignore = ignore
        self._changed = changed
        self._board = board or InvitationBoard()
        self._ignored: frozenset[FolderId] = frozenset()

    @property
    def current(self) -> tuple[Invitation, ...]:
        """The invitations to show now."""
        return self._board.current

    def update(self, status: NodeStatus, ignored: frozenset[FolderId]) -> None:
        """Follow a node snapshot (and the ignored ids as the settings hold them)."""
        self._ignored = ignored
        self._board.update(status, {f.id for f in self._desk.folders}, ignored)

    async def accept(self, folder: FolderId, path: Path) -> FolderConfig:
        """*Sync it here*: sync the offered folder ``folder`` into ``path`` (created if
        missing); saved. ``ServiceError`` if it is no longer offered or ``path`` cannot be
        used (a file, inside another shared folder, ...)."""
        invitation = self._find(folder)
        root = await check_folder(await prepare_folder(path))
        added = await self._desk.add(root, FolderMode.SYNC, folder_id=folder,
                                     label=invitation.label)
        self._refresh()
        return added

    def download_once(self, folder: FolderId, dest: Path) -> tuple[int, Path]:
        """*Download once*: queue every file of the offered folder into ``dest/LABEL`` (as
        ``mfsync get LABEL: DEST`` does); how many files were queued, and where they go. The
        invitation stays until it is accepted or ignored."""
        invitation = self._find(folder)
        paths = [f.path for f in self._node.status.files if f.folder == folder]
        into = dest / local_name(invitation.label, folder)
        return self._download(paths, into, folder), into

    def ignore(self, folder: FolderId) -> None:
        """*Ignore*: never offer ``folder`` again (saved in the settings)."""
        self._find(folder)
        self._ignore(folder)
        self._ignored |= {folder}
        self._refresh()

    def _find(self, folder: FolderId) -> Invitation:
        invitation = self._board.find(folder)
        if invitation is None:
            raise ServiceError(Report("folder-not-offered", folder=folder))
        return invitation

    def _refresh(self) -> None:
        self.update(self._node.status, self._ignored)
        self._changed()
