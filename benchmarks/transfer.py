"""Transfer throughput and memory: ``mfsync share`` -> ``mfsync get`` against a raw TCP copy.

Where it runs: on loopback in the root namespace, with discovery pinned to loopback
(``--interface 127.0.0.1 --ttl 0``, a random high ``--multicast-port``, a free ``--port``), so no
packet can leave the machine. Loopback rather than a namespace LAN because a veth pair and a
bridge add per-packet cost that is not mfsync's, and the raw baseline runs on the same loopback.

Part 1, throughput (``--size-mib``, default 1024): a file of random bytes in a temporary folder
(on /tmp, the same disk as everything else) is served by one ``mfsync share`` for the whole part
(its start-up hashing is not measured). ``--runs`` times each (see "Order" below):

* raw TCP baseline: this script in two processes. The receiver listens on 127.0.0.1, and on a
  connection creates the destination file, ``recv_into()``s a reused 1 MiB buffer and writes
  what arrived, then fsyncs and closes the file (mfsync fsyncs its download before the final
  rename, so the baseline pays for the same durability; the receiver reports how long its fsync
  took). The sender ``readinto()``s the source into a reused 1 MiB buffer and ``sendall()``s it.
  No encryption, no hashing.
* mfsync: ``mfsync get big DEST`` with a fresh HOME (so a fresh key: nothing remembered).

Each run is timed two ways:

(a) whole command: from starting the process (``get``; for the baseline the sender, the receiver
    already listening as ``share`` is) to the exit of ``get`` (the baseline's receiver). For
    mfsync this includes the interpreter start, imports, key creation, discovery and shutdown.
(b) transfer only: from the moment the destination file appears (``DEST/.big.mfsync-part`` for
    mfsync, the destination file for the baseline), polled every millisecond by a thread of this
    script, to that same exit. For mfsync this still includes the final fsync, rename and
    shutdown of ``get`` (the note column says how long ``get`` took to exit after the file got
    its final name); for the baseline the fsync and the receiver's exit.

The verdict uses (b): ratio = median raw time / median mfsync time (= mfsync throughput / raw
throughput) against the floor of 0.5 (the performance issue's target); (a) is shown beside it.
Every received file is compared with the source by SHA-256 (computed while the source is written);
a mismatch, a missing file or a process that fails makes this script exit 1. The page cache is not
dropped (it cannot be, reliably, without disturbing everything else on the machine): the source
stays cached for both methods, and ``os.sync()`` runs before every measurement so that one run's
writeback does not land in the next. CPU seconds (user + system) of each process are taken from
``wait4()`` (the sharer's from ``/proc/PID/stat`` before and after the run).

Order (``--order``): ``alternate`` (the default) runs raw, mfsync, raw, mfsync, ...; ``blocked``
runs every raw copy first, then every mfsync run. Why both: on a VM whose freed memory goes back
to the host (virtio-balloon free page reporting, as on the Firecracker VM this was written on),
writing into the page cache costs up to ~2 CPU-s per GiB more when the kernel hands out pages the
host has taken back; ``perf`` shows it as time inside ``copy_folio_from_iter_atomic`` and it
appears here as a large "sys" part of CPU s. Which run pays it depends on what the previous run
freed: when the runs alternate it was the mfsync ``get`` every time; back-to-back ``get`` runs
mostly did not pay it. Read the sys column before reading the ratio.

Part 2, memory (``--rss-size-mib``, default 2048; skipped with ``--skip-rss``): a fresh share of a
larger file and one ``get`` of it. VmRSS and VmHWM of both processes are sampled every 0.1 s from
``/proc/PID/status``; the pid is the ``python -m mfsync`` process itself (checked: its command
line names ``-m mfsync`` and it has no child processes). The peak is the largest of the sampled
VmRSS and the last VmHWM (the kernel's own high-water mark); PASS when both peaks are below
150 MB (150 000 000 bytes).

``--json PATH`` writes the figures as ``_common.Row`` rows (throughput, and memory when that part
ran) for benchmarks/run.py. Exit 0 with the measurement (also when a target is missed); 1 when a
copy is wrong or a process fails; 2 for bad arguments or too little free space. Run as any user:
``/work/main/.venv/bin/python benchmarks/transfer.py`` (under a minute with the defaults).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    MIB,
    BenchError,
    LoopbackRig,
    Row,
    cpu_seconds,
    make_random_file,
    reap,
    sha256_file,
    tail,
    write_rows,
)

CHUNK = MIB
FLOOR = 0.5
RSS_LIMIT = 150_000_000
RSS_INTERVAL = 0.1
POLL_INTERVAL = 0.001
PROCESS_TIMEOUT = 300.0
FILE_NAME = "big"


# -- the raw baseline (two processes of this script; stdlib only, no mfsync) ----------------------


def raw_recv_main(dest: str) -> int:
    """Listen on 127.0.0.1, print the port, receive one connection into ``dest``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        print(srv.getsockname()[1], flush=True)
        conn, _ = srv.accept()
        with conn:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                buf = bytearray(CHUNK)
                view = memoryview(buf)
                total = 0
                while True:
                    n = conn.recv_into(buf)
                    if not n:
                        break
                    part = view[:n]
                    while part:
                        written = os.write(fd, part)
                        part = part[written:]
                    total += n
                t = time.perf_counter()
                os.fsync(fd)
                fsync_s = time.perf_counter() - t
            finally:
                os.close(fd)
    print(json.dumps({"bytes": total, "fsync_s": fsync_s}), flush=True)
    return 0


