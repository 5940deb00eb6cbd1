"""Which hosts are worth asking: the failure classifier, drops, slow marks, the rate meter, the
choice of a source and the turns (a spare one while one host holds them all)."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any, cast

import pytest

from mfsync.engine.sources import (
    BUSY_AFTER,
    MAX_FAILURES,
    MAX_STRIKES,
    MIN_RATE,
    RATE_GRACE,
    RATE_WINDOW,
    SPARE_TURNS,
    Attempt,
    BadBlock,
    Failure,
    RateMeter,
    SourceTracker,
    Turns,
    busy_host,
    choose_source,
    classify,
    endpoint,
    holding_every_turn,
)
from mfsync.engine.status import HostRef
from mfsync.net.channel import (
    ChannelClosed,
    ChannelError,
    NotTrusted,
    PeerRefused,
    ProtocolBroken,
    RecordCutShort,
    SecureChannel,
)
from mfsync.net.client import BadBlockList, ClosedMidReply
from mfsync.protocol.messages import ErrorCode, ErrorMessage

HOST = HostRef(b"k" * 32, "10.0.0.2", 8000, b"instance")
OTHER = HostRef(b"o" * 32, "10.0.0.3", 8000, b"instance")
CID = b"c" * 32


def _refused(code: ErrorCode) -> PeerRefused:
    return PeerRefused(ErrorMessage(code, "no"))


@pytest.mark.parametrize(("exc", "expected"), [
    (BadBlock("block 3"), Failure.CORRUPT),
    (BadBlockList("block hashes do not match"), Failure.BAD_BLOCK_LIST),
    (ProtocolBroken("empty Data message"), Failure.PROTOCOL),
    (ProtocolBroken("record of 5 bytes is too short"), Failure.PROTOCOL),
    (ClosedMidReply("closed in the middle of its reply"), Failure.CLOSED),
    (_refused(ErrorCode.CHANGED), Failure.REFUSED),
    (_refused(ErrorCode.INTERNAL), Failure.REFUSED),
    (_refused(ErrorCode.NOT_FOUND), Failure.REFUSED),
])
def test_failures_of_the_hosts_own_doing_are_counted(exc: BaseException,
                                                     expected: Failure) -> None:
    assert classify(exc) is expected


@pytest.mark.parametrize("exc", [
    ChannelClosed("connection lost: [Errno 104] Connection reset by peer"),
    ChannelClosed("peer closed the connection during the handshake"),
    ChannelError("no message from the peer within 60 s"),
    RecordCutShort("stream ended inside a frame (10 bytes)"),
    ChannelError("handshake not completed within 10 s"),
    NotTrusted("key ABCD is not trusted"),
    ConnectionRefusedError(111, "Connection refused"),
    OSError(113, "No route to host"),
    _refused(ErrorCode.BUSY),
    _refused(ErrorCode.NOT_TRUSTED),
])
def test_a_lost_connection_is_not_a_failure(exc: BaseException) -> None:
    assert classify(exc) is None


def test_dropped_after_max_failures_in_a_row() -> None:
    tracker = SourceTracker()
    for _ in range(MAX_FAILURES - 1):
        assert not tracker.failed(HOST, CID, Failure.BAD_BLOCK_LIST, "bad")
    assert tracker.usable([HOST, OTHER], CID) == [HOST, OTHER]
    assert tracker.failed(HOST, CID, Failure.BAD_BLOCK_LIST, "bad")
    assert tracker.dropped(HOST, CID)
    assert tracker.usable([HOST, OTHER], CID) == [OTHER]
    why = tracker.why_dropped([HOST, OTHER], CID)
    assert why == (f"10.0.0.2:8000 (key {HOST.key.hex().upper()[:12]}) sent a block list that "
                   f"does not match the file (bad), {MAX_FAILURES} times")
    # Only for that content: the host is still asked for anything else.
    assert not tracker.dropped(HOST, b"d" * 32)


def test_any_mix_of_failures_makes_a_row_and_progress_breaks_it() -> None:
    tracker = SourceTracker()
    tracker.failed(HOST, CID, Failure.CLOSED)
    tracker.failed(HOST, CID, Failure.PROTOCOL)
    tracker.progress(HOST, CID)  # a verified block: the row starts again
    for failure in (Failure.REFUSED, Failure.CLOSED):
        assert not tracker.failed(HOST, CID, failure)
    # Alternating kinds does not escape: any counted failure extends the row.
    assert tracker.failed(HOST, CID, Failure.PROTOCOL)


def test_corrupt_blocks_count_in_all() -> None:
    tracker = SourceTracker()
    assert not tracker.failed(HOST, CID, Failure.CORRUPT, "block 1")
    tracker.progress(HOST, CID)  # progress does not forgive a corrupt block
    assert MAX_STRIKES == 2
    assert tracker.failed(HOST, CID, Failure.CORRUPT, "block 7")
    assert "sent corrupt data (block 7), 2 times" in tracker.why_dropped([HOST], CID)


def test_a_restarted_host_starts_clean() -> None:
    tracker = SourceTracker()
    for _ in range(MAX_FAILURES):
        tracker.failed(HOST, CID, Failure.CLOSED)
    assert tracker.dropped(HOST, CID)
    restarted = HostRef(HOST.key, HOST.address, HOST.port, b"new-inst")
    assert not tracker.dropped(restarted, CID)
    assert tracker.usable([restarted], CID) == [restarted]


def test_tracker_is_bounded() -> None:
    tracker = SourceTracker(capacity=3)
    for n in range(5):
        tracker.failed(HOST, bytes([n]) * 32, Failure.CLOSED)
        tracker.mark_slow(HostRef(HOST.key, HOST.address, 9000 + n))
    assert len(tracker._records) == 3
    assert len(tracker._slow) == 3


def test_slow_marks() -> None:
    tracker = SourceTracker()
    assert not tracker.is_slow(HOST)
    assert tracker.mark_slow(HOST)
    assert not tracker.mark_slow(HOST)  # already
    assert tracker.is_slow(HOST) and not tracker.is_slow(OTHER)
    assert tracker.clear_slow(HOST)
    assert not tracker.clear_slow(HOST)
    assert not tracker.is_slow(HOST)


def _run(meter: RateMeter, rate: float, start: float, end: float, *, total: int = 0,
         step: float = 0.5) -> tuple[int, bool | None]:
    """Feed ``meter`` samples every ``step`` s from ``start`` to ``end`` at ``rate`` bytes/s."""
    verdict: bool | None = None
    now = start
    while now < end - 1e-9:
        now += step
        total += int(rate * step)
        verdict = meter.sample(now, total)
    return total, verdict


def test_rate_meter_waits_for_the_grace_then_catches_a_trickle() -> None:
    meter = RateMeter(start=0.0)
    assert meter.sample(RATE_GRACE / 2, 0) is None  # too early to tell
    _, verdict = _run(meter, 0.5, RATE_GRACE / 2, RATE_GRACE + 0.5)
    assert verdict is True


def test_rate_meter_steady_honest_source_is_not_slow() -> None:
    meter = RateMeter(start=0.0)
    _, verdict = _run(meter, 4 * MIN_RATE, 0.0, 30.0)
    assert verdict is False


def test_rate_meter_forgives_a_short_stall_but_not_a_long_one() -> None:
    meter = RateMeter(start=0.0)
    total, _ = _run(meter, 4 * MIN_RATE, 0.0, 20.0)
    # A stall of a third of the window: the window still holds enough.
    total, verdict = _run(meter, 0, 20.0, 20.0 + RATE_WINDOW / 3, total=total)
    assert verdict is False
    # A stall longer than the window: slow.
    _, verdict = _run(meter, 0, 20.0 + RATE_WINDOW / 3, 21.0 + RATE_WINDOW, total=total)
    assert verdict is True


def test_attempt_counts_bytes_over_its_channels() -> None:
    attempt = Attempt(HOST, CID)
    first = SimpleNamespace(bytes_received=1000)
    attempt.watch(cast(SecureChannel, first))
    first.bytes_received += 500
    assert attempt.received() == 500
    second = SimpleNamespace(bytes_received=7)
    attempt.watch(cast(SecureChannel, second))
    second.bytes_received += 10
    assert attempt.received() == 510
    attempt.preempt("nothing to stop yet")  # not begun: does nothing
    assert attempt.preempted == ""


THIRD = HostRef(b"t" * 32, "10.0.0.4", 8000, b"instance")


def test_choose_source_spreads_by_path_and_avoids_slow_then_busy_hosts() -> None:
    hosts = [HOST, OTHER, THIRD]
    paths = [f"f{i}.bin" for i in range(60)]
    # Nothing known: crc32(path) over all of them, so many files spread over every host.
    chosen = [choose_source(hosts, p) for p in paths]
    assert chosen == [hosts[zlib.crc32(p.encode()) % 3] for p in paths]
    assert set(chosen) == set(hosts)
    # A slow host only when no other is left; a host holding every turn after the others.
    assert all(choose_source(hosts, p, slow={HOST}) != HOST for p in paths)
    busy = endpoint(OTHER)
    assert all(choose_source(hosts, p, busy=busy) != OTHER for p in paths)
    assert set(choose_source(hosts, p, busy=busy) for p in paths) == {HOST, THIRD}
    assert all(choose_source(hosts, p, slow={HOST, THIRD}, busy=busy) == OTHER for p in paths)
    assert choose_source([HOST], "x", slow={HOST}, busy=endpoint(HOST)) == HOST
    # The same host known twice (through --peer, without an instance id, and announced) is
    # busy under both names.
    static = HostRef(OTHER.key, OTHER.address, OTHER.port, b"")
    assert all(choose_source([static, HOST], p, busy=busy) == HOST for p in paths)


def test_holding_every_turn() -> None:
    a, b = endpoint(HOST), endpoint(OTHER)
    assert holding_every_turn([a, a, a], 3) == a
    assert holding_every_turn([a, a], 3) is None
    assert holding_every_turn([a, b, a], 3) is None
    assert holding_every_turn([], 1) is None
    # Busy only once the youngest of its turns is BUSY_AFTER old.
    assert busy_host([(a, 0.0), (a, 1.0), (a, 2.0)], 3, 2.0 + BUSY_AFTER) == a
    assert busy_host([(a, 0.0), (a, 1.0), (a, 2.0)], 3, 2.0 + BUSY_AFTER / 2) is None
    assert busy_host([(a, 0.0), (b, 0.0), (a, 0.0)], 3, 10.0) is None


def test_turns_busy_after_a_while_and_say_so() -> None:
    async def body() -> None:
        changes: list[float] = []
        turns = Turns(2, lambda: changes.append(asyncio.get_running_loop().time()),
                      busy_after=0.05)
        held = [turns.place(), turns.place()]
        for turn in held:
            await turn.wait(HOST)
        taken = len(changes)
        assert turns.busy() is None and not turns.spare_free()
        await asyncio.sleep(0.1)
        assert turns.busy() == endpoint(HOST) and turns.spare_free()
        assert len(changes) > taken  # told when it became busy
        for turn in held:
            turn.release()

    _run_turns(body)


def _run_turns(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def test_turns_in_line_order_and_a_spare_only_for_another_host() -> None:
    async def body() -> None:
        changes: list[int] = []
        turns = Turns(3, lambda: changes.append(1), busy_after=0.0)
        held = [turns.place() for _ in range(3)]
        for turn in held:
            await turn.wait(HOST)
        assert turns.busy() == endpoint(HOST) and turns.spare_free()
        waiting = turns.place()
        other = turns.place()
        await asyncio.sleep(0)
        assert waiting.waiting and other.waiting
        assert turns.grant_spare(other)
        await other.wait(OTHER)
        assert other.spare and not turns.spare_free()
        assert SPARE_TURNS == 1 and not turns.grant_spare(waiting)  # one spare at most
        # The spare does not count as a regular turn: HOST still holds every one.
        assert turns.busy() == endpoint(HOST)
        other.release()
        assert turns.spare_free()
        # A regular turn given back goes to the next in line, not to a spare.
        held[0].release()
        await waiting.wait(OTHER)
        assert not waiting.spare and turns.busy() is None and not turns.spare_free()
        for turn in (*held, waiting):
            turn.release()
        assert changes  # every change was reported

    _run_turns(body)


def test_a_nudged_turn_gives_up_its_place_and_holds_nothing() -> None:
    async def body() -> None:
        turns = Turns(1, busy_after=0.0)
        first = turns.place()
        await first.wait(HOST)
        second = turns.place()
        await asyncio.sleep(0)
        second.nudge()
        await second.wait(HOST)
        assert second.nudged and not second.spare
        third = turns.place()
        first.release()
        await asyncio.wait_for(third.wait(OTHER), 1)  # the nudged one's place is gone
        assert turns.busy() == endpoint(OTHER)
        third.release()
        third.release()  # (twice: nothing more)
        fourth = turns.place()
        await asyncio.wait_for(fourth.wait(HOST), 1)
        fourth.release()

    _run_turns(body)


def test_a_spare_and_a_regular_turn_at_once_keep_the_regular_one() -> None:
    async def body() -> None:
        turns = Turns(1, busy_after=0.0)
        first = turns.place()
        await first.wait(HOST)
        second = turns.place()
        await asyncio.sleep(0)
        assert turns.grant_spare(second)
        first.release()  # the regular turn comes too before second looks
        await asyncio.sleep(0)
        await second.wait(OTHER)
        assert not second.spare and turns.busy() == endpoint(OTHER)
        third = turns.place()
        await asyncio.sleep(0)
        assert turns.grant_spare(third)  # the spare was given back
        third.release()
        second.release()
        fourth = turns.place()
        await asyncio.wait_for(fourth.wait(HOST), 1)

    _run_turns(body)
