"""Many small files: ``mfsync share`` -> ``mfsync get`` of 10,000 files of 4 KiB on loopback.

Where it runs: on loopback in the root namespace, exactly as benchmarks/transfer.py does it
(``_common.LoopbackRig``): discovery pinned to loopback (``--interface 127.0.0.1 --ttl 0``, a
random high ``--multicast-port``), the share listening on a free ``--port`` of 127.0.0.1, so no
packet can leave the machine. Every mfsync process has its own fresh ``HOME`` (a fresh key,
nothing remembered) and ``PYTHONUNBUFFERED=1``; the bytecode cache is filled before anything is
measured, so no run compiles mfsync.

The source (``--files``, default 10,000, of ``--size-kib``, default 4 KiB, random bytes from
``os.urandom``, in a temporary folder on /tmp, the same disk as everything else) is laid out in
``--folders`` (default 10) folders ``d00``, ``d01``, ... of equal share (file ``i`` in folder
``i * folders // files``, named ``fNNNNN.bin``); each file's SHA-256 is kept from when it was
written. One ``python -m mfsync share DIR`` serves it for the whole benchmark (its start-up,
hashing every file, is not measured). Then ``--runs`` times (default 1): ``python -m mfsync get
DEST`` (no names: everything offered) into a folder that does not exist yet, with a fresh HOME.
``os.sync()`` runs before each run so that writeback of what came before does not land in it.

Timing (``time.perf_counter`` of this script):

* t0: just before the ``get`` process is started.
* first: the first entry (a partial ``.NAME.mfsync-part`` or a file) seen in any folder of DEST.
* last: the moment the number of final files (entries whose names do not end in
  ``.mfsync-part``) reaches the number of source files.
* exit: ``get`` exited (``wait4``).

first and last come from a thread of this script that lists (``os.scandir``) every folder of DEST
that is not complete yet, every 5 ms (a folder that holds all its files is not listed again; a
folder not created yet costs one failed open); each time is taken right after the listing that
saw it, so it is late by at most one interval plus one listing. The thread's own CPU time and
number of passes are printed: that CPU is what the machine's 2 cores did not give to mfsync
(about 0.4 ms a pass at 10,000 files).

The headline, "first request to last file in place", is last - first: files/s = files / (last -
first), MB/s = bytes / (last - first) / 10^6. The whole command (t0 to exit: interpreter start,
imports, key creation, discovery, the ``--window`` of 3 s that ``get`` waits for more hosts
(downloads start during it), the transfer and the shutdown) is shown beside it, with its own
files/s. CPU seconds (user + system) of ``get`` come from ``wait4()``, the sharer's from
``/proc/PID/stat`` before and after the run. Nothing here asserts a time.

Verification after each run: DEST must hold exactly the source files (no partial left, nothing
else), and each file's SHA-256 must match its source; a mismatch, a missing or extra file, or a
process that fails exits 1. Target: >= 3,000 files/s (the median of the runs, headline figure).

The system CPU of ``get`` depends on the file system's state: on ext4, for a minute after files
are deleted (five while their inode table block is dirty), creating files skips their inodes
(``recently_deleted`` in fs/ext4/ialloc.c), and a run that starts right after another one deleted
its 20,000 files spends up to twice the system CPU in ``ext4_create`` (``perf record`` shows
``find_inode_bit`` and ``recently_deleted`` at the top). For before/after comparisons, wait
70 s after ``os.sync()`` between runs (``run.py`` does between benchmarks).

Exit 0 with the measurement (also when the target is missed); 1 when a copy is wrong or a process
fails; 2 for bad arguments or too little free space. Run as any user:
``/work/main/.venv/bin/python benchmarks/small_files.py`` (a minute or so once ``get`` reaches
hundreds of files/s; a ``get`` still running after an hour is killed and fails the run).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (
    BenchError,
    LoopbackRig,
    Row,
    cpu_seconds,
    reap,
    tail,
    write_rows,
)

TARGET_FILES_S = 3000.0
POLL_INTERVAL = 0.005
#: A get that takes longer is killed and the run fails (the engine's speed varies a lot today).
PROCESS_TIMEOUT = 3600.0
SHARE_READY_TIMEOUT = 300.0
#: Partial downloads are hidden files beside their target: ``.NAME.mfsync-part``
#: (mfsync.store.safe_paths.PARTIAL_SUFFIX; spelled out so this script's watcher imports nothing).
PARTIAL_SUFFIX = ".mfsync-part"
KIB = 1024


@dataclass(frozen=True)
class Source:
    """The source files: relative path -> SHA-256 (hex), and how many each folder holds."""

    digests: dict[str, str]
    per_folder: dict[str, int]
    size: int

    @property
    def count(self) -> int:
        return len(self.digests)


@dataclass
class Run:
    """One ``get``: times from its start (t0), CPU seconds, and what the watcher cost."""

    n: int
    whole: float  # t0 -> exit
    to_first: float  # t0 -> first entry in DEST
    transfer: float  # first -> last file in place
    after_last: float  # last file in place -> exit
    cpu_get: float
    sys_get: float
    cpu_share: float
    watcher_cpu: float
    watcher_passes: int
    summary: str


def make_source(root: Path, files: int, size: int, folders: int) -> Source:
    """Write ``files`` random files of ``size`` bytes under ``root`` (see the docstring)."""
    digests: dict[str, str] = {}
    per_folder: dict[str, int] = {}
    width = max(5, len(str(files - 1)))
    for i in range(files):
        folder = f"d{i * folders // files:02d}"
        if folder not in per_folder:
            (root / folder).mkdir()
            per_folder[folder] = 0
        rel = f"{folder}/f{i:0{width}d}.bin"
        data = os.urandom(size)
        (root / rel).write_bytes(data)
        digests[rel] = hashlib.sha256(data).hexdigest()
        per_folder[folder] += 1
    return Source(digests, per_folder, size)


class DestWatcher(threading.Thread):
    """Lists the folders of DEST every ``POLL_INTERVAL`` s: when the first entry appeared, and
    when the count of final files reached what each folder should hold."""

    def __init__(self, dest: Path, per_folder: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.dest = dest
        self.per_folder = dict(per_folder)
        self.first: float | None = None
        self.last: float | None = None
        self.passes = 0
        self.cpu = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        pending = dict(self.per_folder)
        while True:
            stopping = self._stop_event.is_set()  # set before this pass: it is the last one
            self.passes += 1
            for folder in list(pending):
                try:
                    with os.scandir(os.path.join(self.dest, folder)) as it:
                        names = [entry.name for entry in it]
                except FileNotFoundError:
                    continue
                if names and self.first is None:
                    self.first = time.perf_counter()
                finals = sum(1 for name in names if not name.endswith(PARTIAL_SUFFIX))
                if finals >= pending[folder]:
                    del pending[folder]
            if not pending:
                self.last = time.perf_counter()
                break
            if stopping:
                break
            self._stop_event.wait(POLL_INTERVAL)
        self.cpu = time.thread_time()

    def stop(self) -> None:
        """Make one more pass (after ``get`` exited) and end."""
        self._stop_event.set()
        self.join()


def verify(dest: Path, source: Source, n: int) -> None:
    """DEST must hold exactly the source files, each with the source's SHA-256."""
    found: set[str] = set()
    for folder, _dirs, names in os.walk(dest):
        for name in names:
            found.add(Path(folder, name).relative_to(dest).as_posix())
    expected = set(source.digests)
    if found != expected:
        missing = sorted(expected - found)
        extra = sorted(found - expected)
        raise BenchError(f"run {n}: DEST holds {len(found)} files, not {len(expected)}: "
                         f"{len(missing)} missing {missing[:3]}, {len(extra)} extra {extra[:3]}")
    for rel, digest in source.digests.items():
        got = hashlib.sha256((dest / rel).read_bytes()).hexdigest()
        if got != digest:
            raise BenchError(f"run {n}: {rel} differs from the source "
                             f"(sha256 {got[:16]}… != {digest[:16]}…)")


