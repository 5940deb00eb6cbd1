"""The ``folders`` setting of ``config.json``: each folder's path, mode, id, label and devices.

An entry is ``{"path": ..., "mode": "share"|"sync", "id": "k3x9-pq2m", "label": "Photos",
"devices": "everyone"|"trusted"|[keys...]}``; ``devices`` may be left out (the default for the
trust list at the time, see ``Audience.default_for``). Fields this version does not know are
kept, so a file written by a newer mfsync loses nothing when this one saves it.

Migration: a file of mfsync 0.2/0.3 has folders without ids. Loading gives each one an id with
``new_folder_id``: the folder in sync mode (at most one existed then; if several, the
first) becomes the default folder, so that the app and ``mfsync sync`` hosts keep converging;
every other folder gets a new random id; the label is made from the folder's name.
``lacks_ids`` tells the app that the file is still to be saved with them (the command line never
writes the file).
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mfsync.audience import Audience
from mfsync.defaults import FOLDER_MODES, FolderMode
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId, check_label, label_from_name

__all__ = ["FolderConfig", "dump_folders", "folder_path", "lacks_ids", "new_folder_id",
           "parse_folders"]

log = logging.getLogger("mfsync.config")

#: The fields of a folder entry this version reads; any other is kept as it is.
_FIELDS = ("path", "mode", "id", "label", "devices")


@dataclass(frozen=True)
class FolderConfig:
    """A folder the app shares, or syncs (``mode`` is one of ``FOLDER_MODES``).

    ``id`` names it on the wire (the default folder's unless given: what the plain commands
    share); ``label`` is what people call it (made from the folder's name when left empty);
    ``devices`` is who may see it (None: the default for the trust list at the time);
    ``extra`` holds the entry's fields this version does not know, as JSON text, so that saving
    writes them back.
    """

    path: Path
    mode: str = FolderMode.SHARE
    id: FolderId = DEFAULT_FOLDER
    label: str = ""
    devices: Audience | None = None
    extra: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", label_from_name(self.path.name))


def new_folder_id(folders: Sequence[FolderConfig], mode: str) -> FolderId:
    """The id a folder gets when it has none yet, beside ``folders``: the default folder's for
    a folder in sync mode while no folder has it (the one synced folder of mfsync 0.3 meets
    ``mfsync sync`` hosts there), else a new random one that none of ``folders`` has."""
    taken = {f.id for f in folders}
    if mode == FolderMode.SYNC and DEFAULT_FOLDER not in taken:
        return DEFAULT_FOLDER
    while True:  # (two random ids alike: one chance in 2**40, but then two folders would mix)
        folder_id = FolderId.new()
        if folder_id not in taken:
            return folder_id


def lacks_ids(value: Any) -> bool:
    """Whether a ``folders`` JSON value has entries without an id (a file to migrate)."""
    return isinstance(value, list) and any(
        isinstance(entry, dict) and "id" not in entry for entry in value)


def folder_path(value: Any) -> Path:
    """An absolute folder path from its JSON text (``~`` expanded); ``ValueError`` if not."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a folder path")
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~name/..." where this system has no user "name"
        raise ValueError(f"{value!r}: no home folder for that user") from None
    if not path.is_absolute():
        # relative to what? The app and the command line start in different directories
        raise ValueError(f"{value!r} is not an absolute path")
    return path


def parse_folders(value: Any) -> tuple[FolderConfig, ...]:
    """The folders of a ``folders`` JSON value, entries without an id given one (see the
    module); ``ValueError`` names the entry and what is wrong with it."""
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise ValueError('must be a list of {"path": ..., "mode": "share" or "sync"} objects')
    folders: list[FolderConfig] = []
    for number, entry in enumerate(value, 1):
        folder = _parse_entry(number, entry)
        if any(f.path == folder.path for f in folders):
            raise ValueError(f"entry {number}: {folder.path} is listed twice")
        folders.append(folder)
    first: dict[FolderId, FolderConfig] = {}
    for number, (folder, entry) in enumerate(zip(folders, value, strict=True), 1):
        if "id" not in entry:
            continue
        other = first.setdefault(folder.id, folder)
        if other is not folder:
            raise ValueError(f"entry {number} ({folder.path}): id {folder.id} is also the id of "
                             f"{other.path}; each folder needs its own")
    # Migration: ids for the entries without one, the synced folder first (it may take the
    # default folder's, if no entry has it).
    given = [f for f, entry in zip(folders, value, strict=True) if "id" in entry]
    missing = sorted((i for i, entry in enumerate(value) if "id" not in entry),
                     key=lambda i: folders[i].mode != FolderMode.SYNC)
    for index in missing:
        folders[index] = replace(folders[index], id=new_folder_id(given, folders[index].mode))
        given.append(folders[index])
    return tuple(folders)


def dump_folders(value: tuple[FolderConfig, ...]) -> list[dict[str, Any]]:
    """The ``folders`` JSON value of ``value`` (the inverse of ``parse_folders``)."""
    dumped: list[dict[str, Any]] = []
    for folder in value:
        entry: dict[str, Any] = {"path": str(folder.path), "mode": folder.mode,
                                 "id": str(folder.id), "label": folder.label}
        if folder.devices is not None:
            entry["devices"] = folder.devices.to_json()
        entry.update((key, json.loads(text)) for key, text in folder.extra)
        dumped.append(entry)
    return dumped


def _parse_entry(number: int, entry: dict[str, Any]) -> FolderConfig:
    try:
        path = folder_path(entry.get("path"))
    except ValueError as exc:
        raise ValueError(f"entry {number}: path {exc}") from None
    where = f"entry {number} ({path})"
    mode = entry.get("mode", FolderMode.SHARE)
    if mode not in FOLDER_MODES:
        raise ValueError(f'entry {number}: mode must be "share" or "sync", not {mode!r}')
    folder_id = DEFAULT_FOLDER  # a placeholder when there is none: parse_folders gives one
    if "id" in entry:
        text = entry["id"]
        if not isinstance(text, str):
            raise ValueError(f"{where}: id must be a string like k3x9-pq2m, not {text!r}")
        try:
            folder_id = FolderId.parse(text)
        except ValueError as exc:
            raise ValueError(f"{where}: id {exc}") from None
    label = entry.get("label", "")
    if "label" in entry:
        if not isinstance(label, str):
            raise ValueError(f"{where}: label must be a string, not {label!r}")
        try:
            check_label(label)
        except ValueError as exc:
            raise ValueError(f"{where}: label {label!r}: {exc}") from None
    devices = None
    if "devices" in entry:
        try:
            devices = Audience.from_json(entry["devices"])
        except ValueError as exc:
            raise ValueError(f"{where}: devices {exc}") from None
    extra = tuple((key, json.dumps(entry[key], ensure_ascii=False))
                  for key in entry if key not in _FIELDS)
    for key, _text in extra:
        log.warning("folders %s: unknown field %r is kept but not used", where, key)
    return FolderConfig(path, mode, folder_id, label, devices, extra)
