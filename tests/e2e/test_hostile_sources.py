"""End to end: slow and failing sources against real ``get`` and ``sync`` processes (issue 13).

A hostile host (``hostile_sources.py``, real protocol, announced on the LAN) offers the very files
an honest host shares, and files of its own, then on every download either trickles a byte
every two seconds, sends block lists that never fit, or closes the connection half way through a
block. What must hold:

- a trickling host cannot starve the honest host's files (it loses its turns; we report how long
  the honest files take with it present against without it);
- ``get`` gives up on a file whose only source keeps failing after ``MAX_FAILURES`` tries, with
  a message naming the host and what it did, long before ``-w``; with an honest source it arrives;
- ``sync`` does not keep asking a dropped source for the same content, and fetches it as soon as
  an honest host offers it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hostile_sources import SOURCES_SCRIPT
from mfsync_cli import CliHost, Running, cli_hosts, limit_egress, make_tree

import figures
from mfsync.engine.sources import MAX_FAILURES
from waiting import WaitTimeout, wait_for_blocking

pytestmark = pytest.mark.timeout(150)

SUITE = "hostile-sources"
KiB = 1024
#: Six files of the honest host, 3.6 MiB in all: several blocks, one block, less than a block.
HONEST = {
    "a/one.bin": os.urandom(1536 * KiB),
    "a/two.bin": os.urandom(1024 * KiB),
    "b/three.bin": os.urandom(700 * KiB),
    "b/four.bin": os.urandom(300 * KiB),
    "five.bin": os.urandom(100 * KiB),
    "six.txt": os.urandom(40 * KiB),
}
#: The honest files must arrive within this (a generous bound: the target, 1.5 times the time
#: without the trickler, is reported as a figure, not asserted on a shared 2-core machine).
HONEST_DEADLINE = 40.0
SOURCE_PORT = 9400
#: The honest host's link: unlimited (a LAN of namespaces), then capped like a poor Wi-Fi, so
#: that the honest files take seconds and the trickler's fixed cost shows as a ratio too.
FAST: str | None = None
SLOW = "8mbit"


def _start_source(host: CliHost, mode: str, folder: Path, *extra: object) -> subprocess.Popen[str]:
    proc = host.host.popen(
        [sys.executable, SOURCES_SCRIPT, "source", "--port", str(SOURCE_PORT), "--mode", mode,
         "--folder", str(folder), "--announce", host.address, *map(str, extra)],
        env=host.env, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", (line, proc.poll())
    return proc


def _stop_source(host: CliHost, proc: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop the hostile source (SIGTERM: it prints its result); what it saw."""
    host.host.terminate(proc)
    assert proc.stdout is not None
    for line in proc.stdout.read().splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    pytest.fail(f"the hostile source ended without a result ({proc.returncode})")


def _arrived(dest: Path) -> bool:
    return all((dest / p).is_file() and (dest / p).read_bytes() == data
               for p, data in HONEST.items())


def _honest_files_after(client: CliHost, honest: CliHost, dest: Path, ready: str,
                        *args: str) -> tuple[Running, float | None]:
    """Start ``get`` of everything into ``dest`` while ``honest`` cannot be heard; once the
    client logged ``ready``, let ``honest`` be discovered. Seconds from then until every honest
    file is there (None if they did not arrive within ``HONEST_DEADLINE``)."""
    honest.host.drop_multicast()
    try:
        running = client.start("get", dest, "-w", "90", "-v", *args)
        assert running.stderr.wait_line(re.compile(ready), 30) is not None, running.describe()
    finally:
        honest.host.allow_multicast()
    start = time.monotonic()
    try:
        wait_for_blocking(lambda: _arrived(dest), HONEST_DEADLINE, "every honest file",
                          interval=0.05)
    except WaitTimeout:
        return running, None
    return running, time.monotonic() - start


