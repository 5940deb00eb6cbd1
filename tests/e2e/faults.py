"""Helpers for the fault-injection tests (``test_faults.py``): what a fault does to a host, and
how the tests look at the files it leaves behind.

Every fault stays inside the harness: signals go to process groups the LAN started (by their
pid, while the leader is unreaped), link cuts go through :meth:`netns.Host.cut_link`, and the
small disk of :class:`SmallDisk` is a tmpfs mounted in a private mount namespace of its own, so
it can never stay mounted on the machine: it vanishes with the last process inside it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from mfsync_cli import CliHost, Running, tx_bytes

__all__ = [
    "MiB",
    "SmallDisk",
    "occupied",
    "partials",
    "serving_host",
    "sha256_of",
    "signal_group",
    "start_with_prefix",
    "wait_occupied",
    "write_random",
]

MiB = 1024 * 1024
PARTIAL_RE = re.compile(r"(^|/)\.[^/]*\.mfsync-part$")


def write_random(path: Path, size: int, *, in_place: bool = False) -> str:
    """Fill ``path`` with ``size`` random bytes (no holes); returns their SHA-256 (hex).
    ``in_place`` overwrites the existing file's bytes (same inode, as a database or a disk
    image is written) instead of replacing its content with a truncating open."""
    digest = hashlib.sha256()
    with path.open("r+b" if in_place else "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(MiB, left))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """SHA-256 (hex) of the file at ``path``: an independent check, not mfsync's own hash."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def occupied(path: Path) -> int:
    """Bytes ``path`` occupies on disk, -1 when it does not exist.

    A partial is created at its final size but sparse, so what it occupies is how much has
    been written (for files without zero blocks, which is what these tests transfer).
    """
    try:
        return path.stat().st_blocks * 512
    except FileNotFoundError:
        return -1


def partials(root: Path) -> list[str]:
    """Partial downloads (``.NAME.mfsync-part``) anywhere under ``root``."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if PARTIAL_RE.search(rel):
                found.append(rel)
    return sorted(found)


def wait_occupied(
    path: Path, low: int, high: int, running: Running, timeout: float = 60.0
) -> int | None:
    """Poll until ``path`` occupies between ``low`` and ``high`` bytes; returns that figure.

    None when the window was missed (overshot, the process ended, or ``timeout`` passed): the
    caller fails the test with what it knows.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running.alive():
        now = occupied(path)
        if low <= now <= high:
            return now
        if now > high:
            return None
        time.sleep(0.005)
    return None


def serving_host(candidates: Sequence[CliHost], interval: float = 0.5, *,
                 alone: bool = True) -> CliHost:
    """The one of ``candidates`` that is sending a transfer: the one whose LAN interface sent
    the most bytes during ``interval`` seconds (announcements are a few hundred); ``alone``:
    by far the most (a file that several hosts offer is fetched from all of them at once,
    PROTOCOL.md 2.7 step 5b: then any of those sending will do)."""
    before = [tx_bytes(h) for h in candidates]
    time.sleep(interval)
    sent = [tx_bytes(h) - b for h, b in zip(candidates, before, strict=True)]
    best = max(range(len(candidates)), key=lambda i: sent[i])
    assert sent[best] > 256 * 1024, f"nobody seems to be sending: {sent}"
    if alone:
        assert all(s < sent[best] / 10 for i, s in enumerate(sent) if i != best), sent
    return candidates[best]


def signal_group(running: Running, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group the harness started for ``running`` (only while its
    leader is unreaped, so the group id is still ours)."""
    assert running.proc.poll() is None, running.describe()
    os.killpg(running.proc.pid, sig)


def start_with_prefix(
    host: CliHost, prefix: Sequence[str], *args: str | os.PathLike[str]
) -> Running:
    """Start ``PREFIX... mfsync ARGS...`` on ``host`` (e.g. inside :class:`SmallDisk`'s mount
    namespace) with its output collected, like :meth:`CliHost.start`."""
    argv = [*prefix, *host.argv(*args)]
    proc = host.host.popen(argv, env=host.env, text=True)
    return Running(host, proc, argv)


class SmallDisk:
    """A tmpfs of a given size at ``mountpoint``, seen only by the processes started in it.

    How it works: a holder process is started on ``host`` under ``unshare -m`` (a private
    mount namespace, so nothing propagates to the machine's mounts), mounts the tmpfs there
    and sleeps. mfsync runs inside that namespace through :attr:`prefix` (``nsenter -t HOLDER
    -m``); the test reads and writes the disk through :meth:`path` (``/proc/HOLDER/root/...``).
    :meth:`resize` remounts it with another size, keeping its files. Closing stops the holder;
    once no process is left in the namespace the kernel unmounts and frees the tmpfs, so even
    a test that dies half way cannot leave it mounted.
    """

    def __init__(self, host: CliHost, mountpoint: Path, size: str) -> None:
        self.host = host
        self.mountpoint = mountpoint
        mountpoint.mkdir(parents=True, exist_ok=True)
        unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
        mount = shutil.which("mount") or "/usr/bin/mount"
        if unshare is None or nsenter is None:
            raise RuntimeError("unshare and nsenter (util-linux) are needed for a small disk")
        self._nsenter = nsenter
        self._mount = mount
        script = (
            f'{mount} -t tmpfs -o size="$1",mode=0755 mfsync-test-small-disk "$2" '
            "&& echo mounted && exec sleep 100000"
        )
        self.holder = host.host.popen(
            [unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", size,
             str(mountpoint)],
            text=True,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line != "mounted\n":
            self.close()
            raise RuntimeError(f"could not mount the small disk: {line!r} {self.holder.poll()}")
        with open(f"/proc/{self.holder.pid}/mountinfo") as info:
            assert any(f" {mountpoint} " in row and "tmpfs" in row for row in info), mountpoint

    @property
    def prefix(self) -> list[str]:
        """Put before a command to run it inside the small disk's mount namespace."""
        return [self._nsenter, "-t", str(self.holder.pid), "-m", "--"]

    def path(self, inside: Path | None = None) -> Path:
        """Where the test process sees ``inside`` (default: the mount point) of the namespace."""
        return Path(f"/proc/{self.holder.pid}/root") / (inside or self.mountpoint).relative_to("/")

    def resize(self, size: str) -> None:
        """Remount the tmpfs with ``size`` (e.g. ``"64m"``): frees space, keeps the files."""
        result = self.host.host.run(
            [*self.prefix, self._mount, "-o", f"remount,size={size}", str(self.mountpoint)],
            text=True, timeout=20,
        )
        assert result.returncode == 0, result

    def free(self) -> int:
        """Bytes free on the small disk."""
        return shutil.disk_usage(self.path()).free

    def close(self) -> None:
        """Stop the holder: the namespace, and with it the tmpfs, goes away."""
        self.host.host.terminate(self.holder, grace=2.0)
        if self.holder.stdout is not None:
            self.holder.stdout.close()

    def __enter__(self) -> SmallDisk:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def never_mounted_here(mountpoint: Path) -> bool:
    """Whether the test's own mount namespace shows no mount at ``mountpoint`` (the small
    disk must never leak out of its private namespace)."""
    with open("/proc/self/mountinfo") as info:
        return not any(f" {mountpoint} " in row for row in info)


def poll(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Whether ``predicate`` became true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def run_to_end(running: Running, timeout: float) -> subprocess.CompletedProcess[str]:
    """Wait for ``running`` to exit; its code and collected output as a CompletedProcess."""
    code = running.wait(timeout)
    return subprocess.CompletedProcess(running.argv, code, running.stdout.text,
                                       running.stderr.text)
