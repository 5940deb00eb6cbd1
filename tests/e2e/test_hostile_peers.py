"""End to end: a running ``mfsync share`` (and one ``mfsync sync``) against hostile peers.

One LAN of namespaces serves the whole module: a sharing host, a legitimate client, attackers, a
victim of spoofed announcements, a hostile server and flooding hosts. The attacks themselves are
in ``hostile.py``, run as scripts inside the attackers' namespaces. For every case the suite
checks that

- the server is still the same process (same pid, same start time) and still serves: a
  legitimate download from a third host, during the attack or right after it, arrives with the
  right hash;
- its memory stays bounded (VmRSS sampled all along, < ``SERVER_MAX_RSS_MB``);
- each hostile connection was closed (or each bad request refused) and the reason is in the
  server's log (it runs with ``-vv``), found by the connection's own source port.

The slow clients (a handshake that never ends, a request trickling in byte by byte, a client
that stops reading) need the server's real timeouts (10 s and 60 s), so they start when the
module starts and are judged by its last test, while the other cases run meanwhile.

What the suite did is recorded as the ``hostile-peers`` figures (``tests/figures.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hostile import HOSTILE_SCRIPT, JUNK_REASONS
from mfsync_cli import CliHost, Running, cli_hosts, make_tree
from netns import Lan, netns_available
from script_output import script_result, wait_line

import figures
from mfsync.crypto.keys import format_key, short_key
from mfsync.engine.node import FETCH_BURST, FETCH_RATE
from mfsync.net.server import (
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_ADDRESS,
    MAX_HANDSHAKES_PER_ADDRESS,
)
from mfsync.store.hashing import hash_file
from waiting import wait_for_blocking

pytestmark = pytest.mark.timeout(300)

SUITE = "hostile-peers"
#: The sharing server must stay below this however it is attacked.
SERVER_MAX_RSS_MB = 200
#: A downloading client facing a hostile server: what all indexes together may take is bounded
#: by one budget (``mfsync.engine.index_budget``), within the per-peer caps.
CLIENT_MAX_RSS_MB = 200
#: Any process of ours above this is killed at once: the bound failed, and the machine is shared.
KILL_RSS_MB = 1500
LEGIT = "legit.bin"
FILES = {
    LEGIT: os.urandom(4 * 1024 * 1024),
    "big.bin": os.urandom(32 * 1024 * 1024),
    "notes/readme.txt": b"still here\n",
}
T = TypeVar("T")


# -- watching processes ------------------------------------------------------------------------


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: tells a restarted process from the one we started."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[19]


class RssMonitor:
    """Samples a process's VmRSS in a thread; kills it (SIGKILL, by pid) above ``kill_mb``."""

    def __init__(self, pid: int, kill_mb: float = KILL_RSS_MB, interval: float = 0.1) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.killed = False
        self._kill_mb = kill_mb
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            mb = _rss_mb(self.pid)
            if mb is None:
                return
            self.samples.append((time.monotonic(), mb))
            if mb > self._kill_mb and not self.killed:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)  # ours, by pid: the bound failed
            self._stop.wait(self._interval)

    def peak(self, since: float = 0.0) -> float:
        """Highest sample taken at or after ``since`` (a ``time.monotonic()`` value)."""
        return max((mb for when, mb in self.samples if when >= since), default=0.0)

    def stop(self) -> float:
        """Stop sampling; the overall peak."""
        self._stop.set()
        self._thread.join(5)
        return self.peak()


# -- the lab ------------------------------------------------------------------------------------


