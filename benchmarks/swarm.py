"""Swarm: N hosts run ``mfsync sync`` on one LAN; how long until all hold every file, and how
much announce traffic each host sends meanwhile and afterwards.

How it works: a LAN of network namespaces (``tests/e2e/netns.py``) with ``--hosts`` hosts
(default 20) plus one more namespace for a passive observer. Each host runs
``python -m mfsync -v --name hNN sync DIR`` with a ``HOME`` and a folder of its own (under one
temporary directory on the root file system, which the namespaces share, so this script seeds
and polls the folders directly). Discovery group and port are passed explicitly (the defaults,
239.255.0.1:30001) so that the observer and mfsync agree on them.

Seed (``--files``, default 100; sizes random 1-64 KiB, contents ``os.urandom``):

* ``spread`` (the default): file ``i`` starts on host ``i mod N`` (5 per host with the defaults),
  as ``hNN/fIII.bin``. This is the case sync exists for (every machine contributes files, every
  machine ends with the union) and the harder one for mfsync: every host must learn the index of
  every other host; every host's offer changes with each of its ~95 downloads, and each change is
  announced at once and makes all the other hosts fetch that host's index again, so discovery
  and index traffic grow with N^2 x files; and every host serves and downloads from the start.
* ``one``: all files start on host 0 (``--seed one``): a single source at first, which
  mostly measures how fast files fan out from one server.

Convergence: from just before the first host is started (t0) every folder is polled every
``POLL`` s; a host has converged when every expected path is there with its full size (mfsync
renames a finished download into place, so a present path is a finished file). The convergence
time is the last host's; it includes the interpreters starting (20 at once on a small machine
take seconds, shown as "all up": when the last host printed "Syncing N files"). After the run
every file on every host is checked by SHA-256, and anything else in the folders (conflict
copies, leftover partial downloads) is listed. A host that does not converge within
``--timeout`` s counts as not converged (passed: False).

Announce traffic, counted two independent ways:

* sent, by the kernel: ``Udp: OutDatagrams`` of each host's own network namespace (read from
  ``/proc/PID/net/snmp`` of its mfsync process, or ``ip netns exec`` after it stopped). mfsync
  sends no UDP but its discovery datagrams, and nothing else runs in a host's namespace, so this
  is exactly the number of announce/query datagrams the host sent.
* received, by the observer: a small UDP socket in its own namespace, joined to the group on its
  ``eth0``, stamps every datagram with ``time.time()`` and keeps its source address, size, kind
  (announce / query) and announced generation. From these the script derives datagrams and bytes
  per host per minute for any window, and splits them into queries, announcements of a new
  generation (something changed: sent at once by mfsync) and repeats (beats and answers to
  queries). Bytes on the wire are per Ethernet frame (UDP payload + 8 + 20 + 14; no preamble
  or FCS). The observer's receive buffer is 8 MiB and its namespace's ``RcvbufErrors`` is
  reported; the received count is checked against the kernel's sent count per host.

Why not counters at the bridge: this kernel has no tc action modules (a tc filter cannot count
without one, and u32's own counters are compiled out), ``nft`` is not installed, and the veth
ports' ``ip -s link`` statistics do not tell multicast from unicast when sent. The namespace's
own UDP counter is exact and needs nothing; the observer adds timing and kinds.

Phases: the window, ``--window`` s from t0 (default 60; it may include start-up, the
convergence burst and what follows); the convergence phase (t0 to the last host converged);
settling (from convergence until no host announced a new generation and no host fetched an index
any more: after ``QUIET_S`` s of that the swarm counts as settled); and the steady state, the
``--steady`` s (default 30) measured from then on, when only beats should be left. A swarm that
has not settled ``SETTLE_TIMEOUT`` s after convergence is reported as such.

Also printed: each host's index fetches, downloads, rate-limit notes and "is gone" lines from its
``-v`` log (its lines are stamped by this script as they arrive), its namespace's UDP
receive-buffer drops (``RcvbufErrors``: announcements it never read), unicast bytes it sent (IP
octets minus multicast octets, ``/proc/net/netstat``), and CPU seconds of the hosts per phase
(``/proc/PID/stat``). ``--keep-logs DIR`` keeps the logs, the observer's records and each host's
index database for a closer look.

Every mfsync process runs inside the LAN's namespaces, which are not connected to the root
namespace; this script never imports mfsync. Run as root:
``/work/main/.venv/bin/python benchmarks/swarm.py [--hosts 20] [--files 100] [--json PATH]``.
Exit 0 with the measurement (also when the swarm did not converge: passed False), 1 when an
mfsync process exited on its own or a file arrived with wrong content, 2 when network namespaces
are unavailable.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from _common import (
    E2E_DIR,
    ROOT,
    BenchError,
    Row,
    cpu_seconds,
    sha256_file,
    tail,
    write_rows,
)

HOSTS = 20
FILES = 100
WINDOW_S = 60.0
STEADY_S = 30.0
TIMEOUT_S = 900.0
MIN_SIZE = 1024
MAX_SIZE = 64 * 1024
GROUP = "239.255.0.1"
UDP_PORT = 30001
#: Seconds between two polls of the folders.
POLL = 0.5
#: Seconds between two progress lines.
PROGRESS_EVERY = 10.0
#: Ethernet header + IPv4 header + UDP header around one datagram's payload.
FRAME_OVERHEAD = 14 + 20 + 8
OBSERVER_RCVBUF = 8 << 20
#: How long after convergence the announce traffic may take to settle (see --steady).
SETTLE_TIMEOUT = 300.0
#: Settled: no new generation announced and no index fetched for this long.
QUIET_S = 20.0
OBSERVER_READY_TIMEOUT = 30.0
#: What mfsync's discovery datagrams start with, and where kind and generation are in them.
MAGIC = b"MFSA"
KIND_OFFSET = 5
GENERATION_OFFSET = 4 + 4 + 8 + 32 + 2 + 2
KIND_QUERY = 2

INDEX_RE = re.compile(r"^mfsync: \S+:\d+ \(.*, key .*\): \d+ files$")
DOWNLOAD_RE = re.compile(r"^mfsync: downloaded (.+) \((\d+) bytes\) from (\S+)$")
SYNCING_RE = re.compile(r"^Syncing (\d+) files in ")
SUSPICIOUS = ("Traceback", "corrupt", "giving up", "cannot download", "conflict",
              "too many connections", "is gone", "exists here with other content")


# -- the observer (runs inside its own namespace) ------------------------------------------------


def observer_main(group: str, port: int, address: str, out_path: str) -> int:
    """Count every datagram to ``group:port``: one line per datagram into ``out_path``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:  # root may exceed net.core.rmem_max (SO_RCVBUFFORCE, 33 on Linux)
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33),
                        OBSERVER_RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, OBSERVER_RCVBUF)
    sock.bind((group, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(group) + socket.inet_aton(address))

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(out_path, "w", encoding="ascii", buffering=1) as out:  # line-buffered
        out.write("ready\n")
        out.flush()
        try:
            while True:
                data, (src, _) = sock.recvfrom(4096)
                now = time.time()
                if data[:4] == MAGIC and len(data) >= GENERATION_OFFSET + 8:
                    kind = data[KIND_OFFSET]
                    gen = int.from_bytes(data[GENERATION_OFFSET:GENERATION_OFFSET + 8], "big")
                else:
                    kind, gen = 0, -1
                out.write(f"{now:.6f} {src} {len(data)} {kind} {gen}\n")
        finally:
            out.flush()
    return 0


@dataclass(frozen=True)
class Datagram:
    """One datagram the observer received."""

    t: float
    src: str
    size: int
    kind: int
    generation: int


class ObserverLog:
    """Reads the observer's records as they are written, and tracks the last moment any
    host announced a new generation (something changed there)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[Datagram] = []
        self.last_change = 0.0
        self._offset = 0
        self._last_gen: dict[str, int] = {}

    def update(self) -> None:
        """Parse whatever complete lines were added since the last call."""
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].decode("ascii", errors="replace").splitlines():
            parts = line.split()
            if len(parts) != 5:
                continue  # "ready"
            t, src, size, kind, gen = parts
            r = Datagram(float(t), src, int(size), int(kind), int(gen))
            self.records.append(r)
            if r.kind != KIND_QUERY and self._last_gen.get(src, r.generation) != r.generation:
                self.last_change = max(self.last_change, r.t)
            if r.kind != KIND_QUERY or src not in self._last_gen:
                self._last_gen[src] = r.generation


# -- the hosts ------------------------------------------------------------------------------------


@dataclass
class SwarmHost:
    """One ``mfsync sync`` process, its folder and what its log said."""

    index: int
    netns: str
    address: str
    folder: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    up_at: float | None = None
    converged_at: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    #: label -> the namespace's /proc/net/snmp counters then ("Udp.OutDatagrams", ...)
    snmp: dict[str, dict[str, int]] = field(default_factory=dict)
    #: when its log last said that it fetched a peer's index
    last_fetch: float = 0.0

    @property
    def label(self) -> str:
        """``hNN``."""
        return f"h{self.index:02d}"

    def pump(self, stream: IO[bytes]) -> None:
        """Read the merged stdout/stderr, stamp each line, keep it and write it to the log."""
        with self.log.open("w", encoding="utf-8") as log:
            for raw in stream:
                now = time.time()
                text = raw.decode("utf-8", errors="replace").rstrip("\n")
                self.lines.append((now, text))
                if self.up_at is None and SYNCING_RE.match(text):
                    self.up_at = now
                elif INDEX_RE.match(text):
                    self.last_fetch = now
                log.write(f"{now:.3f} {text}\n")
                log.flush()


def parse_counters(text: str) -> dict[str, int]:
    """/proc/net/snmp or /proc/net/netstat text as {"Udp.OutDatagrams": n, ...}."""
    values: dict[str, int] = {}
    lines = text.splitlines()
    for header, row in zip(lines[::2], lines[1::2], strict=False):
        prefix, _, names = header.partition(":")
        _, _, numbers = row.partition(":")
        for name, number in zip(names.split(), numbers.split(), strict=False):
            values[f"{prefix}.{name}"] = int(number)
    return values


def proc_counters(path: Path) -> dict[str, int]:
    """The counters of a /proc/PID/net/{snmp,netstat} file (that process's namespace)."""
    return parse_counters(path.read_text())


def netns_counters(netns_host: Any, name: str) -> dict[str, int]:
    """Counters of a host's namespace via ``ip netns exec`` (after its mfsync stopped)."""
    result = netns_host.run(["cat", f"/proc/net/{name}"], timeout=30, text=True, check=True)
    return parse_counters(result.stdout)


def check_is_mfsync(pid: int) -> None:
    """``ip netns exec`` execs the command, so the pid must be the mfsync interpreter itself."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if b"mfsync" not in argv:
        raise BenchError(f"pid {pid} is not the mfsync process: {argv!r}")


def snapshot(hosts: list[SwarmHost], label: str) -> None:
    """Keep CPU seconds and the namespace's SNMP counters of every running host as ``label``."""
    for h in hosts:
        if h.proc is None or h.proc.poll() is not None:
            continue
        cpu = cpu_seconds(h.proc.pid)
        if cpu is not None:
            h.cpu[label] = cpu
        with contextlib.suppress(OSError):
            h.snmp[label] = proc_counters(Path(f"/proc/{h.proc.pid}/net/snmp"))


# -- seeding and checking the folders -------------------------------------------------------------


def seed(hosts: list[SwarmHost], files: int, mode: str) -> dict[str, tuple[int, str]]:
    """Write the seed files; returns {relative path: (size, sha256)}."""
    rng = random.Random(20_240_601)  # sizes only: reproducible
    expected: dict[str, tuple[int, str]] = {}
    for i in range(files):
        origin = hosts[i % len(hosts)] if mode == "spread" else hosts[0]
        rel = f"{origin.label}/f{i:03d}.bin"
        size = rng.randint(MIN_SIZE, MAX_SIZE)
        path = origin.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size)
        path.write_bytes(data)
        expected[rel] = (size, hashlib.sha256(data).hexdigest())
    # an hour old, as files that were there before sync started are: not "still being written"
    past = time.time() - 3600
    for h in hosts:
        for p in h.folder.rglob("*"):
            if p.is_file():
                os.utime(p, (past, past))
    return expected


def held(folder: Path, expected: dict[str, tuple[int, str]]) -> int:
    """How many of the expected files ``folder`` holds at their full size."""
    n = 0
    for rel, (size, _) in expected.items():
        try:
            if os.stat(folder / rel).st_size == size:
                n += 1
        except OSError:
            pass
    return n


def verify(folder: Path, expected: dict[str, tuple[int, str]]) -> tuple[list[str], list[str],
                                                                          list[str]]:
    """(missing, wrong content, unexpected extra files) of one folder."""
    missing, wrong = [], []
    for rel, (size, digest) in expected.items():
        path = folder / rel
        if not path.is_file():
            missing.append(rel)
        elif path.stat().st_size != size or sha256_file(path) != digest:
            wrong.append(rel)
    extra = sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*")
        if p.is_file() and str(p.relative_to(folder)) not in expected
    )
    return missing, wrong, extra


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Announce traffic of the hosts over one time window."""

    name: str
    start: float
    end: float
    per_host: dict[str, Counter[str]]

    @property
    def minutes(self) -> float:
        """Length of the window in minutes."""
        return max(self.end - self.start, 1e-9) / 60.0

    def rate(self, key: str) -> list[float]:
        """``key`` per minute, one value per host."""
        return [c[key] / self.minutes for c in self.per_host.values()]


def traffic(name: str, records: list[Datagram], hosts: list[SwarmHost], start: float,
            end: float) -> Traffic:
    """Datagrams, frame bytes and kinds per host between ``start`` and ``end``."""
    by_address = {h.address: h.label for h in hosts}
    per_host: dict[str, Counter[str]] = {h.label: Counter() for h in hosts}
    last_gen: dict[str, int] = {}
    for r in records:
        label = by_address.get(r.src)
        if label is None:
            continue
        changed = last_gen.get(r.src) != r.generation
        last_gen[r.src] = r.generation
        if not start <= r.t < end:
            continue
        c = per_host[label]
        c["datagrams"] += 1
        c["bytes"] += r.size + FRAME_OVERHEAD
        c["payload"] += r.size
        if r.kind == KIND_QUERY:
            c["query"] += 1
        elif changed:
            c["new generation"] += 1
        else:
            c["repeat"] += 1
    return Traffic(name, start, end, per_host)


@dataclass
class Outcome:
    """Everything a run measured, for ``report``."""

    hosts: list[SwarmHost]
    expected: dict[str, tuple[int, str]]
    seeded: dict[str, int]
    t0: float
    converged_at: float | None
    #: from when on no host announced a new generation (None: not within SETTLE_TIMEOUT)
    settled_at: float | None
    #: when the steady-state measurement began (None: not settled)
    steady_start: float | None
    t_end: float
    records: list[Datagram]
    #: per host: its namespace's /proc/net/snmp and /proc/net/netstat after it stopped
    totals: dict[str, tuple[dict[str, int], dict[str, int]]]
    observer_snmp: dict[str, int]
    exit_codes: dict[str, int]
    #: per host: (missing, wrong content, extra files)
    problems: dict[str, tuple[list[str], list[str], list[str]]]
    load_start: tuple[float, float, float]
    started: float


def run_benchmark(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(E2E_DIR))
    from netns import Lan, netns_available  # noqa: PLC0415

    reason = netns_available()
    if reason is not None:
        print(f"swarm benchmark: network namespaces unavailable: {reason}", file=sys.stderr)
        return 2

    py = sys.executable
    started = time.monotonic()
    load_start = os.getloadavg()
    n = args.hosts
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-swarm-") as tmp_name:
        tmp = Path(tmp_name)
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
            "PYTHONUNBUFFERED": "1",
        }
        # (as _common.LoopbackRig: PYTHONPATH passed on, so a before/after run can name a tree)
        if "PYTHONPATH" in os.environ:
            base_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        try:
            lan = Lan(n + 1)
        except RuntimeError as exc:
            print(f"swarm benchmark: {exc}", file=sys.stderr)
            return 2
        try:
            with lan:
                hosts = []
                for i, lh in enumerate(lan.hosts[:n]):
                    folder = tmp / "hosts" / f"h{i:02d}" / "folder"
                    folder.mkdir(parents=True)
                    (tmp / "hosts" / f"h{i:02d}" / "home").mkdir()
                    hosts.append(SwarmHost(i, lh.name, lh.address, folder,
                                           tmp / "hosts" / f"h{i:02d}" / "sync.log"))
                expected = seed(hosts, args.files, args.seed)
                seeded = {h.label: held(h.folder, expected) for h in hosts}
                total_bytes = sum(size for size, _ in expected.values())

                # Fill the bytecode cache (not measured), inside host 0.
                lan.hosts[0].run([py, "-m", "compileall", "-q", str(ROOT / "app" / "mfsync")],
                                 env=base_env, timeout=300, check=True)
                lan.hosts[0].run([py, "-m", "mfsync", "--version"],
                                 env={**base_env, "HOME": str(tmp / "warm")}, timeout=120,
                                 check=True)

                obs_host = lan.hosts[n]
                obs_out = tmp / "observer.txt"
                observer = obs_host.popen(
                    [py, str(Path(__file__).resolve()), "--observer", GROUP, str(UDP_PORT),
                     obs_host.address, str(obs_out)],
                    env=base_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )
                deadline = time.monotonic() + OBSERVER_READY_TIMEOUT
                while not (obs_out.exists() and obs_out.read_text().startswith("ready")):
                    if observer.poll() is not None or time.monotonic() > deadline:
                        err = observer.stderr.read().decode() if observer.stderr else ""
                        raise BenchError(f"the observer did not start:\n{err}")
                    time.sleep(0.05)
                obs = ObserverLog(obs_out)

                print(f"swarm: {n} hosts, {args.files} files ({total_bytes / 1024:.0f} KiB, "
                      f"seed {args.seed}); starting every `mfsync sync` ...", flush=True)
                t0 = time.time()
                for h, lh in zip(hosts, lan.hosts, strict=False):
                    env = {**base_env, "HOME": str(h.folder.parent / "home")}
                    h.proc = lh.popen(
                        [py, "-m", "mfsync", "-v", "--multicast-address", GROUP,
                         "--multicast-port", str(UDP_PORT), "--name", h.label,
                         "sync", str(h.folder)],
                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    )
                    assert h.proc.stdout is not None
                    threading.Thread(target=h.pump, args=(h.proc.stdout,), daemon=True).start()
                checked: set[int] = set()

                def alive_or_raise() -> None:
                    for h in hosts:
                        assert h.proc is not None
                        if h.proc.poll() is not None:
                            raise BenchError(f"{h.label} (mfsync sync) exited with "
                                             f"{h.proc.returncode}:\n{tail(h.log, 30)}")
                        if h.up_at is not None and h.index not in checked:
                            check_is_mfsync(h.proc.pid)  # once it runs: no longer `ip`
                            checked.add(h.index)

                # -- poll until every host holds every file (or the timeout) ----------------
                window_end = t0 + args.window
                window_snapped = False
                next_progress = t0 + PROGRESS_EVERY
                converged_at: float | None = None
                counts = dict(seeded)
                while True:
                    now = time.time()
                    alive_or_raise()
                    obs.update()
                    if not window_snapped and now >= window_end:
                        snapshot(hosts, "window")
                        window_snapped = True
                    for h in hosts:
                        if h.converged_at is None:
                            counts[h.label] = held(h.folder, expected)
                            if counts[h.label] == len(expected):
                                h.converged_at = now
                    done = sum(1 for h in hosts if h.converged_at is not None)
                    if done == n:
                        converged_at = max(h.converged_at or now for h in hosts)
                        snapshot(hosts, "converged")
                        break
                    if now >= next_progress:
                        next_progress += PROGRESS_EVERY
                        up = sum(1 for h in hosts if h.up_at is not None)
                        print(f"  {now - t0:6.1f} s  up {up}/{n}  converged {done}/{n}  "
                              f"files held {sum(counts.values())}/{n * len(expected)}",
                              flush=True)
                    if now - t0 >= args.timeout:
                        snapshot(hosts, "converged")
                        break
                    time.sleep(POLL)
                t_conv_end = time.time()
                if converged_at is not None:
                    print(f"  {converged_at - t0:6.1f} s  all {n} hosts hold all "
                          f"{len(expected)} files", flush=True)

                # -- keep running: the traffic window, settling, the steady state -------------
                # Settled: for QUIET_S s no host has announced a new generation (observer) nor
                # fetched an index (logs). Then the steady state is measured for --steady s.
                settle_deadline = (converged_at or t_conv_end) + SETTLE_TIMEOUT
                settled_at: float | None = None
                steady_start: float | None = None
                while True:
                    now = time.time()
                    obs.update()
                    if not window_snapped and now >= window_end:
                        snapshot(hosts, "window")
                        window_snapped = True
                    quiet_since = max(converged_at or now, obs.last_change,
                                      *(h.last_fetch for h in hosts))
                    if (converged_at is not None and steady_start is None
                            and now - quiet_since >= QUIET_S):
                        settled_at, steady_start = quiet_since, now
                        snapshot(hosts, "steady")
                        print(f"  {now - t0:6.1f} s  settled {quiet_since - converged_at:.1f} s "
                              f"after convergence; measuring the steady state for "
                              f"{args.steady:g} s", flush=True)
                    if now >= window_end and (
                            converged_at is None or now >= settle_deadline
                            or (steady_start is not None and now >= steady_start + args.steady)):
                        break
                    if converged_at is not None and steady_start is None and (
                            now >= next_progress):
                        next_progress += PROGRESS_EVERY
                        print(f"  {now - t0:6.1f} s  settling: the last new generation was "
                              f"announced {now - obs.last_change:.1f} s ago, the last index "
                              f"fetched {now - max(h.last_fetch for h in hosts):.1f} s ago",
                              flush=True)
                    alive_or_raise()
                    time.sleep(POLL)
                if not window_snapped:
                    snapshot(hosts, "window")
                snapshot(hosts, "end")
                t_end = time.time()

                # -- stop, then read what the namespaces' kernels counted ---------------------
                obs_snmp = proc_counters(Path(f"/proc/{observer.pid}/net/snmp"))
                exit_codes = {}
                for h, lh in zip(hosts, lan.hosts, strict=False):
                    assert h.proc is not None
                    exit_codes[h.label] = lh.terminate(h.proc, grace=10.0)
                time.sleep(0.2)
                obs_host.terminate(observer, grace=5.0)
                obs.update()
                totals = {h.label: (netns_counters(lh, "snmp"), netns_counters(lh, "netstat"))
                          for h, lh in zip(hosts, lan.hosts, strict=False)}

                # -- verify every folder ----------------------------------------------------
                problems: dict[str, tuple[list[str], list[str], list[str]]] = {}
                for h in hosts:
                    problems[h.label] = verify(h.folder, expected)
                if args.keep_logs is not None:
                    keep = args.keep_logs
                    keep.mkdir(parents=True, exist_ok=True)
                    for h in hosts:
                        shutil.copy(h.log, keep / f"{h.label}-{h.address}.log")
                        state = h.folder.parent / "home" / ".mfsync" / "folders"
                        if state.is_dir():
                            shutil.copytree(state, keep / f"{h.label}-index", dirs_exist_ok=True)
                    shutil.copy(obs_out, keep / "observer.txt")
        except BenchError as exc:
            print(f"swarm benchmark: FAILED: {exc}", file=sys.stderr)
            return 1

    # -- report -----------------------------------------------------------------------------------
    return report(args, Outcome(hosts, expected, seeded, t0, converged_at, settled_at,
                                steady_start, t_end,
                                obs.records, totals, obs_snmp, exit_codes, problems,
                                load_start, started))


def _fmt_stats(values: list[float], unit: str = "", digits: int = 1) -> str:
    if not values:
        return "-"
    return (f"mean {statistics.fmean(values):.{digits}f}{unit}  min {min(values):.{digits}f}"
            f"  max {max(values):.{digits}f}")


def report(args: argparse.Namespace, o: Outcome) -> int:
    """Print the tables and verdict; write the rows; return the exit code."""
    hosts, expected, seeded, t0 = o.hosts, o.expected, o.seeded, o.t0
    converged_at, settled_at, t_end = o.converged_at, o.settled_at, o.t_end
    steady_start = o.steady_start
    records, totals = o.records, o.totals
    obs_snmp, exit_codes, problems = o.observer_snmp, o.exit_codes, o.problems
    load_start, started = o.load_start, o.started
    n = len(hosts)
    files = len(expected)
    wrong_any = any(p[1] for p in problems.values())
    verified = {label for label, (missing, wrong, _) in problems.items()
                if not missing and not wrong}
    all_ok = converged_at is not None and len(verified) == n
    conv_s = (converged_at - t0) if converged_at is not None else math.inf
    ups = [h.up_at - t0 for h in hosts if h.up_at is not None]
    all_up = max(ups) if len(ups) == n else math.inf

    win = traffic("window", records, hosts, t0, t0 + args.window)
    conv_phase = traffic("convergence", records, hosts, t0,
                         converged_at if converged_at is not None else t_end)
    settling = (traffic("settling", records, hosts, converged_at, settled_at or t_end)
                if converged_at is not None and (settled_at or t_end) - converged_at >= 1.0
                else None)
    steady = (traffic("steady", records, hosts, steady_start, t_end)
              if steady_start is not None and t_end - steady_start >= 1.0 else None)
    whole = traffic("whole run", records, hosts, 0.0, math.inf)

    print()
    print(f"mfsync swarm: {n} hosts run `mfsync sync` on one LAN (network namespaces, veth + "
          f"bridge);")
    print(f"{files} files of {MIN_SIZE // 1024}-{MAX_SIZE // 1024} KiB "
          f"({sum(s for s, _ in expected.values()) / 1024:.0f} KiB), seed '{args.seed}' "
          f"({min(seeded.values())}-{max(seeded.values())} files per host at the start).")
    print()
    print(f"{'host':<5}{'seed':>5}{'up s':>7}{'conv s':>8}{'dl':>5}{'idx':>6}{'rl':>4}"
          f"{'sent':>6}{'seen':>6}{'new':>5}{'qry':>5}{'rxdrop':>7}{'cpu s':>7}{'tcp KiB':>9}"
          "  notes")
    index_fetches: list[int] = []
    downloads_from_origin = 0
    downloads_total = 0
    notes_all: list[str] = []
    for h in hosts:
        snmp, netstat = totals[h.label]
        texts = [t for _, t in h.lines]
        idx = sum(1 for t in texts if INDEX_RE.match(t))
        index_fetches.append(idx)
        rl = sum(1 for t in texts if "rate-limited" in t)
        dls = [m for t in texts if (m := DOWNLOAD_RE.match(t))]
        downloads_total += len(dls)
        for m in dls:
            origin_label = m.group(1).split("/", 1)[0]
            origin = next((o for o in hosts if o.label == origin_label), None)
            if origin is not None and m.group(3).startswith(origin.address + ":"):
                downloads_from_origin += 1
        sus = Counter(word for t in texts for word in SUSPICIOUS if word in t)
        notes = [f"{w} x{c}" for w, c in sus.items()]
        if exit_codes[h.label] != 143:
            notes.append(f"exit {exit_codes[h.label]} on SIGTERM")
        missing, wrong, extra = problems[h.label]
        if missing:
            notes.append(f"{len(missing)} missing")
        if wrong:
            notes.append(f"{len(wrong)} WRONG CONTENT")
        if extra:
            notes.append(f"{len(extra)} extra: {', '.join(extra[:3])}")
        notes_all += [f"{h.label}: {x}" for x in notes]
        sent = snmp.get("Udp.OutDatagrams", 0)
        seen = whole.per_host[h.label]["datagrams"]
        tcp = (netstat.get("IpExt.OutOctets", 0) - netstat.get("IpExt.OutMcastOctets", 0))
        up = f"{h.up_at - t0:.1f}" if h.up_at is not None else "-"
        conv = f"{h.converged_at - t0:.1f}" if h.converged_at is not None else "miss"
        cpu = h.cpu.get("end")
        print(f"{h.label:<5}{seeded[h.label]:>5}{up:>7}{conv:>8}{len(dls):>5}{idx:>6}{rl:>4}"
              f"{sent:>6}{seen:>6}{whole.per_host[h.label]['new generation']:>5}"
              f"{whole.per_host[h.label]['query']:>5}{snmp.get('Udp.RcvbufErrors', 0):>7}"
              f"{cpu if cpu is not None else math.nan:>7.1f}{tcp / 1024:>9.0f}  "
              f"{'; '.join(notes)}")
    print("(seed: files at the start; up: printed \"Syncing\"; conv: held every file; dl: "
          "downloads; idx: index fetches it made; rl: rate-limit notes; sent: UDP datagrams "
          "its kernel sent; seen: of them received by the observer; new: announcements of a "
          "new generation; qry: queries; rxdrop: UDP datagrams its kernel dropped for a full "
          "receive buffer (RcvbufErrors); cpu s: whole run; tcp KiB: IP bytes sent minus "
          "multicast)")
    print()

    lost = {label: totals[label][0].get("Udp.OutDatagrams", 0) - whole.per_host[label][
        "datagrams"] for label in whole.per_host}
    print("announce traffic per host per minute (datagrams received by the observer; bytes as "
          "Ethernet frames):")
    print(f"{'':<32}{'length':>8}{'datagrams/host/min':>24}{'bytes/host/min':>27}"
          f"{'all hosts':>18}")
    print(f"{'':<32}{'s':>8}{'mean':>8}{'min':>8}{'max':>8}{'mean':>9}{'min':>9}{'max':>9}"
          f"{'datagrams':>10}{'KiB':>8}")
    phases = (win, conv_phase, settling, steady)
    for t in phases:
        if t is None:
            continue
        label = {"window": f"first {args.window:g} s (--window)",
                 "convergence": "start -> all converged",
                 "settling": "converged -> settled",
                 "steady": "settled (steady state)"}[t.name]
        dg = sum(c["datagrams"] for c in t.per_host.values())
        by = sum(c["bytes"] for c in t.per_host.values())
        d, b = t.rate("datagrams"), t.rate("bytes")
        print(f"{label:<32}{t.end - t.start:>8.1f}{statistics.fmean(d):>8.1f}{min(d):>8.1f}"
              f"{max(d):>8.1f}{statistics.fmean(b):>9.0f}{min(b):>9.0f}{max(b):>9.0f}"
              f"{dg:>10}{by / 1024:>8.1f}")
    for t in phases:
        if t is None:
            continue
        kinds = {k: statistics.fmean(t.rate(k)) for k in ("new generation", "repeat", "query")}
        print(f"  {t.name}: per host per minute {kinds['new generation']:.1f} new-generation "
              f"announcements, {kinds['repeat']:.1f} repeats (beats, answers), "
              f"{kinds['query']:.1f} queries")
    sizes = [r.size for r in records]
    if sizes:
        print(f"  datagram size: {min(sizes)}-{max(sizes)} bytes UDP payload "
              f"(+{FRAME_OVERHEAD} per frame)")
    bad_loss = {k: v for k, v in lost.items() if v != 0}
    print(f"  observer vs kernel: {sum(c['datagrams'] for c in whole.per_host.values())} "
          f"received, {sum(totals[k][0].get('Udp.OutDatagrams', 0) for k in totals)} sent; "
          f"observer RcvbufErrors {obs_snmp.get('Udp.RcvbufErrors', 0)}, InErrors "
          f"{obs_snmp.get('Udp.InErrors', 0)}"
          + (f"; differences per host: {bad_loss}" if bad_loss else "; equal for every host"))
    kernel_window = [h.snmp.get("window", {}).get("Udp.OutDatagrams", 0) for h in hosts]
    print(f"  kernel count over the window (sent by each host by t0 + {args.window:g} s, "
          f"per minute): {_fmt_stats([k / win.minutes for k in kernel_window])}")
    print()

    cpu_conv = [h.cpu.get("converged", math.nan) for h in hosts]
    print(f"CPU seconds of the hosts: until convergence total {sum(cpu_conv):.1f} "
          f"({_fmt_stats(cpu_conv)} per host)")
    if converged_at is not None and (steady_start or t_end) - converged_at >= 1.0:
        minutes = ((steady_start or t_end) - converged_at) / 60.0
        per_min = [(h.cpu.get("steady", h.cpu.get("end", math.nan)) - h.cpu.get(
            "converged", math.nan)) / minutes for h in hosts]
        print(f"  converged -> steady state: {_fmt_stats(per_min, digits=2)} CPU s per host per "
              "minute")
    if steady is not None:
        per_min = [(h.cpu["end"] - h.cpu["steady"]) / steady.minutes for h in hosts]
        print(f"  steady state: {_fmt_stats(per_min, digits=2)} CPU s per host per minute")
        drops = [h.snmp["end"].get("Udp.RcvbufErrors", 0)
                 - h.snmp["steady"].get("Udp.RcvbufErrors", 0) for h in hosts]
        conv_drops = [h.snmp.get("converged", {}).get("Udp.RcvbufErrors", 0) for h in hosts]
        print(f"receive-buffer drops at the hosts: {sum(conv_drops)} until convergence, "
              f"{sum(drops)} in the steady state (all hosts)")
    print(f"index fetches per host: {_fmt_stats([float(x) for x in index_fetches], digits=0)}; "
          f"downloads {downloads_total} (of {n * files - sum(seeded.values())} needed), "
          f"{downloads_from_origin} from the file's origin host, the rest host to host")
    if notes_all:
        print("notes:")
        for note in notes_all:
            print(f"  {note}")
    print()
    print(f"all hosts up (printed \"Syncing\"): {all_up:.1f} s after t0")
    conv_text = f"{conv_s:.1f} s" if math.isfinite(conv_s) else f"not within {args.timeout:g} s"
    print(f"convergence (last host holds all {files} files): {conv_text}; "
          f"hosts verified (sha256) {len(verified)}/{n}")
    host_conv = [h.converged_at - t0 for h in hosts
                 if h.converged_at is not None and seeded[h.label] < files]
    if host_conv:
        print(f"  per host (not counting hosts seeded with every file): "
              f"{_fmt_stats(host_conv)} s; last one from all up: "
              f"{conv_s - all_up:.1f} s")
    if converged_at is not None:
        settle_text = (f"{settled_at - converged_at:.1f} s after convergence"
                       if settled_at is not None else f"not within {SETTLE_TIMEOUT:g} s")
        print(f"settled (then no new generation announced, no index fetched for {QUIET_S:g} s): "
              f"{settle_text}")
    print(f"target: all {n} hosts converge: {'PASS' if all_ok else 'FAIL'}")
    print(f"load average at start {load_start[0]:.2f}, at the end {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs; other work on the machine skews every number above)")
    print(f"total benchmark time: {time.monotonic() - started:.1f} s")

    win_dg = statistics.fmean(win.rate("datagrams"))
    win_by = statistics.fmean(win.rate("bytes"))
    common = f"{n} hosts, {files} files, seed {args.seed}"
    rows = [
        # not converged: the time given (JSON has no infinity), with passed False
        Row("swarm convergence", round(conv_s if math.isfinite(conv_s) else args.timeout, 2), "s",
            f"all {n} hosts hold all {files} files (sha256)", all_ok,
            detail=f"{common}; converged {sum(1 for h in hosts if h.converged_at)}/{n}, "
                   f"verified {len(verified)}/{n}; all up at {all_up:.1f} s; "
                   f"CPU {sum(cpu_conv):.0f} s (all hosts)"),
        Row("swarm announce datagrams", round(win_dg, 2), "datagrams/host/min",
            "reported (no limit)", True,
            detail=f"{common}; first {args.window:g} s; total "
                   f"{sum(c['datagrams'] for c in win.per_host.values())}; max per host "
                   f"{max(win.rate('datagrams')):.1f}/min"),
        Row("swarm announce bytes", round(win_by, 1), "bytes/host/min", "reported (no limit)",
            True, detail=f"{common}; first {args.window:g} s; Ethernet frames; total "
                         f"{sum(c['bytes'] for c in win.per_host.values())} bytes"),
    ]
    if converged_at is not None:
        settle_s = settled_at - converged_at if settled_at is not None else math.inf
        rows.append(Row("swarm settle after convergence",
                        round(settle_s if math.isfinite(settle_s) else SETTLE_TIMEOUT, 2), "s",
                        f"only beats again within {SETTLE_TIMEOUT:g} s", settled_at is not None,
                        detail=f"{common}; then no new generation announced and no index "
                               f"fetched for {QUIET_S:g} s"))
    if steady is not None:
        rows.append(Row("swarm announce datagrams, steady", round(
            statistics.fmean(steady.rate("datagrams")), 2), "datagrams/host/min",
            "reported (no limit)", True,
            detail=f"{common}; over {steady.end - steady.start:.0f} s, from {QUIET_S:g} s "
                   "after settling"))
    write_rows(args.json, rows)
    return 1 if wrong_any else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=HOSTS, help=f"hosts (default {HOSTS})")
    parser.add_argument("--files", type=int, default=FILES, help=f"files (default {FILES})")
    parser.add_argument("--seed", choices=("spread", "one"), default="spread",
                        help="files spread over the hosts (default) or all on host 0")
    parser.add_argument("--window", type=float, default=WINDOW_S,
                        help=f"traffic window from the start, seconds (default {WINDOW_S:g})")
    parser.add_argument("--steady", type=float, default=STEADY_S,
                        help="once settled, measure the steady state for this long "
                             f"(default {STEADY_S:g})")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help=f"give up converging after this long (default {TIMEOUT_S:g})")
    parser.add_argument("--json", metavar="PATH", help="write the result rows as JSON")
    parser.add_argument("--keep-logs", metavar="DIR", type=Path,
                        help="copy the hosts' logs and the observer's records into DIR")
    parser.add_argument("--observer", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.observer:
        group, port, address, out = args.observer
        return observer_main(group, int(port), address, out)
    if not 2 <= args.hosts <= 199 or args.files < 1 or args.window <= 0 or args.steady < 0:
        parser.error("--hosts 2..199, --files >= 1, --window > 0, --steady >= 0")
    return run_benchmark(args)


if __name__ == "__main__":
    raise SystemExit(main())
