"""A 100,000-file share: first index, restart without rehash, listing at a peer, and memory.

Where it runs: every process of this script (it re-executes itself under ``unshare --net``, with
``--map-root-user`` when not run as root) lives in a private network namespace whose only
interface is its own loopback, brought up by the script; it refuses to run (exit 2) when it
cannot have one, or when the namespace shows any other interface. Why: ``mfsync share`` has no
option to listen on 127.0.0.1 only (its TCP server listens on every address), so the discovery
options alone cannot promise that nothing answers from outside; inside the namespace nothing can
reach the machine's network at all. On top of that every mfsync process gets the loopback options
of ``_common.LoopbackRig`` (``--interface 127.0.0.1 --ttl 0``, a random high
``--multicast-port``) and the share a free ``--port``. Every process is ``python -m mfsync``
itself (checked from /proc/PID/cmdline), with ``PYTHONUNBUFFERED=1``, a bytecode cache filled
before anything is timed (two ``--version`` runs), and a fresh temporary ``HOME`` (a fresh key, an
empty index), except the restarted share, which reuses the first share's ``HOME``.

The folder (``--files``, default 100,000; ``--folders``, default 100): file ``k`` is
``dNNN/fKKKKKK.bin`` in folder ``k mod folders``, 100 to 2,000 bytes long (uniform; sizes and
bytes from ``random.Random(--seed)``, so every file differs and every run writes the same
folder); about 105 MB of data at the default size, written to a temporary folder on /tmp before
anything is measured, then ``os.sync()``. The page cache is not dropped: the files stay cached,
so the figures are CPU and system-call costs, not disk reads.

What is measured, in this order:

(0) baseline: ``python -m mfsync --version`` three times, median from the start of the process to
    its exit (``wait4``): the interpreter, the imports of the whole CLI and engine, argparse. It is
    what every mfsync command pays before it can do anything.
(a) first index: ``mfsync share -v DIR``; from starting the process to the moment its
    "Sharing N files ..." line arrives on the pipe that a thread of this script reads. mfsync
    prints that line after ``Node.start()``: the folder is scanned and every file hashed, the
    index saved to its SQLite database (one transaction), the TCP server listening and discovery
    announcing. N must be ``--files``. Shown beside it: CPU seconds (/proc/PID/stat) and the bytes
    the process read through read() calls (``rchar`` of /proc/PID/io) at that moment.
(b) restart: SIGTERM to the share (the time to its exit is shown; it must exit 143, mfsync's code
    after SIGTERM); the index it persisted (``HOME/.mfsync/folders/*.sqlite``,
    store/index_db.py) is opened read-only and must hold one live row per file. Then
    ``mfsync share -v DIR`` again with the same ``HOME``, timed as in (a). Target: <= 5 s. Did it
    rehash? Before the restart the access time of every file is set one second before its
    modification time (``os.utime``; the modification time is written back unchanged, and mfsync
    keys its cache on size, mtime and inode, never ctime). Under ``relatime`` (and
    ``strictatime``) the next read() of such a file moves its access time forward, so once the
    restarted share is ready the files whose access time moved are exactly the files it read.
    The probe is calibrated first: this script reads one file itself and checks that its access
    time moved (then sets it back); where it does not (``noatime``), the files read are reported
    as unknown and ``rchar`` is the only evidence: a full rehash reads every byte of the data
    through read(), so ``rchar`` below the data size rules that out (not a partial rehash;
    ``rchar`` also counts the index database, read twice, and the imports). The row passes
    when the share was ready within 5 s and read no file (without usable access times: when
    ``rchar`` stayed below the data size).
(c) listing at a peer (``--fetch-runs``, default 3, with the restarted share serving): ``mfsync
    fetch -vv --window 600`` in a fresh ``HOME``; plain ``fetch`` prints each path on its own line
    as soon as it knows of it (the ``--json``/``--long`` forms wait out the discovery window on
    purpose, so they would time the window). A thread of this script reads its stdout and stamps
    the moment the ``--files``-th line arrives; the figure is from starting the process to that
    moment, and the verdict uses it minus the baseline (0): the listing's own cost. Then the
    fetch gets SIGTERM (its long window only keeps it from giving up early) and must exit 143;
    the lines must be exactly the files' paths. Shown beside it, in seconds from the start: the
    share discovered and the "N files" line (both from the ``-vv`` log, whose timestamps have
    milliseconds), the first path and the last path on the pipe. The "N files" line is logged
    once the index is received, decoded and checked and the host is remembered (a file write
    off the event loop); the paths are printed from the next status snapshot, which can come
    during that write, so the line may follow the first path. Between the first and the last
    path: fetch printing one line per path (a flush each). Median over the runs; target <= 3 s.
(d) memory: VmRSS and VmHWM of each share process and each fetch are sampled every 0.1 s from
    /proc/PID/status, and VmHWM (the kernel's high-water mark) once more just before the process
    is stopped; the peak is the larger of the two. Shares: the first one over its whole life
    (hashing and saving the index), the restarted one over its whole life (loading the index,
    then serving every fetch of (c)); target <= 200 MB (200,000,000 bytes) each. The fetch side's
    peak (largest over the runs) is shown without a target.

The machine has other work on it (2 cores): the load average at the start and at the end is
printed, and every figure should be read with it. Exit 0 with the measurement (also when a
target is missed); 1 when mfsync fails (a process exits, a count or listing is wrong, a
timeout); 2 for bad arguments, too little free space, or no private network namespace.
``--json PATH`` writes one ``_common.Row`` per figure. Run as root or any user that may create
user namespaces: ``/work/main/.venv/bin/python benchmarks/big_share.py`` (about a minute at
100,000 files on an idle machine, half of it writing and deleting the folder).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from _common import (
    BenchError,
    LoopbackRig,
    Row,
    check_not_wrapper,
    cpu_seconds,
    free_port,
    reap,
    tail,
    write_rows,
)

MIN_SIZE = 100
MAX_SIZE = 2000
MAX_FOLDERS = 1000
RESTART_TARGET_S = 5.0
LISTING_TARGET_S = 3.0
RSS_TARGET = 200_000_000
VERSION_RUNS = 3
#: The first index of 100,000 files on a busy 2-core machine: generous.
READY_TIMEOUT = 900.0
LISTING_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
#: fetch's discovery window: long enough never to end a listing; it is stopped once done.
FETCH_WINDOW = 600
SAMPLE_INTERVAL = 0.1
#: Access times are set back by this much before the restart (see the module's docstring).
ATIME_BACK_NS = 1_000_000_000
#: Set in the environment of the re-executed script, inside the private network namespace.
NETNS_MARK = "MFSYNC_BENCH_BIG_SHARE_NETNS"
EXIT_TERMINATED = 143
PR_SET_PDEATHSIG = 1
_SHARING = re.compile(rb"Sharing (\d+) files ")
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\S+) (\w+) (.*)$")


# -- the private network namespace ------------------------------------------------------------


def _ip_tool() -> str | None:
    return shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.access(p, os.X_OK)), None)


def run_isolated(argv: list[str]) -> int:
    """Run this script again inside a private network namespace; its exit code, or 2 when no
    such namespace can be made here."""
    unshare, ip = shutil.which("unshare"), _ip_tool()
    if unshare is None or ip is None:
        print("big_share: needs `unshare` and `ip` (util-linux, iproute2) to run mfsync in a "
              "private network namespace", file=sys.stderr)
        return 2
    prefix = [unshare, "--net", *([] if os.geteuid() == 0 else ["--map-root-user"]), "--"]
    probe = subprocess.run([*prefix, ip, "link", "set", "lo", "up"], capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0:
        print("big_share: cannot create a private network namespace (run as root, or allow "
              f"user namespaces): {probe.stderr.strip()}", file=sys.stderr)
        return 2
    env = {**os.environ, NETNS_MARK: "1"}
    try:
        return subprocess.run([*prefix, sys.executable, os.fspath(Path(__file__).resolve()),
                               *argv], env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130


def enter_loopback_only() -> None:
    """Inside the namespace: bring loopback up and make sure it is the only interface."""
    ip = _ip_tool()
    assert ip is not None
    subprocess.run([ip, "link", "set", "lo", "up"], check=True, capture_output=True)
    names = sorted(name for _, name in socket.if_nameindex())
    if names != ["lo"]:
        raise BenchError(f"the network namespace has interfaces {names}, expected only lo")


# -- the folder -------------------------------------------------------------------------------


@dataclass
class Tree:
    """The shared folder as written: wire paths and the total of their sizes."""

    root: Path
    paths: list[str]
    data_bytes: int


def make_tree(root: Path, files: int, folders: int, seed: int) -> Tree:
    """Write the folder described in the module's docstring."""
    rng = random.Random(seed)  # reproducible test data, not secrets
    for d in range(folders):
        (root / f"d{d:03d}").mkdir(parents=True)
    paths: list[str] = []
    total = 0
    for k in range(files):
        rel = f"d{k % folders:03d}/f{k:06d}.bin"
        size = rng.randint(MIN_SIZE, MAX_SIZE)
        (root / rel).write_bytes(rng.randbytes(size))
        paths.append(rel)
        total += size
    return Tree(root, paths, total)


