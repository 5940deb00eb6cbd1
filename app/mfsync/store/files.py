"""Small file-system helpers shared by the store: permission warnings and atomic writes."""

import json
import logging
import os
import tempfile
from pathlib import Path

__all__ = ["JSONTextError", "atomic_write", "parse_json", "warn_if_exposed"]

log = logging.getLogger("mfsync.store")


def warn_if_exposed(path: Path, what: str, mask: int) -> bool:
    """Log a warning when ``path``'s mode has any bit of ``mask``; returns whether it did."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if mode & mask:
        log.warning(
            "%s %s is accessible to other users (mode %o); run: chmod 600 %s",
            what, path, mode & 0o777, path,
        )
        return True
    return False


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers never see
    half a file and a crash leaves the old content in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JSONTextError(ValueError):
    """Text that is not usable JSON; the message says where and why (no file name: the caller
    adds it)."""


def parse_json(text: str) -> object:
    """``json.loads`` with every way it fails on hostile text as ``JSONTextError``: bad syntax
    (with line and column), nesting deeper than the interpreter's stack, and numbers of more
    digits than Python converts."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JSONTextError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise JSONTextError("JSON nested too deeply") from None
    except ValueError as exc:  # a number of more than 4300 digits (Python's int limit)
        raise JSONTextError(f"invalid JSON: {exc}") from None
