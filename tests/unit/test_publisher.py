"""The one publisher of snapshots: folding, gaps, order, failing observers."""

import asyncio
import logging

import pytest

from mfsync.engine.publisher import Publisher


class Counter:
    """A room whose snapshot is the number of times it was taken."""

    def __init__(self) -> None:
        self.taken = 0

    def take(self) -> int:
        self.taken += 1
        return self.taken


async def test_changes_in_one_turn_are_folded_into_one_snapshot() -> None:
    room = Counter()
    publisher = Publisher(room.take, 0, name="test")
    seen: list[int] = []
    publisher.subscribe(seen.append)
    for _ in range(5):
        publisher.changed()
    assert publisher.pending and seen == []
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert seen == [1] and publisher.current == 1 and not publisher.pending


async def test_a_gap_delays_and_a_sooner_change_moves_it_earlier() -> None:
    room = Counter()
    publisher = Publisher(room.take, 0, name="test")
    seen: list[int] = []
    publisher.subscribe(seen.append)
    publisher.deliver()
    publisher.changed(gap=30.0)
    await asyncio.sleep(0.01)
    assert seen == [1]  # still held back by the gap
    publisher.changed(gap=0.0)  # a change of state: sooner
    await asyncio.sleep(0.01)
    assert seen == [1, 2]
    publisher.changed(gap=30.0)
    publisher.close()
    await asyncio.sleep(0.01)
    assert seen == [1, 2] and not publisher.pending


async def test_observers_run_in_order_and_one_failing_does_not_stop_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    publisher = Publisher(Counter().take, 0, name="room")
    calls: list[str] = []

    def broken(_: int) -> None:
        calls.append("broken")
        raise ValueError("observer bug")

    publisher.subscribe(lambda _: calls.append("first"))
    unsubscribe = publisher.subscribe(broken)
    publisher.subscribe(lambda _: calls.append("last"))
    with caplog.at_level(logging.ERROR):
        publisher.deliver()
    assert calls == ["first", "broken", "last"]
    assert "room observer failed" in caplog.text
    unsubscribe()
    unsubscribe()  # twice is harmless
    publisher.deliver()
    assert calls[3:] == ["first", "last"]


def test_without_a_running_loop_the_snapshot_is_taken_at_once() -> None:
    room = Counter()
    publisher = Publisher(room.take, 0, name="test")
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        seen: list[int] = []
        publisher.subscribe(seen.append)
        publisher.changed()
        assert publisher.current == 1 and seen == []  # current at once, delivered later
        loop.run_until_complete(asyncio.sleep(0.01))
        assert seen == [2]
    finally:
        asyncio.set_event_loop(None)
        loop.close()