def test_trickling_host_does_not_starve_the_honest_files(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(3)
    honest, evil, client = cli_hosts(lan, tmp_path)
    folder = make_tree(tmp_path / "share", HONEST)
    share = honest.share(folder)

    def fresh(name: str) -> CliHost:
        # A home of its own: a client that remembered the honest host would reach it at once.
        return CliHost(client.host, tmp_path / f"home-{name}")

    capped: list[str | None] = [FAST]

    def link(rate: str | None) -> None:
        if rate != capped[0]:
            limit_egress(honest, rate)
            capped[0] = rate

    # Without the trickler: the time the honest files take once the honest host can be heard,
    # at full speed and over a link capped at 8 Mbit/s (a poor Wi-Fi, and a transfer of seconds).
    alone: dict[str, float] = {}
    for rate in (FAST, SLOW):
        link(rate)
        run, seconds = _honest_files_after(fresh(f"alone-{rate}"), honest,
                                           tmp_path / f"alone-{rate}", r"discovery on")
        assert seconds is not None, run.describe()
        assert run.wait(60) == 0, run.describe()
        alone[str(rate)] = seconds

    # With it: it offers the same six files (same names, same contents) and three of its own
    # that sort first, and sends every download a byte every two seconds. Its index is in
    # before the honest host can be heard: its files hold every turn, and the honest names are
    # queued for it too.
    source = _start_source(evil, "trickle", folder, "--extra", 3)
    with_it: dict[str, float] = {}
    try:
        for rate in (SLOW, FAST):
            link(rate)
            dest = tmp_path / f"with-{rate}"
            running, seconds = _honest_files_after(
                fresh(f"with-{rate}"), honest, dest, r"hostile-source, key \w+\): 9 files",
                "--peer", f"{evil.address}:{SOURCE_PORT}")
            assert seconds is not None, (
                f"the honest files did not arrive within {HONEST_DEADLINE} s with a trickling "
                f"host present\n{running.describe()}")
            with_it[str(rate)] = seconds
            # The honest files need not wait for its verdict (they start on a spare turn), but
            # it comes: its own files can only come from it, and get goes on trickling them (a
            # lone slow source keeps its turn) until stopped.
            slow = re.compile(rf"{re.escape(evil.address)}:{SOURCE_PORT} .*sends less than")
            assert running.stderr.wait_line(slow, 15) is not None, running.describe()
            if rate is FAST:
                # No host holds every turn while another host's files wait: the honest files
                # start on a spare turn as soon as the honest host is heard, not after the
                # trickler's verdict (RATE_GRACE). Over the fast LAN the first is on disk long
                # before that verdict (the old code: only after it).
                lines = running.stderr.snapshot()
                verdict = next(i for i, line in enumerate(lines) if slow.search(line))
                honest_done = re.compile(
                    "downloaded (" + "|".join(map(re.escape, HONEST)) + r") \(")
                first = next((i for i, line in enumerate(lines) if honest_done.search(line)),
                             len(lines))
                assert first < verdict, running.describe()
            running.interrupt()
            assert running.wait(30) in (1, 130), running.describe()
            assert not any((dest / f"!mine-{n}.bin").exists() for n in range(3))
            assert "Traceback" not in running.stderr.text, running.describe()
    finally:
        seen = _stop_source(evil, source)
    assert seen["requests"], seen  # it held turns (and lost them)
    assert share.alive(), share.describe()
    numbers: dict[str, float] = {}
    for rate, name in ((FAST, "lan"), (SLOW, "8mbit")):
        ratio = with_it[str(rate)] / alone[str(rate)]
        numbers |= {f"honest_seconds_alone_{name}": round(alone[str(rate)], 2),
                    f"honest_seconds_with_trickler_{name}": round(with_it[str(rate)], 2),
                    f"trickle_ratio_{name}": round(ratio, 2)}
        print(f"honest files over {name}: {alone[str(rate)]:.2f} s alone, "
              f"{with_it[str(rate)]:.2f} s with a trickling host (x{ratio:.2f})")
    figures.record(SUITE, **numbers)


@pytest.mark.parametrize(("mode", "what"), [
    ("bad-blocklist", "sent a block list that does not match the file"),
    ("close-mid-block", "closed the connection in the middle of a reply"),
])
def test_get_gives_up_on_a_source_that_always_fails(lan_factory, tmp_path: Path, mode: str,
                                                     what: str) -> None:
    lan = lan_factory(3)
    honest, evil, client = cli_hosts(lan, tmp_path)
    data = os.urandom(1024 * KiB)
    folder = make_tree(tmp_path / "share", {"f.bin": data})
    source = _start_source(evil, mode, folder)
    try:
        # The hostile host is the only source: get gives up after MAX_FAILURES tries, saying
        # why, long before -w (45 s).
        start = time.monotonic()
        result = client.mfsync("get", "f.bin", tmp_path / "dest", "-w", "45", timeout=60)
        seconds = time.monotonic() - start
    finally:
        seen = _stop_source(evil, source)
    assert result.returncode == 1, result
    error = f"mfsync: error: f.bin: every host offering it failed: {evil.address}:{SOURCE_PORT}"
    assert error in result.stderr and what in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    asked = "blocks f.bin" if mode == "bad-blocklist" else "get f.bin"
    tries = seen["requests"].get(asked, 0)
    assert tries == MAX_FAILURES, seen
    assert seconds < 30, (seconds, result.stderr)
    assert not (tmp_path / "dest" / "f.bin").exists()
    figures.record(SUITE, **{f"give_up_tries_{mode}": tries,
                             f"give_up_seconds_{mode}": round(seconds, 2)})

    # With an honest host offering the same file as well, it arrives (from the honest one).
    share = honest.share(folder)
    source = _start_source(evil, mode, folder)
    try:
        result = client.mfsync("get", "f.bin", tmp_path / "dest2", "-w", "45", timeout=60)
    finally:
        _stop_source(evil, source)
        share.stop()
    assert result.returncode == 0, result
    assert (tmp_path / "dest2" / "f.bin").read_bytes() == data


def test_sync_does_not_spin_on_a_dropped_source(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(3)
    honest, evil, syncer = cli_hosts(lan, tmp_path)
    data = os.urandom(1024 * KiB)
    offered = make_tree(tmp_path / "offered", {"f.bin": data})
    folder = tmp_path / "synced"
    folder.mkdir()
    source = _start_source(evil, "bad-blocklist", offered)
    sync = syncer.start("sync", folder, "-v")
    try:
        dropped = sync.stderr.wait_line(
            re.compile(r"not fetching f\.bin: every host offering it failed"), 45)
        assert dropped is not None, sync.describe()
        # Dropped for that content: not asked again, however long sync runs (it used to be
        # asked every 2 s, and again on every retry of the policy).
        time.sleep(12)
    finally:
        seen = _stop_source(evil, source)
    tries = seen["requests"].get("blocks f.bin", 0)
    try:
        assert tries == MAX_FAILURES, (seen, sync.describe())
        lines = [line for line in sync.stderr.snapshot() if "not fetching f.bin" in line]
        assert len(lines) == 1, sync.describe()  # said once, not on every evaluation
        # An honest host offers the same content: it is fetched from there at once.
        share = honest.share(offered)
        try:
            wait_for_blocking(lambda: (folder / "f.bin").is_file()
                              and (folder / "f.bin").read_bytes() == data, 45,
                              "f.bin from the honest host", detail=sync.describe)
        finally:
            share.stop()
        assert "Traceback" not in sync.stderr.text, sync.describe()
    finally:
        syncer.host.terminate(sync.proc)
    figures.record(SUITE, sync_tries_of_dropped_source=tries)
