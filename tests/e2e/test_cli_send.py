"""End to end: ``mfsync send`` to ``mfsync receive`` between real processes on a private LAN.

What a user sees: a folder (nested, a thousand small files and a large one) arrives complete
and verified; a link cut mid-way and restored carries on without sending again what arrived
(bytes counted on the sender); a decline, a refusal and an offer nobody answers end ``send``
with exit 1 and a clear message; a sender whose key is not on the receiver's trust list is
refused, and the receiver shows nothing of it; a name two hosts announce is a usage error
listing both keys. Every mfsync process runs inside the LAN's namespaces (see
``mfsync_cli.py``); a terminal is a pseudo-terminal the test holds.
"""

from __future__ import annotations

import hashlib
import os
import pty
import re
import time
from pathlib import Path

import pytest
from faults import MiB, occupied, partials, wait_occupied, write_random
from mfsync_cli import CliHost, Running, cli_hosts, limit_egress, make_tree, tx_bytes

pytestmark = pytest.mark.timeout(240)

RECEIVING_RE = re.compile(r"^Receiving into (.*) as .* on TCP port (\d+) ")
#: Long enough for a send of a few MiB to be answered, pulled and verified.
FINISH = 120.0
#: The receiver's answer timeout (engine/inbox.py), and some slack for the sender to hear it.
ANSWER_TIMEOUT = 120.0


def _receive(host: CliHost, dest: Path, *args: str, stdin: int | None = None) -> Running:
    """Start ``mfsync receive DEST ARGS...`` and wait for its "Receiving into" line."""
    argv = host.argv("receive", dest, *args)
    proc = host.host.popen(argv, env=host.env, text=True,
                           **({"stdin": stdin} if stdin is not None else {}))
    running = Running(host, proc, argv)
    m = running.stdout.wait_line(RECEIVING_RE, 20.0)
    assert m is not None, running.describe()
    running.port = int(m.group(2))
    return running


def _digests(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (hidden ones too), by relative path."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            found[path.relative_to(root).as_posix()] = hashlib.sha256(
                path.read_bytes()).hexdigest()
    return found


def _no_traceback(*runs: Running) -> None:
    for run in runs:
        assert "Traceback" not in run.stderr.text, run.describe()


def _stop(*runs: Running) -> None:
    for run in runs:
        if run.alive():
            run.interrupt()
            run.wait(15)


# -- 1. a folder: nested, a thousand small files, one large file ---------------------------------

SMALL_FILES = 1000
LARGE = 24 * MiB


def test_send_a_folder_arrives_complete_and_verified(lan_factory, tmp_path: Path) -> None:
    a, b = cli_hosts(lan_factory(2), tmp_path)
    key_a, key_b = a.public_key(), b.public_key()
    project = tmp_path / "Project"
    make_tree(project, {
        f"notes/{n // 100:02d}/deep/file-{n:04d}.txt": os.urandom(1 + n % 2000)
        for n in range(SMALL_FILES)
    })
    (project / "media").mkdir()
    write_random(project / "media" / "large.bin", LARGE)
    want = _digests(project)
    dest = tmp_path / "inbox"
    receive = _receive(b, dest, "--accept-from", key_a, "--name", "office-pc")
    try:
        send = a.start("send", project, "--to", key_b)
        code = send.wait(FINISH)
        assert code == 0, send.describe()
        out = send.stdout.text
        assert f"sending {SMALL_FILES + 1} files (" in out, out
        assert f"to office-pc (key {key_b[:12]}…)" in out, out
        assert f"office-pc received and verified {SMALL_FILES + 1} files" in out, out
        # the folder keeps its name at the other end, every file in place and verified
        assert _digests(dest / "Project") == want
        assert partials(dest) == []
        assert receive.stdout.wait_line(
            re.compile(rf"^received Project: {SMALL_FILES + 1} files .* from .*{key_a[:12]}.* "
                       rf"into {re.escape(str(dest))}$"), 10.0), receive.describe()
        # the same folder again: a second name, never over the first
        again = a.mfsync("send", project, "--to", key_b, timeout=FINISH)
        assert again.returncode == 0, again
        assert _digests(dest / "Project (2)") == want
        assert _digests(dest / "Project") == want
        _no_traceback(send, receive)
    finally:
        _stop(receive)


# -- 2. the link cut mid-transfer, then restored: bytes counted -----------------------------------

RATE = "80mbit"  #: the sender's link, about 10 MB/s, so that the cut lands mid-way
SIZE = 40 * MiB
CUT_SECONDS = 8.0
OVERHEAD = 0.10


