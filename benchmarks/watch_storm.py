"""A storm of landing downloads under a watched folder: CPU of watchdog's observer against our
own inotify reader (``app/mfsync/watch/inotify.py``), in one process, on local files only.

What is measured: ``--files`` files (default 10,000; ``--quick``: 1,000) of ``--size-kib``
(default 4 KiB) are landed under a folder that a ``FolderWatcher`` watches, the way the
downloader lands them (``PartialFile.finalize`` through ``engine/landing.py``): in a worker
thread (``asyncio.to_thread``, as the ``Lander`` does) while the event loop runs the watcher,
each file's partial ``.NAME.mfsync-part`` is created through its folder's descriptor, written,
gets its modification time on the open file, is renamed to ``NAME`` while still open, then
closed. That makes six inotify events per file (create, modify, attrib, moved_from, moved_to,
close_write under the final name), none of which the watcher reports: they are our own
landings. The files are spread over ``--folders`` folders (default 100, made before the watcher
starts), file ``i`` in folder ``i % folders``. No ``fsync``: the disk is not what is measured.

Three passes, each in a fresh folder of one temporary folder on /tmp (nothing is deleted before
the end, so no pass creates files over inodes another one just freed; see run.py):

* landing alone: no watcher (what the other two also spend on the landing itself);
* watchdog: ``FolderWatcher(observer_factory=default_observer)``, watchdog's inotify observer
  (``generate_full_events``), what mfsync used on Linux before;
* reader: ``FolderWatcher`` with its default on Linux, our reader on the event loop.

The clock: CPU seconds (user + system) of this process, all threads (``getrusage(RUSAGE_SELF)``
deltas), and wall time, from just before the first file lands until the watcher is quiet:
after the last landing a sentinel file is written and closed, and the clock stops when the
watcher has handed that file to its ``on_change`` (the kernel queues events in order and both
watchers keep that order, so every landing's events were processed by then; for the landing
alone, once the thread returns). An untimed landing of 100 files comes first (the worker
thread, first-use costs). Any path reported besides the sentinel is counted and shown
(none is expected). With ``--runs`` above 1 the order of the passes rotates and the medians
are shown. Right after many files were deleted on the same file system, creating files costs
ext4 far more system CPU for a minute or so (see run.py), in every pass alike: the system CPU
of each pass is printed, ``--runs 3`` takes the medians, and ``--dir /dev/shm`` (tmpfs) leaves
the disk's file system out.

Figures: CPU seconds per 1,000 files for each pass; "watching" = a pass minus the landing alone;
ratio = watchdog / reader, of the whole process and of the watching. Target: the reader costs
less than watchdog (ratio > 1). Exit 0 with the measurement, 1 when a watcher fails (not
available, or the sentinel is not reported within 120 s), 2 for bad arguments. Run as any user:
``PYTHONPATH=app .venv/bin/python benchmarks/watch_storm.py`` (seconds; ``--quick`` for 1,000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import BenchError, Row, write_rows
from mfsync.store.ignore import PARTIAL_SUFFIX
from mfsync.watch import inotify
from mfsync.watch.watcher import FolderWatcher, default_observer

KIB = 1024
QUIET_TIMEOUT = 120.0
SENTINEL = "zz-sentinel.txt"
PASSES = ("landing alone", "watchdog", "reader")


@dataclass(frozen=True)
class Pass:
    """One pass: its name, CPU (of which system) and wall seconds, and the paths reported
    besides the sentinel."""

    name: str
    cpu: float
    sys: float
    wall: float
    stray: int


def cpu_now() -> tuple[float, float]:
    """CPU seconds (user + system) of this process so far, and of them system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


def land_all(root: Path, folders: int, files: int, data: bytes, mtime_ns: int) -> None:
    """Land ``files`` files under ``root`` as the downloader does (see the docstring)."""
    fds = [os.open(root / f"d{i:03}", os.O_RDONLY | os.O_DIRECTORY) for i in range(folders)]
    try:
        for i in range(files):
            folder = fds[i % folders]
            name = f"f{i:06}.bin"
            partial = f".{name}{PARTIAL_SUFFIX}"
            fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder)
            try:
                os.pwrite(fd, data, 0)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
                os.rename(partial, name, src_dir_fd=folder, dst_dir_fd=folder)
            finally:
                os.close(fd)
    finally:
        for fd in fds:
            os.close(fd)


async def one_pass(name: str, root: Path, folders: int, files: int, size: int) -> Pass:
    """Land the files under a fresh ``root`` with the watcher of pass ``name``; its figures."""
    root.mkdir()
    for i in range(folders):
        (root / f"d{i:03}").mkdir()
    loop = asyncio.get_running_loop()
    quiet = asyncio.Event()
    reported: set[str] = set()

    def on_change(paths: frozenset[str], done: frozenset[str]) -> None:
        del done
        reported.update(paths)
        if SENTINEL in paths:
            quiet.set()

    watcher: FolderWatcher | None = None
    if name != "landing alone":
        options: dict[str, Any] = {"observer_factory": default_observer} if name == "watchdog" \
            else {}
        watcher = FolderWatcher(root, on_change, loop=loop, **options)
        watcher.start()
        if not watcher.available:
            raise BenchError(f"the {name} watcher could not watch {root}")
        if name == "reader" and watcher._reader is None:
            raise BenchError("the default watcher is not our inotify reader")
    data = os.urandom(size)
    try:
        wall0, cpu0 = time.perf_counter(), cpu_now()
        await asyncio.to_thread(land_all, root, folders, files, data, 1_700_000_000 * 10**9)
        if watcher is not None:
            (root / SENTINEL).write_bytes(b"quiet?")
            try:
                async with asyncio.timeout(QUIET_TIMEOUT):
                    await quiet.wait()
            except TimeoutError:
                raise BenchError(f"the {name} watcher did not report the sentinel within "
                                 f"{QUIET_TIMEOUT:.0f} s") from None
        wall, (cpu1, sys1) = time.perf_counter() - wall0, cpu_now()
    finally:
        if watcher is not None:
            watcher.stop()
    return Pass(name, cpu1 - cpu0[0], sys1 - cpu0[1], wall, len(reported - {SENTINEL}))


