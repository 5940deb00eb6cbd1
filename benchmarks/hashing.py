"""Hashing a folder for the index: mfsync's first index of a folder against ``hashlib.sha256``.

What is measured: the first index of a freshly written folder (``--size-mib``, default 1024),
through the code ``mfsync share`` runs for it, against SHA-256 over the same bytes.

The folder (random bytes from ``os.urandom``, in a temporary folder on /tmp, the same disk as
everything else), for a total of exactly ``--size-mib`` MiB:

* small: files of 1 KiB to 256 KiB (uniform, seeded, so the same sizes every time) until 8 % of
  the total is reached -- 637 files at 1 GiB -- spread over 8 folders ``small/s0``..``s7``;
* medium: 17 % of the total in 4 MiB files (the last one may be shorter) in ``medium/`` -- 44
  files at 1 GiB;
* large: the rest (75 %) in 4 equal files at the top -- 192 MiB each at 1 GiB.

mfsync (in-process): exactly what ``Node`` does for a shared folder (engine/node.py
``_make_share`` and ``_scan``): an ``IndexDB`` at ``IndexDB.path_for(state_dir, folder)`` in a
fresh, empty state folder (so nothing is cached: every file is hashed, as on the first
``mfsync share`` of a folder), a ``ShareSet`` over it with ``settle_age=SETTLE_AGE``, and
``await share.rescan()`` in an asyncio loop. The scan walks the folder, applies the ignore rules,
``hash_file``s each file (BLAKE3 per block, a 1 MiB read buffer; store/hashing.py) in a worker
thread, then writes every row to the SQLite index (WAL). The time runs from opening the database
to ``rescan()`` returning, so it includes the walk and the database writes, not the interpreter
start or the imports. Why in-process rather than timing ``mfsync share`` as a subprocess until
it prints "Sharing": that line also waits for key creation, the TCP server and multicast
discovery, which are not hashing, and at this size their noise would blur the figure; the code
timed here is the same. After each run the result is checked: the share set holds every file
with its size, the database holds one row per file, and every file's block hashes and content
id are recomputed independently (whole file read at once, ``blake3`` per slice,
``content_id_of``); any difference exits 1.

Baseline, measured in the same run: ``hashlib.sha256`` over the same files, each read the way
``_common.sha256_file`` reads (unbuffered ``readinto`` of a reused 4 MiB buffer), the folder
walked with ``os.scandir`` inside the timed part, as mfsync walks it. Each digest is compared with
the one computed while the file was written.

Beside them, for reading the figure only: ``hash_file`` alone over the same list of files (no
walk, no ignore rules, no database), which tells the hashing apart from the rest of the index.

Runs: before run 1 every file is read once untimed (the SHA-256 check of what was written); then
``--runs`` times (default 3): sha256, mfsync index, hash_file alone, in that order. Both read from
the page cache: the files were just written and the machine has far more memory than the folder,
so no run touches the disk for file data (the cache is not dropped: that cannot be done reliably
without disturbing everything else on the machine). CPU seconds are user + system of this
process (``getrusage(RUSAGE_SELF)``, all threads, so the worker thread of the scan counts) over
the timed part.

Verdict: ratio = median sha256 time / median mfsync index time (= mfsync throughput / SHA-256
throughput), target >= 0.8. Exit 0 with the measurement (also when the target is missed), 1 when
mfsync fails or indexes a file wrong, 2 for bad arguments or too little free space. Run as any
user: ``/work/main/.venv/bin/python benchmarks/hashing.py`` (under a minute with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
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
from typing import TypeVar

from blake3 import blake3

from _common import MIB, BenchError, Row, make_random_file, sha256_file, write_rows
from mfsync.engine.node import SETTLE_AGE
from mfsync.protocol.content import content_id_of
from mfsync.store.hashing import hash_file
from mfsync.store.index_db import IndexDB
from mfsync.store.shareset import ShareSet

TARGET_RATIO = 0.8
KIB = 1024
SMALL_SHARE = 0.08
MEDIUM_SHARE = 0.17
SMALL_MIN = 1 * KIB
SMALL_MAX = 256 * KIB
SMALL_FOLDERS = 8
MEDIUM_SIZE = 4 * MIB
LARGE_FILES = 4
SEED = 20240611

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """One file of the folder: its path relative to the root, size and SHA-256."""

    rel: str
    size: int
    sha256: str


@dataclass
class Run:
    """One timed pass: wall seconds and CPU seconds (user, system) of this process."""

    n: int
    method: str
    wall: float
    user: float
    sys: float

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def plan_sizes(total: int) -> list[tuple[str, int]]:
    """The files of a folder of ``total`` bytes: (relative path, size), as the docstring says."""
    rng = random.Random(SEED)
    files: list[tuple[str, int]] = []
    small_budget = int(total * SMALL_SHARE)
    i = 0
    while small_budget >= SMALL_MIN:
        size = min(rng.randint(SMALL_MIN, SMALL_MAX), small_budget)
        files.append((f"small/s{i % SMALL_FOLDERS}/f{i:04d}.bin", size))
        small_budget -= size
        i += 1
    medium_budget = int(total * MEDIUM_SHARE)
    j = 0
    while medium_budget > 0:
        size = min(MEDIUM_SIZE, medium_budget)
        files.append((f"medium/m{j:03d}.bin", size))
        medium_budget -= size
        j += 1
    rest = total - sum(size for _, size in files)
    for k in range(LARGE_FILES):
        size = rest // LARGE_FILES + (rest % LARGE_FILES if k == LARGE_FILES - 1 else 0)
        files.append((f"large{k}.bin", size))
    return [(rel, size) for rel, size in files if size > 0]


def make_folder(root: Path, total: int) -> list[Source]:
    """Write the folder; returns its files with the SHA-256 computed while writing."""
    sources = []
    for rel, size in plan_sizes(total):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sources.append(Source(rel, size, make_random_file(path, size)))
    return sources


def describe(sources: list[Source]) -> str:
    """"N small (a..b KiB, X MiB), ..." for the printout."""
    parts = []
    for kind in ("small", "medium", "large"):
        sizes = [s.size for s in sources if s.rel.startswith(kind)]
        if sizes:
            parts.append(f"{len(sizes)} {kind} ({min(sizes) / KIB:.0f}..{max(sizes) / KIB:.0f} "
                         f"KiB, {sum(sizes) / MIB:.0f} MiB)")
    return ", ".join(parts)


def walk(root: Path) -> list[Path]:
    """Every regular file under ``root`` (os.scandir, no symlinks followed)."""
    found: list[Path] = []
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    found.append(Path(entry.path))
    return found


def timed(n: int, method: str, action: Callable[[], T]) -> tuple[Run, T]:
    """Run ``action`` once; its wall time and this process's CPU time over it."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result = action()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return Run(n, method, wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime), result


