"""The rig of benchmarks/versus.py: a tmpfs for the data, a LAN of network namespaces, link
limits, sockets opened inside a namespace, per-process CPU and memory, and a watcher that
times files arriving in a folder tree.

Network safety: the LAN is ``tests/e2e/netns.py``'s ``Lan`` (a bridge namespace plus one
namespace per host, private 10.213.k.0/24 addresses, nothing connected to the root namespace);
every ``tc`` call here names one of that LAN's own namespaces (checked); sockets this script
opens itself are opened inside a host namespace (``connect_in_netns``), so they can only reach
that namespace's loopback or the LAN.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import E2E_DIR, BenchError

__all__ = [
    "ProcStats",
    "RowTimeout",
    "TreeWatcher",
    "connect_in_netns",
    "limit_rate",
    "open_lan",
    "proc_stats",
    "tmpfs",
    "tx_bytes",
    "unlimit_rate",
    "worker_pid",
]

#: From <sched.h>: setns() into a network namespace.
CLONE_NEWNET = 0x40000000
#: Where ``ip netns add`` keeps its namespaces.
NETNS_DIR = Path("/run/netns")
#: Every namespace of the e2e harness starts with this (netns.NAME_PREFIX).
HARNESS_PREFIX = "mfst-"
#: How often the watcher lists the folders it waits for.
WATCH_INTERVAL = 0.005


class RowTimeout(BenchError):
    """Not every file arrived in the time a row may take (the row is reported as stopped)."""


# -- tmpfs ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(size_bytes: int, prefix: str) -> Iterator[Path]:
    """A fresh tmpfs of ``size_bytes`` mounted on a new temporary directory (root only), removed
    and unmounted afterwards. Falls back to a directory under /dev/shm (itself a tmpfs) where
    mounting is refused."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    mounted = False
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o",
                               f"size={size_bytes},mode=0700", "tmpfs", str(base)],
                              capture_output=True, text=True, timeout=30, check=False)
        mounted = done.returncode == 0
        if not mounted:
            print(f"  (mount tmpfs refused: {done.stderr.strip()}; using /dev/shm)",
                  file=sys.stderr)
            base.rmdir()
            base = Path(tempfile.mkdtemp(prefix=prefix, dir="/dev/shm"))
        yield base
    finally:
        if mounted:
            # lazy: a process that outlived its stop (it should not) cannot keep it mounted
            subprocess.run(["umount", "-l", str(base)], capture_output=True, timeout=60,
                           check=False)
            with contextlib.suppress(OSError):
                base.rmdir()
        else:
            subprocess.run(["rm", "-rf", "--one-file-system", str(base)], timeout=600,
                           check=False)


# -- the LAN --------------------------------------------------------------------------------------


def open_lan(hosts: int) -> Any:
    """``tests/e2e/netns.py``'s ``Lan(hosts)`` (imported from there: one namespace rig in the
    repository). RuntimeError when namespaces are unavailable."""
    if str(E2E_DIR) not in sys.path:
        sys.path.insert(0, str(E2E_DIR))
    from netns import Lan  # noqa: PLC0415  (tests/e2e is not a package)

    return Lan(hosts)


def _check_own(ns: str) -> None:
    if not ns.startswith(HARNESS_PREFIX) or "/" in ns:
        raise ValueError(f"refusing to touch namespace {ns!r}: not one of the LAN's")


def tbf_args(rate_mbit: int) -> list[str]:
    """The ``tc qdisc`` arguments that limit a link to ``rate_mbit`` (token bucket).

    The bucket holds 1 MiB (above the largest GSO packet a veth hands over, and ~20 ms of
    data at 400 mbit: a burst a switch port would let through too); packets wait at most
    100 ms in the queue before they are dropped, which TCP then paces to."""
    return ["root", "tbf", "rate", f"{rate_mbit}mbit", "burst", "1mb", "latency", "100ms"]


def limit_rate(ns: str, interface: str, rate_mbit: int) -> None:
    """Limit what ``ns`` sends out of ``interface`` to ``rate_mbit`` (a tbf qdisc)."""
    _check_own(ns)
    subprocess.run(["tc", "-n", ns, "qdisc", "replace", "dev", interface, *tbf_args(rate_mbit)],
                   check=True, capture_output=True, timeout=30)


def unlimit_rate(ns: str, interface: str) -> None:
    """Remove ``limit_rate``'s qdisc (the link is back to the veth's default)."""
    _check_own(ns)
    subprocess.run(["tc", "-n", ns, "qdisc", "del", "dev", interface, "root"],
                   check=False, capture_output=True, timeout=30)


def parse_tx_bytes(ip_json: str) -> int:
    """Bytes sent, from ``ip -j -s link show dev IF`` output."""
    return int(json.loads(ip_json)[0]["stats64"]["tx"]["bytes"])


