"""Announce latency: a file lands in a shared folder -> a peer's ``fetch --follow`` prints it.

How it works: a two-host LAN of network namespaces (``tests/e2e/netns.py``). Host 0 runs
``python -m mfsync share DIR``; host 1 runs ``python -m mfsync fetch --follow`` (the measured
follower) and, beside it, ``fetch --follow --json`` (a witness that prints every distinct content
of a path with its size, so a half-written version that was ever offered shows up). Every process
has its own ``HOME`` and ``PYTHONUNBUFFERED=1``; a thread of this script reads each follower's
stdout and stamps every line with ``time.time()``. DIR lives on the root's file system, which the
namespaces share, so this script writes into it directly. Once both followers have printed the
seed file, the variants run one file at a time, ``RUN_GAP`` s apart (the follower fetches a
host's index at most once a second after a burst of 4, and that limit is not what is measured):

* atomic (``--runs``, default 20; the verdict): a small file is written under a temporary name
  outside DIR (same file system) and ``os.rename``d into DIR; t0 is taken just before the rename,
  t1 when its path is printed. The file's mtime is the moment it was written, as when a program
  saves a file.
* slow (``--slow-runs``, default 5): the file is written in place: open in DIR, 5 chunks of
  ``SLOW_CHUNK`` bytes 0.1 s apart, close; t0 is taken after the close. A path printed before the
  close counts as a negative latency and a failure of the completeness check.
* old (``--old-runs``, default 5): like atomic, but the file's mtime is set an hour back before the
  rename (``mv`` of an existing file); it shows what the "recently modified, wait until it
  settles" rule costs in the atomic case.

Completeness: after the runs, ``fetch --json`` (a fresh process on host 1) lists every file; each
slow file must be listed once, with its full size; and the JSON witness must never have seen a
slow file with another size. A failure there exits 1.

Every mfsync process runs inside the LAN's namespaces. Run as root:
``/work/main/.venv/bin/python benchmarks/announce.py`` (about a minute). ``--json PATH`` writes
the figures as a ``_common.Row`` for benchmarks/run.py (also when the completeness check fails).
Exit 0 with the measurement (also when the target is missed), 1 when mfsync fails or offered a
file half done, 2 when network namespaces are unavailable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from _common import E2E_DIR, BenchError, Row, cpu_seconds, fmt_ms, percentile, tail, write_rows

TARGET_S = 1.0
RUNS = 20
SLOW_RUNS = 5
OLD_RUNS = 5
SLOW_CHUNKS = 5
SLOW_CHUNK = 64 * 1024
SLOW_PAUSE = 0.1
#: A file not printed within this many seconds counts as a miss (infinite latency).
SEEN_TIMEOUT = 10.0
#: Pause after each file was printed, before the next one is written.
RUN_GAP = 1.0
READY_TIMEOUT = 30.0
SEED = "seed.txt"


class Follower:
    """A ``fetch --follow`` process: every stdout line with the time it was read."""

    def __init__(self, proc: subprocess.Popen[str], label: str, log: Path,
                 as_json: bool) -> None:
        self.proc = proc
        self.label = label
        self.log = log
        self.as_json = as_json
        self.first_seen: dict[str, float] = {}
        self.records: list[tuple[float, dict[str, Any]]] = []
        self.noise: list[str] = []
        self.eof = False
        self._cond = threading.Condition()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            now = time.time()
            text = line.rstrip("\n")
            with self._cond:
                path = text
                if self.as_json:
                    try:
                        obj = json.loads(text)
                        path = obj["path"]
                        self.records.append((now, obj))
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.noise.append(text)
                        continue
                self.first_seen.setdefault(path, now)
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def wait_for(self, path: str, timeout: float) -> float | None:
        """The time ``path`` was first printed, waiting up to ``timeout`` s; None if not."""
        with self._cond:
            self._cond.wait_for(lambda: path in self.first_seen or self.eof, timeout)
            if path not in self.first_seen and self.eof:
                raise BenchError(f"{self.label} exited ({self.proc.poll()}):\n{tail(self.log)}")
            return self.first_seen.get(path)


@dataclass
class Variant:
    name: str
    what: str
    latencies: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_is_mfsync(pid: int) -> None:
    """``ip netns exec`` execs the command, so the pid must be the mfsync interpreter itself."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if b"mfsync" not in argv:
        raise BenchError(f"pid {pid} is not the mfsync process: {argv!r}")