@dataclass
class Lab:
    """The LAN, the sharing server and everything the cases share."""

    lan: Lan
    tmp: Path
    server: CliHost
    client: CliHost
    attacker: CliHost
    slowpoke: CliHost
    victim: CliHost
    evil: CliHost
    syncer: CliHost
    flooders: list[CliHost]
    share: Running
    pid: int
    start_time: str
    rss: RssMonitor
    attacker_key: str  #: private key, hex: on the server's trust list
    server_key: str
    legit_key: str
    content: dict[str, tuple[str, int]]  #: path -> (content id hex, size)
    slow: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    client_peaks: list[float] = field(default_factory=list)
    legit_runs: int = 0
    stop_reading_port: int = 0

    # -- running hostile scripts

    def start_hostile(self, host: CliHost, mode: str, *args: object) -> subprocess.Popen[str]:
        """Start ``hostile.py MODE ARGS`` inside ``host``."""
        return host.host.popen([sys.executable, HOSTILE_SCRIPT, mode, *map(str, args)],
                               env=host.env, text=True)

    def hostile(self, host: CliHost, mode: str, *args: object,
                timeout: float = 120.0) -> dict[str, Any]:
        """Run ``hostile.py MODE ARGS`` inside ``host`` to its end; its result."""
        return script_result(self.start_hostile(host, mode, *args), timeout)

    # -- the server's side

    def mark(self) -> tuple[int, float]:
        """Where the server's log and memory samples stand now."""
        return len(self.share.stderr.snapshot()), time.monotonic()

    def log_since(self, mark: tuple[int, float]) -> list[str]:
        """The server's log lines since ``mark``."""
        return self.share.stderr.snapshot()[mark[0]:]

    def reason(self, address: str, port: int, running: Running | None = None) -> str | None:
        """Why ``running`` (the server by default) dropped the connection from address:port."""
        pattern = re.compile(
            rf"(?:dropped a|closed the) connection from {re.escape(address)}:{port}: (.*)$")
        for line in (running or self.share).stderr.snapshot():
            if m := pattern.search(line):
                return m.group(1)
        return None

    def server_holds(self, address: str, port: int | None = None) -> bool:
        """Whether a socket of the server process is connected to address:port (any port when
        None), as ``ss -p`` in the server's namespace shows. A socket it closed but the kernel
        still flushes is not."""
        listing = self.server.host.run(["ss", "-tnpH"], text=True, timeout=10).stdout
        peer = f" {address}:{port} " if port is not None else f" {address}:"
        return any(peer in f"{line} " and f"pid={self.pid}," in line
                   for line in listing.splitlines())

    def check_server(self, mark: tuple[int, float]) -> float:
        """Same process, still running, no traceback, memory bounded since ``mark``; the peak."""
        assert self.share.alive(), self.share.describe()
        assert _start_time(self.pid) == self.start_time, "the server process was replaced"
        assert not any("Traceback" in line for line in self.log_since(mark)), self.share.describe()
        peak = self.rss.peak(mark[1])
        assert 0 < peak < SERVER_MAX_RSS_MB, f"server RSS peaked at {peak:.1f} MB"
        return peak

    # -- the legitimate client

    def legit_get(self) -> None:
        """A legitimate download from the client host: complete, with the right hash."""
        self.legit_runs += 1
        dest = self.tmp / f"legit-{self.legit_runs}"
        result = self.client.mfsync(
            "get", LEGIT, dest, "--peer", f"{self.server.address}:{self.share.port}",
            "-w", "90", timeout=120,
        )
        assert result.returncode == 0, result
        got = (dest / LEGIT).read_bytes()
        assert hashlib.sha256(got).digest() == hashlib.sha256(FILES[LEGIT]).digest()
        figures.record(SUITE, legit_transfers_ok=1)

    def during(self, attack: Callable[[], T]) -> T:
        """Run ``attack`` while a legitimate download runs; the attack's value."""
        with ThreadPoolExecutor(1) as pool:
            legit = pool.submit(self.legit_get)
            value = attack()
            legit.result()
        return value


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Build the LAN, start the server with ``-vv`` and the slow clients; tear all down."""
    reason = netns_available()
    if reason is not None:
        pytest.fail(f"network namespaces unavailable: {reason}", pytrace=False)
    tmp = tmp_path_factory.mktemp("hostile")
    lan = Lan(11)
    try:
        hosts = cli_hosts(lan, tmp)
        server, client, attacker, slowpoke, victim, evil, syncer, *flooders = hosts
        folder = make_tree(tmp / "share", FILES)
        attacker_private = X25519PrivateKey.generate()
        attacker_pub = format_key(attacker_private.public_key().public_bytes_raw())
        trusted = ",".join([client.public_key(), syncer.public_key(), attacker_pub])
        server_key = server.public_key()
        share = server.share(folder, "-vv", "--trusted-keys", trusted)
        assert share.port is not None
        content = {}
        for path in FILES:
            hashes = hash_file(folder / path)
            content[path] = (hashes.content_id.hex(), hashes.size)
        pid = share.proc.pid
        lab = Lab(
            lan=lan, tmp=tmp, server=server, client=client, attacker=attacker,
            slowpoke=slowpoke, victim=victim, evil=evil, syncer=syncer, flooders=flooders,
            share=share, pid=pid, start_time=_start_time(pid), rss=RssMonitor(pid),
            attacker_key=attacker_private.private_bytes_raw().hex(), server_key=server_key,
            legit_key=client.public_key(), content=content,
        )
        _start_slow_clients(lab)
        yield lab
        peak = lab.rss.stop()
        alive = share.alive() and _start_time(pid) == lab.start_time
        figures.record(SUITE, server_restarts=0 if alive else 1,
                       peak_rss_mb=round(peak, 1),
                       client_peak_rss_mb=round(max(lab.client_peaks, default=0.0), 1))
    finally:
        lan.close()


def _start_slow_clients(lab: Lab) -> None:
    target = (lab.server.address, lab.share.port)
    big_id, big_size = lab.content["big.bin"]
    lab.slow["slow-handshake"] = lab.start_hostile(lab.slowpoke, "slow-handshake", *target,
                                                   "--interval", "0.5")
    lab.slow["slow-request"] = lab.start_hostile(lab.slowpoke, "slow-request", *target,
                                                 "--key", lab.attacker_key, "--interval", "2.5")
    lab.slow["stop-reading"] = lab.start_hostile(
        lab.slowpoke, "stop-reading", *target, "--key", lab.attacker_key, "--path", "big.bin",
        "--content-id", big_id, "--size", big_size, "--watch", "150")
    for name, proc in lab.slow.items():
        line = wait_line(proc, "READY")
        if name == "stop-reading":
            lab.stop_reading_port = int(line.split()[1])
    # the server holds the stalled connection now (and so the check at the end can see it)
    wait_for_blocking(lambda: lab.server_holds(lab.slowpoke.address, lab.stop_reading_port), 20,
                      "the server to hold the stalled connection")


def _judge_cases(lab: Lab, result: dict[str, Any], expected: dict[str, str],
                 running: Running | None = None) -> int:
    """Every case closed by the server, for the expected reason; returns how many."""
    address = lab.attacker.address
    for case in result["cases"]:
        assert case["closed"], case
        wanted = expected[case["case"]]
        why = wait_for_blocking(lambda case=case: lab.reason(address, case["port"], running), 10,
                                f"the reason case {case['case']} was closed",
                                detail=(running or lab.share).describe)
        assert re.search(wanted, why), (case, why)
    return len(result["cases"])


# -- the cases ----------------------------------------------------------------------------------


def test_garbage_truncated_and_oversized_frames(lab: Lab) -> None:
    """Junk before and during the handshake, oversized and truncated frames, broken records."""
    mark = lab.mark()
    result = lab.during(lambda: lab.hostile(
        lab.attacker, "junk", lab.server.address, lab.share.port, "--key", lab.attacker_key))
    assert {c["case"] for c in result["cases"]} == set(JUNK_REASONS)
    # the real first message was answered: the server's preface and its message 2
    assert next(c for c in result["cases"] if c["case"] == "garbage-as-message-3")[
        "answered"] == 106
    judged = _judge_cases(lab, result, JUNK_REASONS)
    lab.check_server(mark)
    figures.record(SUITE, cases=judged, connections=result["connections"],
                   reasons_logged=judged)


def test_replayed_handshake_and_session(lab: Lab) -> None:
    """A real client's session, recorded through a relay, replayed to new connections."""
    mark = lab.mark()
    relay_port = 9100
    replay = lab.start_hostile(lab.attacker, "replay", lab.server.address, lab.share.port,
                               "--relay-port", relay_port)
    wait_line(replay, "READY")
    recorded = lab.client.mfsync("fetch", "--peer", f"{lab.attacker.address}:{relay_port}",
                                 "--window", "2")
    assert recorded.returncode == 0, recorded
    result = script_result(replay, 120)
    # the recording holds a whole working session, records included
    assert result["client_records"] and result["server_records"], result
    first = next(c for c in result["cases"] if c["case"] == "replayed-messages-1-and-3")
    assert first["answered"] == 106 and first["fresh"], first  # new ephemeral keys every time
    whole = next(c for c in result["cases"] if c["case"] == "replayed-whole-session")
    assert whole["bytes"] == 106, whole  # preface and message 2, then nothing: no records
    assert result["distinct_answers"] == 4, result
    expected = {c["case"]: "peer closed the connection during the handshake"
                for c in result["cases"]}
    expected["replayed-messages-1-and-3"] = "handshake or decryption failed"
    expected["replayed-whole-session"] = "handshake or decryption failed"
    judged = _judge_cases(lab, result, expected)
    lab.legit_get()
    lab.check_server(mark)
    figures.record(SUITE, cases=judged, connections=result["connections"],
                   reasons_logged=judged)


