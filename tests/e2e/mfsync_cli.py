"""Helpers for end-to-end tests that run the real ``mfsync`` command inside a :class:`netns.Lan`.

Every mfsync process is started through a :class:`netns.Host` (so inside a network namespace of
the harness, never in the root namespace), with its own ``HOME`` so that each host has its own
``~/.mfsync`` (identity, config, remembered hosts).

Typical use::

    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    share = a.share(folder, "--name", "alpha")
    result = b.mfsync("fetch")
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from netns import Host, Lan

__all__ = [
    "READY_TIMEOUT",
    "RUN_TIMEOUT",
    "CliHost",
    "Running",
    "cli_hosts",
    "make_tree",
    "run_concurrently",
]

#: How long a ``share`` may take to print its "Sharing N files ..." line.
READY_TIMEOUT = 20.0
#: Upper bound for one short-lived mfsync command (fetch, --list-hosts, ...).
RUN_TIMEOUT = 30.0

KEY_RE = re.compile(r"^[0-9A-F]{64}$")
SHARING_RE = re.compile(r"^Sharing (\d+) files from .* on TCP port (\d+) ")


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create ``root`` with ``files`` (relative POSIX path -> content); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


class _LineReader:
    """Reads a text pipe in a daemon thread, keeping every line (without its newline)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        try:
            for line in stream:
                line = line.rstrip("\n")
                with self._lock:
                    self.lines.append(line)
                self._queue.put(line)
        except (OSError, ValueError):  # closed under us when the LAN shuts down
            pass
        finally:
            self._queue.put(None)

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(line + "\n" for line in self.lines)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def wait_line(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first line (old or new) matching ``pattern`` within ``timeout`` s, else None."""
        deadline = time.monotonic() + timeout
        for line in self.snapshot():
            if m := pattern.search(line):
                return m
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                return None
            if line is None:  # end of stream: nothing more can come
                return None
            if m := pattern.search(line):
                return m

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class Running:
    """A long-running mfsync process (share, fetch --follow) with its output collected live."""

    def __init__(self, host: CliHost, proc: subprocess.Popen[str], argv: Sequence[str]) -> None:
        self.host = host
        self.proc = proc
        self.argv = list(argv)
        self.stdout = _LineReader(proc.stdout)
        self.stderr = _LineReader(proc.stderr)
        self.port: int | None = None
        """For ``share``: the TCP port from its "Sharing ..." line (after :meth:`wait_ready`)."""
        self.file_count: int | None = None

    def __repr__(self) -> str:
        return f"Running({self.host.host!r}, {self.argv!r})"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def describe(self) -> str:
        """Everything we know, for assertion messages."""
        return (
            f"{self.argv} on {self.host.host}: returncode={self.proc.poll()}\n"
            f"--- stdout ---\n{self.stdout.text}--- stderr ---\n{self.stderr.text}"
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> Running:
        """Wait for the "Sharing N files ... on TCP port P" line; fail the test without it."""
        m = self.stdout.wait_line(SHARING_RE, timeout)
        assert m is not None, f"share did not become ready within {timeout} s\n{self.describe()}"
        self.file_count, self.port = int(m.group(1)), int(m.group(2))
        return self

    def wait(self, timeout: float) -> int:
        """Wait for the exit (raises ``subprocess.TimeoutExpired``); drain the readers."""
        code = self.proc.wait(timeout=timeout)
        self.stdout.join(5)
        self.stderr.join(5)
        return code

    def interrupt(self) -> None:
        self.host.host.interrupt(self.proc)

    def stop(self) -> int:
        return self.host.host.terminate(self.proc)


class CliHost:
    """A :class:`netns.Host` plus its own ``HOME``: runs ``python -m mfsync`` there."""

    def __init__(self, host: Host, home: Path) -> None:
        self.host = host
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self._public_key: str | None = None

    def __repr__(self) -> str:
        return f"CliHost({self.host.address}, home={str(self.home)!r})"

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def state_dir(self) -> Path:
        """This host's ``~/.mfsync``."""
        return self.home / ".mfsync"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def argv(self, *args: str | os.PathLike[str]) -> list[str]:
        return [sys.executable, "-m", "mfsync", *(os.fspath(a) for a in args)]

    def mfsync(
        self, *args: str | os.PathLike[str], timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run ``mfsync ARGS...`` in this host to completion; text output captured."""
        return self.host.run(self.argv(*args), env=self.env, text=True, timeout=timeout)

    def start(self, *args: str | os.PathLike[str]) -> Running:
        """Start ``mfsync ARGS...`` in this host and collect its output in the background."""
        argv = self.argv(*args)
        proc = self.host.popen(argv, env=self.env, text=True)
        return Running(self, proc, argv)

    def share(self, directory: Path, *args: str | os.PathLike[str]) -> Running:
        """Start ``mfsync share DIRECTORY ARGS...`` and wait until it says it is sharing."""
        return self.start("share", directory, *args).wait_ready()

    def public_key(self) -> str:
        """This host's key as ``mfsync --public-key`` prints it (creating the key if need be)."""
        if self._public_key is None:
            result = self.mfsync("--public-key")
            assert result.returncode == 0, result
            key = result.stdout.strip()
            assert KEY_RE.match(key), result
            self._public_key = key
        return self._public_key


def cli_hosts(lan: Lan, tmp_path: Path) -> list[CliHost]:
    """One :class:`CliHost` per host of ``lan``, each with its own home under ``tmp_path``."""
    return [CliHost(h, tmp_path / f"home-{lan.subnet_id}-{h.index}") for h in lan.hosts]


def run_concurrently(
    jobs: Sequence[tuple[CliHost, Sequence[str | os.PathLike[str]]]],
    timeout: float = RUN_TIMEOUT,
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``mfsync`` commands on several hosts at once; results in the order of ``jobs``."""
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = [pool.submit(h.mfsync, *args, timeout=timeout) for h, args in jobs]
        return [f.result() for f in futures]


# -- helpers for the transfer and sync tests ---------------------------------------------------


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, hidden ones included: relative POSIX path -> content."""
    tree: dict[str, bytes] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            tree[path.relative_to(root).as_posix()] = path.read_bytes()
    return tree


def kill_now(running: Running) -> int:
    """SIGKILL the process group of ``running`` at once (no clean shutdown); returns its code.

    Only while the leader is unreaped, so the group id is still the one the harness created.
    """
    import signal  # noqa: PLC0415 - kept local: this block is appended to the module

    if running.proc.poll() is None:
        os.killpg(running.proc.pid, signal.SIGKILL)
    return running.wait(10)


def tx_bytes(host: CliHost) -> int:
    """Bytes sent so far by ``host``'s LAN interface (read inside its own namespace)."""
    path = f"/sys/class/net/{host.host.interface}/statistics/tx_bytes"
    result = host.host.run(["cat", path], text=True, timeout=10)
    assert result.returncode == 0, result
    return int(result.stdout)


def limit_egress(host: CliHost, rate: str | None) -> None:
    """Cap what ``host`` sends on its LAN interface (a ``tbf`` qdisc, e.g. ``"400mbit"``), or
    with None remove the cap. Configured from inside the host's namespace, on its own veth."""
    import shutil  # noqa: PLC0415 - kept local: this block is appended to the module

    tc = shutil.which("tc") or "/usr/sbin/tc"
    dev = ["dev", host.host.interface, "root"]
    if rate is None:
        argv = [tc, "qdisc", "del", *dev]
    else:
        argv = [tc, "qdisc", "replace", *dev, *f"tbf rate {rate} burst 1mb latency 100ms".split()]
    result = host.host.run(argv, text=True, timeout=10)
    assert result.returncode == 0, result