def test_link_cut_mid_send_resumes_without_sending_twice(lan_factory, tmp_path: Path) -> None:
    a, b = cli_hosts(lan_factory(2), tmp_path)
    key_a = a.public_key()
    source = tmp_path / "out"
    source.mkdir()
    want = write_random(source / "big.bin", SIZE)
    dest = tmp_path / "inbox"
    receive = _receive(b, dest, "--accept-from", key_a)
    try:
        limit_egress(a, RATE)
        sent_before = tx_bytes(a)
        send = a.start("send", source / "big.bin", "--to", f"{b.address}:{receive.port}")
        partial = dest / ".big.bin.mfsync-part"
        at_cut = wait_occupied(partial, int(0.2 * SIZE), int(0.6 * SIZE), send)
        assert at_cut is not None, send.describe() + receive.describe()
        b.host.cut_link()
        try:
            time.sleep(1.0)
            frozen = occupied(partial)
            time.sleep(CUT_SECONDS - 1.0)
            during = occupied(partial)
            alive = send.alive()
        finally:
            b.host.restore_link()
        code = send.wait(FINISH)
        sent = tx_bytes(a) - sent_before
        assert during == frozen < SIZE, (at_cut, frozen, during)  # the cut really cut
        assert alive, send.describe()
        assert code == 0, send.describe() + receive.describe()
        assert f"{b.address}:{receive.port} proved the key {b.public_key()}" in send.stdout.text
        assert hashlib.sha256((dest / "big.bin").read_bytes()).hexdigest() == want
        assert partials(dest) == []
        # carried on where it was: the file crossed the wire once (plus overhead), not twice
        assert SIZE <= sent < (1 + OVERHEAD) * SIZE, sent
        _no_traceback(send, receive)
    finally:
        _stop(receive)


# -- 3. declined on the terminal, declined for want of one, nobody answers ------------------------


def test_decline_refusal_and_timeout_end_send_with_exit_1(lan_factory, tmp_path: Path) -> None:
    a, b, c, d = cli_hosts(lan_factory(4), tmp_path)
    note = make_tree(tmp_path / "out", {"note.txt": b"hello\n"}) / "note.txt"
    asked_master, asked_slave = pty.openpty()  # b: a person who says no
    idle_master, idle_slave = pty.openpty()  # c: a terminal nobody answers
    try:
        asked = _receive(b, tmp_path / "in-b", stdin=asked_slave)
        idle = _receive(c, tmp_path / "in-c", stdin=idle_slave)
        headless = _receive(d, tmp_path / "in-d")  # not a terminal: declines, with a log line
        started = time.monotonic()
        sends = {h: a.start("send", note, "--to", f"{h.address}:{r.port}")
                 for h, r in ((b, asked), (c, idle), (d, headless))}
        question = re.compile(r"wants to send you 1 file \(6 B\): note\.txt")
        # the question's first line (its last, "accept? [y/N] ", waits on the same line)
        assert asked.stdout.wait_line(question, 30.0), asked.describe()
        time.sleep(0.2)
        os.write(asked_master, b"n\n")
        assert sends[b].wait(30) == 1, sends[b].describe()
        assert "mfsync: error:" in sends[b].stderr.text and "declined" in sends[b].stderr.text
        assert sends[d].wait(30) == 1, sends[d].describe()
        assert "declined" in sends[d].stderr.text, sends[d].describe()
        assert "declined" in headless.stderr.text and a.public_key() in headless.stderr.text
        assert idle.stdout.wait_line(question, 5.0), idle.describe()
        code = sends[c].wait(ANSWER_TIMEOUT + 30)
        assert code == 1, sends[c].describe()
        assert time.monotonic() - started >= ANSWER_TIMEOUT - 5
        # the sender's clock or the receiver's "no answer", whichever came first
        assert re.search("did not answer|no answer", sends[c].stderr.text), sends[c].describe()
        for dest in ("in-b", "in-c", "in-d"):
            assert list((tmp_path / dest).iterdir()) == [], dest
        _no_traceback(asked, idle, headless, *sends.values())
        _stop(asked, idle, headless)
    finally:
        for fd in (asked_master, asked_slave, idle_master, idle_slave):
            os.close(fd)


# -- 4. an untrusted sender, and a name two hosts have -------------------------------------------


def test_untrusted_sender_is_refused_and_the_receiver_shows_nothing(lan_factory,
                                                                    tmp_path: Path) -> None:
    a, b, c = cli_hosts(lan_factory(3), tmp_path)
    note = make_tree(tmp_path / "out", {"note.txt": b"hello\n"}) / "note.txt"
    dest = tmp_path / "inbox"
    receive = _receive(b, dest, "--trusted-keys", c.public_key(), "--accept-all")
    try:
        by_address = a.mfsync("send", note, "--to", f"{b.address}:{receive.port}",
                              timeout=FINISH)
        by_key = a.mfsync("send", note, "--to", b.public_key(), timeout=FINISH)
        for result in (by_address, by_key):
            assert result.returncode == 1, result
            assert "mfsync: error:" in result.stderr and "refused" in result.stderr, result
            assert "Traceback" not in result.stderr, result
        time.sleep(1.0)
        assert receive.alive(), receive.describe()
        assert list(dest.iterdir()) == []
    finally:
        _stop(receive)
    # nothing but its own start line, and nothing on stderr at all
    assert [line for line in receive.stdout.snapshot() if not RECEIVING_RE.match(line)] == []
    assert receive.stderr.text == "", receive.describe()


def test_a_name_two_hosts_announce_is_a_usage_error(lan_factory, tmp_path: Path) -> None:
    a, b, c = cli_hosts(lan_factory(3), tmp_path)
    note = make_tree(tmp_path / "out", {"note.txt": b"hello\n"}) / "note.txt"
    twins = [_receive(h, tmp_path / f"in-{n}", "--name", "twin") for n, h in enumerate((b, c))]
    try:
        result = a.mfsync("send", note, "--to", "TWIN", timeout=FINISH)
        assert result.returncode == 2, result
        assert "names 2 hosts" in result.stderr, result
        assert b.public_key() in result.stderr and c.public_key() in result.stderr, result
    finally:
        _stop(*twins)
