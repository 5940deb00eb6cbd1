"""Trust list files, as the trusted-keys dialog imports them: ``{"trustedKeys": [...],
"keyNames": {...}}`` (the shape of ``config.json``) or a bare list of keys."""

from pathlib import Path
from typing import Any

from mfsync.crypto.keys import parse_key, short_key
from mfsync.store.files import JSONTextError, parse_json

__all__ = ["TrustFileError", "read_trust_file"]


class TrustFileError(Exception):
    """A trust list file cannot be imported; the message lists every problem."""


def read_trust_file(path: Path) -> tuple[list[bytes], dict[bytes, str]]:
    """Read a trust list file: ``{"trustedKeys": [...], "keyNames": {...}}`` or a bare list."""
    try:
        data: Any = parse_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrustFileError(f"Cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TrustFileError(f"{path} is not a text file") from None
    except JSONTextError as exc:
        raise TrustFileError(f"{path}: {exc}") from None
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
        raise TrustFileError(f"Nothing imported from {path}:\n" + "\n".join(problems))
    return keys, names