class AtimeProbe:
    """Tells which files of a tree a process read, by their access times (module docstring)."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.usable = False
        self._expected: dict[str, int] = {}

    def arm(self) -> None:
        """Set every file's access time one second before its modification time; check that a
        read moves it (on one file, set back afterwards)."""
        for rel in self.tree.paths:
            full = self.tree.root / rel
            mtime = full.stat().st_mtime_ns
            os.utime(full, ns=(mtime - ATIME_BACK_NS, mtime))
            self._expected[rel] = mtime - ATIME_BACK_NS
        probe = self.tree.root / self.tree.paths[0]
        probe.read_bytes()
        self.usable = probe.stat().st_atime_ns != self._expected[self.tree.paths[0]]
        mtime = probe.stat().st_mtime_ns
        os.utime(probe, ns=(mtime - ATIME_BACK_NS, mtime))
        self._expected[self.tree.paths[0]] = mtime - ATIME_BACK_NS

    def files_read(self) -> int | None:
        """How many files were read since ``arm``; None when access times tell nothing here."""
        if not self.usable:
            return None
        return sum((self.tree.root / rel).stat().st_atime_ns != atime
                   for rel, atime in self._expected.items())


# -- watching processes -------------------------------------------------------------------------


class LineCounter(threading.Thread):
    """Reads a child's pipe to its end; stamps (perf_counter) when the first and when the
    ``want``-th line are complete. ``data`` keeps everything read."""

    def __init__(self, stream: IO[bytes], want: int) -> None:
        super().__init__(daemon=True)
        self._fd = stream.fileno()
        self.want = want
        self.data = bytearray()
        self.lines = 0
        self.first_at: float | None = None
        self.reached_at: float | None = None
        self.done = threading.Event()  # the want-th line arrived, or the pipe ended

    def run(self) -> None:
        try:
            while chunk := os.read(self._fd, 1 << 16):
                now = time.perf_counter()
                self.data += chunk
                self.lines += chunk.count(b"\n")
                if self.first_at is None and self.lines:
                    self.first_at = now
                if self.reached_at is None and self.lines >= self.want:
                    self.reached_at = now
                    self.done.set()
        except OSError:
            pass
        finally:
            self.done.set()


@dataclass
class Peak:
    """Memory of one process as sampled (bytes)."""

    label: str
    pid: int
    rss: int = 0
    hwm: int = 0
    samples: int = 0

    @property
    def peak(self) -> int:
        """The larger of the peak sampled VmRSS and the largest VmHWM read."""
        return max(self.rss, self.hwm)


class MemorySampler(threading.Thread):
    """Reads VmRSS and VmHWM of the tracked processes every ``SAMPLE_INTERVAL`` s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._tracks: list[Peak] = []
        self._lock = threading.Lock()
        self._stop_event = threading.Event()

    def track(self, label: str, pid: int) -> Peak:
        """Start sampling ``pid``."""
        peak = Peak(label, pid)
        with self._lock:
            self._tracks.append(peak)
        self.sample(peak)
        return peak

    def sample(self, peak: Peak) -> None:
        """Take one sample of ``peak`` now (e.g. just before the process is stopped)."""
        values = read_proc_fields(f"/proc/{peak.pid}/status", ("VmRSS", "VmHWM"))
        if "VmRSS" not in values:
            return  # gone, or a zombie
        with self._lock:
            peak.samples += 1
            peak.rss = max(peak.rss, values["VmRSS"] * 1024)
            peak.hwm = max(peak.hwm, values.get("VmHWM", 0) * 1024)

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_INTERVAL):
            with self._lock:
                tracks = list(self._tracks)
            for peak in tracks:
                self.sample(peak)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop_event.set()
        if self.is_alive():
            self.join()