def raw_send_main(port: int, src: str) -> int:
    """Send ``src`` to 127.0.0.1:``port`` in 1 MiB chunks from a reused buffer."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port)) as sock, open(src, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            sock.sendall(view[:n])
        sock.shutdown(socket.SHUT_WR)
    return 0


# -- helpers of the driver -------------------------------------------------------------------------


class FilePoller(threading.Thread):
    """Records the perf_counter times at which each of ``paths`` first exists, in order."""

    def __init__(self, *paths: Path) -> None:
        super().__init__(daemon=True)
        self.paths = [os.fspath(p) for p in paths]
        self.times: list[float] = []
        self._stop_event = threading.Event()

    @property
    def seen(self) -> float | None:
        """When the first path appeared."""
        return self.times[0] if self.times else None

    def run(self) -> None:
        for path in self.paths:
            while not os.path.lexists(path):
                if self._stop_event.wait(POLL_INTERVAL):
                    return
            self.times.append(time.perf_counter())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclass
class RssTrack:
    label: str
    pid: int
    samples: int = 0
    peak_rss: int = 0
    last_hwm: int = 0
    children: set[int] = field(default_factory=set)
    series: list[tuple[float, int]] = field(default_factory=list)


class RssSampler(threading.Thread):
    """Samples VmRSS / VmHWM of the tracked pids every ``RSS_INTERVAL`` s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.tracks: dict[int, RssTrack] = {}
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._t0 = time.perf_counter()

    def track(self, label: str, pid: int) -> RssTrack:
        with self._lock:
            self.tracks[pid] = RssTrack(label, pid)
            return self.tracks[pid]

    def run(self) -> None:
        while not self._stop_event.wait(RSS_INTERVAL):
            with self._lock:
                tracks = list(self.tracks.values())
            for tr in tracks:
                self._sample(tr)

    def _sample(self, tr: RssTrack) -> None:
        try:
            text = Path(f"/proc/{tr.pid}/status").read_text()
        except OSError:
            return
        values = {}
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        if "VmRSS" not in values:
            return  # a zombie: the process has exited
        tr.samples += 1
        tr.peak_rss = max(tr.peak_rss, values["VmRSS"])
        tr.last_hwm = max(tr.last_hwm, values.get("VmHWM", 0))
        tr.series.append((time.perf_counter() - self._t0, values["VmRSS"]))
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{tr.pid}/task"):
                kids = Path(f"/proc/{tr.pid}/task/{task}/children").read_text().split()
                tr.children.update(int(k) for k in kids)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def mb(n: float) -> str:
    return f"{n / 1e6:7.1f} MB ({n / MIB:6.1f} MiB)"


# -- the driver -----------------------------------------------------------------------------------


