"""Conflict copies: the recognisable, deterministic names a losing version is kept under.

``report.pdf`` becomes ``report.sync-conflict-20261126-101500-ab12cd.pdf``: the time is the
losing version's modification time (UTC) and the six hex digits start the key of the host that
made it, so every host names the same conflict the same way and copies do not multiply.
"""

import datetime
import posixpath

from mfsync.protocol.names import MAX_COMPONENT_BYTES

__all__ = ["CONFLICT_MARKER", "conflict_name", "is_conflict_name"]

CONFLICT_MARKER = ".sync-conflict-"
#: A longer "extension" is treated as part of the name, so the tag always fits.
MAX_EXTENSION_BYTES = 32


def conflict_name(path: str, mtime_ns: int, key: bytes) -> str:
    """The conflict copy's wire path for ``path`` at version (``mtime_ns``, made by ``key``)."""
    folder, name = posixpath.split(path)
    # Whole seconds by integer division: a float (and fromtimestamp's rounding to microseconds)
    # would turn 10:15:00.9999999 into 10:15:01.
    stamp = datetime.datetime.fromtimestamp(mtime_ns // 1_000_000_000, tz=datetime.UTC).strftime(
        "%Y%m%d-%H%M%S"
    )
    tag = f"{CONFLICT_MARKER}{stamp}-{key.hex()[:6]}"
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > MAX_EXTENSION_BYTES:
        stem, ext = name, ""  # no (usable) extension, or a dotfile such as ".bashrc": tag last
    suffix = f"{tag}.{ext}" if ext else tag
    # A long name loses the end of its stem (never the tag or extension), so the copy's name
    # still fits one path component; cut on a character boundary.
    room = MAX_COMPONENT_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[: max(room, 1)].decode("utf-8", "ignore") or "_"
    new_name = stem + suffix
    return posixpath.join(folder, new_name) if folder else new_name


def is_conflict_name(path: str) -> bool:
    """Whether ``path`` is a conflict copy's name."""
    return CONFLICT_MARKER in posixpath.basename(path)