async def run_passes(tmp: Path, folders: int, files: int, size: int, runs: int, *,
                     report: Callable[[Pass], None]) -> list[Pass]:
    # Untimed: the worker thread, the imports and the caches of a first landing.
    await one_pass("landing alone", tmp / "warm-up", min(folders, 10), 100, size)
    results = []
    for n in range(runs):
        order = PASSES[n % 3:] + PASSES[:n % 3]
        for name in order:
            result = await one_pass(name, tmp / f"run{n}-{name.replace(' ', '-')}", folders,
                                    files, size)
            report(result)
            results.append(result)
    return results


def run_benchmark(files: int, size: int, folders: int, runs: int, json_path: Path | None, *,
                  where: Path | None = None) -> int:
    if not inotify.supported():
        print("watch_storm: inotify is Linux's; nothing to compare here", file=sys.stderr)
        return 2
    started = time.monotonic()
    per = 1000 / files

    def show(p: Pass) -> None:
        print(f"  {p.name:<14} CPU {p.cpu:6.2f} s (sys {p.sys:5.2f}; {p.cpu * per:.3f} s per "
              f"1,000 files), wall {p.wall:6.2f} s, stray paths {p.stray}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="mfsync-watch-storm-", dir=where))
    try:
        print(f"landing {files:,} files of {size // KIB} KiB in {folders} folders, "
              f"{runs} run(s)", flush=True)
        results = asyncio.run(run_passes(tmp, folders, files, size, runs, report=show))
    except BenchError as exc:
        print(f"watch_storm benchmark: FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        print("watch_storm benchmark: FAILED: an exception in a watcher", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    cpu = {name: statistics.median(p.cpu for p in results if p.name == name) * per
           for name in PASSES}
    wall = {name: statistics.median(p.wall for p in results if p.name == name)
            for name in PASSES}
    stray = sum(p.stray for p in results)
    base = cpu["landing alone"]
    watching = {name: cpu[name] - base for name in ("watchdog", "reader")}
    ratio = cpu["watchdog"] / cpu["reader"]
    watch_ratio = watching["watchdog"] / max(watching["reader"], 1e-3)
    print()
    print(f"CPU s (user + sys, this process, all threads) per 1,000 files; median of {runs}")
    print("| pass | CPU s / 1,000 files | watching (- landing alone) | wall s |")
    print("|---|---|---|---|")
    for name in PASSES:
        extra = f"{watching[name]:.3f}" if name in watching else "-"
        print(f"| {name} | {cpu[name]:.3f} | {extra} | {wall[name]:.2f} |")
    print(f"| ratio watchdog / reader | {ratio:.2f} | {watch_ratio:.1f} | |")
    print(f"stray paths reported (landings are ours: none expected): {stray}")
    print(f"load average at the end {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs); "
          f"benchmark time {time.monotonic() - started:.1f} s")
    write_rows(json_path, [Row(
        benchmark=f"watcher CPU while {files:,} files land",
        value=round(cpu["reader"], 4),
        unit="CPU s/1000 files",
        target="less CPU than watchdog's observer (ratio > 1)",
        passed=ratio > 1 and stray == 0,
        baseline=f"watchdog observer: {cpu['watchdog']:.3f} CPU s/1000 files",
        ratio=round(ratio, 3),
        detail=(f"landing alone {base:.3f}; watching: watchdog {watching['watchdog']:.3f}, "
                f"reader {watching['reader']:.3f} ({watch_ratio:.1f}x); median of {runs}; "
                f"stray paths {stray}"),
    )])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=None,
                        help="how many files (default 10000, 1000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="1,000 files: a smoke run")
    parser.add_argument("--size-kib", type=int, default=4, help="size of each file (default 4)")
    parser.add_argument("--folders", type=int, default=100,
                        help="folders the files are spread over (default 100)")
    parser.add_argument("--runs", type=int, default=1, help="runs of the three passes (default 1)")
    parser.add_argument("--dir", type=Path, metavar="PATH",
                        help="where the temporary folder goes (default: the system's, /tmp; "
                             "/dev/shm takes the disk's file system out of the figures)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the result row to PATH as JSON")
    args = parser.parse_args(argv)
    files = args.files if args.files is not None else (1000 if args.quick else 10_000)
    if min(files, args.size_kib, args.folders, args.runs) < 1 or args.folders > files:
        parser.error("--files, --size-kib, --folders and --runs must be at least 1, "
                     "and --folders at most --files")
    return run_benchmark(files, args.size_kib * KIB, args.folders, args.runs, args.json,
                         where=args.dir)


if __name__ == "__main__":
    raise SystemExit(main())
