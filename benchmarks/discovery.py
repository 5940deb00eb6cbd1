"""Discovery latency: from a host starting ``mfsync share`` to a running peer listing it.

How it works: a two-host LAN of network namespaces (``tests/e2e/netns.py``). In host 1 a small
observer runs for the whole benchmark: a ``Node`` that only wants files (as ``mfsync fetch``
runs it), printing one JSON line with ``time.time()`` whenever a peer endpoint first reaches
state CONNECTED with its files (its index fetched over the secure channel), and when an endpoint
leaves the table. Then, ``--runs`` times, host 0 starts ``python -m mfsync share DIR`` (DIR holds
one small file) with a fresh ``HOME`` (so the run includes creating the key) on a new TCP port
(9000 + i): t0 is taken just before ``Popen``, t1 is the observer's timestamp of the new endpoint
listed, and the latency is t1 - t0. The share is then stopped with SIGTERM.

Why a new port per run: the observer keys peers by (address, TCP port), and a stopped host is
only forgotten after three missed beats (15 s). On a new port every run is a new endpoint the
observer has never seen, so it measures exactly "host starts -> running peer lists it" without
waiting 15 s per run or restarting the observer (which would measure the observer's start-up
query instead). The observer's index fetches are rate-limited per address (a burst of 4, then
one a second), so runs are spaced ``RUN_GAP`` s apart to keep that limit out of the numbers.

Baseline: ``python -m mfsync --version`` in host 0 (median of 5), the cost of starting the
interpreter and importing mfsync through ``ip netns exec``; it is subtracted to show what
discovery itself costs. Bytecode is cached in a temporary ``PYTHONPYCACHEPREFIX`` (warmed before
measuring), as it would be for an installed package, instead of being written into the repo.

Every mfsync process (observer, share, baseline) runs inside the LAN's namespaces; this script
itself never imports mfsync in the root namespace. Run as root:
``/work/main/.venv/bin/python benchmarks/discovery.py``. ``--json PATH`` writes the figures as a
``_common.Row`` for benchmarks/run.py. Exit 0 with the measurement (also when the target is missed),
2 when network namespaces are unavailable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from _common import E2E_DIR, Row, fmt_ms, percentile, tail, write_rows

TARGET_S = 1.0
RUNS = 20
BASELINE_RUNS = 5
FIRST_PORT = 9000
#: A run whose host is not listed within this many seconds counts as a miss (infinite latency).
LIST_TIMEOUT = 10.0
#: Pause between runs, so that the observer's per-address fetch rate limit (1/s) never bites.
RUN_GAP = 1.0
OBSERVER_READY_TIMEOUT = 20.0


# -- the observer (runs inside host 1) ------------------------------------------------------------


def observer_main() -> int:
    """Run a wants-only node and print JSON lines: ready, listed and gone events."""
    import asyncio  # noqa: PLC0415 - only the observer needs these, inside the namespace
    import logging  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from mfsync.crypto.keys import Identity  # noqa: PLC0415
    from mfsync.engine.node import Node, NodeOptions  # noqa: PLC0415
    from mfsync.engine.status import NodeStatus, PeerState  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")

    def emit(event: str, t: float, **fields: Any) -> None:
        print(json.dumps({"event": event, "t": t, **fields}), flush=True)

    async def run() -> None:
        node = Node(NodeOptions(identity=Identity.generate(), wants=True, name="bench-observer"))
        listed: set[tuple[str, int]] = set()

        def on_status(status: NodeStatus) -> None:
            now = time.time()
            present = set()
            for peer in status.peers:
                endpoint = (peer.address, peer.port)
                present.add(endpoint)
                if endpoint not in listed and peer.state is PeerState.CONNECTED and peer.files:
                    listed.add(endpoint)
                    emit("listed", now, address=peer.address, port=peer.port, files=peer.files)
            for address, port in sorted(listed - present):
                listed.discard((address, port))
                emit("gone", now, address=address, port=port)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        node.subscribe(on_status)
        await node.start()
        emit("ready", time.time())
        try:
            await stop.wait()
        finally:
            await node.stop()

    asyncio.run(run())
    return 0


# -- the driver (runs in the root namespace, starts everything inside the LAN) --------------------


def _reader(stream: IO[str], events: queue.Queue[dict[str, Any]]) -> None:
    for line in stream:
        try:
            events.put(json.loads(line))
        except json.JSONDecodeError:
            events.put({"event": "noise", "line": line.rstrip()})
    events.put({"event": "eof"})


def _first_line_time(stream: IO[bytes], out: list[float]) -> None:
    """Record when the share printed its first line ("Sharing N files ..."), then drain."""
    for _ in stream:
        if not out:
            out.append(time.time())


def run_benchmark(runs: int, reuse_home: bool, json_path: Path | None = None) -> int:
    sys.path.insert(0, str(E2E_DIR))
    from netns import Lan, netns_available  # noqa: PLC0415

    reason = netns_available()
    if reason is not None:
        print(f"discovery benchmark: network namespaces unavailable: {reason}", file=sys.stderr)
        return 2

    py = sys.executable
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mfsync-bench-") as tmp_name:
        tmp = Path(tmp_name)
        share_dir = tmp / "share"
        share_dir.mkdir()
        (share_dir / "hello.txt").write_bytes(b"hello from the discovery benchmark\n")
        base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
            "PYTHONUNBUFFERED": "1",
        }

        def env_for(home: Path) -> dict[str, str]:
            home.mkdir(parents=True, exist_ok=True)
            return {**base_env, "HOME": str(home)}

        try:
            lan = Lan(2)
        except RuntimeError as exc:
            print(f"discovery benchmark: {exc}", file=sys.stderr)
            return 2
        with lan:
            h0, h1 = lan.hosts
            # Warm the bytecode cache (not measured), then the baseline.
            for _ in range(2):
                h0.run([py, "-m", "mfsync", "--version"], env=env_for(tmp / "home-base"),
                       timeout=60, check=True)
            baseline = []
            for _ in range(BASELINE_RUNS):
                t = time.perf_counter()
                h0.run([py, "-m", "mfsync", "--version"], env=env_for(tmp / "home-base"),
                       timeout=60, check=True)
                baseline.append(time.perf_counter() - t)
            bare = []
            for _ in range(BASELINE_RUNS):
                t = time.perf_counter()
                h0.run([py, "-c", "pass"], env=env_for(tmp / "home-base"), timeout=60, check=True)
                bare.append(time.perf_counter() - t)

            if reuse_home:  # create the key now, so that no measured run pays for it
                h0.run([py, "-m", "mfsync", "--public-key"], env=env_for(tmp / "home-share"),
                       timeout=60, check=True)

            observer_log = tmp / "observer.log"
            with observer_log.open("wb") as log_file:
                observer = h1.popen([py, str(Path(__file__).resolve()), "--observer"],
                                    env=env_for(tmp / "home-observer"), stdout=subprocess.PIPE,
                                    stderr=log_file, text=True)
            events: queue.Queue[dict[str, Any]] = queue.Queue()
            assert observer.stdout is not None
            threading.Thread(target=_reader, args=(observer.stdout, events), daemon=True).start()

            listed: dict[int, float] = {}
            gone: dict[int, float] = {}

            def pump(until: float, port: int | None = None) -> bool:
                """Handle observer events until ``port`` is listed (or ready), or ``until``."""
                while True:
                    left = until - time.monotonic()
                    if left <= 0:
                        return False
                    try:
                        ev = events.get(timeout=left)
                    except queue.Empty:
                        return False
                    kind = ev.get("event")
                    if kind == "eof":
                        raise RuntimeError("the observer exited:\n" + tail(observer_log))
                    if kind == "ready" and port is None:
                        return True
                    if kind == "listed":
                        listed.setdefault(int(ev["port"]), float(ev["t"]))
                    elif kind == "gone":
                        gone.setdefault(int(ev["port"]), float(ev["t"]))
                    if port is not None and port in listed:
                        return True

            if not pump(time.monotonic() + OBSERVER_READY_TIMEOUT):
                print("discovery benchmark: the observer did not start:\n" + tail(observer_log),
                      file=sys.stderr)
                return 1

            rows: list[tuple[int, float, float, int | None]] = []
            stopped_at: dict[int, float] = {}
            for i in range(runs):
                port = FIRST_PORT + i
                home = tmp / ("home-share" if reuse_home else f"home-{i}")
                env = env_for(home)
                share_log = tmp / f"share-{i}.log"
                banner: list[float] = []
                with share_log.open("wb") as err:
                    t0 = time.time()
                    share = h0.popen(
                        [py, "-m", "mfsync", "share", str(share_dir), "--port", str(port)],
                        env=env, stdout=subprocess.PIPE, stderr=err,
                    )
                assert share.stdout is not None
                threading.Thread(target=_first_line_time, args=(share.stdout, banner),
                                 daemon=True).start()
                ok = pump(time.monotonic() + LIST_TIMEOUT, port)
                latency = listed[port] - t0 if ok else math.inf
                ready = banner[0] - t0 if banner else math.inf
                stopped_at[port] = time.time()
                code = h0.terminate(share, grace=5.0)
                if not ok:
                    print(f"run {i + 1}: host not listed within {LIST_TIMEOUT:g} s; share log:\n"
                          + tail(share_log), file=sys.stderr)
                rows.append((port, latency, ready, code))
                pump(time.monotonic() + RUN_GAP)
            pump(time.monotonic() + 0.1)
            h1.terminate(observer, grace=5.0)

    # -- report -----------------------------------------------------------------------------------
    latencies = [r[1] for r in rows]
    base = statistics.median(baseline)
    print()
    print("mfsync discovery latency: `mfsync share` starts on host 0 -> observer on host 1 lists")
    print("it (state CONNECTED with its files); network namespaces, veth + bridge, no loss.")
    print(f"HOME per share run: {'one reused HOME (key exists)' if reuse_home else 'fresh (includes key creation)'}; "  # noqa: E501
          f"TCP port {FIRST_PORT}+i per run; bytecode cache warm.")
    print()
    print(f"{'run':>4} {'port':>5} {'latency ms':>11} {'minus base':>11} {'share up ms':>12} "
          f"{'exit':>5}")
    for n, (port, latency, ready, code) in enumerate(rows, 1):
        print(f"{n:>4} {port:>5} {fmt_ms(latency):>11} {fmt_ms(latency - base):>11} "
              f"{fmt_ms(ready):>12} {code!s:>5}")
    print()
    misses = sum(1 for x in latencies if math.isinf(x))
    med = statistics.median(latencies)
    print(f"{'':<34}{'raw':>10}{'minus baseline':>16}")
    for label, value in (
        ("median", med),
        ("p90", percentile(latencies, 0.9)),
        ("min", min(latencies)),
        ("max", max(latencies)),
    ):
        print(f"{label:<34}{fmt_ms(value):>8} ms{fmt_ms(value - base):>13} ms")
    print(f"{'runs / misses':<34}{runs:>10} / {misses}")
    print(f"{'baseline: mfsync --version (med 5)':<34}{fmt_ms(base):>8} ms")
    print(f"{'  (python -c pass, med 5)':<34}{fmt_ms(statistics.median(bare)):>8} ms")
    readies = [r[2] for r in rows]
    print(f"{'share printed its banner (median)':<34}{fmt_ms(statistics.median(readies)):>8} ms")
    expiry = [gone[p] - stopped_at[p] for p in gone if p in stopped_at]
    if expiry:
        print(f"{'gone after SIGTERM (median, n=' + str(len(expiry)) + ')':<34}"
              f"{fmt_ms(statistics.median(expiry)):>8} ms  (3 missed 5 s beats)")
    print()
    verdict = "PASS" if med < TARGET_S else "FAIL"
    print(f"target < {TARGET_S:g} s (median of {runs} runs, raw): {verdict}")
    print(f"total benchmark time: {time.monotonic() - started:.1f} s")

    def ms(seconds: float) -> str:
        return fmt_ms(seconds).strip()

    write_rows(json_path, [Row(
        benchmark="host started -> seen by a running peer",
        # a median that is a miss has no figure: NaN (the runner shows it as "-")
        value=round(med, 3) if math.isfinite(med) else math.nan,
        unit="s",
        target=f"<= {TARGET_S:g} s",
        passed=med <= TARGET_S,
        detail=(f"median of {runs}, {misses} missed; p90 {ms(percentile(latencies, 0.9))} ms, "
                f"max {ms(max(latencies))} ms; interpreter baseline: mfsync --version "
                f"{ms(base)} ms (python -c pass {ms(statistics.median(bare))} ms), median "
                f"minus it {ms(med - base)} ms; "
                f"{'one HOME, key reused' if reuse_home else 'fresh HOME (key created)'} per run"),
    )])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"share starts (default {RUNS})")
    parser.add_argument("--reuse-home", action="store_true",
                        help="one HOME for every share run (key created once, before measuring)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the result row to PATH as JSON (for run.py)")
    parser.add_argument("--observer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.observer:
        return observer_main()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return run_benchmark(args.runs, args.reuse_home, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
