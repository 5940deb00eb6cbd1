"""Many sources: one large file offered by two hosts whose links are each limited (``tc``), fetched
by a third; is it fetched from both at once (``engine/swarm_fetch.py``)?

How it works: a LAN of network namespaces (``tests/e2e/netns.py``: three hosts on a bridge, private
addresses, nothing connected to the root namespace, every namespace removed at the end). Hosts 0
and 1 each get a token-bucket filter on their LAN interface's egress (``tc qdisc ... tbf rate
--rate-mbit``, default 400 Mbit/s = 50 MB/s): what they send is limited, as if each sat behind
its own slow link. Both run ``mfsync share`` of a folder holding the same file of ``--size-mib``
random bytes (default 256); host 2 runs ``mfsync get big DEST`` with a fresh HOME, discovery on
the LAN's own multicast group and port.

Two runs, each with a fresh getter: **one source** (only host 0 shares: the baseline, at most the
limited link) and **two sources** (both share). For each run: the transfer time (the issue's
clock: from the partial file's appearance to the file in place under its name, both polled every
millisecond; "whole" is from starting ``get`` to its exit), the rate, the
getter's CPU seconds (user + system, from ``wait4``), and the bytes each sharer's interface sent
(``/sys/class/net/eth0/statistics/tx_bytes`` inside its namespace, before and after: the link
level count, headers included). The received file is checked by SHA-256.

The issue's target: two sources each at 50 MB/s deliver at least 90 MB/s. Exit 0 with the
measurement, 1 when a copy is wrong or a process fails, 2 when namespaces are unavailable. Run as
root: ``PYTHONPATH=$PWD/app /work/main/.venv/bin/python benchmarks/many_sources.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import MIB, BenchError, Row, make_random_file, reap, sha256_file, tail, write_rows

ROOT = Path(__file__).resolve().parent.parent
E2E_DIR = ROOT / "tests" / "e2e"
GROUP = "239.255.77.7"
UDP_PORT = 41234
FILE_NAME = "big"
TARGET_MB_S = 90.0
READY_TIMEOUT = 300.0
PROCESS_TIMEOUT = 600.0
POLL = 0.001


def tx_bytes(host: Any) -> int:
    """Bytes the host's LAN interface has sent (inside its namespace)."""
    out = host.run(["cat", f"/sys/class/net/{host.interface}/statistics/tx_bytes"],
                   timeout=30, text=True, check=True).stdout
    return int(out.strip())


def limit(host: Any, rate_mbit: int) -> None:
    """Limit what ``host`` sends on its LAN interface to ``rate_mbit`` Mbit/s."""
    host.run(["tc", "qdisc", "replace", "dev", host.interface, "root", "tbf", "rate",
              f"{rate_mbit}mbit", "burst", "256kb", "latency", "50ms"],
             timeout=30, text=True, check=True)


def mfsync_argv(py: str, *args: str) -> list[str]:
    """``python -m mfsync`` on the LAN's own multicast group and port."""
    return [py, "-m", "mfsync", "--multicast-address", GROUP, "--multicast-port", str(UDP_PORT),
            *args]


def start_share(host: Any, py: str, folder: Path, env: dict[str, str],
                log: Path) -> subprocess.Popen[bytes]:
    """``mfsync share FOLDER`` in ``host``; returns once it serves."""
    with log.open("wb") as out:
        proc = host.popen(mfsync_argv(py, "share", str(folder)), env=env, stdout=out,
                          stderr=subprocess.STDOUT)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"share in {host.name} exited with {proc.returncode}:\n{tail(log)}")
        if "Sharing " in log.read_text(errors="replace"):
            return proc
        time.sleep(0.05)
    raise BenchError(f"share in {host.name} did not become ready:\n{tail(log)}")


