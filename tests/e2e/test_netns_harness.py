"""Tests of the network-namespace harness itself, with real processes on a private LAN."""

from __future__ import annotations

import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from netns import Host, Lan, list_harness_namespaces

pytestmark = pytest.mark.timeout(180)

GROUP = "239.255.0.1"
PORT = 30001
PY = sys.executable
IP = shutil.which("ip") or "/usr/sbin/ip"

ECHO_SERVER = """
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen()
print("READY", flush=True)
for _ in range(int(sys.argv[2])):
    conn, _addr = srv.accept()
    with conn:
        conn.sendall(conn.recv(1024))
"""

TCP_CLIENT = """
import socket, sys, time
deadline = time.monotonic() + 20
while True:
    try:
        sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
with sock:
    sock.sendall(sys.argv[3].encode())
    print(sock.recv(1024).decode(), flush=True)
"""

MCAST_RECEIVER = """
import socket, sys
own, group, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("", port))
mreq = socket.inet_aton(group) + socket.inet_aton(own)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
sock.settimeout(timeout)
print("READY", flush=True)
try:
    data, (src, _sport) = sock.recvfrom(2048)
except TimeoutError:
    print("TIMEOUT", flush=True)
else:
    print("GOT", data.decode(), src, flush=True)
"""

MCAST_SENDER = """
import socket, sys, time
own, group, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
count, interval = int(sys.argv[5]), float(sys.argv[6])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(own))
for _ in range(count):
    sock.sendto(payload.encode(), (group, port))
    time.sleep(interval)
"""

UDP_RECEIVER = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[1])))
sock.settimeout(float(sys.argv[2]))
print("READY", flush=True)
data, (src, _sport) = sock.recvfrom(2048)
print("GOT", data.decode(), src, flush=True)
"""

UDP_SENDER = """
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    sock.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.1)
"""

SLEEPER = "import time; print('READY', flush=True); time.sleep(600)"

TERM_IGNORER = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("READY", flush=True)
time.sleep(600)
"""

DAEMONISER = """
import subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(600)"],
    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
print(child.pid, flush=True)
time.sleep(600)
"""


def readline(proc: subprocess.Popen[Any], timeout: float = 20.0) -> str:
    """Next line of a text-mode process's stdout, failing the test after ``timeout`` s."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            pytest.fail(f"no output from {proc.args!r} within {timeout} s")
        line = proc.stdout.readline()
    finally:
        sel.close()
    if not line:
        err = proc.stderr.read() if proc.stderr is not None else ""
        pytest.fail(f"{proc.args!r} ended without output (rc={proc.wait()}): {err}")
    return str(line).strip()


def start_ready(host: Host, code: str, *args: str) -> subprocess.Popen[str]:
    """Start a python snippet in ``host`` and wait for it to print READY."""
    proc = host.popen([PY, "-c", code, *args], text=True)
    assert readline(proc) == "READY"
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """Wait for a snippet to end successfully and return its stdout."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out.strip()


def tcp_echo(server_host: Host, client_host: Host, port: int = 4100) -> None:
    """Assert that ``client_host`` can open a TCP connection to ``server_host`` and be echoed."""
    server = start_ready(server_host, ECHO_SERVER, str(port), "1")
    payload = f"hello-from-{client_host.index}"
    result = client_host.run(
        [PY, "-c", TCP_CLIENT, server_host.address, str(port), payload], timeout=30, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == payload
    finish(server)


def multicast_round(
    sender: Host, receivers: list[Host], *, listen_s: float = 3.0, tag: str = "m"
) -> dict[str, str]:
    """Send a few datagrams from ``sender`` to the group; return each receiver's outcome.

    The outcome is ``"GOT <payload> <source address>"`` or ``"TIMEOUT"``.
    """
    procs = [
        start_ready(r, MCAST_RECEIVER, r.address, GROUP, str(PORT), str(listen_s))
        for r in receivers
    ]
    payload = f"{tag}-from-{sender.index}"
    sent = sender.run(
        [PY, "-c", MCAST_SENDER, sender.address, GROUP, str(PORT), payload, "10", "0.1"],
        timeout=30,
        text=True,
    )
    assert sent.returncode == 0, sent.stderr
    return {r.name: finish(p) for r, p in zip(receivers, procs, strict=True)}


def got(sender: Host, tag: str = "m") -> str:
    return f"GOT {tag}-from-{sender.index} {sender.address}"


def test_lan_layout(lan_factory: Callable[[int], Lan]) -> None:
    lan = lan_factory(2)
    other = lan_factory(1)
    assert [h.address for h in lan.hosts] == [
        f"10.213.{lan.subnet_id}.10",
        f"10.213.{lan.subnet_id}.11",
    ]
    assert lan.subnet_id != other.subnet_id
    names = set(list_harness_namespaces())
    assert set(lan.namespaces) | set(other.namespaces) <= names
    assert all(ns.startswith("mfst-") for ns in lan.namespaces)
    # the host's view of the world is only lo and its veth
    links = lan.hosts[0].run([IP, "-o", "link"], text=True, check=True).stdout
    assert sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()) == [
        "eth0",
        "lo",
    ]
    routes = lan.hosts[0].run([IP, "route"], text=True, check=True).stdout
    assert "224.0.0.0/4 dev eth0" in routes


