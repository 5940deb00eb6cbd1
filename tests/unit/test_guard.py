"""The integration tests' guards (tests/guards.py) fail what they should, and only that.

A tiny suite with the same two autouse fixtures as tests/integration/conftest.py runs in a
separate pytest process (its leaked threads must not stay in this one): each test that breaks a
rule gets an error at teardown saying what it left or what blocked; the clean ones pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from guards import guard_loop, guard_threads  # noqa: F401 - as tests/integration/conftest.py
"""

TINY_SUITE = """
import asyncio
import threading
import time


async def test_clean() -> None:
    worker = threading.Thread(target=time.sleep, args=(0.05,))
    worker.start()
    await asyncio.to_thread(time.sleep, 0.05)
    await asyncio.create_task(asyncio.sleep(0.05))
    await asyncio.sleep(0.4)  # waiting is not blocking
    worker.join()


async def test_a_thread_that_is_ending_gets_a_grace() -> None:
    threading.Thread(target=time.sleep, args=(0.5,), name="ending").start()


async def test_a_task_that_is_finishing_gets_a_grace() -> None:
    asyncio.create_task(asyncio.sleep(0.3))


async def test_leaks_a_thread() -> None:
    threading.Thread(target=time.sleep, args=(10,), name="leaky", daemon=True).start()


def test_a_plain_test_leaks_a_thread() -> None:
    threading.Thread(target=time.sleep, args=(10,), name="plain-leaky", daemon=True).start()


async def test_leaks_a_task() -> None:
    async def forever() -> None:
        await asyncio.sleep(3600)

    asyncio.create_task(forever(), name="leaky-task")


async def test_blocks_the_loop() -> None:
    time.sleep(0.4)  # a blocking call in a coroutine


async def test_a_callback_blocks_the_loop() -> None:
    asyncio.get_running_loop().call_soon(time.sleep, 0.4)
    await asyncio.sleep(0.6)


async def test_many_short_callbacks_are_not_a_block() -> None:
    for _ in range(20):
        time.sleep(0.02)
        await asyncio.sleep(0)
"""


def _run(pytester: pytest.Pytester) -> tuple[dict[str, str], str]:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_tiny=TINY_SUITE)
    result = pytester.runpytest_subprocess("-rA", "-p", "no:cacheprovider", timeout=120)
    text = result.stdout.str()
    states = re.findall(r"^(PASSED|ERROR|FAILED) test_tiny\.py::(\w+)", text, re.M)
    outcomes: dict[str, str] = {}
    for state, name in states:  # a test that passed and then erred at teardown is listed twice
        if outcomes.get(name, "PASSED") == "PASSED":
            outcomes[name] = state
    return outcomes, text


def _section(text: str, test: str) -> str:
    """The error report of one tiny test."""
    match = re.search(rf"_ ERROR at teardown of {test} _+\n(.*?)(?=\n_{{3,}} |\n=+ )", text,
                      re.S)
    assert match, f"no teardown error for {test}:\n{text}"
    return match.group(1)


def test_the_guards_fail_leaks_and_blocks_and_pass_clean_tests(pytester: pytest.Pytester) -> None:
    outcomes, text = _run(pytester)
    assert outcomes == {
        "test_clean": "PASSED",
        "test_a_thread_that_is_ending_gets_a_grace": "PASSED",
        "test_a_task_that_is_finishing_gets_a_grace": "PASSED",
        "test_many_short_callbacks_are_not_a_block": "PASSED",
        "test_leaks_a_thread": "ERROR",
        "test_a_plain_test_leaks_a_thread": "ERROR",
        "test_leaks_a_task": "ERROR",
        "test_blocks_the_loop": "ERROR",
        "test_a_callback_blocks_the_loop": "ERROR",
    }, text

    thread = _section(text, "test_leaks_a_thread")
    assert "left 1 thread(s) running" in thread and "'leaky' (daemon)" in thread, thread
    assert "plain-leaky" in _section(text, "test_a_plain_test_leaks_a_thread")

    task = _section(text, "test_leaks_a_task")
    assert "left 1 task(s) running" in task and "leaky-task" in task, task
    assert "in forever" in task, task  # where it is stuck

    block = _section(text, "test_blocks_the_loop")
    assert re.search(r"held the event loop 0\.[4-9]\d* s", block), block
    assert "time.sleep(0.4)  # a blocking call in a coroutine" in block, block  # where

    assert "held the event loop" in _section(text, "test_a_callback_blocks_the_loop")