def run_get(rig: LoopbackRig, n: int, share: subprocess.Popen[bytes], source: Source) -> Run:
    """One ``mfsync get DEST`` of everything; timed, checked, and its DEST removed."""
    dest = rig.tmp / f"get-{n}"
    log = rig.tmp / f"get-{n}.log"
    watcher = DestWatcher(dest, source.per_folder)
    os.sync()
    share_cpu0 = cpu_seconds(share.pid) or 0.0
    watcher.start()
    try:
        t0 = time.perf_counter()
        get = rig.mfsync("get", str(dest), env=rig.env(f"get-{n}"), log=log)
        t_end, code, cpu_get, sys_get = reap(get, PROCESS_TIMEOUT)
    finally:
        watcher.stop()
    share_cpu = (cpu_seconds(share.pid) or 0.0) - share_cpu0
    if code != 0:
        raise BenchError(f"mfsync get exited with {code}:\n{tail(log)}")
    if share.poll() is not None:
        raise BenchError(f"mfsync share exited with {share.returncode}")
    if watcher.first is None or watcher.last is None:
        seen = "no entry" if watcher.first is None else "fewer final files than expected"
        raise BenchError(f"run {n}: the watcher saw {seen} in {dest}")
    verify(dest, source, n)
    shutil.rmtree(dest)
    return Run(n, t_end - t0, watcher.first - t0, watcher.last - watcher.first,
               t_end - watcher.last, cpu_get, sys_get, share_cpu, watcher.cpu, watcher.passes,
               tail(log, 1).strip())


