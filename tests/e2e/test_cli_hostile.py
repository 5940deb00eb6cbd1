"""End to end: a ``share`` keeps serving while hostile clients throw junk at its TCP port."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mfsync_cli import cli_hosts, make_tree, run_concurrently

from waiting import wait_for_blocking

pytestmark = pytest.mark.timeout(120)

FILES = {"keep/serving.txt": b"still here\n", "Müsli/ä.txt": b"\xc3\xa4\n"}

# Opens five connections at once and keeps the open ones until it is killed.
HOSTILE = r"""
import os, socket, sys, time

host, port = sys.argv[1], int(sys.argv[2])
PREFACE = b"MFSYNC\x00\x01"
def connect():
    return socket.create_connection((host, port), timeout=10)

kept = []
garbage = connect()
garbage.sendall(b"\x16\x03\x01" + os.urandom(4093))
kept.append(garbage)

oversized = connect()
oversized.sendall(PREFACE + b"\xff\xff" + b"\x00" * 64)  # handshake message "of 65535 bytes"
kept.append(oversized)

truncated = connect()
truncated.sendall(PREFACE + b"\x00\x20" + os.urandom(10))  # 10 of the 32 bytes announced
truncated.close()

idle = connect()  # says nothing, stays open
kept.append(idle)

zeros = connect()
try:
    zeros.sendall(bytes(10 * 1024 * 1024))
    print("zeros: all sent", flush=True)
except OSError as exc:
    print(f"zeros: cut off ({exc.__class__.__name__})", flush=True)
kept.append(zeros)

print("READY", flush=True)
time.sleep(600)
"""


def test_share_survives_hostile_connections(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(3)
    attacker, server, client = cli_hosts(lan, tmp_path)
    share = server.share(make_tree(tmp_path / "share", FILES), "-v")

    hostile = attacker.host.popen(
        [sys.executable, "-c", HOSTILE, server.address, "8000"],
        text=True,
        stderr=subprocess.STDOUT,
    )
    assert hostile.stdout is not None
    lines = [hostile.stdout.readline() for _ in range(2)]  # zeros: ..., READY
    assert lines[-1] == "READY\n", (lines, hostile.poll())

    # while the attacker's connections are open, a real client is served
    during = client.mfsync("fetch")
    assert during.returncode == 0, during
    assert sorted(during.stdout.splitlines()) == sorted(FILES), during
    assert share.alive(), share.describe()

    # the attacker's host itself is not banned, and the share still answers everyone
    after_a, after_c = run_concurrently([(attacker, ["fetch"]), (client, ["fetch", "--long"])])
    assert sorted(after_a.stdout.splitlines()) == sorted(FILES), after_a
    assert len(after_c.stdout.splitlines()) == len(FILES), after_c
    assert hostile.poll() is None  # the idle socket was held open throughout

    # garbage, oversized, truncated, zeros -- and the silent one once the handshake times out
    dropped = re.compile(rf"dropped a connection from {re.escape(attacker.address)}:\d+")

    def drops() -> int:
        return sum(1 for line in share.stderr.snapshot() if dropped.search(line))

    wait_for_blocking(lambda: drops() >= 5, 20, "five dropped connections",
                      detail=share.describe)
    assert drops() == 5, share.describe()
    assert "Traceback" not in share.stderr.text, share.describe()
    assert share.alive(), share.describe()
