"""End to end: attacks by numbers, against real ``mfsync`` processes in namespaces.

- A handshake flood (connections that send a few bytes of a handshake and never finish it,
  reopened as fast as the server closes them, from several addresses of the attacker) while 40
  honest clients connect: every honest client is served, each within a bound.
- An announcement flood (random keys, ports and instance ids, the longest beat a datagram can
  claim, 10,000 a second) from many addresses of the attacker into ``mfsync fetch --follow``:
  a real host that starts sharing during the flood is discovered, and fast.
- The same flood with forged source addresses (raw packets, addresses nobody has, so every
  index fetch waits for an answer that never comes): the victim's open file descriptors stay
  bounded by the global cap on index fetches.
- A host with several IPv4 addresses on its one interface joins the multicast group once, and
  says nothing about it.

The attacks are in ``hostile_conns.py``; what the suite measured is recorded as the
``hostile-conns`` figures (``tests/figures.py``).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hostile_conns import HOSTILE_CONNS_SCRIPT
from mfsync_cli import CliHost, Running, cli_hosts, make_tree
from netns import Host, Lan, _ip_in, netns_available
from script_output import script_result, wait_line

import figures
from mfsync.engine.node import MAX_FETCHES

pytestmark = pytest.mark.timeout(240)

SUITE = "hostile-conns"
#: Honest clients of the handshake flood, and one every this many seconds.
HONEST_CLIENTS = 40
HONEST_GAP = 0.1
#: Each honest client must be served within this (the issue's target is 2 s: reported as a
#: figure; this bound is loose because the machine running the suite may be busy).
HONEST_BOUND = 6.0
#: The announcement flood: datagrams a second, and the attacker's own addresses.
FLOOD_RATE = 10_000
FLOOD_ADDRESSES = 24
#: A real host starting during the flood must be discovered within this (target: 2 s, a figure).
DISCOVERY_BOUND = 8.0
#: Open descriptors the victim may hold beyond its count before the flood and MAX_FETCHES.
FD_SLACK = 16
#: Spoofed sources: PREFIX.FIRST to PREFIX.LAST of the LAN's subnet, where no host lives.
SPOOF_FIRST, SPOOF_LAST = 160, 250


def _add_addresses(host: Host, first: int, count: int) -> list[str]:
    """Give ``host``'s eth0 ``count`` more addresses of its LAN, from ``first`` on."""
    prefix = host.address.rsplit(".", 1)[0]
    added = []
    for n in range(first, first + count):
        address = f"{prefix}.{n}"
        _ip_in(host.name, "addr", "add", f"{address}/24", "dev", host.interface)
        added.append(address)
    return added


def _start(host: CliHost, script_args: list[object]) -> subprocess.Popen[str]:
    return host.host.popen([sys.executable, HOSTILE_CONNS_SCRIPT, *map(str, script_args)],
                           env=host.env, text=True)


