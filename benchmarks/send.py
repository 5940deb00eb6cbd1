"""Pushing against pulling: 1 GiB by ``mfsync send`` against 1 GiB by ``mfsync get``, same run.

Where it runs: on loopback in the root namespace, as benchmarks/transfer.py does and for the
same reasons (see its docstring): discovery pinned to loopback (``--interface 127.0.0.1 --ttl
0``, a random high ``--multicast-port``), every server on a free port of 127.0.0.1, so no packet
can leave the machine; each process has a fresh HOME (a fresh key, nothing remembered).

The file (``--size-mib``, default 1024) of random bytes is moved ``--runs`` times (default 3)
each way, alternating:

* get: one ``mfsync share`` of the file's folder for the whole benchmark (its start-up hashing
  is not measured), and per run ``mfsync get big DEST``.
* send: per run a fresh ``mfsync receive DEST --accept-all`` (started before the clock starts,
  on a free port) and ``mfsync send FILE --to 127.0.0.1:PORT``. The sender stages the file
  (hashes it) inside the measured command: that is what a user waits for.

Each run is timed two ways: (a) the whole command (``get``; ``send``, which exits once the
receiver has verified the file and said so); (b) the transfer: from the partial file appearing
in DEST to the final file getting its name (polled every millisecond), the same span for both
methods. CPU seconds (user + system) of both processes of a run: the measured command's from
``wait4()``, the other's (``share``; ``receive``) from ``/proc/PID/stat`` before and after. The
verdict: ratio = median (b) of get / median (b) of send, PASS when at least 0.9 (send within
10 % of get); CPU seconds per GiB of both ends of both methods and their ratio are printed
beside it. Every received file is compared with the source by SHA-256; a mismatch, a missing
file or a failed process makes this script exit 1.

``--json PATH`` writes the figures as ``_common.Row`` rows for benchmarks/run.py. Exit 0 with
the measurement (also when the target is missed); 1 when a copy is wrong or a process fails; 2
for bad arguments or too little free space. Run as any user:
``/work/main/.venv/bin/python benchmarks/send.py`` (a few minutes with the defaults).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (
    MIB,
    BenchError,
    LoopbackRig,
    Row,
    cpu_seconds,
    free_port,
    make_random_file,
    reap,
    sha256_file,
    tail,
    write_rows,
)
from transfer import FilePoller, size_label

FILE_NAME = "big"
TARGET = 0.9
PROCESS_TIMEOUT = 600.0
READY_TIMEOUT = 60.0


@dataclass
class Run:
    """One move of the file, by one method."""

    n: int
    method: str
    whole: float
    transfer: float
    cpu_main: float  #: get / send
    cpu_other: float  #: share / receive, during the run


class SendBench(LoopbackRig):
    """The loopback rig with a get run and a send run."""

    def check(self, path: Path, digest: str, what: str) -> None:
        """The received file is the source, byte for byte; nothing partial is left."""
        if not path.is_file():
            raise BenchError(f"{what}: {path} is missing")
        if sha256_file(path) != digest:
            raise BenchError(f"{what}: {path} differs from the source")
        leftovers = list(path.parent.glob(".*.mfsync-part"))
        if leftovers:
            raise BenchError(f"{what}: partial files left behind: {leftovers}")

    def timed(self, argv: list[str], env: dict[str, str], log: Path, dest: Path,
              other: subprocess.Popen[bytes]) -> tuple[float, float, float, float]:
        """Run ``argv`` (a mfsync command with the loopback options) to its end; returns
        (whole s, transfer s, its CPU s, ``other``'s CPU s meanwhile)."""
        poller = FilePoller(dest / f".{FILE_NAME}.mfsync-part", dest / FILE_NAME)
        os.sync()
        other_cpu0 = cpu_seconds(other.pid) or 0.0
        poller.start()
        t0 = time.perf_counter()
        proc = self.mfsync(*argv, env=env, log=log)
        t_end, code, cpu, _sys = reap(proc, PROCESS_TIMEOUT)
        poller.stop()
        other_cpu = (cpu_seconds(other.pid) or 0.0) - other_cpu0
        if code != 0:
            raise BenchError(f"mfsync {argv[0]} exited with {code}:\n{tail(log)}")
        if other.poll() is not None:
            raise BenchError(f"the other end exited with {other.returncode}")
        if poller.seen is None or len(poller.times) < 2:
            raise BenchError(f"{dest}: the partial or the final file was never seen")
        return t_end - t0, poller.times[1] - poller.seen, cpu, other_cpu

    def run_get(self, n: int, share: subprocess.Popen[bytes], digest: str) -> Run:
        dest = self.tmp / f"get-{n}"
        whole, transfer, cpu, other = self.timed(
            ["get", FILE_NAME, str(dest)], self.env(f"get-{n}"), self.tmp / f"get-{n}.log",
            dest, share)
        self.check(dest / FILE_NAME, digest, f"get run {n}")
        shutil.rmtree(dest)
        return Run(n, "get", whole, transfer, cpu, other)

    def start_receive(self, dest: Path, label: str) -> tuple[subprocess.Popen[bytes], int]:
        """``mfsync receive DEST --accept-all`` on a free port; returns once it listens."""
        port = free_port()
        log = self.tmp / f"receive-{label}.log"
        proc = self.mfsync("receive", str(dest), "--accept-all", "--port", str(port),
                           env=self.env(f"receive-{label}"), log=log)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"receive exited with {proc.returncode}:\n{tail(log)}")
            if "Receiving into " in log.read_text(errors="replace"):
                return proc, port
            time.sleep(0.05)
        raise BenchError(f"receive did not start in {READY_TIMEOUT:g} s:\n{tail(log)}")

    def run_send(self, n: int, src: Path, digest: str) -> Run:
        dest = self.tmp / f"send-{n}"
        receive, port = self.start_receive(dest, str(n))
        try:
            whole, transfer, cpu, other = self.timed(
                ["send", str(src), "--to", f"127.0.0.1:{port}"], self.env(f"send-{n}"),
                self.tmp / f"send-{n}.log", dest, receive)
        finally:
            self.stop_share(receive)
        self.check(dest / FILE_NAME, digest, f"send run {n}")
        shutil.rmtree(dest)
        return Run(n, "send", whole, transfer, cpu, other)