def test_bit_flipped_replayed_and_foreign_records(lab: Lab) -> None:
    """After a completed handshake: altered, replayed, reordered and transplanted records."""
    mark = lab.mark()
    result = lab.during(lambda: lab.hostile(
        lab.attacker, "bitflip", lab.server.address, lab.share.port, "--key", lab.attacker_key))
    replayed = next(c for c in result["cases"] if c["case"] == "replayed-record")
    assert replayed["answered_first"][-1] == "IndexChunk", replayed  # the channel did work
    expected = {c["case"]: "message failed authentication" for c in result["cases"]}
    judged = _judge_cases(lab, result, expected)
    lab.check_server(mark)
    figures.record(SUITE, cases=judged, connections=result["connections"],
                   reasons_logged=judged)


def test_wrong_untrusted_and_man_in_the_middle_keys(lab: Lab) -> None:
    """A claimed key without its private key, an untrusted key, and a MITM with its own key."""
    mark = lab.mark()
    untrusted = X25519PrivateKey.generate()
    untrusted_short = short_key(untrusted.public_key().public_bytes_raw())
    result = lab.during(lambda: lab.hostile(
        lab.attacker, "keys", lab.server.address, lab.share.port, "--claim", lab.legit_key,
        "--untrusted", untrusted.private_bytes_raw().hex()))
    refused = next(c for c in result["cases"] if c["case"] == "untrusted-key")
    assert refused["answers"][:1] == ["ErrorMessage:NOT_TRUSTED"], refused
    assert "IndexChunk" not in refused["answers"], refused  # asking anyway got nothing
    judged = _judge_cases(lab, result, {
        "claimed-key-without-its-private-key": "message failed authentication",
        "untrusted-key": f"key {untrusted_short} is not trusted",
    })
    assert any(f"refused a client with untrusted key {untrusted_short}" in line
               for line in lab.log_since(mark)), lab.share.describe()

    # A man in the middle: where the client expects a server, a host with its own key. A client
    # that trusts only the server's key refuses it right after the handshake.
    mitm_key = X25519PrivateKey.generate()
    mitm_short = short_key(mitm_key.public_key().public_bytes_raw())
    mitm = lab.start_hostile(lab.attacker, "mitm", "--listen-port", 9101,
                             "--key", mitm_key.private_bytes_raw().hex())
    wait_line(mitm, "READY")
    fetch = lab.client.mfsync("fetch", "--trusted-keys", lab.server_key, "--peer",
                              f"{lab.attacker.address}:9101", "--window", "2", "-vv")
    seen = script_result(mitm, 60)
    assert seen["messages"][:1] == ["ErrorMessage:NOT_TRUSTED"], seen
    assert seen["requests"] == 0, seen
    assert fetch.returncode == 0, fetch
    assert f"{lab.attacker.address}:9101: key {mitm_short} is not trusted" in fetch.stderr, fetch
    assert LEGIT in fetch.stdout.splitlines(), fetch  # the real server, trusted, is listed
    lab.check_server(mark)
    figures.record(SUITE, cases=judged + 1, connections=result["connections"] + 1,
                   reasons_logged=judged + 1)


