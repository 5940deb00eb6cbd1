"""Helpers the benchmark scripts share: paths, failures, percentiles, process statistics,
and mfsync processes pinned to loopback (``LoopbackRig``)."""

import hashlib
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "E2E_DIR",
    "MIB",
    "ROOT",
    "BenchError",
    "LoopbackRig",
    "Row",
    "check_not_wrapper",
    "cpu_seconds",
    "fmt_ms",
    "free_port",
    "make_random_file",
    "percentile",
    "reap",
    "sha256_file",
    "tail",
    "write_rows",
]

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
#: Where the network-namespace harness (netns.py) lives.
E2E_DIR = ROOT / "tests" / "e2e"


class BenchError(Exception):
    """mfsync failed or did something wrong: the measurement cannot be trusted."""


@dataclass(frozen=True)
class Row:
    """One line of the benchmark table (benchmarks/run.py prints them, and keeps them as JSON).

    ``value`` is the figure in ``unit``; ``ratio`` is it against ``baseline`` when the row has
    one (measured in the same run); ``target`` says in words what must hold, ``passed`` whether
    it did; ``detail`` is whatever a reader needs beside it (the baseline's figure, CPU time).
    """

    benchmark: str
    value: float
    unit: str
    target: str
    passed: bool
    baseline: str = ""
    ratio: float | None = None
    detail: str = ""


def write_rows(path: Path | str | None, rows: list[Row]) -> None:
    """Write ``rows`` as ``{"rows": [...]}`` to ``path`` (a script's ``--json``); None: skip."""
    if path is None:
        return
    Path(path).write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=2) + "\n",
                          encoding="utf-8")


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


# -- mfsync processes on loopback (what transfer.py's Bench does, for the scripts after it) -----


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reap(proc: "subprocess.Popen[bytes]", timeout: float) -> tuple[float, int, float, float]:
    """Wait for ``proc`` with wait4; returns (perf_counter at exit, exit code, CPU seconds
    (user + system), of which system).

    A timer kills the process (by its own pid, through Popen) if it outlives ``timeout``.
    """
    timer = threading.Timer(timeout, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
        t = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        timer.cancel()
    return t, proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_stime


def check_not_wrapper(pid: int) -> None:
    """The pid we measure must be the mfsync interpreter itself (``python -m mfsync``)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError as exc:
        raise BenchError(f"cannot read the command line of pid {pid}: {exc}") from None
    if b"-m" not in argv or b"mfsync" not in argv:
        raise BenchError(f"pid {pid} is not `python -m mfsync`: {argv!r}")


class LoopbackRig:
    """Starts ``python -m mfsync`` processes that can only talk over loopback, and stops them.

    Every mfsync command gets ``loopback_args()``: discovery out of ``--interface 127.0.0.1``
    with ``--ttl 0`` on a random high ``--multicast-port`` (one per rig), and a share listens on
    a free ``--port`` of 127.0.0.1. Each process gets its own fresh ``HOME`` under ``tmp`` (so a
    fresh key and an empty index), a minimal environment (``PYTHONPATH`` passed on, so that a
    run can time another checkout's code) and a bytecode cache in ``tmp``.
    Processes are stopped by their own pid (through Popen), never by name.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.py = sys.executable
        self.udp_port = random.randint(40000, 60000)
        self.env_base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
            "PYTHONUNBUFFERED": "1",
        }
        # Kept so that one checkout's benchmarks can time another checkout's code
        # (PYTHONPATH=/other/app), for before/after runs on the same machine and hour.
        if "PYTHONPATH" in os.environ:
            self.env_base["PYTHONPATH"] = os.environ["PYTHONPATH"]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._homes = 0

    def env(self, name: str) -> dict[str, str]:
        """The environment of a new process, with a fresh HOME named after ``name``."""
        self._homes += 1
        home = self.tmp / "homes" / f"{self._homes:02d}-{name}"
        home.mkdir(parents=True)
        return {**self.env_base, "HOME": str(home)}

    def loopback_args(self) -> list[str]:
        """The discovery options that keep every datagram on 127.0.0.1."""
        return ["--interface", "127.0.0.1", "--ttl", "0", "--multicast-port", str(self.udp_port)]

    def popen(self, argv: list[str], env: dict[str, str], log: Path,
              stdout: int | None = None) -> "subprocess.Popen[bytes]":
        """Start ``argv`` with stderr (and stdout unless given) into ``log``."""
        with log.open("wb") as err:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                    stdout=stdout if stdout is not None else err, stderr=err)
        self.procs.append(proc)
        return proc

    def mfsync(self, *args: str, env: dict[str, str], log: Path) -> "subprocess.Popen[bytes]":
        """Start ``python -m mfsync ARGS... <loopback options>``."""
        return self.popen([self.py, "-m", "mfsync", *args, *self.loopback_args()], env, log)

    def warm(self) -> None:
        """Fill the bytecode cache so that no measured run compiles mfsync."""
        for _ in range(2):
            subprocess.run([self.py, "-m", "mfsync", "--version"], env=self.env("warm"),
                           check=True, capture_output=True, timeout=120)

    def start_share(self, folder: Path, label: str,
                    ready_timeout: float = 180.0) -> "subprocess.Popen[bytes]":
        """``mfsync share FOLDER`` on a free port of 127.0.0.1; returns once it printed
        "Sharing " (its first scan is done and it serves). BenchError if it exits or takes
        longer than ``ready_timeout``."""
        log = self.tmp / f"share-{label}.log"
        proc = self.mfsync("share", str(folder), "--port", str(free_port()),
                           env=self.env(f"share-{label}"), log=log)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"share exited with {proc.returncode}:\n{tail(log)}")
            if "Sharing " in log.read_text(errors="replace"):
                check_not_wrapper(proc.pid)
                return proc
            time.sleep(0.05)
        raise BenchError(f"share did not become ready in {ready_timeout:g} s:\n{tail(log)}")

    @staticmethod
    def stop_share(proc: "subprocess.Popen[bytes]") -> None:
        """Terminate one process (by its pid), killing it if it does not exit in 15 s."""
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        """Stop every process this rig started that still runs (each by its own pid)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            if proc.returncode is None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
