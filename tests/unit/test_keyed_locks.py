"""KeyedLocks (mfsync.engine.keyed_locks): one lock per key, forgotten when nobody uses it."""

import asyncio

from mfsync.engine.keyed_locks import KeyedLocks


async def test_holders_of_one_key_go_one_at_a_time_and_other_keys_do_not_wait() -> None:
    locks = KeyedLocks[str]()
    order: list[str] = []
    release = asyncio.Event()

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            if name == "first":
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(hold("a", "first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("a", "second"))
    other = asyncio.create_task(hold("b", "other"))
    await asyncio.sleep(0.01)
    assert order == ["first in", "other in", "other out"]
    assert len(locks) == 1  # "b" is forgotten already; "a" is held and waited for
    release.set()
    await asyncio.gather(first, second, other)
    assert order[3:] == ["first out", "second in", "second out"]
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    locks = KeyedLocks[str]()
    release = asyncio.Event()

    async def hold() -> None:
        async with locks.hold("a"):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert len(locks) == 1
    release.set()
    await holder
    assert len(locks) == 0


async def test_an_error_inside_lets_go_of_the_key() -> None:
    locks = KeyedLocks[int]()
    try:
        async with locks.hold(1):
            raise ValueError("boom")
    except ValueError:
        pass
    assert len(locks) == 0
    async with locks.hold(1):  # and it can be taken again at once
        assert len(locks) == 1
