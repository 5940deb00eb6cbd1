"""The data benchmarks/versus.py moves, the same bytes for every tool: one large file, many
small files in folders, and the ratio arithmetic of the comparison.

A data set lives under one folder named after its key (``1gib/``, ``10k/``, ...), so that it can
be put in place at a sender with a single ``rename`` (the *whole* clock starts there). Files get
an mtime an hour in the past, as files copied or moved in from elsewhere have: neither tool then
treats them as still being written (Syncthing does not look at the age; mfsync's watcher
would wait for a young file to settle, which is the new-file row's business, not this one's).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from _common import MIB, make_random_file

__all__ = ["DATASETS", "Dataset", "median", "per_file_ms", "per_gib", "rate", "speed_ratio"]

KIB = 1024
GIB = 1 << 30


@dataclass(frozen=True)
class Dataset:
    """``files`` files of ``size`` bytes; in ``folders`` folders, or one file at the data set's
    root when ``folders`` is 0."""

    key: str
    files: int
    size: int
    folders: int

    @property
    def total(self) -> int:
        """Bytes of file data."""
        return self.files * self.size

    @property
    def label(self) -> str:
        """How the table names it, e.g. "10,000 x 4 KiB in 100 folders"."""
        if self.folders == 0:
            return f"{self.size / GIB:g} GiB, one file" if self.size >= GIB else \
                f"{self.size / MIB:g} MiB, one file"
        return f"{self.files:,} x {self.size / KIB:g} KiB in {self.folders:,} folders"

    def rel_path(self, i: int) -> str:
        """The path of file ``i`` inside the data set's folder."""
        if self.folders == 0:
            return "big.bin"
        width = len(str(self.folders - 1))
        return f"d{i * self.folders // self.files:0{width}d}/f{i:06d}.bin"

    def layout(self) -> dict[str, int]:
        """{folder inside the data set ("." for its root): how many files it holds}."""
        counts: dict[str, int] = {}
        for i in range(self.files):
            folder = self.rel_path(i).rpartition("/")[0] or "."
            counts[folder] = counts.get(folder, 0) + 1
        return counts

    def make(self, parent: Path) -> dict[str, str]:
        """Write the files under ``parent/KEY``; returns {relative path: SHA-256 hex}."""
        root = parent / self.key
        root.mkdir(parents=True)
        digests: dict[str, str] = {}
        if self.folders == 0:
            digests["big.bin"] = make_random_file(root / "big.bin", self.size)
        else:
            for folder in self.layout():
                (root / folder).mkdir()
            for i in range(self.files):
                data = os.urandom(self.size)
                rel = self.rel_path(i)
                (root / rel).write_bytes(data)
                digests[rel] = hashlib.sha256(data).hexdigest()
        past = time.time() - 3600
        for folder, _dirs, names in os.walk(root):
            for name in names:
                os.utime(Path(folder, name), (past, past))
        return digests


#: (full, quick) sizes of each data set.
DATASETS: dict[str, tuple[Dataset, Dataset]] = {
    "1gib": (Dataset("1gib", 1, GIB, 0), Dataset("1gib", 1, 64 * MIB, 0)),
    "10k": (Dataset("10k", 10_000, 4 * KIB, 100), Dataset("10k", 500, 4 * KIB, 10)),
    "100k": (Dataset("100k", 100_000, KIB, 1_000), Dataset("100k", 2_000, KIB, 20)),
}


def rate(amount: float, seconds: float) -> float:
    """``amount`` per second (inf for a zero time)."""
    return amount / seconds if seconds > 0 else float("inf")


def speed_ratio(ours_s: float, theirs_s: float) -> float:
    """How many times faster we are: their time over ours (= our rate over theirs)."""
    return theirs_s / ours_s if ours_s > 0 else float("inf")


def per_gib(cpu_s: float, total_bytes: int) -> float:
    """CPU seconds per GiB moved."""
    return cpu_s * GIB / total_bytes


def per_file_ms(cpu_s: float, files: int) -> float:
    """CPU milliseconds per file moved."""
    return cpu_s * 1000 / files


def median(values: list[float]) -> float:
    """The median (statistics.median), nan for no values."""
    return statistics.median(values) if values else float("nan")
