"""Small file-system helpers shared by the store: permission warnings and atomic writes."""

import json
import logging
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["JSONTextError", "atomic_write", "parse_json", "publish_new", "warn_if_exposed"]

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
    tmp = _synced_temp(path, data)
    try:
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish_new(path: Path, data: bytes) -> None:
    """Make ``path`` hold ``data`` complete from its first moment; ``FileExistsError`` if it
    exists.

    ``data`` is written to a private temporary file (0600 from the first byte on) and
    hard-linked into place, which never overwrites a file that appeared meanwhile and never
    lets another process read it half written. Where hard links are not supported, the file
    is created in place with O_EXCL instead.
    """
    tmp = _synced_temp(path, data)
    try:
        try:
            os.link(tmp, path)
            return
        except FileExistsError:
            raise
        except OSError:
            pass  # no hard links here: fall back to an exclusive create
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    _write_synced(fd, data)


def _synced_temp(path: Path, data: bytes) -> Path:
    """A private temporary file beside ``path`` (mode 0600, as mkstemp makes it) holding
    ``data``, synced to disk: the first step of both ways of putting a file in place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _write_synced(fd, data)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _write_synced(fd: int, data: bytes) -> None:
    """Write ``data`` to the open file ``fd``, sync it to disk and close it."""
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


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