def read_proc_fields(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    """Integer fields ``KEY: N ...`` of a /proc file (status, io); missing ones are left out."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in keys and rest.split():
            values[key] = int(rest.split()[0])
    return values


# Looked up here, before any thread starts: the child calls it between fork and exec, where
# loading anything (dlopen takes a lock another thread may have held at the fork) could hang.
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """In a child, before exec: get SIGTERM when this script dies, even by an abort."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


# -- the benchmark --------------------------------------------------------------------------------


@dataclass
class ShareRun:
    """One ``mfsync share`` process from its start to its readiness."""

    label: str
    proc: subprocess.Popen[bytes]
    log: Path
    ready_s: float
    cpu_s: float
    rchar: int
    memory: Peak
    stop_s: float = 0.0


@dataclass
class FetchRun:
    """One ``mfsync fetch`` until it listed every file."""

    n: int
    whole_s: float
    first_s: float
    discovered_s: float | None
    index_s: float | None
    cpu_s: float
    share_cpu_s: float
    memory: Peak


@dataclass
class Results:
    """Everything measured, for the printout and the rows."""

    files: int
    data_bytes: int
    version_s: list[float] = field(default_factory=list)
    first: ShareRun | None = None
    restart: ShareRun | None = None
    db_rows: int = 0
    db_bytes: int = 0
    files_read: int | None = None
    fetches: list[FetchRun] = field(default_factory=list)


class BigShare:
    """Runs the parts of the benchmark over one folder with one ``LoopbackRig``."""

    def __init__(self, rig: LoopbackRig, tree: Tree, results: Results) -> None:
        self.rig = rig
        self.tree = tree
        self.results = results
        self.memory = MemorySampler()
        self.port = free_port()

    def popen(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """``python -m mfsync ARGV <loopback options>``, stdout a pipe, stderr into ``log``."""
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [self.rig.py, "-m", "mfsync", *argv, *self.rig.loopback_args()], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, nothing that locks
            )
        self.rig.procs.append(proc)
        return proc

    def version_baseline(self) -> None:
        """(0): ``python -m mfsync --version``, timed to its exit."""
        for _ in range(VERSION_RUNS):
            env = self.rig.env("version")
            t0 = time.perf_counter()
            proc = subprocess.Popen([self.rig.py, "-m", "mfsync", "--version"], env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            t_end, code, _, _ = reap(proc, 120.0)
            if code != 0:
                raise BenchError(f"mfsync --version exited with {code}")
            self.results.version_s.append(t_end - t0)

    def start_share(self, env: dict[str, str], label: str) -> ShareRun:
        """(a)/(b): start ``share -v DIR``; return once it printed its "Sharing" line."""
        log = self.rig.tmp / f"share-{label}.log"
        argv = ["share", "-v", str(self.tree.root), "--port", str(self.port)]
        t0 = time.perf_counter()
        proc = self.popen(argv, env, log)
        assert proc.stdout is not None
        reader = LineCounter(proc.stdout, 1)
        reader.start()
        memory = self.memory.track(f"share ({label})", proc.pid)
        if not reader.done.wait(READY_TIMEOUT) or reader.reached_at is None:
            if proc.poll() is not None:
                raise BenchError(f"share ({label}) exited with {proc.returncode}:\n{tail(log)}")
            raise BenchError(f"share ({label}) not ready within {READY_TIMEOUT:g} s:\n{tail(log)}")
        ready = reader.reached_at - t0
        cpu = cpu_seconds(proc.pid)
        rchar = read_proc_fields(f"/proc/{proc.pid}/io", ("rchar",)).get("rchar")
        check_not_wrapper(proc.pid)
        match = _SHARING.search(bytes(reader.data))
        if match is None or int(match.group(1)) != len(self.tree.paths):
            raise BenchError(f"share ({label}) printed {bytes(reader.data)[:200]!r}, "
                             f"not 'Sharing {len(self.tree.paths)} files'")
        if cpu is None or rchar is None:
            raise BenchError(f"share ({label}): /proc/{proc.pid} unreadable")
        return ShareRun(label, proc, log, ready, cpu, rchar, memory)

    def stop_share(self, run: ShareRun) -> None:
        """SIGTERM; the share must exit 143 within ``STOP_TIMEOUT``."""
        self.memory.sample(run.memory)
        t0 = time.perf_counter()
        run.proc.terminate()
        t_end, code, _, _ = reap(run.proc, STOP_TIMEOUT)
        run.stop_s = t_end - t0
        if run.proc.stdout is not None:
            run.proc.stdout.close()
        if code != EXIT_TERMINATED:
            raise BenchError(f"share ({run.label}) exited with {code} after SIGTERM, not "
                             f"{EXIT_TERMINATED}:\n{tail(run.log)}")

    def check_index_db(self, home: Path) -> None:
        """The persisted index: one database, one live row per file."""
        dbs = sorted((home / ".mfsync" / "folders").glob("*.sqlite"))
        if len(dbs) != 1:
            raise BenchError(f"expected one index database under {home}/.mfsync/folders, "
                             f"found {[p.name for p in dbs]}")
        db = dbs[0]
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT count(*) FROM files WHERE deleted = 0").fetchone()[0]
        except sqlite3.Error as exc:
            raise BenchError(f"cannot read the index {db}: {exc}") from None
        finally:
            conn.close()
        if rows != len(self.tree.paths):
            raise BenchError(f"the index {db} holds {rows} files, not {len(self.tree.paths)}")
        self.results.db_rows = rows
        self.results.db_bytes = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))

    def fetch(self, n: int, share: ShareRun) -> FetchRun:
        """(c): one ``fetch``, timed until it printed every path."""
        log = self.rig.tmp / f"fetch-{n}.log"
        want = len(self.tree.paths)
        share_cpu0 = cpu_seconds(share.proc.pid) or 0.0
        wall0 = time.time()
        t0 = time.perf_counter()
        argv = ["fetch", "-vv", "--window", str(FETCH_WINDOW)]
        proc = self.popen(argv, self.rig.env(f"fetch-{n}"), log)
        assert proc.stdout is not None
        reader = LineCounter(proc.stdout, want)
        reader.start()
        memory = self.memory.track(f"fetch {n}", proc.pid)
        check_not_wrapper(proc.pid)
        reader.done.wait(LISTING_TIMEOUT)
        if reader.reached_at is None:
            code = proc.poll()
            why = f"exited with {code}" if code is not None else (
                f"did not list them within {LISTING_TIMEOUT:g} s")
            raise BenchError(f"fetch {n}: {reader.lines} of {want} paths; it {why}:\n{tail(log)}")
        whole = reader.reached_at - t0
        first = (reader.first_at or reader.reached_at) - t0
        cpu = cpu_seconds(proc.pid) or 0.0
        share_cpu = (cpu_seconds(share.proc.pid) or 0.0) - share_cpu0
        self.memory.sample(memory)
        proc.terminate()
        _, code, _, _ = reap(proc, STOP_TIMEOUT)
        reader.join()
        proc.stdout.close()
        if code != EXIT_TERMINATED:
            raise BenchError(f"fetch {n} exited with {code} after SIGTERM:\n{tail(log)}")
        listed = bytes(reader.data).decode("utf-8", errors="replace").splitlines()
        if sorted(listed) != sorted(self.tree.paths):
            extra = sorted(set(listed) - set(self.tree.paths))[:3]
            missing = sorted(set(self.tree.paths) - set(listed))[:3]
            raise BenchError(f"fetch {n} listed {len(listed)} lines, not the {want} paths "
                             f"(e.g. extra {extra}, missing {missing})")
        discovered, index = _log_moments(log, wall0, want)
        return FetchRun(n, whole, first, discovered, index, cpu, share_cpu, memory)


