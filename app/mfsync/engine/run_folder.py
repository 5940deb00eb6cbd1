"""The folder a command-line run shares or syncs: the default folder, or a named one.

``mfsync share DIR`` and ``mfsync sync DIR`` serve DIR as the default folder (the plain commands'
folder). With ``--folder ID|LABEL`` DIR is a named folder: an id (written as ids are shown,
``k3x9-pq2m``) names it outright; a label names
the folder DIR already is (its index database records the id and label of the first run that
named it), else the folder of that label the network offers us (``offered``: the front end
looks, see ``choose_offered``), else a new folder, with a new id that the index database keeps,
so the next run with the same label has the same id. The command line never writes
``config.json``: the index database is where a command-line folder's identity lives.
``--share-with`` sets its devices.

Only a label that DIR's index database does not record asks the network: a plain run, an id or
a label DIR already has never waits for it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from mfsync.audience import Audience
from mfsync.engine.service_status import ServiceError
from mfsync.engine.status import RemoteFolder
from mfsync.folder_config import FolderConfig
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId, check_label, label_from_name
from mfsync.store.index_db import FolderIdentity, IndexDB, IndexDBError

__all__ = ["OfferedFolders", "choose_offered", "run_folder"]

log = logging.getLogger("mfsync.run_folder")

#: Lists the folders the network offers us (the front end runs discovery for it).
OfferedFolders = Callable[[], Awaitable[Sequence[RemoteFolder]]]


async def run_folder(root: Path, mode: str, *, state_dir: Path | None, folder: str | None,
                     devices: Audience | None,
                     offered: OfferedFolders | None = None) -> FolderConfig:
    """The folder a run serves at ``root`` (resolved) in ``mode``: the default folder when
    ``folder`` is None, else the one it names (see the module); ``devices``: who may see it
    (None: the default); ``offered``: called (once) for the network's folders when ``folder``
    is a label DIR does not record (None: the network is not asked, the label is a new folder).
    ``ServiceError`` says what is wrong. Reads the index database in a worker thread."""
    if folder is None:
        return FolderConfig(root, mode, DEFAULT_FOLDER, devices=devices)
    recorded = await asyncio.to_thread(_recorded, root, state_dir)
    if recorded is not None and folder == recorded.label:
        return FolderConfig(root, mode, recorded.id, recorded.label, devices)
    folder_id = _as_id(folder)
    if folder_id is not None:
        if recorded is not None and recorded.id != folder_id:
            raise ServiceError(_other(root, recorded, str(folder_id)))
        label = recorded.label if recorded is not None else label_from_name(root.name)
        return FolderConfig(root, mode, folder_id, label, devices)
    try:
        check_label(folder)
    except ValueError as exc:
        raise ServiceError(f"--folder {folder!r}: not a folder id, nor a label: {exc}") from None
    if recorded is not None:
        if recorded.label != folder:
            raise ServiceError(_other(root, recorded, repr(folder)))
        return FolderConfig(root, mode, recorded.id, recorded.label, devices)
    if offered is not None:
        joined = choose_offered(folder, await offered())
        if joined is not None:
            log.info("joining the folder %r (%s) that the network offers", folder, joined)
            return FolderConfig(root, mode, joined, folder, devices)
    new = FolderId.new()
    if offered is not None:
        log.warning("no host offers a folder %r; made a new one, id %s", folder, new)
    return FolderConfig(root, mode, new, folder, devices)


def choose_offered(label: str, offered: Sequence[RemoteFolder]) -> FolderId | None:
    """The id of the one folder labelled exactly ``label`` among ``offered`` (the network's
    folders), None when there is none; ``ServiceError`` listing the ids (and the hosts that
    offer each) when there are several. The default folder is never a labelled folder: a host
    that lists it under a label is not believed."""
    matches = [f for f in offered if f.label == label and not f.id.is_default]
    if not matches:
        return None
    if len(matches) == 1:
        return matches[0].id
    listed = "; ".join(f"{f.id} (on {', '.join(sorted({h.address for h in f.hosts})) or '?'})"
                       for f in sorted(matches, key=lambda f: str(f.id)))
    first = min(str(f.id) for f in matches)
    raise ServiceError(f"--folder {label!r}: {len(matches)} folders on the network have that "
                       f"label: {listed}; name one by its id (e.g. --folder {first})")


def _as_id(text: str) -> FolderId | None:
    """The id ``text`` spells, written as ids are shown (``k3x9-pq2m``, with its hyphen): a
    label of eight letters ("Notebook") would otherwise be read as an id."""
    if len(text.strip()) != 9 or text.strip()[4] != "-":
        return None
    try:
        return FolderId.parse(text)
    except ValueError:
        return None


def _recorded(root: Path, state_dir: Path | None) -> FolderIdentity | None:
    """The identity ``root``'s index database records, if it has one (never creates one)."""
    if state_dir is None:
        return None
    path = IndexDB.path_for(state_dir, root)
    if not path.exists():
        return None
    try:
        with IndexDB(path) as db:
            return db.folder()
    except IndexDBError as exc:
        raise ServiceError(f"cannot read the index of {root}: {exc}") from None


def _other(root: Path, recorded: FolderIdentity, wanted: str) -> str:
    return (f"{root} is the folder {recorded.id} ({recorded.label!r}), not {wanted}; name it "
            f"with --folder {recorded.id}, or share another folder")
