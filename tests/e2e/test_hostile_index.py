"""End to end: the index bomb. Hostile endpoints announce themselves and serve an index of a
million files each, within every per-peer cap, to ``mfsync fetch --follow`` while an honest
host shares a file.

What must hold (issue 13, failure 4): the victim's memory stays under ``VICTIM_MAX_RSS_MB``
(the global budget for remote indexes, ``mfsync.engine.index_budget``, drops the largest
indexes, with a log line naming each bomb); its event loop never stalls long (measured inside
the victim by the ``MFSYNC_TEST_LOOP_PROBE`` test hook); the honest host is never declared gone
and its file is listed; a dropped bomb is not fetched again in a loop. The victim's CPU time is
recorded as a figure. Before the budget, one bomb took the victim to about 800 MB (and 27 s of
CPU), three to 1.7 GB, with the loop stalled for seconds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hostile_index import BOMB_SCRIPT
from mfsync_cli import Running, cli_hosts, make_tree

import figures
from mfsync.engine.loop_probe import PROBE_ENV

pytestmark = pytest.mark.timeout(300)

SUITE = "hostile-index"
#: The issue's target for the victim under the bomb.
VICTIM_MAX_RSS_MB = 200
#: The issue's target is 100 ms, and on a quiet machine the victim stays well under it (the
#: figure is recorded every run). A test must not be a stopwatch, though: on a loaded 2-core
#: machine (a 20-host benchmark running beside the suite) a 10 ms sleep once overslept by 924 ms
#: for the scheduler's sake alone. So the assertion is a bound no loaded machine reaches and the
#: old code misses by far (it stalled for 17-29 s under the same bombs).
MAX_STALL_MS = 2000
#: Any victim above this is killed at once: the bound failed, and the machine is shared.
KILL_RSS_MB = float(os.environ.get("MFSYNC_E2E_KILL_RSS_MB", "600"))
#: How long the victim may take to deal with every bomb (drop it, or, before the fix, take it).
BOMB_TIMEOUT = float(os.environ.get("MFSYNC_E2E_BOMB_TIMEOUT", "90"))
#: After the last bomb is dealt with, the victim keeps running this long: no bomb may be fetched
#: again meanwhile, and the honest host must stay.
AFTERWARDS = 8.0
ENTRIES = 1_000_000
FIRST_PORT = 9401
HONEST_FILE = "honest.txt"


class Sampler:
    """Samples a process's VmRSS and VmHWM (the kernel's high-water mark, so that no peak
    between two samples is missed) every 0.1 s in a thread; kills the process (by pid) above
    ``kill_mb``."""

    def __init__(self, pid: int, kill_mb: float) -> None:
        self.pid = pid
        self.peak = 0.0
        self.killed = False
        self._kill_mb = kill_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as status:
                    text = status.read()
            except OSError:
                return
            found = re.findall(r"^Vm(?:RSS|HWM):\s+(\d+) kB", text, re.M)
            if not found:
                return
            mb = max(int(kb) for kb in found) / 1024
            self.peak = max(self.peak, mb)
            if mb > self._kill_mb and not self.killed:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)  # ours, by pid: the bound failed
            self._stop.wait(0.1)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop.set()
        self._thread.join(5)
        return self.peak


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _longest_stall_ms(log: str) -> float:
    found = [float(m) for m in re.findall(
        r"test hook: (?:the event loop stalled for|longest event-loop stall) (\d+) ms", log)]
    return max(found, default=0.0)


@pytest.mark.parametrize("bombs", [1, 3])
def test_index_bomb_is_bounded(lan_factory, tmp_path: Path, bombs: int) -> None:
    lan = lan_factory(3)
    honest, attacker, victim = cli_hosts(lan, tmp_path)
    share = honest.share(make_tree(tmp_path / "share", {HONEST_FILE: b"still here\n"}), "-v")
    ports = [FIRST_PORT + i for i in range(bombs)]
    bomb = attacker.host.popen(
        [sys.executable, BOMB_SCRIPT, "--address", attacker.address,
         "--ports", ",".join(map(str, ports)), "--entries", str(ENTRIES)],
        env=attacker.env, text=True)
    assert bomb.stdout is not None
    assert bomb.stdout.readline().strip() == "READY", bomb.poll()

    argv = victim.argv("fetch", "--follow", "-vv")
    running = Running(victim, victim.host.popen(argv, env={**victim.env, PROBE_ENV: "1"},
                                                text=True), argv)
    rss = Sampler(running.proc.pid, KILL_RSS_MB)
    started = time.monotonic()
    cpu = 0.0
    try:
        listed = running.stdout.wait_line(re.compile(rf"^{re.escape(HONEST_FILE)}$"), 30)
        assert listed is not None, running.describe()
        # Every bomb is dealt with: dropped for the budget (or, before the fix, taken whole).
        dealt: dict[int, str] = {}
        deadline = time.monotonic() + BOMB_TIMEOUT
        while len(dealt) < bombs and time.monotonic() < deadline and running.alive():
            for line in running.stderr.snapshot():
                for port in ports:
                    where = re.escape(f"{attacker.address}:{port}")
                    if port not in dealt and re.search(
                            rf"{where}\b.*(index budget|{ENTRIES} files)", line):
                        dealt[port] = line
            time.sleep(0.2)
        dealt_after = time.monotonic() - started
        if running.alive():
            time.sleep(AFTERWARDS)
        if running.alive():
            cpu = _cpu_seconds(running.proc.pid)
            running.interrupt()
        try:
            running.wait(30)
        except subprocess.TimeoutExpired:  # too busy to stop (the old code, with its million)
            os.kill(running.proc.pid, signal.SIGKILL)  # ours, by pid
            running.wait(10)
    finally:
        peak = rss.stop()
        attacker.host.terminate(bomb)
    log = running.stderr.text
    stall = _longest_stall_ms(log)
    figures.record(SUITE, **{f"bombs{bombs}_rss_mb": round(peak), f"bombs{bombs}_cpu_s":
                             round(cpu, 1), f"bombs{bombs}_stall_ms": stall,
                             f"bombs{bombs}_dealt_s": round(dealt_after, 1)})
    print(f"\n{bombs} bomb(s): victim RSS peak {peak:.0f} MB, CPU {cpu:.1f} s, longest stall "
          f"{stall:.0f} ms, bombs dealt with after {dealt_after:.1f} s")
    assert not rss.killed, f"the victim grew past {KILL_RSS_MB} MB\n{running.describe()[-3000:]}"
    assert len(dealt) == bombs, running.describe()[-3000:]
    assert peak < VICTIM_MAX_RSS_MB, (peak, running.describe()[-3000:])
    for port, line in dealt.items():
        assert "index budget" in line, line  # dropped, not taken whole
        # Dropped once and held back: not fetched again in a loop.
        drops = [x for x in log.splitlines() if re.search(
            rf"WARNING {re.escape(f'{attacker.address}:{port}')} .*index dropped", x)]
        assert len(drops) == 1, drops
    assert not re.search(rf"{re.escape(honest.address)}:\d+ .*is gone", log), log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert 0 < stall < MAX_STALL_MS, (stall, log[-3000:])
    assert share.alive(), share.describe()
    # The honest host is still there for a download.
    got = victim.mfsync("get", HONEST_FILE, tmp_path / "got", "-w", "30", timeout=60)
    assert got.returncode == 0, got
    assert (tmp_path / "got" / HONEST_FILE).read_bytes() == b"still here\n"