def _log_moments(log: Path, wall0: float, want: int) -> tuple[float | None, float | None]:
    """From a ``-vv`` log: seconds after ``wall0`` at which the share was discovered and at
    which its index of ``want`` files was received."""
    discovered = index = None
    for line in log.read_text(errors="replace").splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
        at = stamp + int(match.group(2)) / 1000 - wall0
        message = match.group(5)
        if discovered is None and message.startswith("discovered "):
            discovered = at
        if index is None and message.endswith(f": {want} files"):
            index = at
    return discovered, index


def measure(args: argparse.Namespace, tmp: Path, results: Results) -> None:
    """Every part, in order (see the module's docstring)."""
    enter_loopback_only()
    rig = LoopbackRig(tmp)
    t = time.perf_counter()
    tree = make_tree(tmp / "share", args.files, args.folders, args.seed)
    os.sync()
    results.data_bytes = tree.data_bytes
    print(f"folder: {args.files} files in {args.folders} folders, {tree.data_bytes / 1e6:.1f} MB, "
          f"written in {time.perf_counter() - t:.1f} s", flush=True)
    bench = BigShare(rig, tree, results)
    bench.memory.start()
    try:
        try:
            rig.warm()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise BenchError(f"python -m mfsync --version failed: {exc}") from None
        bench.version_baseline()
        print(f"baseline: python -m mfsync --version "
              f"{statistics.median(results.version_s):.2f} s (median of {VERSION_RUNS})",
              flush=True)
        share_env = rig.env("share")
        first = results.first = bench.start_share(share_env, "first")
        print(f"(a) first index: ready after {first.ready_s:.2f} s", flush=True)
        bench.stop_share(first)
        bench.check_index_db(Path(share_env["HOME"]))
        probe = AtimeProbe(tree)
        probe.arm()
        restart = results.restart = bench.start_share(share_env, "restart")
        results.files_read = probe.files_read()
        print(f"(b) restart: ready after {restart.ready_s:.2f} s; files read: "
              f"{'unknown' if results.files_read is None else results.files_read}", flush=True)
        for n in range(1, args.fetch_runs + 1):
            run = bench.fetch(n, restart)
            results.fetches.append(run)
            print(f"(c) fetch {n}: all {args.files} paths after {run.whole_s:.2f} s", flush=True)
        bench.stop_share(restart)
    finally:
        bench.memory.stop()
        rig.stop_all()


