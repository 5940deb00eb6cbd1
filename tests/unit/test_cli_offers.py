"""``send`` and ``receive`` without the network: their grammar, who ``--to`` names, the
terminal's question, and the lines they print."""

from __future__ import annotations

import asyncio
import io
import os
import threading

import pytest

from mfsync.cli.offer_lines import (
    MAX_LISTED,
    amount,
    delivered_line,
    offer_question,
    received_line,
    send_progress_line,
    sending_line,
)
from mfsync.cli.parser import UsageError, build_parser
from mfsync.cli.prompt import LineSource, ask
from mfsync.cli.recipient import (
    AddressTarget,
    KeyTarget,
    NameTarget,
    check_one,
    keys_named,
    parse_target,
    peer_at,
    proven_at,
    seen_with_key,
)
from mfsync.cli.send_mode import failure_text
from mfsync.engine.folder_names import FolderId
from mfsync.engine.outbox import OutgoingState, OutgoingStatus
from mfsync.engine.status import PeerSnapshot, PeerState

KEY_A = bytes.fromhex("AB" * 32)
KEY_B = bytes.fromhex("CD" * 32)
KEY_C = bytes.fromhex("EF" * 32)


def _peer(name: str, *, key: bytes | None = None, announced: bytes | None = None,
          address: str = "10.0.0.2", port: int = 8000, state: PeerState = PeerState.CONNECTED,
          static: bool = False, error: str = "") -> PeerSnapshot:
    return PeerSnapshot(address=address, port=port, name=name, announced_key=announced, key=key,
                        state=state, files=0, trusted=True, error=error, static=static)


# -- the grammar -------------------------------------------------------------------------------


def test_send_takes_paths_and_a_recipient() -> None:
    args = build_parser().parse_args(["send", "a.txt", "photos", "--to", "office-pc", "-v"])
    assert (args.mode, args.paths, args.to, args.verbose) == (
        "send", ["a.txt", "photos"], "office-pc", 1)


@pytest.mark.parametrize("argv", [["send", "a.txt"], ["send", "--to", "office-pc"]])
def test_send_needs_paths_and_to(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_receive_dest_is_optional_and_keys_add_up() -> None:
    args = build_parser().parse_args(["receive"])
    assert (args.dest, args.accept_from, args.accept_all) == (None, [], False)
    args = build_parser().parse_args([
        "receive", "/tmp/in", "--accept-from", f"{KEY_A.hex()},{KEY_B.hex().upper()}",
        "--accept-from", KEY_C.hex(), "--accept-all"])
    assert args.dest == "/tmp/in" and args.accept_all
    assert frozenset().union(*args.accept_from) == {KEY_A, KEY_B, KEY_C}


@pytest.mark.parametrize("bad", ["nothex", "AB" * 31, ","])
def test_receive_refuses_a_bad_key(bad: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["receive", "--accept-from", bad])
    assert exc.value.code == 2
    assert "--accept-from" in capsys.readouterr().err


# -- who --to names ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "target"), [
    ("AB" * 32, KeyTarget(KEY_A)),
    (" ab" * 1 + "AB" * 31 + " ", KeyTarget(KEY_A)),
    ("10.0.0.7", AddressTarget("10.0.0.7", 8000)),
    ("10.0.0.7:9123", AddressTarget("10.0.0.7", 9123)),
    ("office-pc.lan:8001", AddressTarget("office-pc.lan", 8001)),
    ("[fe80::1]:8002", AddressTarget("fe80::1", 8002)),
    ("fe80::1", AddressTarget("fe80::1", 8000)),
    ("office-pc", NameTarget("office-pc")),
    ("Büro PC", NameTarget("Büro PC")),
    ("x" * 64, NameTarget("x" * 64)),  # 64 characters, not hex: a name
])
def test_parse_target(text: str, target: object) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["", "   ", "host:0", "host:port", "[::1"])
def test_parse_target_refuses_what_names_nothing(text: str) -> None:
    with pytest.raises(UsageError, match="--to"):
        parse_target(text)


def test_a_name_is_looked_up_in_key_names_and_the_hosts_seen() -> None:
    peers = [_peer("Office-PC", key=KEY_B), _peer("laptop", announced=KEY_C),
             _peer("office-pc", address="10.0.0.9")]  # no key at all: cannot be a recipient
    assert keys_named("office-pc", {KEY_A: "kitchen"}, peers) == {KEY_B}
    assert keys_named("LAPTOP", {}, peers) == {KEY_C}
    assert keys_named("kitchen", {KEY_A: "Kitchen"}, peers) == {KEY_A}
    assert keys_named("nobody", {KEY_A: "kitchen"}, peers) == frozenset()