@dataclass
class Run:
    n: int
    method: str
    whole: float
    transfer: float
    cpu_main: float  # get (mfsync) or receiver (raw)
    cpu_other: float  # share during the run (mfsync) or sender (raw)
    sys_main: float  # of cpu_main, the kernel's part
    note: str = ""


class Bench(LoopbackRig):
    """The loopback rig, with the raw baseline and mfsync runs of this benchmark."""

    def verify(self, path: Path, expected: str, what: str) -> None:
        if not path.is_file():
            raise BenchError(f"{what}: {path} is missing")
        got = sha256_file(path)
        if got != expected:
            raise BenchError(f"{what}: {path} differs from the source "
                             f"(sha256 {got[:16]}… != {expected[:16]}…)")

    def run_raw(self, n: int, src: Path, digest: str) -> Run:
        dest_dir = self.tmp / f"raw-{n}"
        dest_dir.mkdir()
        dest = dest_dir / FILE_NAME
        log = self.tmp / f"raw-recv-{n}.log"
        os.sync()
        recv = self.popen([self.py, os.fspath(Path(__file__).resolve()), "--raw-recv",
                           str(dest)], self.env("raw-recv"), log, stdout=subprocess.PIPE)
        assert recv.stdout is not None
        line = recv.stdout.readline()
        if not line.strip():
            raise BenchError(f"raw receiver did not start:\n{tail(log)}")
        port = int(line)
        poller = FilePoller(dest)
        poller.start()
        t0 = time.perf_counter()
        send = self.popen([self.py, os.fspath(Path(__file__).resolve()), "--raw-send",
                           str(port), str(src)], self.env("raw-send"),
                          self.tmp / f"raw-send-{n}.log")
        t_end, code, cpu_recv, sys_recv = reap(recv, PROCESS_TIMEOUT)
        _, send_code, cpu_send, _ = reap(send, PROCESS_TIMEOUT)
        poller.stop()
        report = recv.stdout.read().decode(errors="replace").strip()
        recv.stdout.close()
        if code != 0 or send_code != 0:
            raise BenchError(f"raw copy failed (receiver {code}, sender {send_code}):\n"
                             f"{tail(log)}\n{tail(self.tmp / f'raw-send-{n}.log')}")
        if poller.seen is None:
            raise BenchError("raw copy: the destination file was never seen")
        self.verify(dest, digest, f"raw run {n}")
        fsync_s = json.loads(report)["fsync_s"] if report else float("nan")
        shutil.rmtree(dest_dir)
        return Run(n, "raw TCP", t_end - t0, t_end - poller.seen, cpu_recv, cpu_send, sys_recv,
                   f"fsync {fsync_s:.2f} s")

    def run_get(self, n: int, share: subprocess.Popen[bytes], digest: str,
                rss: RssSampler | None = None) -> Run:
        dest_dir = self.tmp / f"get-{n}"
        log = self.tmp / f"get-{n}.log"
        poller = FilePoller(dest_dir / f".{FILE_NAME}.mfsync-part", dest_dir / FILE_NAME)
        os.sync()
        share_cpu0 = cpu_seconds(share.pid) or 0.0
        poller.start()
        t0 = time.perf_counter()
        get = self.popen([self.py, "-m", "mfsync", "get", FILE_NAME, str(dest_dir),
                          *self.loopback_args()], self.env(f"get-{n}"), log)
        if rss is not None:
            rss.track("getter", get.pid)
        t_end, code, cpu_get, sys_get = reap(get, PROCESS_TIMEOUT)
        poller.stop()
        share_cpu = (cpu_seconds(share.pid) or 0.0) - share_cpu0
        if code != 0:
            raise BenchError(f"mfsync get exited with {code}:\n{tail(log)}")
        if share.poll() is not None:
            raise BenchError(f"mfsync share exited with {share.returncode}")
        if poller.seen is None:
            raise BenchError(f"{dest_dir}/.{FILE_NAME}.mfsync-part was never seen "
                             "(the poll may have missed a very short transfer)")
        partials = list(dest_dir.glob(".*.mfsync-part"))
        if partials:
            raise BenchError(f"partial files left behind: {partials}")
        self.verify(dest_dir / FILE_NAME, digest, f"mfsync run {n}")
        renamed = poller.times[1] if len(poller.times) > 1 else t_end
        summary = tail(log, 1).strip()
        shutil.rmtree(dest_dir)
        return Run(n, "mfsync", t_end - t0, t_end - poller.seen, cpu_get, share_cpu, sys_get,
                   f"exit {t_end - renamed:.2f} s after the rename; {summary}")


