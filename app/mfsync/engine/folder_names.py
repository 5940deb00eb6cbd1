"""How people name the network's files, and how the names they type are read back: one rule.

A file of the default folder is named by its path alone (``photos/a.jpg``), exactly as before
folders existed. A file of another folder is ``LABEL:path`` (``Notes:sub/a.txt``) when no other
folder the network offers us has that label, else ``ID:path`` (``k3x9-pq2m:sub/a.txt``). A colon
cannot occur in a wire path (``protocol.names``) nor in a label (``check_label``), so the first
colon of a name always ends its folder part, and a plain name never collides with a folder's.

Read back (``FolderNames.parse``), a name without a colon is the default folder's; before a
colon stands a folder id of a folder offered, else the label of exactly one folder offered,
else any well-formed id (a folder not seen yet). A label that several offered folders have is
an error that lists their ids; a label no offered folder has is ``None`` (not offered, or not
yet: the caller may wait for the network). The default folder's own label ("default") names
nothing: its files have no prefix. Nothing here does any I/O.
"""

import re
from collections.abc import Iterable

from mfsync.engine.status import NodeStatus, RemoteFile
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.names import InvalidName, check_wire_path

#: (FolderId is re-exported for the front ends, which do not import the protocol.)
__all__ = ["DEFAULT_FOLDER", "SEPARATOR", "AmbiguousLabel", "FolderId", "FolderNames"]

#: Between a folder's label or id and the path of one of its files.
SEPARATOR = ":"
#: What reads as a folder id before the colon: as ids are shown, in either case, the hyphen
#: optional (not the spaces ``FolderId.parse`` forgives: "My Notes" is a label).
_ID_SHAPE = re.compile(r"[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}")


class AmbiguousLabel(ValueError):
    """A label that several offered folders have: the message lists their ids."""


class FolderNames:
    """The names of the network's files, for the folders offered now (``(id, label)`` pairs;
    the default folder among them or not)."""

    def __init__(self, folders: Iterable[tuple[FolderId, str]]) -> None:
        self._labels: dict[FolderId, str] = {}
        by_label: dict[str, list[FolderId]] = {}
        for folder, label in folders:
            if folder in self._labels:
                continue
            self._labels[folder] = label
            if not folder.is_default:
                by_label.setdefault(label, []).append(folder)
        self._by_label = {label: sorted(ids) for label, ids in by_label.items()}

    @classmethod
    def of(cls, status: NodeStatus) -> "FolderNames":
        """The names for the folders ``status`` says the network offers."""
        return cls((folder.id, folder.label) for folder in status.remote_folders)

    def label(self, folder: FolderId) -> str:
        """What ``folder`` is called (its id's text for a folder we know no label of)."""
        return self._labels.get(folder, str(folder))

    def prefix(self, folder: FolderId) -> str:
        """What stands before the path of ``folder``'s files: nothing for the default folder,
        ``LABEL:`` when its label is its own, ``ID:`` when another folder shares it."""
        if folder.is_default:
            return ""
        label = self._labels.get(folder)
        if label is not None and len(self._by_label.get(label, ())) == 1:
            return label + SEPARATOR
        return str(folder) + SEPARATOR

    def name(self, folder: FolderId, path: str) -> str:
        """The name of ``path`` in ``folder``, for people."""
        return self.prefix(folder) + path

    def name_of(self, remote: RemoteFile) -> str:
        """The name of a file on the network, for people."""
        return self.prefix(remote.folder) + remote.path

    def directory(self, folder: FolderId) -> str:
        """The folder under a download's destination that ``folder``'s files go to when the
        whole folder is fetched: its label when that is its own and a valid file name, else its
        id's text."""
        prefix = self.prefix(folder)
        label = prefix[:-1] if prefix else self.label(folder)
        try:
            check_wire_path(label)
        except InvalidName:
            return str(folder)
        return label if "/" not in label else str(folder)

    def parse(self, name: str) -> tuple[FolderId, str] | None:
        """The folder and path that ``name`` names (the path may be empty: the whole folder,
        or end in ``/``: a folder in it). None when its label is no offered folder's;
        ``AmbiguousLabel`` when it is several's."""
        head, colon, path = name.partition(SEPARATOR)
        if not colon:
            return DEFAULT_FOLDER, name
        folder = _as_id(head)
        if folder is not None and folder in self._labels:
            return folder, path
        ids = self._by_label.get(head)
        if ids is not None and len(ids) > 1:
            raise AmbiguousLabel(
                f"{head!r} is the label of {len(ids)} folders on the network: "
                f"{', '.join(map(str, ids))}; name the folder by its id, as in "
                f"{ids[0]}{SEPARATOR}{path}")
        if ids:
            return ids[0], path
        if folder is not None:
            return folder, path
        return None


def _as_id(text: str) -> FolderId | None:
    if not _ID_SHAPE.fullmatch(text):
        return None
    try:
        return FolderId.parse(text)
    except ValueError:
        return None