def test_absurd_offsets_sizes_and_names(lab: Lab) -> None:
    """Ranges past the end and at 2**64 - 1, wrong content ids, hostile names, answers sent as
    requests: each refused (and logged), the connection kept, the server unbothered."""
    mark = lab.mark()
    cid, size = lab.content[LEGIT]
    result = lab.during(lambda: lab.hostile(
        lab.attacker, "absurd", lab.server.address, lab.share.port, "--key", lab.attacker_key,
        "--path", LEGIT, "--content-id", cid, "--size", size))
    bad, changed, missing = (["ErrorMessage:BAD_REQUEST"], ["ErrorMessage:CHANGED"],
                             ["ErrorMessage:NOT_FOUND"])
    no_folder = ["ErrorMessage:NO_SUCH_FOLDER"]
    assert result["answers"] == {
        "offset-and-length-max": bad,
        "length-max": bad,
        "offset-past-end": bad,
        "one-byte-too-many": bad,
        "offset-max-length-1": bad,
        "empty-range-at-end": [f"End:{size}"],
        "last-byte": [f"Data:{size - 1}:{FILES[LEGIT][-1:].hex()}", f"End:{size}"],
        "wrong-content-id": changed,
        "dot-dot-path": missing,
        "absolute-path": missing,
        "longest-path": missing,
        "blocks-wrong-content-id": changed,
        "server-message-as-request": bad,
        "index-chunk-as-request": bad,
        "block-list-as-request": bad,
        "forged-folder-index": no_folder,
        "forged-folder-blocks": no_folder,
        "forged-folder-get": no_folder,
    }, result
    assert result["still_served"] == "IndexChunk", result
    refusals = len([a for a in result["answers"].values()
                    if a[0].startswith("ErrorMessage") and a != no_folder])
    where = f"refused a request from {lab.attacker.address}:{result['port']}: "
    logged = wait_for_blocking(lambda: [line for line in lab.log_since(mark) if where in line], 10,
                               "the refusals logged", detail=lab.share.describe)
    assert len(logged) == refusals, (logged, lab.share.describe())
    # The three requests for a forged folder: one line (rate-limited per key), naming the id.
    forged = f"refused {lab.attacker.address}:{result['port']} (key "
    folder_lines = wait_for_blocking(
        lambda: [line for line in lab.log_since(mark) if forged in line], 10,
        "the forged folder's refusal logged", detail=lab.share.describe)
    assert len(folder_lines) == 1 and "folder k3x9-pq2m" in folder_lines[0], folder_lines
    lab.check_server(mark)
    figures.record(SUITE, cases=len(result["answers"]), connections=1, reasons_logged=refusals)