def print_results(source: Source, folders: int, runs: list[Run]) -> tuple[float, float, float]:
    """The table and the medians; returns (files/s, MB/s, whole-command s), medians."""
    total = source.count * source.size
    print()
    print(f"{source.count:,} files of {source.size / KIB:g} KiB ({folders} folders): share -> get "
          "on loopback (discovery pinned to 127.0.0.1, TTL 0)")
    print("t0 = get started; first = first entry seen in DEST; last = final file count reached; "
          "(b) = last - first")
    print("CPU s = user + sys (sys: the kernel's part); share's CPU over the run; watcher = this "
          "script's polling thread")
    print()
    print(f"{'run':>3} {'whole s':>8} {'t0>first':>8} {'(b) s':>7} {'files/s':>8} {'MB/s':>6} "
          f"{'last>exit':>9} {'get CPU s (sys)':>15} {'share CPU':>9} {'watcher':>14}")
    for r in runs:
        print(f"{r.n:>3} {r.whole:8.2f} {r.to_first:8.2f} {r.transfer:7.2f} "
              f"{source.count / r.transfer:8.0f} {total / 1e6 / r.transfer:6.2f} "
              f"{r.after_last:9.2f} {r.cpu_get:8.2f} ({r.sys_get:4.2f}) {r.cpu_share:9.2f} "
              f"{r.watcher_cpu:5.2f} s/{r.watcher_passes:>5}")
    for r in runs:
        print(f"  get's last line, run {r.n}: {r.summary}")
    transfer = statistics.median(r.transfer for r in runs)
    whole = statistics.median(r.whole for r in runs)
    files_s = source.count / transfer
    mb_s = total / 1e6 / transfer
    print()
    print(f"median first request -> last file in place: {transfer:.2f} s = {files_s:.0f} files/s, "
          f"{mb_s:.2f} MB/s")
    print(f"median whole command: {whole:.2f} s = {source.count / whole:.0f} files/s")
    print(f"median CPU s: get {statistics.median(r.cpu_get for r in runs):.2f}, share "
          f"{statistics.median(r.cpu_share for r in runs):.2f}  (2 cores)")
    verdict = "PASS" if files_s >= TARGET_FILES_S else "FAIL"
    print(f"target >= {TARGET_FILES_S:,.0f} files/s: {verdict}")
    return files_s, mb_s, whole