def fmt_rate(size: int, seconds: float) -> str:
    return f"{size / MIB / seconds:8.0f}"


def throughput_part(bench: Bench, size: int, runs: int, order: str, *,
                    pause: float = 0.0) -> tuple[list[Run], list[Run]]:
    src_dir = bench.tmp / "share1"
    src_dir.mkdir()
    src = src_dir / FILE_NAME
    t = time.perf_counter()
    digest = make_random_file(src, size)
    print(f"source: {size / MIB:.0f} MiB of random bytes written in "
          f"{time.perf_counter() - t:.1f} s (sha256 {digest[:16]}…)", flush=True)
    t = time.perf_counter()
    share = bench.start_share(src_dir, "throughput")
    print(f"share ready (pid {share.pid}) after {time.perf_counter() - t:.1f} s "
          "(start-up and hashing; not measured)", flush=True)
    raw: list[Run] = []
    mf: list[Run] = []
    if order == "alternate":
        steps = [(kind, n) for n in range(1, runs + 1) for kind in ("raw", "mfsync")]
    else:
        steps = [(kind, n) for kind in ("raw", "mfsync") for n in range(1, runs + 1)]
    for kind, n in steps:
        # The same quiet pause before every run: on a VM that hands freed memory back to its
        # host, a run that starts right after another's output was deleted reuses its pages
        # cheaply, and one that starts later pays to fault them back. Both methods alike.
        time.sleep(pause)
        if kind == "raw":
            raw.append(bench.run_raw(n, src, digest))
        else:
            mf.append(bench.run_get(n, share, digest))
        r = (raw if kind == "raw" else mf)[-1]
        print(f"  run {n}: {kind:<6} {r.transfer:6.2f} s transfer", flush=True)
    bench.stop_share(share)
    src.unlink()
    return raw, mf