def run_get(lan: Any, py: str, tmp: Path, env: dict[str, str], label: str, *, digest: str,
            size: int, sharers: list[Any], show_log: bool = False) -> dict[str, Any]:
    """One ``mfsync get`` in the last host; its figures."""
    getter = lan.hosts[2]
    dest = tmp / f"get-{label}"
    dest.mkdir()
    home = tmp / f"home-get-{label}"
    home.mkdir()
    log = tmp / f"get-{label}.log"
    before = [tx_bytes(h) for h in sharers]
    partial = dest / f".{FILE_NAME}.mfsync-part"
    os.sync()
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = getter.popen(mfsync_argv(py, "-vv", "get", FILE_NAME, str(dest)),
                            env={**env, "HOME": str(home)}, stdout=out,
                            stderr=subprocess.STDOUT)
    seen: float | None = None
    landed: float | None = None
    while proc.poll() is None and landed is None:
        if seen is None and (partial.exists() or (dest / FILE_NAME).exists()):
            seen = time.perf_counter()
        if (dest / FILE_NAME).exists():
            landed = time.perf_counter()
        time.sleep(POLL)
    t_end, code, cpu, sys_cpu = reap(proc, PROCESS_TIMEOUT)
    if code != 0:
        raise BenchError(f"get ({label}) exited with {code}:\n{tail(log)}")
    got = sha256_file(dest / FILE_NAME)
    if got != digest:
        raise BenchError(f"get ({label}): the file differs from the source")
    sent = [tx_bytes(h) - b for h, b in zip(sharers, before, strict=True)]
    # The transfer clock: the first file activity to the file in place (the exit of
    # ``get`` after it is shown apart, in "whole").
    transfer = (landed if landed is not None else t_end) - (seen if seen is not None else t0)
    text = log.read_text(errors="replace")
    if show_log:
        print(f"--- get ({label}) log ---\n{text}--- end ---", flush=True)
    fetched_from = [line.split("fetched from", 1)[1].strip()
                    for line in text.splitlines() if "fetched from" in line]
    return {"label": label, "phase": chunk_phase(text), "whole_s": t_end - t0,
            "transfer_s": transfer,
            "mb_s": size / transfer / 1e6, "cpu_s": cpu, "sys_s": sys_cpu, "sent": sent,
            "fetched_from": fetched_from}


_CHUNK_LINE = re.compile(r"^(\S+ \S+),(\d+) .*: blocks (\d+)-(\d+) from (\S+) in ([\d.]+) s$")


