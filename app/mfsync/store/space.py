"""Free-space checks before a download, so a disk never fills up because of mfsync."""

import shutil
from pathlib import Path

__all__ = ["MIN_RESERVE", "FreeSpace", "InsufficientSpace", "check_free_space", "reserve_for"]

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
    FreeSpace().claim(folder, needed)


class FreeSpace:
    """Free-space checks for a batch of downloads planned together (many small files): each
    folder's file system is asked once, and what each download claims is taken off what the
    next one sees, so a batch that fits file by file but not as a whole is caught too."""

    def __init__(self) -> None:
        self._probes: dict[Path, Path] = {}
        #: Per existing folder asked about: (bytes free, less what was claimed; the reserve).
        self._free: dict[Path, list[int]] = {}

    def claim(self, folder: Path, needed: int) -> None:
        """``InsufficientSpace`` if writing ``needed`` more bytes under ``folder`` (after what
        this batch claimed already) would leave less than the reserve free; else claim it."""
        probe = self._probes.get(folder)
        if probe is None:
            probe = folder
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            self._probes[folder] = probe
        known = self._free.get(probe)
        if known is None:
            usage = shutil.disk_usage(probe)
            known = self._free[probe] = [usage.free, reserve_for(usage.total)]
        free, reserve = known
        if free - needed < reserve:
            raise InsufficientSpace(
                f"not enough free space in {probe}: {_mib(needed)} needed, {_mib(free)} free, "
                f"and {_mib(reserve)} must stay free"
            )
        known[0] = free - needed


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"

