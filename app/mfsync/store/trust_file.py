"""Trust list files: reading one to import, writing one to export.

The format is ``{"trustedKeys": [...], "keyNames": {...}}`` (the shape of ``config.json``'s
trust fields); a bare JSON list of keys is read too. Reading checks every key and name first
and refuses the whole file, listing each problem, if any is wrong: half an imported trust list
is worse than none. Writing goes through ``atomic_write`` (temporary file, fsync, rename), so
an interrupted export leaves the old file whole.

Every function here blocks on the disk: the GUI calls them from a worker thread.
"""

import json
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mfsync.crypto.keys import format_key, parse_key, short_key
from mfsync.store.files import JSONTextError, atomic_write, parse_json

__all__ = [
    "MAX_TRUST_FILE_BYTES",
    "TRUST_FILE_MODE",
    "TrustFileError",
    "encode_trust_file",
    "read_trust_file",
    "write_trust_file",
]

#: The largest trust list file read, in bytes: room for thousands of keys with long names, and
#: a bound on what a file picked by mistake (a video, a disk image) costs to refuse.
MAX_TRUST_FILE_BYTES = 1024 * 1024
#: Problems listed in an error, at most: the message is shown in a dialog.
MAX_PROBLEMS_SHOWN = 20
#: An exported list holds public keys and names, which are meant to be handed around.
TRUST_FILE_MODE = 0o644


class TrustFileError(Exception):
    """A trust list file cannot be read or written; the message says why, for people."""


def read_trust_file(path: Path) -> tuple[list[bytes], dict[bytes, str]]:
    """The keys (in file order) and their names in the trust list file at ``path``.

    ``TrustFileError`` if the file cannot be read, is larger than ``MAX_TRUST_FILE_BYTES``, is
    not UTF-8 JSON of the expected shape, or holds any malformed key or name.
    """
    too_large = f"{path} is too large for a trust list (over {MAX_TRUST_FILE_BYTES // 1024} KiB)"
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            # A pipe or a device has no size to check first, and may never end.
            if not stat.S_ISREG(info.st_mode):
                raise TrustFileError(f"{path} is not a regular file")
            if info.st_size > MAX_TRUST_FILE_BYTES:
                raise TrustFileError(too_large)
            # What the file holds and one byte more (a file that grew since shows as longer);
            # never a buffer of the whole limit for a small file.
            raw = handle.read(info.st_size + 1)
    except OSError as exc:
        raise TrustFileError(f"Cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_TRUST_FILE_BYTES:
        raise TrustFileError(too_large)
    try:
        data: Any = parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TrustFileError(f"{path} is not a text file") from None
    except JSONTextError as exc:
        raise TrustFileError(f"{path}: {exc}") from None
    return _decode(path, data)


def encode_trust_file(keys: Iterable[bytes], names: Mapping[bytes, str]) -> bytes:
    """The bytes of a trust list file for ``keys`` (in order), naming those ``names`` names."""
    keys = list(keys)
    data = {
        "trustedKeys": [format_key(k) for k in keys],
        "keyNames": {format_key(k): names[k] for k in keys if k in names},
    }
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def write_trust_file(path: Path, keys: Iterable[bytes], names: Mapping[bytes, str]) -> None:
    """Write a trust list file atomically: ``path`` holds the old content or the new, whole.

    ``TrustFileError`` (naming the path) if it cannot be written; the folder must exist (an
    export is written where the user chose, never into a folder made up for it).
    """
    data = encode_trust_file(keys, names)
    if not path.parent.is_dir():
        raise TrustFileError(f"Cannot write {path}: the folder {path.parent} does not exist")
    try:
        atomic_write(path, data, TRUST_FILE_MODE)
    except OSError as exc:
        raise TrustFileError(f"Cannot write {path}: {exc.strerror or exc}") from None


def _decode(path: Path, data: Any) -> tuple[list[bytes], dict[bytes, str]]:
    if isinstance(data, list):
        raw_keys: Any = data
        raw_names: Any = {}
    elif isinstance(data, dict) and "trustedKeys" in data:
        raw_keys = data["trustedKeys"]
        raw_names = data.get("keyNames", {})
    else:
        raise TrustFileError(f'{path}: expected a list of keys or an object with "trustedKeys"')
    if not isinstance(raw_keys, list):
        raise TrustFileError(f'{path}: "trustedKeys" must be a list of keys')
    if not isinstance(raw_names, dict):
        raise TrustFileError(f'{path}: "keyNames" must map keys to names')
    problems: list[str] = []
    keys: list[bytes] = []
    for number, text in enumerate(raw_keys, 1):
        if not isinstance(text, str):
            problems.append(f"key {number} is not a string")
            continue
        try:
            keys.append(parse_key(text))
        except ValueError as exc:
            problems.append(f"key {number}: {exc}")
    names: dict[bytes, str] = {}
    for text, name in raw_names.items():
        try:
            key = parse_key(text)
        except ValueError as exc:
            problems.append(f"name for {text!r}: {exc}")
            continue
        if not isinstance(name, str):
            problems.append(f"the name for {short_key(key)} is not a string")
            continue
        names[key] = name
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"(and {len(problems) - len(shown)} more)")
        raise TrustFileError(f"Nothing imported from {path}:\n" + "\n".join(shown))
    return keys, names