def test_tcp_between_hosts(lan_factory: Callable[[int], Lan]) -> None:
    a, b = lan_factory(2).hosts
    tcp_echo(b, a)
    tcp_echo(a, b)


def test_multicast_reaches_other_hosts(lan_factory: Callable[[int], Lan]) -> None:
    a, b, c = lan_factory(3).hosts
    outcome = multicast_round(a, [b, c])
    assert outcome == {b.name: got(a), c.name: got(a)}


def test_drop_multicast(lan_factory: Callable[[int], Lan]) -> None:
    a, b, c = lan_factory(3).hosts
    c.drop_multicast()
    # from a: b (control) hears it, c does not
    assert multicast_round(a, [b, c]) == {b.name: got(a), c.name: "TIMEOUT"}
    # from c: neither a nor b hears it
    assert multicast_round(c, [a, b]) == {a.name: "TIMEOUT", b.name: "TIMEOUT"}
    # unicast TCP and UDP between a and c still work, both ways
    tcp_echo(c, a)
    tcp_echo(a, c)
    udp = start_ready(c, UDP_RECEIVER, "4200", "10")
    a.run([PY, "-c", UDP_SENDER, c.address, "4200", "uni"], timeout=30, check=True)
    assert finish(udp) == f"GOT uni {a.address}"
    # and it can be undone
    c.allow_multicast()
    assert multicast_round(a, [c], tag="again") == {c.name: got(a, "again")}


def _dead(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        text = status.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return "\nState:\tZ" in text  # a zombie awaiting its reaper has exited


def test_close_removes_namespaces_and_processes() -> None:
    lan = Lan(2)
    try:
        _check_close(lan)
    finally:
        lan.close()


def _check_close(lan: Lan) -> None:
    a, b = lan.hosts
    namespaces = lan.namespaces
    sleeper = start_ready(a, SLEEPER)
    stubborn = start_ready(b, TERM_IGNORER)
    daemoniser = a.popen([PY, "-c", DAEMONISER], text=True)
    grandchild = int(readline(daemoniser))
    assert not _dead(grandchild)
    started = time.monotonic()
    lan.close()
    elapsed = time.monotonic() - started
    assert lan.closed
    assert not set(namespaces) & set(list_harness_namespaces())
    assert sleeper.returncode is not None
    assert daemoniser.returncode is not None
    assert stubborn.returncode == -9  # SIGTERM ignored -> SIGKILL after the grace period
    assert 4.5 <= elapsed < 30
    deadline = time.monotonic() + 10
    while not _dead(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dead(grandchild)
    lan.close()  # idempotent
    with pytest.raises(RuntimeError):
        a.popen([PY, "-c", "pass"])


def test_run_timeout_kills_group(lan_factory: Callable[[int], Lan]) -> None:
    (host,) = lan_factory(1).hosts
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        host.run([PY, "-c", "import time; time.sleep(600)"], timeout=1)
    assert time.monotonic() - started < 10


def test_interrupt_and_terminate(lan_factory: Callable[[int], Lan]) -> None:
    (host,) = lan_factory(1).hosts
    proc = start_ready(host, SLEEPER)
    host.interrupt(proc)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGINT  # Python re-raises an uncaught Ctrl-C as SIGINT
    proc = start_ready(host, SLEEPER)
    assert host.terminate(proc) == -signal.SIGTERM
