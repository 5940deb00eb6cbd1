"""Run every benchmark, one after the other, and print one table (and write it as JSON).

Usage (as root, so that the benchmarks that build network namespaces can run; as another user
they are listed as skipped)::

    .venv/bin/python benchmarks/run.py                 # everything, full size (30-45 minutes)
    .venv/bin/python benchmarks/run.py --quick         # everything, small sizes (a smoke run)
    .venv/bin/python benchmarks/run.py --only small_files hashing

Each benchmark is a script of this folder with its own docstring saying exactly what it
measures; every one takes ``--json PATH`` and writes its rows there (``_common.Row``). This
runner starts each in a process of its own (so one cannot disturb the memory figures of the
next), flushes the page cache's dirty pages to disk (``os.sync``) and waits ``--gap`` seconds
between them, so that one benchmark's writeback does not land in the next one's figures, and
so that ext4 gives out the inodes the previous benchmark deleted again: for a minute after a file
is deleted (five while its inode table block is dirty), ext4 skips its inode when it creates a
file (``recently_deleted`` in fs/ext4/ialloc.c), and a benchmark that creates 10,000 files right
after another deleted 100,000 spends up to twice the system CPU searching for free inodes. A
benchmark that fails gives a row saying so, with the path of its log, and the rest still run.

The table has one line per figure: its value, the target from the performance issue, the
baseline measured in the same run and the ratio against it where the figure has one. The JSON
file holds the same rows with the machine they ran on. Exit 0 when every benchmark ran (also
when a target was missed: the table says which), 1 when one of them failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import ROOT, Row

HERE = Path(__file__).resolve().parent
OUT = ROOT / "build" / "benchmarks"
TIMEOUT = 3600.0


@dataclass(frozen=True)
class Benchmark:
    """One script of this folder, with its arguments for a full and a quick run."""

    name: str
    script: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    needs_root: bool = False  #: it builds network namespaces


BENCHMARKS = (
    Benchmark("transfer", "transfer.py", ("--rss-size-mib", "4096"),
              ("--size-mib", "64", "--rss-size-mib", "128", "--runs", "1")),
    Benchmark("send", "send.py", (), ("--size-mib", "64", "--runs", "1")),
    Benchmark("small_files", "small_files.py", (), ("--files", "500")),
    Benchmark("hashing", "hashing.py", (), ("--size-mib", "64", "--runs", "1")),
    Benchmark("big_share", "big_share.py", (), ("--files", "2000")),
    Benchmark("announce", "announce.py", (), ("--runs", "3", "--slow-runs", "1",
                                              "--old-runs", "1"), needs_root=True),
    Benchmark("discovery", "discovery.py", (), ("--runs", "3"), needs_root=True),
    Benchmark("gui_stall", "gui_stall.py", (), ("--size-mib", "64")),
    Benchmark("watch_storm", "watch_storm.py", (), ("--quick",)),
    Benchmark("swarm", "swarm.py", (), ("--hosts", "4", "--files", "20", "--window", "10"),
              needs_root=True),
    Benchmark("versus", "versus.py", (), ("--quick",), needs_root=True),
)


def run_one(bench: Benchmark, quick: bool, logs: Path) -> list[Row]:
    """Run ``bench``; its rows, or one row saying why it has none."""
    if bench.needs_root and os.geteuid() != 0:
        return [Row(bench.name, float("nan"), "", "", False, detail="skipped: needs root "
                    "(network namespaces)")]
    rows_file = logs / f"{bench.name}.json"
    rows_file.unlink(missing_ok=True)
    log = logs / f"{bench.name}.log"
    argv = [sys.executable, str(HERE / bench.script), *(bench.quick if quick else bench.full),
            "--json", str(rows_file)]
    started = time.monotonic()
    with log.open("wb") as out:
        try:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = None
    took = time.monotonic() - started
    rows: list[Row] = []
    if rows_file.is_file():
        try:
            rows = [Row(**row) for row in json.loads(rows_file.read_text())["rows"]]
        except (ValueError, KeyError, TypeError) as exc:
            code = code if code else 1
            print(f"  {bench.name}: unreadable rows ({exc})", file=sys.stderr)
    if code != 0 or not rows:
        why = "timed out" if code is None else f"exit {code}"
        rows.append(Row(bench.name, float("nan"), "", "", False,
                        detail=f"failed ({why}): see {log}"))
    print(f"  {bench.name}: {took:.0f} s", file=sys.stderr)
    return rows


def _plain(row: Row) -> dict[str, object]:
    """``row`` for JSON: a missing figure (NaN) is null."""
    plain = asdict(row)
    if row.value != row.value:
        plain["value"] = None
    return plain


def _fmt_value(row: Row) -> str:
    if row.value != row.value:  # NaN: no figure
        return "-"
    value = f"{row.value:,.0f}" if abs(row.value) >= 100 else f"{row.value:.3g}"
    return f"{value} {row.unit}".strip()


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (it reads as well in a terminal as in the README)."""
    lines = ["| benchmark | result | baseline (same run) | ratio | target | ok | notes |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        ok = "yes" if row.passed else ("skipped" if row.detail.startswith("skipped") else "NO")
        lines.append(f"| {row.benchmark} | {_fmt_value(row)} | {row.baseline} | {ratio} | "
                     f"{row.target} | {ok} | {row.detail} |")
    return "\n".join(lines)


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; the exit code."""
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                        help=f"run only these ({', '.join(names)})")
    parser.add_argument("--gap", type=float, default=None, metavar="SECONDS",
                        help="pause between benchmarks, after os.sync() (default 70, 10 with "
                             "--quick: see the docstring)")
    parser.add_argument("--json", type=Path, default=OUT / "results.json", metavar="PATH",
                        help=f"where the rows go (default {OUT / 'results.json'})")
    args = parser.parse_args(argv)
    if args.gap is None:
        args.gap = 10.0 if args.quick else 70.0
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    logs = args.json.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    rows: list[Row] = []
    for index, bench in enumerate(chosen):
        if index:
            os.sync()
            time.sleep(args.gap)
        print(f"running {bench.name} ...", file=sys.stderr)
        rows.extend(run_one(bench, args.quick, logs))
    args.json.write_text(json.dumps({
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "rows": [_plain(r) for r in rows],
    }, indent=2, allow_nan=False) + "\n")
    print(table(rows))
    print(f"\nrows written to {args.json}; logs in {logs}")
    failed = any(r.detail.startswith("failed") for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