def chunk_phase(log_text: str) -> dict[str, Any] | None:
    """From the getter's debug lines (one per chunk, ``engine/swarm_fetch.py``): how long the
    part fetched from several hosts took, how much of it each host spent sending a chunk (the
    rest is the gaps between one chunk's end and its next request), and the chunks per host."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for line in log_text.splitlines():
        m = _CHUNK_LINE.match(line)
        if m is None:
            continue
        stamp = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1e3
        spans.setdefault(m.group(5), []).append((stamp - float(m.group(6)), stamp))
    if not spans:
        return None
    start = min(a for v in spans.values() for a, _ in v)
    end = max(b for v in spans.values() for _, b in v)
    return {"seconds": end - start, "hosts": {
        host: {"chunks": len(v), "busy": sum(b - a for a, b in v) / max(end - start, 1e-9)}
        for host, v in spans.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rate-mbit", type=int, default=400)
    parser.add_argument("--show-log", action="store_true", help="print each get's log")
    parser.add_argument("--json", default=None, help="write the rows here (benchmarks/run.py)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(E2E_DIR))
    from netns import Lan, netns_available  # noqa: PLC0415

    reason = netns_available()
    if reason is not None:
        print(f"many sources: network namespaces unavailable: {reason}", file=sys.stderr)
        return 2
    py = sys.executable
    size = args.size_mib * MIB
    results = []
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-sources-") as tmp_name:
        tmp = Path(tmp_name)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "PYTHONPYCACHEPREFIX": str(tmp / "pycache"), "PYTHONUNBUFFERED": "1"}
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        folders = [tmp / "share0", tmp / "share1"]
        for folder in folders:
            folder.mkdir()
        digest = make_random_file(folders[0] / FILE_NAME, size)
        os.link(folders[0] / FILE_NAME, folders[1] / FILE_NAME)  # (same bytes, no copy)
        try:
            with Lan(3) as lan:
                sharers = lan.hosts[:2]
                for host in sharers:
                    limit(host, args.rate_mbit)
                lan.hosts[2].run([py, "-m", "compileall", "-q", str(ROOT / "app" / "mfsync")],
                                 env=env, timeout=300, check=True)
                procs = []
                try:
                    for n, host in enumerate(sharers[:1]):
                        home = tmp / f"home-share{n}"
                        home.mkdir()
                        procs.append(start_share(host, py, folders[n], {**env, "HOME": str(home)},
                                                 tmp / f"share{n}.log"))
                    results.append(run_get(lan, py, tmp, env, "one source", digest=digest,
                                           size=size, sharers=sharers,
                                           show_log=args.show_log))
                    home = tmp / "home-share1"
                    home.mkdir()
                    procs.append(start_share(sharers[1], py, folders[1],
                                             {**env, "HOME": str(home)}, tmp / "share1.log"))
                    time.sleep(2.0)  # (both announced before the getter starts)
                    results.append(run_get(lan, py, tmp, env, "two sources", digest=digest,
                                           size=size, sharers=sharers,
                                           show_log=args.show_log))
                finally:
                    for proc in procs:
                        if proc.poll() is None:
                            proc.terminate()
                            proc.wait(timeout=15)
        except BenchError as exc:
            print(f"many sources: {exc}", file=sys.stderr)
            return 1
    link = args.rate_mbit / 8
    print(f"many sources: {args.size_mib} MiB, each sharer limited to {args.rate_mbit} Mbit/s "
          f"({link:.0f} MB/s) by tc")
    print(f"{'run':<12} {'transfer s':>10} {'MB/s':>7} {'whole s':>8} {'get CPU s':>9} "
          f"{'(sys)':>6}  sent by host 0 / host 1 (MB)")
    rows = []
    for r in results:
        print(f"{r['label']:<12} {r['transfer_s']:>10.2f} {r['mb_s']:>7.1f} "
              f"{r['whole_s']:>8.2f} {r['cpu_s']:>9.2f} {r['sys_s']:>6.2f}  "
              + " / ".join(f"{s / 1e6:.1f}" for s in r["sent"]))
        for line in r["fetched_from"]:
            print(f"{'':<12} fetched from {line}")
        if r["phase"] is not None:
            phase = r["phase"]
            swarm_bytes = sum(int(n) for line in r["fetched_from"]
                              for n in re.findall(r"\((\d+) bytes\)", line))
            print(f"{'':<12} chunks from several hosts: {phase['seconds']:.2f} s "
                  f"({swarm_bytes / phase['seconds'] / 1e6:.1f} MB/s); " + ", ".join(
                f"{host}: {h['chunks']} chunks, sending {h['busy']:.0%} of it"
                for host, h in phase["hosts"].items()))
    two = results[-1]["mb_s"]
    rows.append(Row(f"many sources: {args.size_mib} MiB from 2 hosts at {link:.0f} MB/s each",
                    two, "MB/s", f">= {TARGET_MB_S:g} MB/s", two >= TARGET_MB_S,
                    baseline=f"one source {results[0]['mb_s']:.1f} MB/s",
                    ratio=two / results[0]["mb_s"],
                    detail=f"get CPU {results[-1]['cpu_s']:.2f} s (one source "
                           f"{results[0]['cpu_s']:.2f} s)"))
    verdict = "PASS" if two >= TARGET_MB_S else "MISS"
    print(f"two sources: {two:.1f} MB/s against the target of {TARGET_MB_S:g} MB/s: {verdict}")
    write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