def _drops(lab: Lab, mark: tuple[int, float], address: str) -> int:
    """Connections from ``address`` refused at once, or evicted while in their handshake to
    make room for newer ones."""
    refused = f"dropped a connection from {address}: too many connections open"
    evicted = re.compile(rf"dropped a connection from {re.escape(address)}:\d+: evicted to make")
    return sum(refused in line or bool(evicted.search(line)) for line in lab.log_since(mark))


def test_many_connections_from_one_host(lab: Lab) -> None:
    """More than the per-address quota of handshakes from one host: all but the newest are
    closed (each evicted by a newer one), the held ones are closed by the handshake timeout,
    and another host is served meanwhile."""
    # nothing left over from earlier cases takes one of the attacker's 16 slots
    wait_for_blocking(lambda: not lab.server_holds(lab.attacker.address), 20,
                      "the attacker's earlier connections to be let go")
    mark = lab.mark()
    count = MAX_CONNECTIONS_PER_ADDRESS + 24
    result = lab.during(lambda: lab.hostile(
        lab.attacker, "flood", lab.server.address, lab.share.port, "--count", count,
        "--hold", 40))
    assert result["refused"] == 0, result
    assert result["held"] == MAX_HANDSHAKES_PER_ADDRESS, result
    assert result["dropped"] == count - MAX_HANDSHAKES_PER_ADDRESS, result
    assert result["held_closed"] == result["held"], result  # the server timed them out
    wait_for_blocking(lambda: _drops(lab, mark, lab.attacker.address) == result["dropped"], 10,
                      f"{result['dropped']} drops logged", detail=lab.share.describe)
    timeouts = [line for line in lab.log_since(mark)
                if f"connection from {lab.attacker.address}:" in line
                and "handshake not completed within" in line]
    assert len(timeouts) == result["held"], lab.share.describe()
    lab.check_server(mark)
    figures.record(SUITE, cases=1, connections=result["connections"],
                   reasons_logged=result["dropped"] + len(timeouts))


