"""tests/waiting.py: the async and the blocking wait share one rule and one failure message."""

from __future__ import annotations

import itertools

import pytest

from waiting import WaitTimeout, wait_for, wait_for_blocking


async def test_async_wait_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert await wait_for(lambda: next(counter) >= 3 and "done", 5, interval=0.001) == "done"


def test_blocking_wait_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert wait_for_blocking(lambda: [1] if next(counter) >= 3 else [], 5, interval=0.001) == [1]


async def test_both_fail_alike_naming_what_and_how_long() -> None:
    def never() -> bool:
        return False

    with pytest.raises(WaitTimeout) as blocking:
        wait_for_blocking(never, 0.05, "the moon", detail=lambda: "it is night", interval=0.01)
    with pytest.raises(WaitTimeout) as waited:
        await wait_for(never, 0.05, "the moon", detail=lambda: "it is night", interval=0.01)
    assert str(blocking.value) == str(waited.value) == (
        "timed out after 0.05 s waiting for the moon\nit is night")
    assert isinstance(waited.value, AssertionError)  # pytest reports a failure, not an error


async def test_without_what_the_message_shows_the_condition() -> None:
    def nothing_yet() -> None:
        return None

    with pytest.raises(WaitTimeout, match=r"waiting for .*nothing_yet$"):
        await wait_for(nothing_yet, 0.01)
    with pytest.raises(WaitTimeout, match=r"waiting for lambda: 1 > 2"):
        wait_for_blocking(lambda: 1 > 2, 0.01)  # noqa: PLR0133 - a condition that never holds
