"""Small file-system helpers shared by the store: permission warnings and atomic writes."""

import logging
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "warn_if_exposed"]

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