# -- the report -----------------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _opt(x: float | None) -> str:
    return "?" if x is None else f"{x:.2f} s"


def report(results: Results) -> list[Row]:
    """Print the figures; return them as rows."""
    assert results.first is not None and results.restart is not None
    first, restart = results.first, results.restart
    version = statistics.median(results.version_s)
    data = results.data_bytes
    rows: list[Row] = []
    print()
    print(f"mfsync with a big share: {results.files} files, {_mb(data)} "
          f"({MIN_SIZE}-{MAX_SIZE} bytes each); loopback only, in a private network namespace")
    print(f"baseline python -m mfsync --version: {version:.2f} s (median; runs "
          f"{', '.join(f'{v:.2f}' for v in results.version_s)})")
    rows.append(Row("big_share.version_baseline", round(version, 3), "s", "none (baseline)",
                    True, detail=f"{VERSION_RUNS} runs: "
                    + ", ".join(f"{v:.3f}" for v in results.version_s)))

    print(f"(a) first index: {first.ready_s:.2f} s to 'Sharing {results.files} files' "
          f"(CPU {first.cpu_s:.2f} s, read() {_mb(first.rchar)})")
    rows.append(Row("big_share.first_index", round(first.ready_s, 3), "s", "none (informational)",
                    True, detail=f"CPU {first.cpu_s:.2f} s; rchar {_mb(first.rchar)} for "
                    f"{_mb(data)} of data"))

    if results.files_read is not None:
        rehashed = results.files_read > 0
        read_text = f"{results.files_read} of {results.files} files read (access times)"
    else:
        rehashed = restart.rchar >= data
        read_text = (f"files read unknown (access times unusable here); read() {_mb(restart.rchar)}"
                     f" {'>=' if rehashed else '<'} data {_mb(data)}")
    restart_ok = restart.ready_s <= RESTART_TARGET_S and not rehashed
    print(f"(b) stop (SIGTERM -> exit): {first.stop_s:.2f} s; index persisted: {results.db_rows} "
          f"rows, {_mb(results.db_bytes)}")
    print(f"    restart: {restart.ready_s:.2f} s to ready (CPU {restart.cpu_s:.2f} s, read() "
          f"{_mb(restart.rchar)}); {read_text}; target <= {RESTART_TARGET_S:g} s, no rehash: "
          f"{'PASS' if restart_ok else 'FAIL'}")
    rows.append(Row("big_share.restart", round(restart.ready_s, 3), "s",
                    f"<= {RESTART_TARGET_S:g} s and no rehash", restart_ok,
                    baseline=f"first index {first.ready_s:.2f} s",
                    detail=f"{read_text}; CPU {restart.cpu_s:.2f} s; rchar {_mb(restart.rchar)} "
                    f"(data {_mb(data)}, index db {_mb(results.db_bytes)})"))
    rows.append(Row("big_share.stop", round(first.stop_s, 3), "s", "none (informational)", True,
                    detail="SIGTERM to exit of the first share (exit 143)"))

    fetches = results.fetches
    whole = statistics.median(f.whole_s for f in fetches)
    net = whole - version
    listing_ok = net <= LISTING_TARGET_S
    print(f"(c) listing at a peer (fetch, {len(fetches)} runs; seconds from its start: share "
          "discovered, 'N files' logged, first path printed, last path printed):")
    for f in fetches:
        print(f"    run {f.n}: {_opt(f.discovered_s)}, {_opt(f.index_s)}, {f.first_s:.2f} s, "
              f"{f.whole_s:.2f} s; CPU fetch {f.cpu_s:.2f} s, share {f.share_cpu_s:.2f} s; "
              f"fetch peak {_mb(f.memory.peak)}")
    print(f"    median {whole:.2f} s whole, {net:.2f} s after the {version:.2f} s baseline; "
          f"target <= {LISTING_TARGET_S:g} s: {'PASS' if listing_ok else 'FAIL'}")
    runs_text = "; ".join(
        f"run {f.n}: discovered {_opt(f.discovered_s)}, 'N files' logged {_opt(f.index_s)}, "
        f"first path {f.first_s:.2f} s, last path {f.whole_s:.2f} s, CPU fetch {f.cpu_s:.2f} s "
        f"share {f.share_cpu_s:.2f} s"
        for f in fetches)
    rows.append(Row("big_share.listing", round(net, 3), "s",
                    f"<= {LISTING_TARGET_S:g} s (whole time minus the baseline)", listing_ok,
                    baseline=f"python -m mfsync --version {version:.2f} s",
                    detail=f"median whole {whole:.2f} s; {runs_text}"))
    rows.append(Row("big_share.listing_whole", round(whole, 3), "s",
                    "none (the verdict is on big_share.listing)", True,
                    detail="from starting fetch to its last path, median"))

    print("(d) memory (peak of sampled VmRSS and VmHWM):")
    for run in (first, restart):
        ok = run.memory.peak <= RSS_TARGET
        print(f"    share ({run.label}): {_mb(run.memory.peak)} ({run.memory.samples} samples); "
              f"target <= {_mb(RSS_TARGET)}: {'PASS' if ok else 'FAIL'}")
        rows.append(Row(f"big_share.share_rss_{run.label}", round(run.memory.peak / 1e6, 1), "MB",
                        f"<= {RSS_TARGET / 1e6:g} MB", ok,
                        detail=f"VmHWM {_mb(run.memory.hwm)}, peak sampled VmRSS "
                        f"{_mb(run.memory.rss)}, {run.memory.samples} samples"))
    fetch_peak = max(f.memory.peak for f in fetches)
    print(f"    fetch: {_mb(fetch_peak)} (largest of the runs; no target)")
    rows.append(Row("big_share.fetch_rss", round(fetch_peak / 1e6, 1), "MB",
                    "none (informational)", True, detail="largest peak over the fetch runs"))
    return rows