def test_an_ambiguous_name_is_a_usage_error_listing_the_keys() -> None:
    peers = [_peer("office-pc", key=KEY_B, address="10.0.0.5", port=8123)]
    names = {KEY_A: "office-pc"}
    keys = keys_named("office-pc", names, peers)
    assert keys == {KEY_A, KEY_B}
    with pytest.raises(UsageError) as exc:
        check_one("office-pc", keys, names, peers)
    text = str(exc.value)
    assert "names 2 hosts" in text
    assert KEY_A.hex().upper() in text and KEY_B.hex().upper() in text
    assert "10.0.0.5:8123" in text
    assert check_one("office-pc", frozenset({KEY_B}), names, peers) == KEY_B
    with pytest.raises(LookupError, match="no host named 'office-pc'"):
        check_one("office-pc", frozenset(), names, peers)


def test_a_hostile_announced_name_is_escaped_in_the_list() -> None:
    peers = [_peer("evil\x1b[2J", key=KEY_B), _peer("evil\x1b[2J", key=KEY_C)]
    with pytest.raises(UsageError) as exc:
        check_one("evil\x1b[2J", frozenset({KEY_B, KEY_C}), {}, peers)
    assert "\x1b" not in str(exc.value)


def test_seen_with_key_prefers_a_proven_key() -> None:
    announced = _peer("a", announced=KEY_A, address="10.0.0.3")
    proven = _peer("a", key=KEY_A, address="10.0.0.4")
    assert seen_with_key(KEY_A, [announced, proven]) is proven
    assert seen_with_key(KEY_A, [announced]) is announced
    assert seen_with_key(KEY_B, [announced, proven]) is None


def test_an_address_gives_the_key_its_host_proved() -> None:
    target = AddressTarget("10.0.0.7", 9000)
    announced_elsewhere = _peer("x", key=KEY_C, address="10.0.0.8", port=9000, static=True)
    waiting = _peer("", address="10.0.0.7", port=9000, state=PeerState.ANNOUNCED, static=True)
    assert proven_at(target, [announced_elsewhere, waiting]) is None
    proven = _peer("office-pc", key=KEY_A, address="10.0.0.7", port=9000, static=True)
    assert proven_at(target, [announced_elsewhere, proven]) == KEY_A
    refused = _peer("", address="10.0.0.7", port=9000, state=PeerState.REFUSED, static=True)
    with pytest.raises(LookupError, match="refused us"):
        proven_at(target, [refused])
    gone = _peer("", address="10.0.0.7", port=9000, state=PeerState.UNREACHABLE, static=True,
                 error="connection refused")
    with pytest.raises(LookupError, match=r"cannot reach 10\.0\.0\.7:9000: connection refused"):
        proven_at(target, [gone])
    # a host name: the engine keeps the address it resolved, the port tells the peer
    named = AddressTarget("office-pc.lan", 9000)
    assert peer_at(named, [proven]) is proven
    assert peer_at(named, [proven, announced_elsewhere]) is None  # two on that port: unsure


# -- the question on the terminal -------------------------------------------------------------


def _pipe_source() -> tuple[LineSource, io.TextIOWrapper]:
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "r", encoding="utf-8")
    writer = os.fdopen(write_fd, "w", encoding="utf-8")
    return LineSource(reader), writer


@pytest.mark.parametrize(("typed", "expected"), [
    ("y\n", True), ("YES\n", True), (" y \n", True), ("n\n", False), ("\n", False),
    ("maybe\n", False),
])
def test_ask_reads_the_answer(typed: str, expected: bool) -> None:
    async def scenario() -> bool | None:
        lines, writer = _pipe_source()
        out = io.StringIO()
        task = asyncio.ensure_future(ask("accept?", lines, out, timeout=5))
        await asyncio.sleep(0.05)
        writer.write(typed)
        writer.flush()
        answer = await task
        writer.close()
        assert out.getvalue().startswith("accept? [y/N] ")
        return answer

    assert asyncio.run(scenario()) is expected


