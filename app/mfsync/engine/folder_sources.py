"""The network's files as one sync folder sees them: its own folder's only, from the hosts its
audience admits.

A sync folder exchanges files only with the same folder id on other hosts, and only with the
hosts its device list admits (the list works both ways: the server serves the folder only to
them, and this takes changes only from them). ``FolderSources`` wraps the node for one
``Syncer``: the policy reads the network's offer through ``offers``, and the syncer's
downloader finds its sources through ``files_for``, so neither can pick a file of another
folder, nor a host the folder does not admit, even for a path both folders hold.
"""

import dataclasses
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager

from mfsync.engine.file_sources import FileSources
from mfsync.engine.status import HostRef, NodeStatus, RemoteFile
from mfsync.net.channel import SecureChannel
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

__all__ = ["FolderSources"]


class FolderSources:
    """The node's ``FileSources``, narrowed to the folder ``folder`` and to the hosts whose
    keys ``admits`` (asked at every look, so a change of the folder's devices applies at
    once)."""

    def __init__(self, node: FileSources, folder: FolderId,
                 admits: Callable[[bytes], bool]) -> None:
        self._node = node
        self.folder = folder
        self._admits = admits

    def take(self, remote: RemoteFile, admitted: dict[bytes, bool] | None = None
             ) -> RemoteFile | None:
        """``remote`` with only the hosts the folder admits, if it is of the folder and any
        host is left; else None. ``admitted`` memoises the answers for one look at many files
        (a network of N files has a handful of hosts: asking the folder's audience N times
        was most of a sync evaluation's cost)."""
        if remote.folder != self.folder:
            return None
        if admitted is None:
            admitted = {}
        hosts = tuple(host for host in remote.hosts if self._admitted(host.key, admitted))
        if not hosts:
            return None
        return remote if len(hosts) == len(remote.hosts) else dataclasses.replace(
            remote, hosts=hosts)

    def admits(self, key: bytes) -> bool:
        """Whether the folder takes files from the host of ``key`` now."""
        return self._admits(key)

    def _admitted(self, key: bytes, admitted: dict[bytes, bool]) -> bool:
        answer = admitted.get(key)
        if answer is None:
            answer = admitted[key] = self._admits(key)
        return answer

    def offers(self, files: Iterable[RemoteFile]) -> list[RemoteFile]:
        """The files of ``files`` the folder takes (see ``take``), the audience asked once per
        host for this look."""
        admitted: dict[bytes, bool] = {}
        return [taken for remote in files if (taken := self.take(remote, admitted)) is not None]

    # -- FileSources ----------------------------------------------------------------------

    def files_for(self, path: str, folder: FolderId = DEFAULT_FOLDER) -> list[RemoteFile]:
        """Every distinct content of ``path`` in this folder on the hosts it admits (nothing
        for another folder: a syncer's jobs name its own)."""
        if folder != self.folder:
            return []
        return self.offers(self._node.files_for(path, folder))

    def channel_to(self, host: HostRef) -> AbstractAsyncContextManager[SecureChannel]:
        """A channel to ``host`` for one exchange (``async with``)."""
        return self._node.channel_to(host)

    def refresh(self, host: HostRef) -> None:
        """Fetch ``host``'s index again soon."""
        self._node.refresh(host)

    async def wait_for_change(self, timeout: float) -> None:
        """Return at the next change of the network's offer, or after ``timeout`` seconds."""
        await self._node.wait_for_change(timeout)

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until no index fetch is under way."""
        await self._node.settle(timeout)

    def subscribe(self, observer: Callable[[NodeStatus], None]) -> Callable[[], None]:
        """Call ``observer`` with every new snapshot of the node; returns the way out."""
        return self._node.subscribe(observer)
