"""mfsync beside Syncthing and a raw TCP copy: the same data, the same LAN, the same run.

Where it runs: three network namespaces (hosts A, B, C) on a bridge in a fourth
(``tests/e2e/netns.py``'s ``Lan``: private 10.213.k.0/24 addresses, nothing connected to the
root namespace, so no packet leaves the machine), with every file, key, database and log on a
tmpfs mounted for the run (``_netns.tmpfs``; unmounted afterwards). Run as root:
``/work/main/.venv/bin/python benchmarks/versus.py [--quick] [--only ROW ...] [--json PATH]``.

The tools (each side a fresh process with a fresh key for every row):

* mfsync: ``mfsync sync DIR`` on A and on B (``_tools.MfsyncPair``); for the ``get`` rows the
  classic mode, ``mfsync share DIR`` on A and ``mfsync get DEST`` on B.
* Syncthing (Debian's 1.19, installed with apt-get when missing): ``syncthing serve`` on A and
  B, configured only through its REST API inside the namespaces (``_syncthing.py``): no global or
  local discovery, relays, NAT traversal, usage reports or upgrades; each device added with its
  static ``tcp://ADDRESS:22000``; one ``sendreceive`` folder. The folder keeps Syncthing's
  defaults, the file system watcher with its 10 s delay included, because that is how people
  run it; the new-file row adds a second line with ``fsWatcherDelayS=1``.
* raw: a plain TCP stream of (name, size, bytes) records, written to files at B
  (``_rawcopy.py``): no encryption, hashing or index.

Rows (``--only``):

* ``1gib``, ``10k``, ``100k``: 1 GiB in one file; 10,000 x 4 KiB in 100 folders; 100,000 x 1 KiB
  in 1,000 folders (``--quick``: 64 MiB; 500 in 10; 2,000 in 20). Both sides of a tool run on
  empty folders and have met; then the data set, prepared on the same tmpfs, is renamed into
  A's folder in one step. Two clocks: *whole*, from that rename to the last file in place at B
  (scan, index, discovery of the change included), and *transfer*, from the first entry (temp
  or final file) appearing in B's copy of the data to the last file in place. A thread lists B's
  folders every 5 ms (``_netns.TreeWatcher``); both tools rename complete files into place, so
  a final name is a complete file. The raw copy has the transfer clock from its receiver (first
  file created to last file closed) and a whole clock from starting its sender.
* ``get``: the classic mode for ``1gib`` and ``10k``: ``share`` on A (data in place, started and
  ready), then ``get DEST`` on B; transfer as above, whole = get started to get exited.
* ``newfile``: a 4 KiB file written and closed at A while both sides run; the time until its
  name is in place at B, polled every 1 ms; median of ``--new-files`` (9; 3 with ``--quick``),
  one every second.
* ``multi``: one file (the ``1gib`` data, ``--big-mib`` to change it) offered by A and C, each
  sending through a link limited to 50 MB/s (``tc`` tbf 400 mbit on their own eth0), fetched by
  B: ``mfsync share`` on A and C then ``mfsync get`` on B; Syncthing on A and C (they first
  agree on the file), then B joins both. Baseline: the raw copy over one such link. What each
  source's link really carried is read from its kernel counters (``ip -s link``), so a tool
  that used only one source shows it.

Measured per side: CPU seconds (user + system, the system share shown) over the row, from
/proc/PID/stat before and after (wait4 for processes that exit), and the resident peak
(VmHWM; ru_maxrss). For Syncthing that is the worker process: Debian's 1.19 keeps a monitor
process (~17 MB, idle: it relays the log) even with ``--no-restart``, not counted. Every copy
is checked against the source by SHA-256. The table gives the rates, both clocks, the ratios
mfsync/Syncthing and mfsync/raw, and the targets of issue 17. Exit 0 with the measurement
(also when a target is missed), 1 when a tool failed or a copy was wrong, 2 without network
namespaces or root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import MIB, ROOT, BenchError, Row, tail, write_rows
from _datasets import DATASETS, Dataset, median
from _measure import Measure, copy_tree, delta, verify, wait_usage
from _netns import (
    RowTimeout,
    TreeWatcher,
    limit_rate,
    open_lan,
    proc_stats,
    tmpfs,
    tx_bytes,
    unlimit_rate,
)
from _rawcopy import receive_tree, send_tree
from _syncthing import Syncthing, ensure_installed, is_temp_name
from _tools import MfsyncPair, Pair, SyncthingPair, mfsync_argv, mfsync_env
from _versus_report import report

ROWS = ("1gib", "10k", "100k", "get", "newfile", "multi")
RAW_PORT = 9100
LINK_MBIT = 400
NEW_FILE_SIZE = 4096
NEW_FILE_GAP_S = 1.0
NEW_FILE_TIMEOUT_S = 60.0
OUT = ROOT / "build" / "benchmarks"


def row_timeout(ds: Dataset) -> float:
    """How long a row may take before it counts as failed."""
    return 300.0 + ds.total / 5e6 + ds.files / 50


class Bench:
    """The LAN, the tmpfs and the data sets of one run."""

    def __init__(self, lan: Any, base: Path, quick: bool, syncthing: str, *,
                 big_mib: int = 0, row_limit: float = 0.0) -> None:
        self.lan = lan
        self.row_limit = row_limit  #: seconds a sync row may take (0: row_timeout's)
        self.big_mib = big_mib
        self.base = base
        self.quick = quick
        self.syncthing = syncthing
        self.master = base / "master"
        self.master.mkdir()
        self.pycache = base / "pycache"
        self.logs = base / "logs"  #: every tool's log (rows delete their data, not these)
        self.logs.mkdir()
        self.datasets: dict[str, Dataset] = {}
        self.digests: dict[str, dict[str, str]] = {}
        self.measures: list[Measure] = []
        self._dirs = 0

    def dataset(self, key: str) -> Dataset:
        """The data set ``key``, written to the master copy the first time it is needed."""
        if key not in self.datasets:
            ds = DATASETS[key][1 if self.quick else 0]
            if key == "1gib" and self.big_mib:
                ds = replace(ds, size=self.big_mib * MIB)
            t = time.monotonic()
            self.digests[key] = ds.make(self.master)
            self.datasets[key] = ds
            print(f"  data set {ds.label}: written in {time.monotonic() - t:.1f} s", flush=True)
        return self.datasets[key]

    def workdir(self, name: str) -> Path:
        """A fresh directory on the tmpfs."""
        self._dirs += 1
        path = self.base / f"{self._dirs:02d}-{name}"
        path.mkdir()
        return path

    def warm(self) -> None:
        """Compile mfsync's bytecode once, so that no measured process does."""
        env = mfsync_env(self.base / "warm-home", self.pycache)
        self.lan.hosts[0].run([sys.executable, "-m", "compileall", "-q",
                               env["PYTHONPATH"].split(":")[0]], env=env, timeout=300)
        self.lan.hosts[0].run([sys.executable, "-m", "mfsync", "--version"], env=env,
                              timeout=120, check=True)

    # -- the rows -----------------------------------------------------------------------------

    def pair_row(self, pair: Pair, key: str) -> Measure:
        """Both sides of ``pair`` running on empty folders; the data set renamed into A's."""
        ds = self.dataset(key)
        work = self.workdir(f"{pair.label.split(',')[0]}-{key}")
        folder_a, folder_b = work / "a", work / "b"
        folder_a.mkdir()
        folder_b.mkdir()
        stage = work / "stage"
        copy_tree(self.master / key, stage)
        os.sync()
        pair.start(folder_a, folder_b)
        try:
            pid_a, pid_b = pair.pids()
            a0, b0 = proc_stats(pid_a), proc_stats(pid_b)
            watcher = TreeWatcher(folder_b / key, ds.layout(), pair.is_temp)
            watcher.start()
            t0 = time.monotonic()
            os.rename(stage, folder_a / key)
            done = -1
            try:
                watcher.wait(self.row_limit or row_timeout(ds), pair.check_alive)
            except RowTimeout:
                done = watcher.count_final()
                watcher.last = time.monotonic()
                print(f"  {pair.label}: stopped at the row's time limit with {done:,} of "
                      f"{ds.files:,} files in place", flush=True)
            a1, b1 = proc_stats(pid_a), proc_stats(pid_b)
        finally:
            pair.stop()
        if watcher.first is None or watcher.last is None:
            raise BenchError(f"{pair.label}, {key}: no file arrived")
        verify(folder_b / key, self.digests[key], f"{pair.label}, {key}", complete=done < 0)
        shutil.rmtree(work)
        return Measure(key, pair.label, watcher.last - watcher.first, watcher.last - t0,
                       delta(a0, a1), delta(b0, b1), ds.files, ds.total, label=ds.label,
                       done=done)

    def raw_row(self, key: str, sender: Any = None, tool: str = "raw") -> Measure:
        """The raw TCP copy of a data set from ``sender`` (default host A) to host B."""
        ds = self.dataset(key)
        work = self.workdir(f"raw-{key}")
        dest = work / key
        dest.mkdir()
        me = str(Path(__file__).resolve())
        host_a, host_b = sender or self.lan.hosts[0], self.lan.hosts[1]
        os.sync()
        recv = host_b.popen([sys.executable, me, "--raw-recv", str(dest), str(RAW_PORT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert recv.stdout is not None
        if recv.stdout.readline().strip() != b"ready":
            raise BenchError("the raw receiver did not start")
        t0 = time.monotonic()
        send = host_a.popen([sys.executable, me, "--raw-send", str(self.master / key),
                             host_b.address, str(RAW_PORT)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        code_r, stats_r, _ = wait_usage(recv, row_timeout(ds))
        code_s, stats_s, _ = wait_usage(send, 60.0)
        if code_r != 0 or code_s != 0:
            err = b"".join(p.stderr.read() for p in (recv, send) if p.stderr is not None)
            raise BenchError(f"raw copy failed ({code_r}, {code_s}): {err.decode()[-800:]}")
        result = json.loads(recv.stdout.read())
        verify(dest, self.digests[key], f"raw, {key}")
        shutil.rmtree(work)
        return Measure(key, tool, result["last"] - result["first"], result["last"] - t0,
                       stats_s, stats_r, ds.files, ds.total, label=ds.label)

    def get_rows(self, key: str, sources: list[Any], tool: str, timeout: float) -> Measure:
        """``mfsync share`` on each of ``sources`` (the data in place, ready), then ``mfsync
        get DEST`` on host B: the classic mode."""
        ds = self.dataset(key)
        work = self.workdir(f"get-{key}")
        shares: list[tuple[Any, subprocess.Popen[bytes], Path]] = []
        for n, host in enumerate(sources):
            folder = work / f"share{n}"
            folder.mkdir()
            copy_tree(self.master / key, folder / key)
            log = self.logs / f"{tool.replace(' ', '-').replace(',', '')}-{key}-share{n}.log"
            with log.open("wb") as out:
                proc = host.popen(mfsync_argv(f"s{n}", "share", str(folder)),
                                  env=mfsync_env(work / f"home-s{n}", self.pycache),
                                  stdout=out, stderr=subprocess.STDOUT)
            shares.append((host, proc, log))
        try:
            deadline = time.monotonic() + row_timeout(ds)
            for _host, proc, log in shares:
                while "Sharing " not in log.read_text(errors="replace"):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise BenchError(f"mfsync share did not start:\n{tail(log)}")
                    time.sleep(0.05)
            os.sync()
            share_pid = shares[0][1].pid
            s0 = proc_stats(share_pid)
            dest = work / "dest"
            watcher = TreeWatcher(dest / key, ds.layout(), lambda n: n.endswith(".mfsync-part"))
            watcher.start()
            t0 = time.monotonic()
            log = self.logs / f"{tool.replace(' ', '-').replace(',', '')}-{key}-get.log"
            with log.open("wb") as out:
                get = self.lan.hosts[1].popen(mfsync_argv("g", "get", str(dest)),
                                              env=mfsync_env(work / "home-get", self.pycache),
                                              stdout=out, stderr=subprocess.STDOUT)
            code, stats_g, t_exit = wait_usage(get, timeout)
            watcher.stop()
            s1 = proc_stats(share_pid)
            if code != 0 or watcher.first is None or watcher.last is None:
                raise BenchError(f"mfsync get exited with {code}:\n{tail(log)}")
        finally:
            for host, proc, _log in shares:
                host.terminate(proc, grace=10.0)
        verify(dest / key, self.digests[key], f"{tool}, {key}")
        shutil.rmtree(work)
        return Measure(key, tool, watcher.last - watcher.first, t_exit - t0, delta(s0, s1),
                       stats_g, ds.files, ds.total, label=ds.label)

    def new_file_row(self, pair: Pair, count: int) -> Measure:
        """``count`` files written at A one by one; each one's time until it is in place at B."""
        work = self.workdir(f"new-{pair.label.split(',')[0]}")
        folder_a, folder_b = work / "a", work / "b"
        folder_a.mkdir()
        folder_b.mkdir()
        pair.start(folder_a, folder_b)
        latencies: list[float] = []
        try:
            pid_a, pid_b = pair.pids()
            a0, b0 = proc_stats(pid_a), proc_stats(pid_b)
            for i in range(count):
                time.sleep(NEW_FILE_GAP_S)
                name = f"new-{i:03d}.bin"
                with (folder_a / name).open("wb") as f:
                    f.write(os.urandom(NEW_FILE_SIZE))
                t0 = time.monotonic()
                target = folder_b / name
                next_check = t0 + 0.5
                while not target.exists():
                    now = time.monotonic()
                    if now > next_check:
                        pair.check_alive()
                        next_check = now + 0.5
                        if now - t0 > NEW_FILE_TIMEOUT_S:
                            raise BenchError(f"{pair.label}: {name} did not arrive in "
                                             f"{NEW_FILE_TIMEOUT_S:g} s")
                    time.sleep(0.001)
                latencies.append(time.monotonic() - t0)
            a1, b1 = proc_stats(pid_a), proc_stats(pid_b)
        finally:
            pair.stop()
        shutil.rmtree(work)
        mid = median(latencies)
        return Measure("newfile", pair.label, mid, mid, delta(a0, a1), delta(b0, b1), count,
                       count * NEW_FILE_SIZE, tuple(latencies))

    def syncthing_multi_row(self, timeout: float) -> Measure:
        """Syncthing on A and C holding the file (and agreeing on it), then B joins both."""
        ds = self.dataset("1gib")
        work = self.workdir("st-multi")
        a_host, b_host, c_host = self.lan.hosts
        sides: list[tuple[str, Syncthing, Path]] = []
        try:
            for label, host in (("A", a_host), ("C", c_host), ("B", b_host)):
                folder = work / f"folder-{label}"
                folder.mkdir()
                if host is not b_host:
                    copy_tree(self.master / "1gib", folder / "1gib")
                st = Syncthing(host, work / f"st-home-{label}", self.logs / f"st-multi-{label}.log",
                               self.syncthing)
                st.generate()
                st.start()
                sides.append((label, st, folder))
            (_, a, fa), (_, c, fc), (_, b, fb) = sides
            a.configure([(c.device_id, "hC", c_host.address),
                         (b.device_id, "hB", b_host.address)], fa, None)
            c.configure([(a.device_id, "hA", a_host.address),
                         (b.device_id, "hB", b_host.address)], fc, None)
            a.wait_connected(c.device_id)
            a.wait_in_sync(c.device_id)
            c.wait_in_sync(a.device_id)
            a0, b0 = proc_stats(a.pid), proc_stats(b.pid)
            sent0 = [tx_bytes(h.name, h.interface) for h in (a_host, c_host)]
            watcher = TreeWatcher(fb / "1gib", ds.layout(), is_temp_name)
            watcher.start()
            t0 = time.monotonic()
            b.configure([(a.device_id, "hA", a_host.address),
                         (c.device_id, "hC", c_host.address)], fb, None)

            def alive() -> None:
                for _, st, _ in sides:
                    st.check_alive()

            watcher.wait(timeout, alive)
            a1, b1 = proc_stats(a.pid), proc_stats(b.pid)
            sent = tuple(tx_bytes(h.name, h.interface) - x
                         for h, x in zip((a_host, c_host), sent0, strict=True))
        finally:
            for _, st, _ in sides:
                st.stop()
        assert watcher.first is not None and watcher.last is not None
        verify(fb / "1gib", self.digests["1gib"], "Syncthing, two sources")
        shutil.rmtree(work)
        return Measure("multi", "Syncthing, two sources", watcher.last - watcher.first,
                       watcher.last - t0, delta(a0, a1), delta(b0, b1), ds.files, ds.total,
                       label=ds.label, sent=sent)

    def multi_rows(self) -> list[Measure]:
        """One file from A and C, each limited to 50 MB/s (mfsync get, Syncthing); and the raw
        copy over one such link."""
        a, _b, c = self.lan.hosts
        ds = self.dataset("1gib")
        timeout = 300.0 + ds.total / 10e6
        for host in (a, c):
            limit_rate(host.name, host.interface, LINK_MBIT)
        def counted(run: Callable[[], Measure]) -> Measure:
            before = [tx_bytes(h.name, h.interface) for h in (a, c)]
            measure = run()
            after = [tx_bytes(h.name, h.interface) for h in (a, c)]
            return replace(measure, row="multi",
                           sent=tuple(y - x for x, y in zip(before, after, strict=True)))

        try:
            raw = counted(lambda: self.raw_row("1gib", tool="raw, one link"))
            mf = counted(lambda: self.get_rows("1gib", [a, c], "mfsync get, two sources",
                                               timeout))
            st = self.syncthing_multi_row(timeout)
        finally:
            for host in (a, c):
                unlimit_rate(host.name, host.interface)
        return [raw, mf, st]


def run(args: argparse.Namespace) -> int:
    """Build the rig, run the chosen rows, print and write the table."""
    if os.geteuid() != 0:
        print("versus: needs root (network namespaces, tmpfs)", file=sys.stderr)
        return 2
    rows = args.only or list(ROWS)
    exe = ensure_installed()
    new_files = args.new_files or (3 if args.quick else 9)
    big = (args.big_mib or (64 if args.quick else 1024)) * MIB
    size = 4 * big + (1 << 30 if args.quick else 3 << 30)  # master + 3 copies (multi), the rest
    started = time.monotonic()
    load = os.getloadavg()[0]
    logs = args.logs
    measures: list[Measure] = []
    try:
        lan = open_lan(3)
    except RuntimeError as exc:
        print(f"versus: {exc}", file=sys.stderr)
        return 2
    failed = False
    with tmpfs(size, "mfsync-versus-") as base, lan:
        bench = Bench(lan, base, args.quick, exe, big_mib=args.big_mib,
                      row_limit=args.row_limit)
        hosts = lan.hosts[:2]
        try:
            bench.warm()
            for key in ("1gib", "10k", "100k"):
                if key not in rows:
                    continue
                print(f"row {key} ...", flush=True)
                pairs: list[Pair] = [SyncthingPair(hosts, bench.logs, exe)]
                if args.fair_watcher:
                    pairs.append(SyncthingPair(hosts, bench.logs, exe, watcher_delay_s=1))
                for pair in [*pairs, MfsyncPair(hosts, bench.logs, bench.pycache)]:
                    measures.append(bench.pair_row(pair, key))
                    print(f"  {measures[-1].tool}: transfer {measures[-1].transfer_s:.2f} s, "
                          f"whole {measures[-1].whole_s:.2f} s", flush=True)
                measures.append(bench.raw_row(key))
                print(f"  raw: transfer {measures[-1].transfer_s:.2f} s", flush=True)
            if "get" in rows:
                for key in ("1gib", "10k"):
                    print(f"row get {key} ...", flush=True)
                    measures.append(bench.get_rows(key, [lan.hosts[0]], "mfsync get",
                                                   row_timeout(bench.dataset(key))))
            if "newfile" in rows:
                print("row newfile ...", flush=True)
                for pair in (SyncthingPair(hosts, bench.logs, exe),
                             SyncthingPair(hosts, bench.logs, exe, watcher_delay_s=1),
                             MfsyncPair(hosts, bench.logs, bench.pycache)):
                    measures.append(bench.new_file_row(pair, new_files))
                    print(f"  {pair.label}: median {measures[-1].transfer_s:.3f} s", flush=True)
            if "multi" in rows:
                print("row multi ...", flush=True)
                measures.extend(bench.multi_rows())
        except BenchError as exc:
            print(f"versus: FAILED: {exc}", file=sys.stderr)
            failed = True
        finally:
            if logs is not None:
                logs.mkdir(parents=True, exist_ok=True)
                for log in bench.logs.glob("*.log"):
                    shutil.copy(log, logs / log.name)
    table_rows: list[Row] = report(measures, args.quick)
    print(f"load average at start {load:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs); total {time.monotonic() - started:.0f} s")
    write_rows(args.json, table_rows)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; the raw copy's two halves run as ``--raw-recv``/``--raw-send``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="+", choices=ROWS, metavar="ROW",
                        help=f"run only these rows ({', '.join(ROWS)})")
    parser.add_argument("--new-files", type=int, default=0,
                        help="files timed in the newfile row (default 9, 3 with --quick)")
    parser.add_argument("--big-mib", type=int, default=0, metavar="MIB",
                        help="size of the one-file data set (1gib, get, multi rows; default "
                             "1024, 64 with --quick)")
    parser.add_argument("--fair-watcher", action="store_true",
                        help="also run Syncthing with fsWatcherDelayS=1 in the 1gib/10k/100k "
                             "rows (their whole clock without the default 10 s delay)")
    parser.add_argument("--row-limit", type=float, default=900.0, metavar="SECONDS",
                        help="stop a 1gib/10k/100k row after this long and report how many "
                             "files arrived (default 900)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the rows as JSON")
    parser.add_argument("--logs", type=Path, default=OUT / "versus-logs", metavar="DIR",
                        help=f"copy the tools' logs here (default {OUT / 'versus-logs'})")
    parser.add_argument("--raw-recv", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--raw-send", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw_recv:
        return raw_recv_main(Path(args.raw_recv[0]), int(args.raw_recv[1]))
    if args.raw_send:
        send_tree(Path(args.raw_send[0]), args.raw_send[1], int(args.raw_send[2]))
        return 0
    # SIGTERM unwinds like Ctrl-C: every finally runs (processes, namespaces, tmpfs)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    return run(args)


def raw_recv_main(dest: Path, port: int) -> int:
    """The raw copy's receiver: listen, say "ready", take one connection, print the result."""
    import socket  # noqa: PLC0415

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", port))
        srv.listen(1)
        print("ready", flush=True)
        conn, _ = srv.accept()
        with conn:
            result = receive_tree(conn, dest)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
