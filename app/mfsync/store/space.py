"""Free-space checks before a download, so a disk never fills up because of mfsync."""

import shutil
from pathlib import Path

__all__ = ["MIN_RESERVE", "InsufficientSpace", "check_free_space", "reserve_for"]

#: A download must leave at least this much free, or 1 % of the file system if that is more.
MIN_RESERVE = 16 * 1024 * 1024


class InsufficientSpace(Exception):
    """Downloading would leave too little free space; the message says how much is missing."""


def reserve_for(total: int) -> int:
    """How much must stay free on a file system of ``total`` bytes."""
    return max(MIN_RESERVE, total // 100)


def check_free_space(folder: Path, needed: int) -> None:
    """Raise ``InsufficientSpace`` if writing ``needed`` more bytes under ``folder`` would leave
    less than the reserve free."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    reserve = reserve_for(usage.total)
    if usage.free - needed < reserve:
        raise InsufficientSpace(
            f"not enough free space in {probe}: {_mib(needed)} needed, {_mib(usage.free)} free, "
            f"and {_mib(reserve)} must stay free"
        )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"