def sha256_pass(root: Path) -> dict[str, str]:
    """The baseline: walk the folder and SHA-256 each file (``_common.sha256_file``)."""
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in walk(root)}


async def _index(root: Path, state_dir: Path, key: bytes) -> ShareSet:
    db = await asyncio.to_thread(IndexDB, IndexDB.path_for(state_dir, root))
    share = ShareSet(root, db=db, local_key=key, settle_age=SETTLE_AGE)
    await share.rescan()
    return share


def index_pass(root: Path, state_dir: Path, key: bytes) -> ShareSet:
    """What ``mfsync share`` does for a folder it has never indexed (see the docstring)."""
    return asyncio.run(_index(root, state_dir, key))


def check_sha256(n: int, digests: dict[str, str], sources: list[Source]) -> None:
    """The baseline must have seen every file, with the bytes that were written."""
    expected = {s.rel: s.sha256 for s in sources}
    if digests != expected:
        bad = sorted(set(digests.items()) ^ set(expected.items()))[:3]
        raise BenchError(f"sha256 run {n}: the folder is not what was written: {bad}")


def check_index(n: int, share: ShareSet, root: Path, state_dir: Path,
                sources: list[Source]) -> None:
    """The index must hold every file, with hashes recomputed here independently."""
    files = share.files
    if sorted(files) != sorted(s.rel for s in sources):
        missing = sorted({s.rel for s in sources} - files.keys())[:3]
        extra = sorted(files.keys() - {s.rel for s in sources})[:3]
        raise BenchError(f"mfsync run {n}: the index has {len(files)} files, not "
                         f"{len(sources)} (missing {missing}, extra {extra})")
    with IndexDB(IndexDB.path_for(state_dir, root)) as db:
        rows = db.load_all()
    if sorted(rows) != sorted(files):
        raise BenchError(f"mfsync run {n}: the database holds {len(rows)} rows for "
                         f"{len(files)} files")
    for src in sources:
        local = files[src.rel]
        data = (root / src.rel).read_bytes()
        bs = local.hashes.block_size
        blocks = tuple(blake3(data[i : i + bs]).digest() for i in range(0, len(data), bs))
        if (local.size != src.size or local.hashes.block_hashes != blocks
                or local.hashes.content_id != content_id_of(len(data), bs, blocks)
                or rows[src.rel].content_id != local.hashes.content_id):
            raise BenchError(f"mfsync run {n}: wrong size or hashes for {src.rel}")


def hash_file_pass(paths: list[Path]) -> int:
    """``hash_file`` alone over a list of files (informational); returns the bytes hashed."""
    return sum(hash_file(p).size for p in paths)


def rate(total: int, seconds: float) -> float:
    """MiB/s."""
    return total / MIB / seconds