def test_ask_times_out_and_ignores_what_was_typed_before_it() -> None:
    async def scenario() -> None:
        lines, writer = _pipe_source()
        writer.write("y\n")  # an early Enter: not an answer to a question not yet shown
        writer.flush()
        await asyncio.sleep(0)
        lines.discard_pending()
        await asyncio.sleep(0.1)  # the daemon thread has queued the early line
        out = io.StringIO()
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await ask("accept?", lines, out, timeout=0.3) is None
        assert 0.25 <= loop.time() - started < 3
        assert "no answer in time" in out.getvalue()
        writer.close()  # the end of the input is a no
        assert await ask("again?", lines, out, timeout=5) is False

    asyncio.run(scenario())


def test_the_reader_thread_never_holds_up_the_exit() -> None:
    async def scenario() -> io.TextIOWrapper:
        lines, writer = _pipe_source()  # nobody ever types
        with pytest.raises(TimeoutError):
            await lines.next_line(0.05)
        return writer

    writer = asyncio.run(scenario())  # returns with the reader still blocked in readline
    readers = [t for t in threading.enumerate() if t.name == "stdin lines"]
    assert readers and all(t.daemon for t in readers)
    writer.close()


# -- the lines ---------------------------------------------------------------------------------


def test_lines_name_the_host_and_its_key() -> None:
    assert amount(1, 512) == "1 file (512 B)"
    assert amount(3, 13 * 1024 * 1024) == "3 files (13.0 MiB)"
    assert sending_line(3, 1024, "office-pc", KEY_A) == (
        "sending 3 files (1 KiB) to office-pc (key ABABABABABAB…)")
    assert sending_line(1, 0, "", KEY_A) == "sending 1 file (0 B) to key ABABABABABAB…"
    assert delivered_line("office-pc", KEY_A, 3) == "office-pc received and verified 3 files"
    assert delivered_line("", KEY_A, 1) == "ABABABABABAB… received and verified 1 file"
    assert delivered_line("pc", KEY_A, 2, 3 * 1024 * 1024, 2.0) == (
        "pc received and verified 2 files (3.0 MiB in 2.0 s, 1.5 MiB/s)")
    assert received_line("laptop", KEY_B, 2, 2048, label="Photos", where="/in") == (
        "received Photos: 2 files (2 KiB) from laptop (CDCDCDCDCDCD…) into /in")
    assert send_progress_line(50, 200) == "  25% 50 B/200 B sent"
    assert send_progress_line(0, 0) == " 100% 0 B/0 B sent"


def test_the_question_lists_the_first_files_and_escapes_names() -> None:
    paths = [f"Photos/IMG_{n:04d}.jpg" for n in range(MAX_LISTED + 5)]
    text = offer_question("evil\x1b]0;x\x07", KEY_A, 15, 10**6, "Photos", paths=paths)
    assert "\x1b" not in text and "\x07" not in text
    lines = text.splitlines()
    assert lines[0].endswith("wants to send you 15 files (977 KiB): Photos")
    assert lines[1:1 + MAX_LISTED] == [f"  {p}" for p in paths[:MAX_LISTED]]
    assert lines[-2:] == ["  … and 5 more", "accept?"]
    assert offer_question("a", KEY_A, 1, 5, "x.txt", paths=["x.txt"]).splitlines()[1:] == [
        "  x.txt", "accept?"]


@pytest.mark.parametrize(("state", "reason", "text"), [
    (OutgoingState.DECLINED, "", "office-pc declined the files"),
    (OutgoingState.DECLINED, "Declined", "office-pc declined the files"),
    (OutgoingState.DECLINED, "not now", "office-pc declined the files: not now"),
    (OutgoingState.TIMED_OUT, "", "office-pc did not answer within two minutes; nothing was sent"),
    (OutgoingState.REFUSED, "needs 12.4 GB, 3.1 GB free",
     "office-pc refused the files: needs 12.4 GB, 3.1 GB free"),
    (OutgoingState.CANCELLED, "cancelled by the receiver",
     "the transfer was cancelled: cancelled by the receiver"),
    (OutgoingState.FAILED, "evil\x1b[2J", "sending to office-pc failed: evil\\x1b[2J"),
])
def test_why_a_send_failed(state: OutgoingState, reason: str, text: str) -> None:
    status = OutgoingStatus(FolderId.new(), KEY_A, "office-pc", state=state, reason=reason)
    assert failure_text(status, "office-pc") == text
