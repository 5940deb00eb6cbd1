"""Guards for tests that run real nodes on an event loop: each test must leave no thread and no
task running, and must never block its event loop for longer than ``BLOCK_LIMIT``.

Used as autouse fixtures by ``tests/integration/conftest.py`` (which imports the two fixtures
below); a test that breaks a rule gets an error at its teardown that says what was left or what
blocked, with the stack of the culprit.

- Threads: the threads alive after the test (its fixtures torn down, its event loop closed) are
  compared with those alive before it. A thread that is stopping gets ``THREAD_GRACE`` seconds
  to end. ``ALLOWED_THREADS`` lists the only exceptions, each with its reason.
- Tasks: at the end of the test, after its async fixtures are torn down but before the loop is
  closed (which would cancel them silently), every task other than the guard's own must be done.
  A task that is finishing gets ``TASK_GRACE`` seconds.
- Blocking: every callback the test's loop runs is timed (``asyncio.Handle._run``, the one place
  the loop calls into test and app code). A single callback that runs longer than
  ``BLOCK_LIMIT`` blocked the loop: nothing else (I/O, timers, other tasks) ran meanwhile. This
  measures blocking, not lateness: a loop that is merely late because the machine is busy does
  not trip it, and the time a callback's thread waited for a CPU (Linux schedstat) is not
  counted either. A watchdog thread takes the loop thread's stack while a long callback is still
  running, so the report says where it blocked.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = [
    "ALLOWED_THREADS",
    "BLOCK_LIMIT",
    "TASK_GRACE",
    "THREAD_GRACE",
    "LoopBlockMonitor",
    "guard_loop",
    "guard_threads",
]

#: The longest a single callback may hold the event loop (seconds).
BLOCK_LIMIT = 0.25
#: How long a thread that is ending, or a task that is finishing, may take after the test.
THREAD_GRACE = 2.0
TASK_GRACE = 1.0

#: Threads a test may leave running, by name prefix, and why. Only threads that a library keeps
#: for the life of the process (they cannot be stopped, and are not the test's doing) belong here.
ALLOWED_THREADS: dict[str, str] = {}


def _allowed(thread: threading.Thread) -> bool:
    # a _DummyThread is a thread started outside Python (by a C library) that called into
    # Python: threading cannot join or stop it, and it never leaves threading.enumerate()
    if isinstance(thread, threading._DummyThread):
        return True
    return thread.name.startswith(tuple(ALLOWED_THREADS))


def _stack(ident: int | None, frames: int = 12, *, below_loop: bool = False) -> str:
    """The stack of thread ``ident`` (its last ``frames``); with ``below_loop``, only what runs
    inside the event loop's current callback (pytest's and the loop's own frames left out)."""
    frame = sys._current_frames().get(ident) if ident is not None else None
    if frame is None:
        return "    (no stack: the thread is gone)\n"
    summary = traceback.extract_stack(frame)
    if below_loop:
        runs = [i for i, f in enumerate(summary)
                if f.name == "_run" and f.filename.endswith(("asyncio/events.py",
                                                             "asyncio\\events.py"))]
        if runs:
            summary = traceback.StackSummary.from_list(summary[runs[-1] + 1:])
    return "".join(summary.format()[-frames:])


def _describe_thread(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    started = f" running {getattr(target, '__qualname__', target)!r}" if target else ""
    daemon = " (daemon)" if thread.daemon else ""
    return f"thread {thread.name!r}{daemon}{started}, now at:\n{_stack(thread.ident)}"


def leftover_threads(before: set[threading.Thread], grace: float = THREAD_GRACE
                     ) -> list[threading.Thread]:
    """The threads alive now that were not in ``before`` and are not allowed, after waiting up
    to ``grace`` seconds in all for them to end."""
    deadline = time.monotonic() + grace
    new = [t for t in threading.enumerate() if t not in before and not _allowed(t)]
    for thread in new:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in new if t.is_alive()]


@pytest.fixture(autouse=True)
def guard_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running (checked after its event loop is closed)."""
    before = set(threading.enumerate())
    yield
    left = leftover_threads(before)
    if left:
        pytest.fail(f"the test left {len(left)} thread(s) running after {THREAD_GRACE} s:\n"
                    + "\n".join(_describe_thread(t) for t in left), pytrace=False)


# -- the event loop ----------------------------------------------------------------------------


class RunQueueClock:
    """Seconds the calling thread has spent runnable but waiting for a CPU (Linux schedstat;
    always 0 where that cannot be read). Bound to the thread that made it."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> float:
        if self._fd is None:
            return 0.0
        # "<ns on the CPU> <ns waiting on the run queue> <time slices>"
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class Block:
    """One callback that held the loop too long."""

    seconds: float  # how long it held the loop, less the time it waited for a CPU
    wall: float
    cpu: float
    callback: str
    task: str
    stack: str


@dataclass
class _Running:
    """The callback the loop is running now (written by the loop thread, read by the
    watchdog)."""

    serial: int = 0
    started: float | None = None
    snapshot: tuple[int, str, str] | None = None  # (serial, task, stack) taken by the watchdog


