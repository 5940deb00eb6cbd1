"""Waiting for a condition in a test: one rule, in an async and a blocking form.

``await wait_for(condition)`` on an event loop (the loop keeps running meanwhile: nodes, Qt
events); ``wait_for_blocking(condition, timeout)`` in a plain thread (e2e tests that watch other
processes). Both poll ``condition`` until it returns something truthy and return that value, and
both fail the test on timeout with the same message: what was awaited and for how long, plus the
``detail`` the caller asked for (a process's output, the paths still missing), evaluated then.

Every test imports them from here (``tests/`` is on ``sys.path``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WAIT_TIMEOUT", "WaitTimeout", "wait_for", "wait_for_blocking"]

T = TypeVar("T")

#: The default wait: generous, since the machine running the tests may be busy. Only a failing
#: test waits this long; a test that means "within N seconds" passes N itself.
WAIT_TIMEOUT = 15.0
#: How often the async form looks (short: the loop runs other work between looks).
ASYNC_INTERVAL = 0.05
#: How often the blocking form looks (conditions there often run a command or read a log).
BLOCKING_INTERVAL = 0.1


class WaitTimeout(AssertionError):
    """A condition did not hold in time; an AssertionError, so pytest reports a failure."""


def wait_for_blocking(condition: Callable[[], T], timeout: float = WAIT_TIMEOUT,
                      what: str | None = None, *, detail: Callable[[], object] | None = None,
                      interval: float = BLOCKING_INTERVAL) -> T:
    """Poll ``condition`` (blocking this thread) until it returns something truthy; return it.

    ``WaitTimeout`` after ``timeout`` seconds, naming ``what`` (default: the condition's source)
    and, below, ``detail()``. The condition is always looked at once more after the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(_message(condition, timeout, what, detail))
        time.sleep(interval)


async def wait_for(condition: Callable[[], T], timeout: float = WAIT_TIMEOUT,
                   what: str | None = None, *, detail: Callable[[], object] | None = None,
                   interval: float = ASYNC_INTERVAL) -> T:
    """Poll ``condition`` on the running loop until it returns something truthy; return it.

    The same rule and the same failure as :func:`wait_for_blocking`; the loop runs other work
    (the nodes under test, Qt events) between looks.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(_message(condition, timeout, what, detail))
        await asyncio.sleep(interval)


def _message(condition: Callable[[], object], timeout: float, what: str | None,
             detail: Callable[[], object] | None) -> str:
    text = f"timed out after {timeout:g} s waiting for {what or _describe(condition)}"
    if detail is not None:
        text += f"\n{detail()}"
    return text


def _describe(condition: Callable[[], object]) -> str:
    """The condition as the test wrote it: a lambda's source, else the function's name."""
    name = getattr(condition, "__qualname__", None) or repr(condition)
    if not name.endswith("<lambda>"):
        return name
    try:
        source = inspect.getsource(condition)
    except (OSError, TypeError):
        return "a condition"
    # the source is the whole statement (the call's other arguments too): from the lambda on
    text = " ".join(source[source.find("lambda"):].split())
    return text if len(text) <= 160 else text[:157] + "..."
