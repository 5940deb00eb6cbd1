"""What benchmarks/versus.py measures of one tool moving one data set (``Measure``), how it
reads a process's CPU and memory around a row, and how it checks what arrived."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import BenchError, sha256_file
from _netns import ProcStats

__all__ = ["Measure", "copy_tree", "delta", "usage_stats", "verify", "wait_usage"]


@dataclass(frozen=True)
class Measure:
    """One tool moving one data set: both clocks and each side's process figures."""

    row: str  #: data set key, or "newfile"/"multi"
    tool: str
    transfer_s: float
    whole_s: float
    sender: ProcStats  #: CPU over the row, memory peak
    receiver: ProcStats
    files: int
    total: int
    samples: tuple[float, ...] = ()  #: newfile: every latency
    label: str = ""  #: the data set's label
    sent: tuple[int, ...] = ()  #: multi: bytes each source's link carried during the row
    done: int = -1  #: files in place when the row was stopped at its time limit (-1: all)


def delta(before: ProcStats, after: ProcStats) -> ProcStats:
    """CPU between two readings, with the later peak."""
    return ProcStats(after.user - before.user, after.system - before.system, after.rss_peak)


def usage_stats(usage: Any) -> ProcStats:
    """``ProcStats`` of a process that exited, from its wait4 rusage."""
    return ProcStats(usage.ru_utime, usage.ru_stime, usage.ru_maxrss * 1024)


def wait_usage(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, ProcStats, float]:
    """(exit code, ProcStats, monotonic exit time) of ``proc``; killed by pid after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage_stats(usage), time.monotonic()
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.005)


def verify(dest: Path, digests: dict[str, str], what: str, complete: bool = True) -> None:
    """``dest`` must hold exactly the files of ``digests`` with their content; with ``complete``
    False (a row stopped at its time limit) the final files it holds must be some of them
    (both tools' temp files start with a dot, as no source file does)."""
    found = {Path(folder, name).relative_to(dest).as_posix()
             for folder, _dirs, names in os.walk(dest) for name in names
             if complete or not name.startswith(".")}
    expected = set(digests) if complete else found & set(digests)
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise BenchError(f"{what}: {len(missing)} missing {missing[:3]}, {len(extra)} extra "
                         f"{extra[:3]}")
    for rel in expected:
        if sha256_file(dest / rel) != digests[rel]:
            raise BenchError(f"{what}: {rel} differs from the source")


def copy_tree(src: Path, dest: Path) -> None:
    """``cp -a`` (keeps the mtimes; faster than Python for 100,000 files)."""
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True, timeout=900)