def run_benchmark(files: int, size: int, folders: int, runs: int, json_path: Path | None) -> int:
    started = time.monotonic()
    load_start = os.getloadavg()
    base = Path(tempfile.gettempdir())
    # each file takes at least a block of the file system; source, one DEST, logs, homes
    need = 2 * files * max(size, 4 * KIB) + 256 * 1024 * KIB
    free = shutil.disk_usage(base).free
    if free < need:
        print(f"small-files benchmark: {free / 2**20:.0f} MiB free in {base}, need "
              f"{need / 2**20:.0f}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-small-", dir=base) as tmp_name:
        rig = LoopbackRig(Path(tmp_name))
        try:
            print(f"temp dir {tmp_name}; discovery on 127.0.0.1 UDP {rig.udp_port}, TTL 0",
                  flush=True)
            rig.warm()
            src = rig.tmp / "share"
            src.mkdir()
            t = time.perf_counter()
            source = make_source(src, files, size, folders)
            print(f"source: {files:,} files of {size} bytes in {len(source.per_folder)} folders "
                  f"written in {time.perf_counter() - t:.1f} s", flush=True)
            t = time.perf_counter()
            share = rig.start_share(src, "small", SHARE_READY_TIMEOUT)
            print(f"share ready (pid {share.pid}) after {time.perf_counter() - t:.1f} s "
                  "(start-up and hashing; not measured)", flush=True)
            results: list[Run] = []
            for n in range(1, runs + 1):
                results.append(run_get(rig, n, share, source))
                r = results[-1]
                print(f"  run {n}: {r.transfer:.2f} s first request -> last file "
                      f"({files / r.transfer:.0f} files/s), whole command {r.whole:.2f} s; "
                      "verified", flush=True)
            rig.stop_share(share)
        except BenchError as exc:
            print(f"small-files benchmark: FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            rig.stop_all()
    files_s, mb_s, whole = print_results(source, folders, results)
    print(f"load average at start {load_start[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs; other work on the machine skews every number above)")
    print(f"total benchmark time: {time.monotonic() - started:.1f} s")
    write_rows(json_path, [Row(
        benchmark=f"{files:,} files of {size / KIB:g} KiB",
        value=round(files_s, 1),
        unit="files/s",
        target=f">= {TARGET_FILES_S:,.0f} files/s, first request to last file in place",
        passed=files_s >= TARGET_FILES_S,
        detail=(f"median of {runs}; {mb_s:.2f} MB/s; whole get command {whole:.2f} s "
                f"({files / whole:.0f} files/s); CPU s get "
                f"{statistics.median(r.cpu_get for r in results):.2f}, share "
                f"{statistics.median(r.cpu_share for r in results):.2f}; {folders} folders"),
    )])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000,
                        help="how many files (default 10000)")
    parser.add_argument("--size-kib", type=int, default=4, help="size of each file in KiB "
                        "(default 4)")
    parser.add_argument("--folders", type=int, default=10,
                        help="folders the files are spread over (default 10; at most --files)")
    parser.add_argument("--runs", type=int, default=1, help="get runs (default 1)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the result row to PATH as JSON")
    args = parser.parse_args(argv)
    if min(args.files, args.size_kib, args.folders, args.runs) < 1:
        parser.error("--files, --size-kib, --folders and --runs must be at least 1")
    if args.folders > args.files or args.folders > 100:
        parser.error("--folders must be at most --files and at most 100")
    return run_benchmark(args.files, args.size_kib * KIB, args.folders, args.runs, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