def measure(bench: SendBench, size: int, runs: int, pause: float) -> list[Run]:
    """Write the file, share it, then alternate get and send runs."""
    src_dir = bench.tmp / "source"
    src_dir.mkdir()
    src = src_dir / FILE_NAME
    digest = make_random_file(src, size)
    share = bench.start_share(src_dir, "get")
    done: list[Run] = []
    try:
        for n in range(1, runs + 1):
            for method in ("get", "send"):
                time.sleep(pause)
                run = (bench.run_get(n, share, digest) if method == "get"
                       else bench.run_send(n, src, digest))
                done.append(run)
                print(f"  run {n}: {method:<4} {run.transfer:6.2f} s transfer, "
                      f"{run.whole:6.2f} s whole", flush=True)
    finally:
        bench.stop_share(share)
    return done


def report(size: int, runs: list[Run]) -> Row:
    """Print the table and the verdict; the figures as a row."""
    per_gib = 1024 * MIB / size
    print()
    print(f"send vs get of {size / MIB:.0f} MiB on loopback (discovery pinned to 127.0.0.1, "
          "TTL 0); (a) whole command, (b) partial appearing -> final name")
    print(f"{'run':>3} {'method':<6} {'(a) s':>7} {'(b) s':>7} {'MiB/s (b)':>9} "
          f"{'CPU s':>7} {'CPU s other':>12}")
    for r in runs:
        other = "share" if r.method == "get" else "receive"
        print(f"{r.n:>3} {r.method:<6} {r.whole:7.2f} {r.transfer:7.2f} "
              f"{size / MIB / r.transfer:9.0f} {r.cpu_main:7.2f} {r.cpu_other:6.2f} {other}")
    med = {(m, k): statistics.median(getattr(r, k) for r in runs if r.method == m)
           for m in ("get", "send") for k in ("whole", "transfer", "cpu_main", "cpu_other")}
    ratio = med[("get", "transfer")] / med[("send", "transfer")]
    cpu_get = (med[("get", "cpu_main")] + med[("get", "cpu_other")]) * per_gib
    cpu_send = (med[("send", "cpu_main")] + med[("send", "cpu_other")]) * per_gib
    print()
    parts = {key: med[key] * per_gib for key in med if key[1].startswith("cpu")}
    print(f"CPU s per GiB (both ends): get {cpu_get:.2f} (get {parts[('get', 'cpu_main')]:.2f} "
          f"+ share {parts[('get', 'cpu_other')]:.2f}), send {cpu_send:.2f} (send "
          f"{parts[('send', 'cpu_main')]:.2f} + receive {parts[('send', 'cpu_other')]:.2f}); "
          f"send / get {cpu_send / cpu_get:.2f}")
    print(f"whole command, median: get {med[('get', 'whole')]:.2f} s, send "
          f"{med[('send', 'whole')]:.2f} s (send's includes hashing the file)")
    print(f"ratio = median (b) get / median (b) send: {ratio:.2f}  target >= {TARGET}: "
          f"{'PASS' if ratio >= TARGET else 'FAIL'}")
    return Row(
        benchmark=f"{size_label(size)} file, send -> receive vs share -> get, loopback",
        value=round(size / MIB / med[("send", "transfer")], 1),
        unit="MiB/s",
        target=f"ratio >= {TARGET} (within 10 %)",
        passed=bool(ratio >= TARGET),
        baseline=f"get {size / MIB / med[('get', 'transfer')]:.0f} MiB/s",
        ratio=round(float(ratio), 4),
        detail=(f"transfer only, median of {len(runs) // 2}; CPU s per GiB both ends: send "
                f"{cpu_send:.2f}, get {cpu_get:.2f} (ratio {cpu_send / cpu_get:.2f}); whole "
                f"command send {med[('send', 'whole')]:.2f} s (hashing included), get "
                f"{med[('get', 'whole')]:.2f} s"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="file size (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each method (default 3)")
    parser.add_argument("--pause", type=float, default=3.0, metavar="SECONDS",
                        help="quiet pause before every run (default 3)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the result row to PATH as JSON (for run.py)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.size_mib < 1:
        parser.error("--runs and --size-mib must be at least 1")
    size = args.size_mib * MIB
    base = Path(tempfile.gettempdir())
    free = shutil.disk_usage(base).free
    if free < 4 * size:
        print(f"send benchmark: {free / MIB:.0f} MiB free in {base}, need {4 * size / MIB:.0f}",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-send-", dir=base) as tmp_name:
        bench = SendBench(Path(tmp_name))
        try:
            print(f"temp dir {tmp_name}; discovery on 127.0.0.1 UDP {bench.udp_port}, TTL 0",
                  flush=True)
            bench.warm()
            runs = measure(bench, size, args.runs, args.pause)
        except BenchError as exc:
            print(f"send benchmark: FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            bench.stop_all()
    write_rows(args.json, [report(size, runs)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
