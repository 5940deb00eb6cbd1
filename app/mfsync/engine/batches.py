"""Blocking work for many jobs done in one trip off the event loop.

A trip to a worker thread costs a hand-off each way (and the GIL changing hands); for a job
whose blocking part takes microseconds, as with a small file, the trips cost more than the
work. A ``ThreadBatcher`` queues the items that jobs hand it and runs its batch function over
all that have queued up, in one thread call; while a batch runs the next gathers, so batches
grow with the load and a lone item goes at once.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from mfsync.engine.loop import current_loop

__all__ = ["MAX_BATCH", "Batcher", "LoopBatcher", "ThreadBatcher"]

log = logging.getLogger("mfsync.transfer")

#: Items handed to the batch function at once, at most.
MAX_BATCH = 256

_T = TypeVar("_T")
_R = TypeVar("_R")


class Batcher(Generic[_T, _R]):
    """Gathers the items that jobs hand to ``run`` and does them in batches: while one batch
    is being done the next gathers, up to ``max_batch`` items. How a batch is done is the
    subclass's ``_call``: one outcome per item, in order, its result or the exception that
    failed it (raised to that item's caller alone)."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self._max_batch = max_batch
        self._queue: list[tuple[_T, asyncio.Future[_R]]] = []
        self._task: asyncio.Task[None] | None = None
        #: Batches run and items in them (for tests and benchmarks).
        self.batches = 0
        self.items = 0

    async def _call(self, items: list[_T]) -> Sequence[_R | BaseException]:
        raise NotImplementedError

    async def run(self, item: _T) -> _R:
        """Queue ``item``; its outcome once its batch has run.

        If the caller is cancelled meanwhile, this still waits for the batch holding the item
        to finish before it lets the cancellation through: the batch may be using what the
        caller frees next (a file descriptor, say).
        """
        loop = current_loop()
        future: asyncio.Future[_R] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                await asyncio.wait([future])
            raise

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            outcomes: Sequence[_R | BaseException]
            try:
                outcomes = await self._call([item for item, _ in batch])
            except Exception as exc:  # a bug: fail these items, never leave them hanging
                log.exception("a batch of %d failed", len(batch))
                outcomes = [exc] * len(batch)
            except BaseException:
                for _, future in batch:
                    future.cancel()
                raise
            self.batches += 1
            self.items += len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


class ThreadBatcher(Batcher[_T, _R]):
    """Runs ``work(items)`` in a worker thread over the items queued by ``run``: blocking work
    (landing files, planning them) for many jobs in one trip off the loop."""

    def __init__(self, work: Callable[[list[_T]], Sequence[_R | BaseException]],
                 max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch)
        self._work = work

    async def _call(self, items: list[_T]) -> Sequence[_R | BaseException]:
        return await asyncio.to_thread(self._work, items)


class LoopBatcher(Batcher[_T, _R]):
    """Runs the coroutine function ``work(items)`` on the loop over the items queued by
    ``run``: for work that takes its own trips off the loop (a share set taking in many files
    at once: one lock, one thread trip for them all, one save), gathered the same way."""

    def __init__(self, work: Callable[[list[_T]], Awaitable[Sequence[_R | BaseException]]],
                 max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch)
        self._work = work

    async def _call(self, items: list[_T]) -> Sequence[_R | BaseException]:
        return await self._work(items)