def _open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class FdMonitor:
    """Samples a process's open descriptors in a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(_open_fds(self.pid))
            self._stop.wait(self._interval)

    def stop(self) -> int:
        """Stop sampling; the highest count seen."""
        self._stop.set()
        self._thread.join(5)
        return max(self.samples, default=0)


@dataclass
class Trio:
    """A LAN of three hosts with their homes."""

    lan: Lan
    tmp: Path
    hosts: list[CliHost]


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Trio]:
    """Three hosts on a fresh LAN (torn down afterwards)."""
    reason = netns_available()
    if reason is not None:
        pytest.fail(f"network namespaces unavailable: {reason}", pytrace=False)
    lan = Lan(3)
    try:
        yield Trio(lan, tmp_path, cli_hosts(lan, tmp_path))
    finally:
        lan.close()


# -- the handshake flood ----------------------------------------------------------------------


@pytest.mark.parametrize(("addresses", "interval"), [(4, 1.0), (8, 0.0)],
                         ids=["4-addresses-once-a-second", "8-addresses-at-once"])
def test_handshake_flood_leaves_honest_clients_served(trio: Trio, addresses: int,
                                                      interval: float) -> None:
    """64 stalled handshakes from each of several addresses, reopened as they are closed:
    the server evicts them (never an honest client's) and serves all 40 honest clients."""
    server, attacker, honest = trio.hosts
    folder = make_tree(trio.tmp / "share", {"a.txt": b"hello\n", "b/c.txt": b"there\n"})
    share = server.share(folder, "-v")
    assert share.port is not None
    sources = _add_addresses(attacker.host, 100, addresses)
    honest_sources = _add_addresses(honest.host, 120, 4)
    flood = _start(attacker, ["handshake-flood", server.address, share.port,
                              "--sources", ",".join(sources), "--per-source", 64,
                              "--interval", interval, "--seconds", 14])
    wait_line(flood, "READY")
    clients = script_result(_start(honest, ["honest", server.address, share.port, "--sources",
                                      ",".join(honest_sources), "--count", HONEST_CLIENTS,
                                      "--gap", HONEST_GAP]), 120)
    attack = script_result(flood, 60)
    assert share.alive(), share.describe()
    log = share.stderr.snapshot()
    assert not any("Traceback" in line for line in log), share.describe()
    seconds = clients["seconds"]
    figures.record(SUITE, cases=1, **{
        f"handshake_flood_{addresses}x64_honest_served": clients["served"],
        f"handshake_flood_{addresses}x64_honest_of": HONEST_CLIENTS,
        f"handshake_flood_{addresses}x64_honest_median_s": round(statistics.median(seconds), 3)
        if seconds else None,
        f"handshake_flood_{addresses}x64_honest_max_s": max(seconds, default=None),
        f"handshake_flood_{addresses}x64_attack_connections": attack["opened"],
    })
    assert clients["served"] == HONEST_CLIENTS, (clients, attack)
    assert max(seconds) < HONEST_BOUND, clients
    assert attack["closed_by_server"] > 0, attack  # the flood did meet the quota
    assert any("evicted to make room" in line for line in log), share.describe()


# -- the announcement flood -------------------------------------------------------------------


def _discover_during_flood(trio: Trio, flood_args: list[object], *, seconds: float
                           ) -> tuple[float | None, int, int, dict[str, Any], Running]:
    """Start ``fetch --follow`` on host 0, the flood on host 1 and, 3 s into it, a share of a
    unique file on host 2. (seconds from the share's start to the victim listing its file,
    or None; the victim's descriptors before the flood and at most during it; the flood's
    result; the victim)."""
    victim_host, attacker, real = trio.hosts
    victim = victim_host.start("fetch", "--follow", "-v")
    time.sleep(2.0)  # started and listening
    assert victim.alive(), victim.describe()
    baseline = _open_fds(victim.proc.pid)
    fds = FdMonitor(victim.proc.pid)
    flood = _start(attacker, ["announce-flood", "--rate", FLOOD_RATE, "--seconds", seconds,
                              *flood_args])
    wait_line(flood, "READY")
    time.sleep(3.0)  # the victim's table is full of claims by now
    name = f"real-{os.urandom(4).hex()}.txt"
    folder = make_tree(trio.tmp / "real", {name: b"I am real\n"})
    real.share(folder)
    shared_at = time.monotonic()
    found = victim.stdout.wait_line(re.compile(re.escape(name)), seconds + 10)
    found_after = time.monotonic() - shared_at if found is not None else None
    attack = script_result(flood, 60)
    peak = fds.stop()
    return found_after, baseline, peak, attack, victim


def test_announcement_flood_does_not_lock_out_a_real_host(trio: Trio) -> None:
    """10,000 claims a second from 24 addresses of the attacker: a host that starts sharing
    during the flood is still discovered, within seconds."""
    sources = _add_addresses(trio.hosts[1].host, 100, FLOOD_ADDRESSES)
    found_after, baseline, peak, attack, victim = _discover_during_flood(
        trio, ["--sources", ",".join(sources)], seconds=12)
    figures.record(SUITE, cases=1, announce_flood_datagrams=attack["datagrams"],
                   announce_flood_rate=attack["rate"],
                   announce_flood_discovery_s=None if found_after is None
                   else round(found_after, 2),
                   announce_flood_victim_fds=peak - baseline)
    assert victim.alive(), victim.describe()
    assert attack["rate"] >= FLOOD_RATE / 2, attack  # the flood was a flood
    assert found_after is not None, victim.describe()[-3000:]
    assert found_after < DISCOVERY_BOUND, found_after
    assert peak - baseline <= MAX_FETCHES + FD_SLACK, (baseline, peak)


def test_spoofed_announcement_flood_cannot_take_file_descriptors(trio: Trio) -> None:
    """The same flood from forged addresses where no host lives: every index fetch to them
    waits for nothing, and the victim holds at most MAX_FETCHES of them at once."""
    prefix = trio.hosts[0].address.rsplit(".", 1)[0]
    found_after, baseline, peak, attack, victim = _discover_during_flood(
        trio, ["--spoof-prefix", prefix, "--spoof-first", SPOOF_FIRST,
               "--spoof-last", SPOOF_LAST], seconds=12)
    figures.record(SUITE, cases=1, spoofed_flood_datagrams=attack["datagrams"],
                   spoofed_flood_victim_fds=peak - baseline,
                   spoofed_flood_fd_cap=MAX_FETCHES,
                   spoofed_flood_discovery_s=None if found_after is None
                   else round(found_after, 2))
    assert victim.alive(), victim.describe()
    assert attack["rate"] >= FLOOD_RATE / 2, attack
    assert peak - baseline <= MAX_FETCHES + FD_SLACK, (baseline, peak)
    assert found_after is not None, victim.describe()[-3000:]  # at the latest after the flood


# -- several addresses on one interface -------------------------------------------------------


def test_extra_addresses_on_one_interface_join_once_quietly(trio: Trio) -> None:
    """eth0 with three IPv4 addresses: discovery works and nothing says "cannot join"."""
    sharer, seer, _ = trio.hosts
    _add_addresses(sharer.host, 100, 2)
    folder = make_tree(trio.tmp / "multi", {"multi.txt": b"many addresses\n"})
    share = sharer.share(folder, "-vv")
    result = seer.mfsync("fetch")
    assert result.returncode == 0, result
    assert "multi.txt" in result.stdout, result
    log = share.stderr.snapshot()
    assert not any("cannot join" in line for line in log), share.describe()
    assert any("discovery on" in line for line in log), share.describe()