def rss_part(bench: Bench, size: int) -> tuple[RssTrack, RssTrack, Run, int]:
    src_dir = bench.tmp / "share2"
    src_dir.mkdir()
    src = src_dir / FILE_NAME
    t = time.perf_counter()
    digest = make_random_file(src, size)
    print(f"source: {size / MIB:.0f} MiB of random bytes written in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    sampler = RssSampler()
    sampler.start()
    try:
        share = bench.start_share(src_dir, "rss")
        share_track = sampler.track("sharer", share.pid)
        hwm_after_start = 0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{share.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm_after_start = int(line.split()[1]) * 1024
        run = bench.run_get(1, share, digest, rss=sampler)
        get_track = next(tr for tr in sampler.tracks.values() if tr.label == "getter")
        time.sleep(2 * RSS_INTERVAL)
    finally:
        sampler.stop()
    bench.stop_share(share)
    src.unlink()
    return share_track, get_track, run, hwm_after_start


def size_label(size: int) -> str:
    """``size`` bytes as "4 GiB" when a whole number of GiB, else as "128 MiB"."""
    gib, rest = divmod(size, 1024 * MIB)
    return f"{gib} GiB" if gib and not rest else f"{size / MIB:.0f} MiB"


def print_throughput(size: int, raw: list[Run], mf: list[Run], order: str) -> Row:
    """Print the throughput table and verdict; the figures as a row."""
    print()
    print(f"mfsync transfer throughput: share -> get of {size / MIB:.0f} MiB on loopback "
          "(discovery pinned to 127.0.0.1, TTL 0)")
    print("vs a raw TCP copy (1 MiB buffers, no crypto, no hashing, fsync at the end as mfsync "
          "does);")
    print(f"order: {order}; (a) = whole command, (b) = from the destination file appearing to "
          "exit;")
    print("CPU s = user + sys of get / the raw receiver (sys: the kernel's part); CPU s other = "
          "share / sender.")
    print()
    print(f"{'run':>3} {'method':<8} {'(a) whole s':>11} {'(b) xfer s':>10} "
          f"{'MiB/s (b)':>9} {'CPU s (sys)':>12} {'CPU s other':>13}  note")
    for r_raw, r_mf in zip(raw, mf, strict=True):
        for r in (r_raw, r_mf):
            other = "sender" if r.method == "raw TCP" else "share"
            print(f"{r.n:>3} {r.method:<8} {r.whole:11.2f} {r.transfer:10.2f} "
                  f"{fmt_rate(size, r.transfer):>9} {r.cpu_main:6.2f} ({r.sys_main:4.2f}) "
                  f"{r.cpu_other:6.2f} {other:<6}  {r.note}")
    print()
    med = {
        (m, k): statistics.median(getattr(r, k) for r in runs)
        for m, runs in (("raw", raw), ("mfsync", mf)) for k in ("whole", "transfer")
    }
    print(f"{'median':<22}{'(a) whole s':>12}{'(b) transfer s':>16}{'MiB/s (b)':>11}")
    for m in ("raw", "mfsync"):
        print(f"{m:<22}{med[(m, 'whole')]:12.2f}{med[(m, 'transfer')]:16.2f}"
              f"{fmt_rate(size, med[(m, 'transfer')]):>11}")
    cpu_get = statistics.median(r.cpu_main for r in mf)
    cpu_share = statistics.median(r.cpu_other for r in mf)
    print(f"{'mfsync CPU s per GiB':<22} get {cpu_get * 1024 * MIB / size:.2f}, "
          f"share {cpu_share * 1024 * MIB / size:.2f}  (2 cores)")
    ratio_whole = med[("raw", "whole")] / med[("mfsync", "whole")]
    ratio = med[("raw", "transfer")] / med[("mfsync", "transfer")]
    print()
    print("ratio = median raw time / median mfsync time (= mfsync throughput / raw throughput)")
    print(f"ratio (whole command, median): {ratio_whole:.2f}")
    print(f"ratio (transfer-only, median): {ratio:.2f}  floor {FLOOR}: "
          f"{'PASS' if ratio >= FLOOR else 'FAIL'}  (unrounded {ratio:.4f})")
    per_gib = 1024 * MIB / size
    return Row(
        benchmark=f"{size_label(size)} file, share -> get, loopback",
        value=round(size / MIB / med[("mfsync", "transfer")], 1),
        unit="MiB/s",
        target=f"ratio >= {FLOOR}",
        passed=bool(ratio >= FLOOR),
        baseline=f"raw TCP copy {size / MIB / med[('raw', 'transfer')]:.0f} MiB/s",
        ratio=round(float(ratio), 4),
        detail=(f"transfer only, median of {len(mf)} ({order}); CPU s get {cpu_get:.2f}, "
                f"share {cpu_share:.2f} ({cpu_get * per_gib:.2f} / {cpu_share * per_gib:.2f} "
                f"per GiB); whole-command ratio {ratio_whole:.2f} "
                f"(mfsync {med[('mfsync', 'whole')]:.2f} s, raw {med[('raw', 'whole')]:.2f} s)"),
    )


def print_rss(size: int, share_track: RssTrack, get_track: RssTrack, run: Run,
              share_start_hwm: int) -> Row:
    """Print the memory figures and verdict; them as a row."""
    print()
    print(f"memory: share -> get of {size / MIB:.0f} MiB on loopback; VmRSS sampled every "
          f"{RSS_INTERVAL:g} s from /proc/PID/status")
    print("(pid = the `python -m mfsync` process itself); peak = max(sampled VmRSS, VmHWM)")
    print(f"transfer {run.transfer:.2f} s ({fmt_rate(size, run.transfer).strip()} MiB/s), "
          f"whole get {run.whole:.2f} s, verified")
    ok = True
    for tr in (share_track, get_track):
        peak = max(tr.peak_rss, tr.last_hwm)
        verdict = "PASS" if peak < RSS_LIMIT else "FAIL"
        ok = ok and peak < RSS_LIMIT
        kids = f"children {sorted(tr.children)}" if tr.children else "no child processes"
        print(f"{tr.label:<7} pid {tr.pid:<7} peak sampled VmRSS {mb(tr.peak_rss)}, "
              f"VmHWM {mb(tr.last_hwm)}; {tr.samples} samples, {kids}")
        series = [v for _, v in tr.series]
        along = "  ".join(f"{q}% {series[min(len(series) - 1, len(series) * q // 100)] / 1e6:.0f}"
                          for q in (0, 25, 50, 75, 100)) if series else "no samples"
        print(f"{'':<7} VmRSS MB along the samples: {along}; peak vs 150 MB: {verdict}")
        if tr.label == "sharer":
            print(f"{'':<7} (VmHWM when it was ready, after hashing the file: "
                  f"{mb(share_start_hwm)})")
    print(f"peak RSS < 150 MB (sharer and getter): {'PASS' if ok else 'FAIL'}")
    peaks = {tr.label: max(tr.peak_rss, tr.last_hwm) for tr in (share_track, get_track)}
    return Row(
        benchmark=f"memory while moving {size_label(size)}",
        value=round(max(peaks.values()) / 1e6, 1),
        unit="MB",
        target=f"< {RSS_LIMIT / 1e6:.0f} MB each side, flat",
        passed=ok,
        detail=(f"peak RSS (max of VmRSS every {RSS_INTERVAL:g} s and VmHWM): sharer "
                f"{peaks['sharer'] / 1e6:.1f} MB, getter {peaks['getter'] / 1e6:.1f} MB; "
                f"transfer {run.transfer:.2f} s"),
    )


def run_benchmark(size: int, rss_size: int, runs: int, skip_rss: bool, order: str, *,
                  pause: float = 0.0, json_path: Path | None = None) -> int:
    started = time.monotonic()
    load_start = os.getloadavg()
    base = Path(tempfile.gettempdir())
    need = 4 * size if skip_rss else max(4 * size, 2 * rss_size + 512 * MIB)
    free = shutil.disk_usage(base).free
    if free < need:
        print(f"transfer benchmark: {free / MIB:.0f} MiB free in {base}, need {need / MIB:.0f}",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-transfer-", dir=base) as tmp_name:
        bench = Bench(Path(tmp_name))
        try:
            print(f"temp dir {tmp_name} ({free / 2**30:.0f} GiB free); discovery on "
                  f"127.0.0.1 UDP {bench.udp_port}, TTL 0", flush=True)
            bench.warm()
            raw, mf = throughput_part(bench, size, runs, order, pause=pause)
            rss = None if skip_rss else rss_part(bench, rss_size)
        except BenchError as exc:
            print(f"transfer benchmark: FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            bench.stop_all()
    rows = [print_throughput(size, raw, mf, order)]
    if rss is not None:
        rows.append(print_rss(rss_size, *rss))
    print(f"load average at start {load_start[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs; other work on the machine skews every number above)")
    print(f"total benchmark time: {time.monotonic() - started:.1f} s")
    write_rows(json_path, rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="file size for the throughput runs (default 1024)")
    parser.add_argument("--rss-size-mib", type=int, default=2048,
                        help="file size for the memory run (default 2048)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each method (default 3)")
    parser.add_argument("--skip-rss", action="store_true", help="skip the memory run")
    parser.add_argument("--pause", type=float, default=3.0, metavar="SECONDS",
                        help="quiet pause before every run, the same for both methods "
                        "(default 3)")
    parser.add_argument("--order", choices=("alternate", "blocked"), default="alternate",
                        help="alternate raw / mfsync runs (default), or all raw runs first")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the result rows to PATH as JSON (for run.py)")
    parser.add_argument("--raw-recv", metavar="DEST", help=argparse.SUPPRESS)
    parser.add_argument("--raw-send", nargs=2, metavar=("PORT", "SRC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw_recv:
        return raw_recv_main(args.raw_recv)
    if args.raw_send:
        return raw_send_main(int(args.raw_send[0]), args.raw_send[1])
    if args.runs < 1 or args.size_mib < 1 or args.rss_size_mib < 1:
        parser.error("--runs, --size-mib and --rss-size-mib must be at least 1")
    return run_benchmark(args.size_mib * MIB, args.rss_size_mib * MIB, args.runs, args.skip_rss,
                         args.order, pause=args.pause, json_path=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
