"""Mapping untrusted wire paths to local paths that can only ever be inside the destination.

Every name is checked by ``check_wire_path`` first (no ``..``, no absolute paths, no drive
letters, ...). Then every existing component below the destination must be a real directory,
never a symlink, so a hostile or careless tree cannot redirect a write outside the destination.
(The caller names the wire path in its message; the reasons here name the local path.)
"""

import hashlib
import os
import stat
import unicodedata
from pathlib import Path

from mfsync.protocol.names import (
    MAX_COMPONENT_BYTES,
    PARTIAL_SUFFIX,
    InvalidName,
    check_wire_path,
)

__all__ = [
    "PARTIAL_SUFFIX",
    "UnsafePath",
    "partial_path_for",
    "partial_target_name",
    "target_for",
]

# (PARTIAL_SUFFIX: partial downloads are hidden files beside their target,
# ``.NAME.mfsync-part``; the protocol's name rules own it, as no peer may use such a name.)


class UnsafePath(Exception):
    """A wire path that must not be written here; the message says why."""


def target_for(root: Path, wire_path: str, disk_path: str | None = None,
               folders_seen: set[tuple[object, ...]] | None = None) -> Path:
    """The local path of ``wire_path`` under ``root``; ``UnsafePath`` if it cannot be used.

    ``disk_path`` is the name a file of ours already has on disk for ``wire_path`` (relative,
    ``/``-separated), when it differs in Unicode normalisation only (NFD, as macOS writes
    names): that name is used, so that the file is replaced rather than joined by a twin.
    ``folders_seen``, shared by the calls of one batch, holds the folders (``(root, *parts)``)
    already found to be real folders: they are not looked at again. (The landing opens each
    folder without following a symlink anyway: this check only makes a bad name fail early.)
    """
    try:
        check_wire_path(wire_path)
    except InvalidName as exc:
        raise UnsafePath(f"refused name {wire_path!r}: {exc}") from None
    parts = wire_path.split("/")
    if disk_path is not None and unicodedata.normalize("NFC", disk_path) == wire_path:
        parts = disk_path.split("/")
    current = root
    for i, part in enumerate(parts[:-1]):
        if folders_seen is not None and (root, *parts[: i + 1]) in folders_seen:
            continue
        current = root.joinpath(*parts[: i + 1])
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            # A folder that is here under a decomposed name is that folder, not one to create
            # beside it (the share set names both the same).
            twin = _same_name_on_disk(current.parent, part)
            if twin is None:
                break  # the rest is created when the download opens its folders
            parts[i] = twin
            current = current.parent / twin
            st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(f"{current} is a symlink; not following it")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{current} is not a folder")
        if folders_seen is not None:
            folders_seen.add((root, *parts[: i + 1]))
    target = root.joinpath(*parts)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    if stat.S_ISLNK(mode):
        raise UnsafePath(f"{target} is a symlink; not replacing it")
    if stat.S_ISDIR(mode):
        # (a host offering both "a" and "a/b": whichever came second cannot be stored; the
        # same words as when the folder appears during the download, PartialFile.finalize)
        raise UnsafePath(f"{target} is a folder here; a file cannot take its place")
    return target


def _same_name_on_disk(folder: Path, name: str) -> str | None:
    """The entry of ``folder`` whose NFC form is ``name`` (an NFC name that is not on disk as
    such), if there is one. An ASCII name has no other form, so only others cost a listing."""
    if name.isascii():
        return None
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    for entry in sorted(entries):
        if unicodedata.normalize("NFC", entry) == name:
            return entry
    return None


def partial_path_for(target: Path) -> Path:
    """Where the partial download of ``target`` lives: ``.NAME.mfsync-part`` beside it, or, for
    a name so long that this would not fit one path component, a name made from its hash."""
    name = f".{target.name}{PARTIAL_SUFFIX}"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES:
        digest = hashlib.sha256(target.name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        name = f".{digest}{PARTIAL_SUFFIX}"
    return target.with_name(name)


def partial_target_name(name: str) -> str | None:
    """The file name whose partial download ``partial_path_for`` names ``name``, or None when
    ``name`` is not a partial download. (A long name's partial is named by its hash: that
    hash is returned, which names no file.)"""
    if name.startswith(".") and name.endswith(PARTIAL_SUFFIX) and len(name) > len(
            PARTIAL_SUFFIX) + 1:
        return name[1 : -len(PARTIAL_SUFFIX)]
    return None