def test_many_connections_from_many_hosts(lab: Lab) -> None:
    """More than the global cap from five hosts: at most 64 held, the others closed at once
    (and logged); once the held ones time out, the server serves again."""
    mark = lab.mark()
    hosts = [lab.attacker, *lab.flooders]
    per_host = MAX_CONNECTIONS_PER_ADDRESS
    procs = [lab.start_hostile(h, "flood", lab.server.address, lab.share.port, "--count",
                               per_host, "--settle", 3, "--hold", 40) for h in hosts]
    results = [script_result(p, 120) for p in procs]
    held = sum(r["held"] for r in results)
    dropped = sum(r["dropped"] for r in results)
    assert len(hosts) * per_host > MAX_CONNECTIONS
    assert held <= MAX_CONNECTIONS, results
    assert dropped >= len(hosts) * per_host - MAX_CONNECTIONS, results
    assert held + dropped == len(hosts) * per_host, results
    assert all(r["held_closed"] == r["held"] for r in results), results
    wait_for_blocking(lambda: sum(_drops(lab, mark, h.address) for h in hosts) == dropped, 10,
                      f"{dropped} drops logged", detail=lab.share.describe)
    lab.legit_get()  # right after: the slots are free again
    lab.check_server(mark)
    figures.record(SUITE, cases=1, connections=sum(r["connections"] for r in results),
                   reasons_logged=dropped)


def test_spoofed_announcement_flood_is_rate_limited(lab: Lab) -> None:
    """Forged announcements claiming to be the victim, pointing at 32 of its ports: the server
    connects to the victim at most burst + rate x seconds times, and logs what it dropped."""
    mark = lab.mark()
    ports = ",".join(str(p) for p in range(9200, 9232))
    seconds, linger = 8.0, 6.0
    listener = lab.start_hostile(lab.victim, "listen", "--ports", ports,
                                 "--seconds", seconds + linger + 2)
    wait_line(listener, "READY")
    spoof = lab.during(lambda: lab.hostile(
        lab.attacker, "spoof", "--victim", lab.victim.address, "--ports", ports,
        "--seconds", seconds, "--rate", 200))
    heard = script_result(listener, 60)
    from_server = [when for address, _port, when in heard["accepted"]
                   if address == lab.server.address]
    window = max(from_server, default=spoof["last"]) - spoof["first"]
    bound = FETCH_BURST + FETCH_RATE * window
    assert FETCH_BURST <= len(from_server) <= bound, (len(from_server), bound, window)
    assert spoof["datagrams"] >= 10 * len(from_server)  # the flood was much faster than that
    log = lab.log_since(mark)
    victim = re.escape(lab.victim.address)
    assert any(re.search(rf"dropped a datagram from {victim}: ", line) for line in log)
    assert any(re.search(rf"dropped an oversized datagram \(\d+ bytes\) from {victim}", line)
               for line in log)
    assert any(re.search(rf"index fetches from {victim} are rate-limited", line)
               for line in log), lab.share.describe()
    lab.check_server(mark)
    figures.record(SUITE, cases=1, spoofed_datagrams=spoof["datagrams"],
                   spoofed_connects=len(from_server), spoofed_connect_bound=round(bound, 1),
                   reasons_logged=1)


def _hostile_server(lab: Lab, *serve: str, announce: int | None = None
                    ) -> subprocess.Popen[str]:
    args: list[object] = ["--key", X25519PrivateKey.generate().private_bytes_raw().hex()]
    for spec in serve:
        args += ["--serve", spec]
    if announce is not None:
        args += ["--announce", announce, "--address", lab.evil.address]
    proc = lab.start_hostile(lab.evil, "evil-server", *args)
    wait_line(proc, "READY")
    return proc