def tx_bytes(ns: str, interface: str) -> int:
    """Bytes ``interface`` of namespace ``ns`` has sent (its kernel counter)."""
    _check_own(ns)
    done = subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", "dev", interface],
                          check=True, capture_output=True, text=True, timeout=30)
    return parse_tx_bytes(done.stdout)


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def connect_in_netns(ns: str, host: str, port: int, timeout: float = 10.0) -> Any:
    """A TCP socket connected to ``host:port`` from inside network namespace ``ns``.

    A socket belongs to the namespace of the thread that created it, and setns(2) moves only
    the calling thread: so a short-lived thread enters ``ns``, connects and ends; the socket
    keeps working from any thread. Used to reach a Syncthing REST API that listens on
    127.0.0.1 inside its host's namespace."""
    _check_own(ns)
    result: dict[str, Any] = {}

    def enter_and_connect() -> None:
        try:
            fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
            try:
                if _libc().setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["sock"] = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=enter_and_connect, name=f"netns-{ns}")
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


# -- processes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStats:
    """CPU seconds (user, system) of a process and its resident memory peak so far."""

    user: float
    system: float
    rss_peak: int  #: VmHWM, bytes

    @property
    def cpu(self) -> float:
        """user + system."""
        return self.user + self.system


def proc_stats(pid: int) -> ProcStats:
    """``ProcStats`` of a running process (/proc/PID/stat and status). BenchError if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:
        raise BenchError(f"process {pid} is gone: {exc}") from None
    return parse_proc_stats(stat, status, os.sysconf("SC_CLK_TCK"))


def parse_proc_stats(stat: str, status: str, clock_ticks: int) -> ProcStats:
    """``ProcStats`` from the text of /proc/PID/stat and /proc/PID/status."""
    fields = stat[stat.rindex(")") + 2:].split()
    hwm = 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return ProcStats(int(fields[11]) / clock_ticks, int(fields[12]) / clock_ticks, hwm)


def worker_pid(pid: int, wait: float = 5.0) -> int:
    """The process doing the work: ``pid`` itself, or its only child if it is a monitor that
    started one (Syncthing without --no-restart). Waits up to ``wait`` s for a child to show."""
    deadline = time.monotonic() + wait
    while True:
        kids: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                kids += [int(k) for k in
                         Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        if len(kids) == 1:
            return kids[0]
        if time.monotonic() >= deadline:
            return pid
        time.sleep(0.1)


# -- watching files arrive ------------------------------------------------------------------------


class TreeWatcher(threading.Thread):
    """Lists the expected leaf folders of a tree every ``WATCH_INTERVAL`` s: when the first entry
    (a temp file or a final one) appeared in any of them, and when every folder held its final
    files. ``is_temp(name)`` says which names are a tool's temp files (not counted as final).

    Tools rename a complete file into place, so a final name means a complete file. Times are
    ``time.monotonic()`` (system-wide: comparable with other processes' clocks). A folder that
    holds all its files is not listed again, so a pass costs little near the end."""

    def __init__(self, root: Path, per_folder: dict[str, int],
                 is_temp: Callable[[str], bool]) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.per_folder = dict(per_folder)
        self.is_temp = is_temp
        self.first: float | None = None
        self.last: float | None = None
        self.passes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        pending = dict(self.per_folder)
        while pending and not self._stop_event.is_set():
            self.passes += 1
            for folder in list(pending):
                try:
                    with os.scandir(self.root / folder) as it:
                        names = [entry.name for entry in it]
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if names and self.first is None:
                    self.first = time.monotonic()
                if sum(1 for name in names if not self.is_temp(name)) >= pending[folder]:
                    del pending[folder]
            if not pending:
                self.last = time.monotonic()
                break
            self._stop_event.wait(WATCH_INTERVAL)

    def wait(self, timeout: float, alive: Callable[[], None]) -> None:
        """Wait until every file is in place; ``alive()`` is called every 0.5 s (it raises when
        a process died). RowTimeout on timeout (the watcher is stopped)."""
        deadline = time.monotonic() + timeout
        while self.is_alive():
            self.join(0.5)
            alive()
            if time.monotonic() > deadline:
                self.stop()
                raise RowTimeout(f"not every file arrived in {self.root} within {timeout:g} s")

    def count_final(self) -> int:
        """How many final files (not temp files) the expected folders hold now."""
        count = 0
        for folder in self.per_folder:
            try:
                with os.scandir(self.root / folder) as it:
                    count += sum(1 for e in it if e.is_file() and not self.is_temp(e.name))
            except (FileNotFoundError, NotADirectoryError):
                pass
        return count

    def stop(self) -> None:
        """End the watcher."""
        self._stop_event.set()
        self.join()
