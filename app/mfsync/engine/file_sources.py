"""What a downloader needs of the network: the few things it asks of the node.

The ``Downloader`` depends on this ``Protocol``, not on ``Node``: the node satisfies it as it
is (structurally), and a test can hand the downloader anything with these methods.
"""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from mfsync.engine.status import HostRef, NodeStatus, RemoteFile
from mfsync.net.channel import SecureChannel
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

__all__ = ["FileSources"]


class FileSources(Protocol):
    """Where downloads find their files and the channels to fetch them over."""

    def files_for(self, path: str, folder: FolderId = DEFAULT_FOLDER) -> list[RemoteFile]:
        """Every distinct content of ``path`` in the network's folder ``folder``, as of the
        latest snapshot."""
        ...

    def channel_to(self, host: HostRef) -> AbstractAsyncContextManager[SecureChannel]:
        """A channel to ``host`` for one exchange (``async with``)."""
        ...

    def refresh(self, host: HostRef) -> None:
        """Fetch ``host``'s index again soon (its offer seems to have changed)."""
        ...

    async def wait_for_change(self, timeout: float) -> None:
        """Return at the next change of the network's offer, or after ``timeout`` seconds."""
        ...

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until no index fetch is under way."""
        ...

    def subscribe(self, observer: Callable[[NodeStatus], None]) -> Callable[[], None]:
        """Call ``observer`` with every new snapshot of the node; returns the way out."""
        ...