def run_benchmark(runs: int, slow_runs: int, old_runs: int,
                  json_path: Path | None = None) -> int:
    sys.path.insert(0, str(E2E_DIR))
    from netns import Lan, netns_available  # noqa: PLC0415

    reason = netns_available()
    if reason is not None:
        print(f"announce benchmark: network namespaces unavailable: {reason}", file=sys.stderr)
        return 2

    py = sys.executable
    started = time.monotonic()
    load_start = os.getloadavg()
    atomic = Variant("atomic", "write elsewhere, os.rename into DIR; from the rename")
    slow = Variant("slow", f"written in place, {SLOW_CHUNKS} chunks {SLOW_PAUSE:g} s apart; "
                           "from the close")
    old = Variant("old", "as atomic, mtime 1 h back (mv of an old file); from the rename")
    slow_size = SLOW_CHUNKS * SLOW_CHUNK
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-announce-") as tmp_name:
        tmp = Path(tmp_name)
        share_dir = tmp / "share"
        share_dir.mkdir()
        staging = tmp / "staging"
        staging.mkdir()
        (share_dir / SEED).write_bytes(b"seed of the announce benchmark\n")
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
            "PYTHONUNBUFFERED": "1",
        }
        # (as _common.LoopbackRig: PYTHONPATH passed on, so a before/after run can name a tree)
        if "PYTHONPATH" in os.environ:
            base_env["PYTHONPATH"] = os.environ["PYTHONPATH"]

        def env_for(name: str) -> dict[str, str]:
            home = tmp / "homes" / name
            home.mkdir(parents=True, exist_ok=True)
            return {**base_env, "HOME": str(home)}

        try:
            lan = Lan(2)
        except RuntimeError as exc:
            print(f"announce benchmark: {exc}", file=sys.stderr)
            return 2
        try:
            with lan:
                h0, h1 = lan.hosts
                # Warm the bytecode cache (not measured).
                h0.run([py, "-m", "mfsync", "--version"], env=env_for("warm"), timeout=60,
                       check=True)

                share_log = tmp / "share.log"
                with share_log.open("wb") as out:
                    share = h0.popen([py, "-m", "mfsync", "share", str(share_dir)],
                                     env=env_for("share"), stdout=out, stderr=out)
                followers = []
                for label, extra in (("follower", []), ("json witness", ["--json"])):
                    log = tmp / f"{label.replace(' ', '-')}.log"
                    with log.open("wb") as err:
                        proc = h1.popen([py, "-m", "mfsync", "fetch", "--follow", *extra],
                                        env=env_for(label.replace(" ", "-")),
                                        stdout=subprocess.PIPE, stderr=err, text=True)
                    followers.append(Follower(proc, label, log, bool(extra)))
                follower, witness = followers
                for f in followers:
                    if f.wait_for(SEED, READY_TIMEOUT) is None:
                        raise BenchError(f"{f.label} did not list {SEED} within "
                                         f"{READY_TIMEOUT:g} s:\n{tail(f.log)}\nshare:\n"
                                         f"{tail(share_log)}")
                for proc in (share, follower.proc, witness.proc):
                    check_is_mfsync(proc.pid)
                cpu0 = {p.pid: cpu_seconds(p.pid) or 0.0
                        for p in (share, follower.proc, witness.proc)}
                t_measure = time.monotonic()

                def measure(variant: Variant, name: str, t0: float) -> None:
                    seen = follower.wait_for(name, SEEN_TIMEOUT)
                    latency = math.inf if seen is None else seen - t0
                    variant.latencies.append(latency)
                    if seen is None:
                        variant.notes.append(f"{name}: not printed within {SEEN_TIMEOUT:g} s")
                    print(f"  {variant.name:<6} {name:<16} {fmt_ms(latency)} ms", flush=True)
                    time.sleep(RUN_GAP)
                    if share.poll() is not None:
                        raise BenchError(f"share exited ({share.returncode}):\n"
                                         f"{tail(share_log)}")

                for i in range(runs):
                    name = f"atomic-{i:02d}.txt"
                    temp = staging / name
                    temp.write_bytes(f"atomic file {i}\n".encode() * 10)
                    t0 = time.time()
                    os.rename(temp, share_dir / name)
                    measure(atomic, name, t0)
                for i in range(slow_runs):
                    name = f"slow-{i:02d}.bin"
                    chunk = os.urandom(SLOW_CHUNK)
                    fd = os.open(share_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    for k in range(SLOW_CHUNKS):
                        if k:
                            time.sleep(SLOW_PAUSE)
                        os.write(fd, chunk)
                    os.close(fd)
                    t0 = time.time()
                    early = follower.first_seen.get(name)
                    if early is not None:
                        slow.notes.append(f"{name}: printed {t0 - early:.3f} s BEFORE the close")
                    measure(slow, name, t0)
                for i in range(old_runs):
                    name = f"old-{i:02d}.txt"
                    temp = staging / name
                    temp.write_bytes(f"old file {i}\n".encode() * 10)
                    past = time.time() - 3600
                    os.utime(temp, (past, past))
                    t0 = time.time()
                    os.rename(temp, share_dir / name)
                    measure(old, name, t0)
                measured_for = time.monotonic() - t_measure
                cpu = {pid: (cpu_seconds(pid) or 0.0) - c for pid, c in cpu0.items()}

                # Completeness: a fresh `fetch --json` lists the slow files at their full size.
                listing = h1.run([py, "-m", "mfsync", "fetch", "--json"], env=env_for("check"),
                                 timeout=60, text=True)
                if listing.returncode != 0:
                    raise BenchError(f"fetch --json exited {listing.returncode}:\n"
                                     f"{listing.stderr}")
                listed: dict[str, list[int]] = {}
                for line in listing.stdout.splitlines():
                    obj = json.loads(line)
                    listed.setdefault(obj["path"], []).append(int(obj["size"]))
                problems: list[str] = []
                for i in range(slow_runs):
                    name = f"slow-{i:02d}.bin"
                    sizes = listed.get(name)
                    if sizes != [slow_size]:
                        problems.append(f"fetch --json lists {name} with sizes {sizes}, "
                                        f"expected [{slow_size}]")
                for _, obj in witness.records:
                    if obj["path"].startswith("slow-") and int(obj["size"]) != slow_size:
                        problems.append(f"the JSON witness saw {obj['path']} offered with "
                                        f"{obj['size']} of {slow_size} bytes")
                problems += [n for n in slow.notes if "BEFORE" in n]
                expected = {SEED} | {f"atomic-{i:02d}.txt" for i in range(runs)} | {
                    f"slow-{i:02d}.bin" for i in range(slow_runs)} | {
                    f"old-{i:02d}.txt" for i in range(old_runs)}
                missing = sorted(expected - listed.keys())
        except BenchError as exc:
            print(f"announce benchmark: FAILED: {exc}", file=sys.stderr)
            return 1

    # -- report -----------------------------------------------------------------------------------
    print()
    print("mfsync announce latency: a file lands in the folder `mfsync share` serves on host 0 ->")
    print("`mfsync fetch --follow` on host 1 prints its path; network namespaces, veth + bridge.")
    print(f"runs {RUN_GAP:g} s apart; a path not printed within {SEEN_TIMEOUT:g} s is a miss.")
    print()
    print(f"{'variant':<8}{'n':>3}{'median':>9}{'p90':>9}{'min':>9}{'max':>9}{'misses':>8}  how")
    for v in (atomic, slow, old):
        if not v.latencies:
            continue
        lat = v.latencies
        misses = sum(1 for x in lat if math.isinf(x))
        print(f"{v.name:<8}{len(lat):>3}{fmt_ms(statistics.median(lat)):>9}"
              f"{fmt_ms(percentile(lat, 0.9)):>9}{fmt_ms(min(lat)):>9}{fmt_ms(max(lat)):>9}"
              f"{misses:>8}  {v.what}")
    print(f"{'':<11}(milliseconds)")
    for v in (atomic, slow, old):
        for note in v.notes:
            print(f"note: {note}")
    print()
    print(f"CPU seconds over the {measured_for:.0f} s of runs: share {cpu[share.pid]:.2f}, "
          f"fetch --follow {cpu[follower.proc.pid]:.2f}, "
          f"fetch --follow --json {cpu[witness.proc.pid]:.2f}")
    if missing:
        print(f"fetch --json did not list: {', '.join(missing)}")
    complete = "PASS" if not problems else "FAIL"
    print(f"slow files listed once, at their full size ({slow_size} bytes), never half done: "
          f"{complete}")
    for p in problems:
        print(f"  {p}")
    for v in (slow, old):
        if v.latencies:
            ok = statistics.median(v.latencies) < TARGET_S
            print(f"{v.name} variant median < {TARGET_S:g} s: {'PASS' if ok else 'FAIL'}")
    med = statistics.median(atomic.latencies) if atomic.latencies else math.inf
    print(f"target < {TARGET_S:g} s (median of {len(atomic.latencies)} atomic runs): "
          f"{'PASS' if med < TARGET_S else 'FAIL'}")
    print(f"load average at start {load_start[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs; other work on the machine skews every number above)")
    print(f"total benchmark time: {time.monotonic() - started:.1f} s")
    variants = "; ".join(
        f"{v.name} (n={len(v.latencies)}) median {fmt_ms(statistics.median(v.latencies)).strip()}"
        f" ms" for v in (slow, old) if v.latencies)
    check = ("PASS" if not problems and not missing else
             f"FAIL ({len(problems)} problems, {len(missing)} not listed)")
    atomic_misses = sum(1 for x in atomic.latencies if math.isinf(x))
    write_rows(json_path, [Row(
        benchmark=f"file closed -> listed at a peer (median of {len(atomic.latencies)})",
        # a median that is a miss has no figure: NaN (the runner shows it as "-")
        value=round(med, 3) if math.isfinite(med) else math.nan,
        unit="s",
        target=f"<= {TARGET_S:g} s",
        passed=med <= TARGET_S,
        detail=(f"atomic renames, {atomic_misses} missed, p90 "
                f"{fmt_ms(percentile(atomic.latencies, 0.9)).strip()} ms; "
                + (f"{variants}; " if variants else "")
                + f"slow files complete, never half done: {check}"),
    )])
    return 1 if problems or missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS,
                        help=f"atomic (rename) runs, the verdict (default {RUNS})")
    parser.add_argument("--slow-runs", type=int, default=SLOW_RUNS,
                        help=f"slowly written files (default {SLOW_RUNS})")
    parser.add_argument("--old-runs", type=int, default=OLD_RUNS,
                        help=f"renamed files with an old mtime (default {OLD_RUNS})")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the result row to PATH as JSON (for run.py)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.slow_runs < 0 or args.old_runs < 0:
        parser.error("--runs must be at least 1, the others at least 0")
    return run_benchmark(args.runs, args.slow_runs, args.old_runs, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