def _stop_hostile_server(lab: Lab, proc: subprocess.Popen[str]) -> int:
    """Stop the hostile server (SIGTERM, it prints its result); the connections it served."""
    lab.evil.host.terminate(proc)
    assert proc.stdout is not None
    for line in proc.stdout.read().splitlines():
        if line.startswith("RESULT "):
            return int(json.loads(line[7:])["connections"])
    return 0


def _client_against(lab: Lab, args: list[str], pattern: str, timeout: float = 90.0
                    ) -> tuple[Running, float, str]:
    """Start ``mfsync ARGS -vv`` on the client; wait for ``pattern`` in its log; its RSS peak."""
    running = lab.client.start(*args, "-vv")
    rss = RssMonitor(running.proc.pid)
    line = running.stderr.wait_line(re.compile(pattern), timeout)
    if running.alive() and line is not None and args[0] == "fetch":
        running.interrupt()  # the reason is in: no need to wait out the window
    running.wait(60)
    peak = rss.stop()
    lab.client_peaks.append(peak)
    assert not rss.killed, f"the client grew past {KILL_RSS_MB} MB\n{running.describe()}"
    assert line is not None, running.describe()
    return running, peak, line.group(0)


def test_hostile_server_index_is_bounded(lab: Lab) -> None:
    """``fetch`` against a server whose index never ends: millions of entries, the largest
    entries allowed, or empty chunks forever. The client gives up with a clear reason and its
    memory stays bounded."""
    mark = lab.mark()
    evil = _hostile_server(lab, "9301:huge-index", "9302:fat-index", "9303:empty-chunks")
    cases = {
        9301: r"index dropped \(\d+ files\): on its own it passes the index budget",
        9302: r"index larger than 128 MiB",
        9303: r"empty index chunk",
    }
    try:
        for port, pattern in cases.items():
            where = re.escape(f"{lab.evil.address}:{port}")
            running, peak, _ = _client_against(
                lab, ["fetch", "--peer", f"{lab.evil.address}:{port}", "--window", "90"],
                rf"{where}: .*{pattern}")
            assert peak < CLIENT_MAX_RSS_MB, (port, peak)
            assert "Traceback" not in running.stderr.text, running.describe()
    finally:
        served = _stop_hostile_server(lab, evil)
    lab.legit_get()
    lab.check_server(mark)
    figures.record(SUITE, cases=len(cases), connections=served, reasons_logged=len(cases))


def test_hostile_server_transfer_is_bounded(lab: Lab) -> None:
    """``get`` against a server offering a 1 EiB file with endless block lists, or sending
    empty block lists or empty data forever: each download fails with a clear error, memory
    bounded."""
    mark = lab.mark()
    evil = _hostile_server(lab, "9304:huge-file", "9305:empty-blocklists", "9306:empty-data")
    cases = {
        (9304, "huge.bin"): r"not enough free space",
        (9305, "small.bin"): r"empty block list",
        (9306, "tiny.bin"): r"empty Data",
    }
    try:
        with ThreadPoolExecutor(len(cases)) as pool:
            futures = {
                key: pool.submit(
                    _client_against, lab,
                    ["get", key[1], str(lab.tmp / f"evil-{key[0]}"), "--peer",
                     f"{lab.evil.address}:{key[0]}", "-w", "12"],
                    pattern)
                for key, pattern in cases.items()
            }
            for key, future in futures.items():
                running, peak, _ = future.result()
                assert running.proc.returncode == 1, running.describe()
                # the 1 EiB file fails at once; the others are dropped as their only source
                # after MAX_FAILURES tries (engine/sources.py), long before -w ends them
                last_word = (f"mfsync: error: {key[1]}: not enough free space" if key[0] == 9304
                             else f"mfsync: error: {key[1]}: every host offering it failed")
                assert last_word in running.stderr.text, running.describe()
                assert peak < SERVER_MAX_RSS_MB, (key, peak)
                assert not (lab.tmp / f"evil-{key[0]}" / key[1]).exists()
    finally:
        served = _stop_hostile_server(lab, evil)
    lab.legit_get()
    lab.check_server(mark)
    figures.record(SUITE, cases=len(cases), connections=served, reasons_logged=len(cases))