def run_benchmark(size_mib: int, runs: int, json_path: Path | None) -> int:
    total = size_mib * MIB
    base = Path(tempfile.gettempdir())
    free = shutil.disk_usage(base).free
    if free < total + 256 * MIB:
        print(f"hashing benchmark: {free / MIB:.0f} MiB free in {base}, need "
              f"{(total + 256 * MIB) / MIB:.0f}", file=sys.stderr)
        return 2
    started = time.monotonic()
    load_start = os.getloadavg()
    key = os.urandom(32)
    results: dict[str, list[Run]] = {"sha256": [], "mfsync": [], "hash_file": []}
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-hashing-", dir=base) as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "folder"
        root.mkdir()
        t = time.perf_counter()
        sources = make_folder(root, total)
        print(f"folder {root}: {len(sources)} files, {total / MIB:.0f} MiB of random bytes "
              f"written in {time.perf_counter() - t:.1f} s: {describe(sources)}", flush=True)
        paths = [root / s.rel for s in sources]
        try:
            check_sha256(0, sha256_pass(root), sources)  # untimed: every file read once
            for n in range(1, runs + 1):
                run, digests = timed(n, "sha256", lambda: sha256_pass(root))
                check_sha256(n, digests, sources)
                results["sha256"].append(run)

                state_dir = tmp / f"state-{n}"
                run, share = timed(n, "mfsync", lambda sd=state_dir: index_pass(root, sd, key))
                try:
                    check_index(n, share, root, state_dir, sources)
                finally:
                    share.close()
                shutil.rmtree(state_dir)
                results["mfsync"].append(run)

                run, hashed = timed(n, "hash_file", lambda: hash_file_pass(paths))
                if hashed != total:
                    raise BenchError(f"hash_file run {n} hashed {hashed} bytes, not {total}")
                results["hash_file"].append(run)
                print(f"  run {n}: sha256 {results['sha256'][-1].wall:.2f} s, mfsync index "
                      f"{results['mfsync'][-1].wall:.2f} s, hash_file alone {run.wall:.2f} s",
                      flush=True)
        except BenchError as exc:
            print(f"hashing benchmark: FAILED: {exc}", file=sys.stderr)
            return 1
        except Exception:  # mfsync raising is mfsync failing: exit 1 (with the traceback)
            traceback.print_exc()
            print("hashing benchmark: FAILED: an exception in the indexing", file=sys.stderr)
            return 1

    print()
    print(f"hashing a {total / MIB:.0f} MiB folder ({len(sources)} files) for the index, "
          "from the page cache")
    print("mfsync index = IndexDB + ShareSet.rescan() as `mfsync share` does it (walk, "
          "BLAKE3 blocks, SQLite rows);")
    print("sha256 = os.scandir walk + hashlib.sha256 over 4 MiB readinto; hash_file alone = "
          "no walk, no database.")
    print("CPU s = user + sys of this process (all threads) over the timed part.")
    print()
    print(f"{'run':>3} {'method':<14} {'wall s':>7} {'MiB/s':>7} {'CPU s':>6} {'(sys)':>6}")
    for n in range(runs):
        for method in ("sha256", "mfsync", "hash_file"):
            r = results[method][n]
            label = {"mfsync": "mfsync index", "hash_file": "hash_file"}.get(method, method)
            print(f"{r.n:>3} {label:<14} {r.wall:7.2f} {rate(total, r.wall):7.0f} "
                  f"{r.cpu:6.2f} {r.sys:6.2f}")
    med = {m: statistics.median(r.wall for r in rs) for m, rs in results.items()}
    cpu = {m: statistics.median(r.cpu for r in rs) for m, rs in results.items()}
    print()
    for method, label in (("sha256", "sha256"), ("mfsync", "mfsync index"),
                          ("hash_file", "hash_file alone")):
        print(f"median {label:<16} {med[method]:6.2f} s  {rate(total, med[method]):6.0f} MiB/s  "
              f"CPU {cpu[method]:.2f} s")
    ratio = med["sha256"] / med["mfsync"]
    passed = ratio >= TARGET_RATIO
    print()
    print("ratio = median sha256 time / median mfsync index time "
          "(= mfsync throughput / sha256 throughput)")
    print(f"ratio {ratio:.2f}  target >= {TARGET_RATIO}: {'PASS' if passed else 'FAIL'}  "
          f"(unrounded {ratio:.4f})")
    print(f"load average at start {load_start[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs; other work on the machine skews every number above)")
    print(f"total benchmark time: {time.monotonic() - started:.1f} s")
    name = ("hashing a 1 GiB folder for the index" if size_mib == 1024
            else f"hashing a {size_mib} MiB folder for the index")
    write_rows(json_path, [Row(
        benchmark=name,
        value=round(rate(total, med["mfsync"]), 1),
        unit="MiB/s",
        target=f"ratio >= {TARGET_RATIO} of hashlib.sha256 over the same files",
        passed=passed,
        baseline=f"hashlib.sha256: {rate(total, med['sha256']):.0f} MiB/s "
                 f"({med['sha256']:.2f} s, CPU {cpu['sha256']:.2f} s)",
        ratio=round(ratio, 4),
        detail=(f"median of {runs}; {len(sources)} files from the page cache; mfsync index "
                f"{med['mfsync']:.2f} s, CPU {cpu['mfsync']:.2f} s; hash_file alone "
                f"{rate(total, med['hash_file']):.0f} MiB/s"),
    )])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="total size of the folder in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each method (default 3)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the result row to PATH as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.size_mib < 1:
        parser.error("--runs and --size-mib must be at least 1")
    return run_benchmark(args.size_mib, args.runs, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
