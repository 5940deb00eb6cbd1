"""Is the folder at a shared root still the one that was shared? Its device and inode tell.

The root's identity (device and inode) is recorded in the index database at the first scan and
checked before every scan: an unmounted drive leaves an empty mount point, and a folder deleted
and made again is another folder; scanning either would read as "every file deleted". A root
that is another inode but still holds files the index knows is the same folder (a drive mounted
under another device number): its new identity is recorded. See store/shareset.py.
"""

import logging
import os
from pathlib import Path

from mfsync.store.index_db import IndexDB

__all__ = ["ROOT_META_KEY", "RootChanged", "RootIdentity", "ShareSetError"]

log = logging.getLogger("mfsync.store")

#: The index database's ``meta`` key for the root's identity, ``"<st_dev>:<st_ino>"``.
ROOT_META_KEY = "root"


class ShareSetError(Exception):
    """The shared folder cannot be used (missing, not a folder, unreadable)."""


class RootChanged(ShareSetError):
    """The folder at the root is not the one shared (an unmounted drive's empty mount point, a
    folder deleted and made again): the share set is paused until it is back."""


class RootIdentity:
    """The recorded identity of one shared root, and whether the share set is paused."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: The root's (st_dev, st_ino) as recorded at its first scan (None: not read yet).
        self._recorded: tuple[int, int] | None = None
        #: Why the share set is paused (its root is not the folder shared); empty when not.
        self.paused = ""

    def check(self, db: IndexDB | None, *, rebind: bool = False,
              known: list[str] | None = None) -> None:
        """Compare the root's device and inode with those recorded in ``db`` (record them if
        none are, or ``rebind``, or the root still holds one of the ``known`` files);
        ``RootChanged`` if they differ. Blocking: run it in a worker thread."""
        try:
            st = os.stat(self.root)
        except OSError as exc:
            raise ShareSetError(f"cannot open {self.root}: {exc.strerror or exc}") from None
        now = (st.st_dev, st.st_ino)
        if self._recorded is None and not rebind:
            recorded = db.get_meta(ROOT_META_KEY) if db is not None else None
            dev, _, ino = (recorded or "").partition(":")
            if dev.isdigit() and ino.isdigit():
                self._recorded = (int(dev), int(ino))
        if now != self._recorded and self._recorded is not None and known and any(
                os.path.lexists(os.path.join(self.root, *rel.split("/"))) for rel in known):
            # (a device number can change between mounts; the files tell it is the folder)
            log.info("%s is on another device/inode now (%d/%d, not %d/%d) and holds its "
                     "files: the same folder", self.root, *now, *self._recorded)
            rebind = True
        if self._recorded is None or rebind:
            self._recorded = now
            if db is not None:
                db.set_meta(ROOT_META_KEY, f"{now[0]}:{now[1]}")
        if now != self._recorded:
            if not self.paused:
                log.warning("%s is not the folder that was shared (device/inode %d/%d, not "
                            "%d/%d): paused", self.root, *now, *self._recorded)
            self.paused = f"{self.root} is not the folder that was shared (unmounted?)"
            raise RootChanged(self.paused)
        self.paused = ""
