"""What ``get`` was asked for: the names on its command line matched against the network's files.

A name is read with the naming rule of ``mfsync.engine.folder_names``: ``path`` (the default
folder), ``LABEL:path`` or ``ID:path``; a path ending in ``/`` asks for everything under it, and
an empty path after the colon (``Notes:``) for the whole folder. Labels are read against each
new status (a folder may appear late in the window), so a label not offered yet is simply not
matched yet; a label that two offered folders have is a usage error listing their ids.

Where a file goes: into DEST, as a plain ``get`` always did, except for a whole named folder
(``get Notes: DEST``, or ``get DEST`` with no names at all, for every named folder), which goes
into ``DEST/LABEL/`` (``FolderNames.directory``) so that two folders never mix in one place.
"""

from dataclasses import dataclass

from mfsync.cli.parser import UsageError
from mfsync.engine.folder_names import SEPARATOR, AmbiguousLabel, FolderNames
from mfsync.engine.status import RemoteFile

__all__ = ["Match", "check_names", "is_exact", "match"]


@dataclass(frozen=True, slots=True)
class Match:
    """A file that ``name`` asks for; ``whole``: it goes under the folder's own directory."""

    name: str
    whole: bool


def check_names(names: list[str]) -> None:
    """``UsageError`` for a name that cannot name a file on the network."""
    for name in names:
        head, colon, path = name.partition(SEPARATOR)
        if path.startswith("/") or (not colon and name in ("", "/")) or (colon and not head):
            raise UsageError(f"{name!r}: name files by their path on the network, as fetch "
                             "shows")


def is_exact(name: str) -> bool:
    """Whether ``name`` names one file (not a folder, nor a whole shared folder)."""
    _, colon, path = name.partition(SEPARATOR)
    return not name.endswith("/") and not (colon and not path)


def match(remote: RemoteFile, names: list[str], folder_names: FolderNames) -> Match | None:
    """Whether one of ``names`` (none: everything) asks for ``remote``, and how; ``UsageError``
    for an ambiguous label."""
    if not names:
        return Match("", whole=not remote.folder.is_default)
    for name in names:
        try:
            parsed = folder_names.parse(name)
        except AmbiguousLabel as exc:
            raise UsageError(str(exc)) from None
        if parsed is None:
            continue
        folder, path = parsed
        if remote.folder == folder and _under(remote.path, path):
            return Match(name, whole=not path and not folder.is_default)
    return None


def _under(path: str, wanted: str) -> bool:
    return path == wanted or not wanted or (wanted.endswith("/") and path.startswith(wanted))