def test_sync_under_attack(lab: Lab) -> None:
    """``mfsync sync`` (trusting anyone) takes junk and broken records on its port and a
    hostile announced server's endless index, and still syncs the real server's files."""
    folder = lab.tmp / "synced"
    folder.mkdir()
    evil = _hostile_server(lab, "9310:empty-chunks", announce=9310)
    sync = lab.syncer.start("sync", folder, "-vv")
    rss = RssMonitor(sync.proc.pid)
    try:
        port_line = sync.stderr.wait_line(re.compile(r"serving on TCP port (\d+)"), 30)
        assert port_line is not None, sync.describe()
        port = int(port_line.group(1))
        junk = lab.hostile(lab.attacker, "junk", lab.syncer.address, port,
                           "--key", lab.attacker_key)
        flips = lab.hostile(lab.attacker, "bitflip", lab.syncer.address, port,
                            "--key", lab.attacker_key)
        judged = _judge_cases(lab, junk, JUNK_REASONS, sync)
        judged += _judge_cases(lab, flips, {c["case"]: "message failed authentication"
                                            for c in flips["cases"]}, sync)
        evil_reason = sync.stderr.wait_line(
            re.compile(rf"{re.escape(lab.evil.address)}:9310: .*empty index chunk"), 30)
        assert evil_reason is not None, sync.describe()

        def synced() -> bool:
            return all((folder / p).is_file() and (folder / p).read_bytes() == data
                       for p, data in FILES.items())

        wait_for_blocking(synced, 90, "every file synced", detail=sync.describe, interval=0.5)
        assert sync.alive(), sync.describe()
        assert "Traceback" not in sync.stderr.text, sync.describe()
        peak = rss.peak()
        assert 0 < peak < SERVER_MAX_RSS_MB, peak
    finally:
        rss.stop()
        lab.syncer.host.terminate(sync.proc)
        served = _stop_hostile_server(lab, evil)
    lab.client_peaks.append(peak)
    figures.record(SUITE, cases=judged + 1, sync_cases=judged + 1,
                   connections=junk["connections"] + flips["connections"] + served,
                   reasons_logged=judged + 1, legit_transfers_ok=len(FILES))


def test_slow_clients_are_cut_off(lab: Lab) -> None:
    """Started with the module: a handshake trickling in, a request trickling in after the
    handshake, a client that stopped reading mid-transfer. The server's timeouts end each, and
    it lets go of the stalled connection's socket (not just of its slot)."""
    mark = (0, 0.0)  # the whole run: they started with the module
    address, stalled = lab.slowpoke.address, lab.stop_reading_port
    why = wait_for_blocking(lambda: lab.reason(address, stalled), 90,
                            "the reason the stalled connection was closed",
                            detail=lab.share.describe)
    assert re.search(r"the peer read nothing for 60 s", why), (
        why, lab.share.describe())
    # the client still holds its end (it reads nothing, for 150 s): the server must not
    wait_for_blocking(lambda: not lab.server_holds(address, stalled), 10,
                      "the server to let go of the stalled socket")
    lab.slowpoke.host.terminate(lab.slow.pop("stop-reading"))
    results = {name: script_result(proc, 120) for name, proc in lab.slow.items()}
    handshake, request = results["slow-handshake"], results["slow-request"]
    assert handshake["closed"] and handshake["bytes_sent"] < handshake["of"], handshake
    assert request["closed"] and not request["answered"], request
    assert request["bytes_sent"] < request["of"], request
    for outcome, pattern in ((handshake, r"handshake not completed within 10 s"),
                             (request, r"no message from the peer within 60 s")):
        why = lab.reason(address, outcome["port"])
        assert why is not None and re.search(pattern, why), (why, lab.share.describe())
    lab.legit_get()
    lab.check_server(mark)
    figures.record(SUITE, cases=3, connections=3, reasons_logged=3)
