"""Helpers the benchmark scripts share: paths, failures, percentiles, process statistics."""

import hashlib
import math
import os
from pathlib import Path

__all__ = [
    "E2E_DIR",
    "MIB",
    "ROOT",
    "BenchError",
    "cpu_seconds",
    "fmt_ms",
    "make_random_file",
    "percentile",
    "sha256_file",
    "tail",
]

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
#: Where the network-namespace harness (netns.py) lives.
E2E_DIR = ROOT / "tests" / "e2e"


class BenchError(Exception):
    """mfsync failed or did something wrong: the measurement cannot be trusted."""


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (which may contain inf)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fmt_ms(seconds: float) -> str:
    """Seconds as right-aligned milliseconds, or "miss" for inf."""
    return "   miss" if math.isinf(seconds) else f"{seconds * 1000:7.0f}"


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a running process, from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; returns their SHA-256 (hex)."""
    h = hashlib.sha256()
    step = 4 * MIB
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(step, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """The SHA-256 (hex) of a file, read in 4 MiB pieces into one reused buffer."""
    h = hashlib.sha256()
    buf = bytearray(4 * MIB)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()
