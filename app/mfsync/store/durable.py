"""Making many written files durable at once, before they are renamed into place.

A download lands in two steps: its partial file reaches the disk, then it is renamed over the
target (so a crash can never leave a target with half its bytes). For one large file an
``fsync`` is the way. For a thousand small ones, a thousand ``fsync`` calls are a thousand
journal commits; on Linux one ``syncfs`` per file system flushes them all in one commit, which
is what lets small files land at thousands per second. Elsewhere (or if ``syncfs`` fails) every
file is fsynced in turn. Either way a write error surfaces here, before anything is renamed.

Every function here blocks: the engine calls them off the event loop.
"""

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable, Iterable

__all__ = ["SYNCFS_FROM", "sync_files"]

log = logging.getLogger("mfsync.store")


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return syncfs


_SYNCFS = _load_syncfs()
#: Files from which one ``syncfs`` replaces their ``fsync`` calls. Not fewer: ``syncfs`` also
#: waits for whatever else is dirty on that file system (another program's large write, say),
#: which only pays when it saves many journal commits.
SYNCFS_FROM = 8


def sync_files(fds: Iterable[int]) -> None:
    """Flush the data of the open files ``fds`` to their disks; ``OSError`` if it failed.

    With ``SYNCFS_FROM`` files or more, one ``syncfs`` per file system they live on (Linux);
    otherwise an ``fsync`` each.
    """
    fds = list(fds)
    if _SYNCFS is not None and len(fds) >= SYNCFS_FROM:
        by_device: dict[int, int] = {}
        for fd in fds:
            by_device.setdefault(os.fstat(fd).st_dev, fd)
        try:
            for fd in by_device.values():
                if _SYNCFS(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            return
        except OSError as exc:
            # (a file system that cannot syncfs; fsync will tell whether the data is safe)
            log.debug("syncfs failed (%s): fsyncing each file", exc)
    for fd in fds:
        os.fsync(fd)