def run_benchmark(args: argparse.Namespace) -> int:
    """Check space, measure in a temporary folder, report; the exit code."""
    base = Path(tempfile.gettempdir())
    need = args.files * 8192 + 512 * 1024 * 1024
    usage = shutil.disk_usage(base)
    inodes = os.statvfs(base).f_favail
    if usage.free < need or inodes < args.files + args.folders + 10_000:
        print(f"big_share: {usage.free / 2**20:.0f} MiB and {inodes} inodes free in {base}; "
              f"need {need / 2**20:.0f} MiB and {args.files + args.folders + 10_000}",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    load_start = os.getloadavg()
    results = Results(args.files, 0)
    tmp = Path(tempfile.mkdtemp(prefix="mfsync-bench-big-share-", dir=base))
    try:
        print(f"temp dir {tmp}; discovery and TCP on loopback only (private network namespace)",
              flush=True)
        measure(args, tmp, results)
    except BenchError as exc:
        print(f"big_share: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        t = time.perf_counter()
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"removed {tmp} in {time.perf_counter() - t:.1f} s", flush=True)
    rows = report(results)
    write_rows(args.json, rows)
    print(f"load average at the start {load_start[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs; other work on the machine skews every figure)")
    print(f"total benchmark time: {time.monotonic() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; run in the private network namespace (re-executing into it)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000,
                        help="files in the share (default 100000)")
    parser.add_argument("--folders", type=int, default=100,
                        help="folders they are spread over (default 100)")
    parser.add_argument("--fetch-runs", type=int, default=3,
                        help="fetch runs for the listing figure (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of sizes and bytes (default 1)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the rows here as JSON")
    args = parser.parse_args(argv)
    if args.files < 1 or args.folders < 1 or args.fetch_runs < 1:
        parser.error("--files, --folders and --fetch-runs must be at least 1")
    if args.folders > MAX_FOLDERS:
        parser.error(f"--folders must be at most {MAX_FOLDERS} (names d000..d999)")
    if os.environ.get(NETNS_MARK) != "1":
        return run_isolated(argv)
    try:
        return run_benchmark(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
