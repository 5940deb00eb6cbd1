"""The rules of a service's list of shared folders, as plain functions of that list.

A folder is shared once; shared folders never overlap (a file would be offered twice, and a
sync would fetch into a folder another one serves). Any number of them may sync: each is its own
folder (its id), and a syncer takes only its own folder's files. The ``Service``
asks these before it changes anything, and the messages are the user's.
"""

from collections.abc import Sequence
from pathlib import Path

from mfsync.config import FolderConfig
from mfsync.engine.service_status import ServiceError
from mfsync.reports import Report

__all__ = ["check_addition", "find_folder"]


def find_folder(folders: Sequence[FolderConfig], path: Path) -> FolderConfig:
    """The shared folder at ``path`` (as given, or resolved); ``ServiceError`` if none."""
    for folder in folders:
        if folder.path == path or folder.path == path.expanduser().resolve():
            return folder
    raise ServiceError(Report("not-shared", path=path))


def check_addition(folders: Sequence[FolderConfig], root: Path) -> None:
    """``ServiceError`` unless ``root`` (resolved) may join ``folders`` (in any mode)."""
    if any(f.path == root for f in folders):
        raise ServiceError(Report("shared-already", path=root))
    for folder in folders:
        if root.is_relative_to(folder.path) or folder.path.is_relative_to(root):
            raise ServiceError(Report("overlaps", path=root, other=folder.path))
