"""The two sides of each tool that benchmarks/versus.py compares, behind one small interface
(``Pair``): start both sides on empty folders and wait until they see each other, name the
processes to measure, say which names are temp files, stop.

* ``MfsyncPair``: ``python -m mfsync -v --name hA sync DIR`` on host A and B (the options
  benchmarks/swarm.py uses in namespaces: the default discovery group and port, said
  explicitly, each host a fresh ``HOME`` so a fresh key). Ready when each side's log says it
  fetched the other's index (``mfsync: ADDRESS:PORT (NAME, key ...): N files``).
* ``SyncthingPair``: ``syncthing serve`` on both hosts, configured through REST
  (benchmarks/_syncthing.py). Ready when each side has the other connected and its folder idle.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, BenchError, check_not_wrapper, tail
from _syncthing import Syncthing, is_temp_name

__all__ = ["MfsyncPair", "Pair", "SyncthingPair", "mfsync_env"]

GROUP = "239.255.0.1"
UDP_PORT = 30001
READY_TIMEOUT = 90.0
#: mfsync's partial downloads: ``.NAME.mfsync-part`` (mfsync.store.safe_paths.PARTIAL_SUFFIX;
#: spelled out so that this script imports nothing of mfsync).
PARTIAL_SUFFIX = ".mfsync-part"
INDEX_RE = re.compile(r"^mfsync: \S+:\d+ \(.*, key .*\): \d+ files$", re.MULTILINE)
#: Numbers the starts of every pair of the run (log and home names stay unique).
_STARTS = itertools.count(1)


def mfsync_env(home: Path, pycache: Path) -> dict[str, str]:
    """The environment of one mfsync process: a HOME of its own, PYTHONPATH passed on (so one
    checkout's benchmark can time another's code), a shared bytecode cache."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "HOME": str(home), "PYTHONUNBUFFERED": "1", "PYTHONPYCACHEPREFIX": str(pycache)}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", str(ROOT / "app"))
    return env


def mfsync_argv(name: str, *args: str) -> list[str]:
    """``python -m mfsync -v --name NAME <discovery options> ARGS``."""
    return [sys.executable, "-m", "mfsync", "-v", "--multicast-address", GROUP,
            "--multicast-port", str(UDP_PORT), "--name", name, *args]


class Pair:
    """Both sides of one tool, on hosts A (the sender) and B (the receiver)."""

    label = ""

    def start(self, folder_a: Path, folder_b: Path) -> None:
        """Start both sides on these (empty) folders; return once they see each other."""
        raise NotImplementedError

    def pids(self) -> tuple[int, int]:
        """The pids of A's and B's processes (the ones doing the work)."""
        raise NotImplementedError

    def is_temp(self, name: str) -> bool:
        """Whether ``name`` is one of the tool's temp files."""
        raise NotImplementedError

    def check_alive(self) -> None:
        """BenchError if a side exited."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop both sides (each by its pid)."""
        raise NotImplementedError


class MfsyncPair(Pair):
    """``mfsync sync`` on A and on B."""

    label = "mfsync"

    def __init__(self, hosts: list[Any], work: Path, pycache: Path) -> None:
        self.hosts = hosts
        self.work = work
        self.pycache = pycache
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, folder_a: Path, folder_b: Path) -> None:
        self._run = next(_STARTS)
        self.procs, self.logs = [], []
        for side, host, folder in (("A", self.hosts[0], folder_a), ("B", self.hosts[1],
                                                                     folder_b)):
            log = self.work / f"mfsync-{self._run}-{side}.log"
            env = mfsync_env(self.work / f"mfsync-home-{self._run}-{side}", self.pycache)
            with log.open("wb") as out:
                self.procs.append(host.popen(mfsync_argv(f"h{side}", "sync", str(folder)),
                                             env=env, stdout=out, stderr=subprocess.STDOUT))
            self.logs.append(log)
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(INDEX_RE.search(log.read_text(errors="replace")) for log in self.logs):
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError("the two mfsync sync did not meet:\n"
                                 + "\n".join(tail(log) for log in self.logs))
            time.sleep(0.05)
        for proc in self.procs:
            check_not_wrapper(proc.pid)

    def pids(self) -> tuple[int, int]:
        return self.procs[0].pid, self.procs[1].pid

    def is_temp(self, name: str) -> bool:
        return name.endswith(PARTIAL_SUFFIX)

    def check_alive(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise BenchError(f"mfsync sync exited with {proc.returncode}:\n{tail(log)}")

    def stop(self) -> None:
        for host, proc in zip(self.hosts, self.procs, strict=False):
            host.terminate(proc, grace=10.0)


class SyncthingPair(Pair):
    """``syncthing serve`` on A and on B, one folder shared between them."""

    def __init__(self, hosts: list[Any], work: Path, exe: str,
                 watcher_delay_s: int | None = None) -> None:
        self.hosts = hosts
        self.work = work
        self.exe = exe
        self.watcher_delay_s = watcher_delay_s
        self.label = ("Syncthing" if watcher_delay_s is None
                      else f"Syncthing, fsWatcherDelayS={watcher_delay_s}")
        self.sides: list[Syncthing] = []

    def start(self, folder_a: Path, folder_b: Path) -> None:
        self._run = next(_STARTS)
        self.sides = [Syncthing(host, self.work / f"st-home-{self._run}-{side}",
                                self.work / f"st-{self._run}-{side}.log", self.exe)
                      for side, host in (("A", self.hosts[0]), ("B", self.hosts[1]))]
        for st in self.sides:
            st.generate()
            st.start()
        a, b = self.sides
        a.configure([(b.device_id, "hB", b.host.address)], folder_a, self.watcher_delay_s)
        b.configure([(a.device_id, "hA", a.host.address)], folder_b, self.watcher_delay_s)
        a.wait_connected(b.device_id)
        b.wait_connected(a.device_id)

    def pids(self) -> tuple[int, int]:
        return self.sides[0].pid, self.sides[1].pid

    def is_temp(self, name: str) -> bool:
        return is_temp_name(name)

    def check_alive(self) -> None:
        for st in self.sides:
            st.check_alive()

    def stop(self) -> None:
        for st in self.sides:
            st.stop()