@dataclass
class LoopBlockMonitor:
    """Times every callback ``loop`` runs; ``blocks`` are those that held it over ``limit``.

    A callback's time is its wall time less the time its thread waited for a CPU meanwhile:
    what the callback itself took (running, sleeping, waiting on I/O or on the GIL), not what
    other processes on a busy machine took from it.
    """

    loop: asyncio.AbstractEventLoop
    limit: float = BLOCK_LIMIT
    blocks: list[Block] = field(default_factory=list)
    _now: _Running = field(default_factory=_Running)
    _original: Callable[[asyncio.Handle], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _watchdog: threading.Thread | None = None
    _loop_thread: int | None = None
    _queued: RunQueueClock | None = None

    def start(self) -> None:
        """Start timing, on the loop's thread (patches ``asyncio.Handle._run`` until
        :meth:`stop`)."""
        self._loop_thread = threading.get_ident()
        self._queued = queued = RunQueueClock()
        original = asyncio.Handle._run
        self._original = original
        monitor, limit, now = self, self.limit, self._now
        clock, cpu_clock = time.perf_counter, time.thread_time

        def timed_run(handle: asyncio.Handle) -> None:
            if getattr(handle, "_loop", None) is not monitor.loop:
                return original(handle)
            now.serial += 1
            serial = now.serial
            waited, cpu = queued(), cpu_clock()
            now.started = started = clock()
            try:
                return original(handle)
            finally:
                now.started = None
                wall = clock() - started
                if wall > limit:
                    held = wall - (queued() - waited)
                    if held > limit:
                        monitor._record(handle, serial, held, wall, cpu_clock() - cpu)

        asyncio.Handle._run = timed_run  # type: ignore[method-assign]
        self._watchdog = threading.Thread(target=self._watch, name="loop-block-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        """Stop timing: restore ``asyncio.Handle._run`` and end the watchdog."""
        if self._original is not None:
            asyncio.Handle._run = self._original  # type: ignore[method-assign]
            self._original = None
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()
        if self._queued is not None:
            self._queued.close()

    def _watch(self) -> None:
        # A callback that has run for half the limit may be about to block: take where it is
        # (again at each look while it runs, so that the last picture is the nearest to its end).
        while not self._stop.wait(self.limit / 10):
            now = self._now
            serial, started = now.serial, now.started
            if started is None or time.perf_counter() - started <= self.limit / 2:
                continue
            task = asyncio.tasks._current_tasks.get(self.loop)  # type: ignore[attr-defined]
            stack = _stack(self._loop_thread, frames=16, below_loop=True)
            if now.serial == serial and now.started is not None:  # still the same callback
                now.snapshot = (serial, repr(task) if task else "(no task)", stack)

    def _record(self, handle: asyncio.Handle, serial: int, held: float, wall: float,
                cpu: float) -> None:
        snapshot = self._now.snapshot
        if snapshot is not None and snapshot[0] == serial:
            task, stack = snapshot[1], snapshot[2]
        else:
            task, stack = "(not caught while running)", ""
        self.blocks.append(Block(held, wall, cpu, repr(handle), task, stack))

    def report(self) -> str:
        """What blocked the loop, for a failure message."""
        return "\n".join(
            f"a callback held the event loop {b.seconds:.3f} s (limit {self.limit} s; "
            f"{b.wall:.3f} s wall time, {b.cpu:.3f} s of it on the CPU): {b.callback}\n"
            f"  in {b.task}\n{b.stack}" for b in self.blocks)


async def leftover_tasks(grace: float = TASK_GRACE) -> set[asyncio.Task[Any]]:
    """The tasks on the running loop, other than the current one, still not done after waiting
    up to ``grace`` seconds for them to finish."""
    me = asyncio.current_task()
    pending = {t for t in asyncio.all_tasks() if t is not me and not t.done()}
    if pending:
        await asyncio.wait(pending, timeout=grace)
    return {t for t in pending if not t.done()}


def _describe_task(task: asyncio.Task[Any]) -> str:
    out = io.StringIO()
    task.print_stack(limit=8, file=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
async def guard_loop(guard_threads: None) -> AsyncIterator[None]:
    """Fail a test that leaves a task running or blocks its event loop over ``BLOCK_LIMIT``.

    Set up before, and torn down after, the test's other async fixtures (an autouse fixture;
    it asks for ``guard_threads`` so that the thread check comes after the loop is closed).
    """
    monitor = LoopBlockMonitor(asyncio.get_running_loop())
    monitor.start()
    try:
        yield
        left = await leftover_tasks()
    finally:
        monitor.stop()
    problems = []
    if left:
        problems.append(f"the test left {len(left)} task(s) running after {TASK_GRACE} s:\n"
                        + "\n".join(_describe_task(t) for t in left))
        for task in left:  # so that closing the loop does not report them a second time
            task.cancel()
        await asyncio.wait(left, timeout=TASK_GRACE)
    if monitor.blocks:
        problems.append(monitor.report())
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
