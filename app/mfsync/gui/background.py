"""Work the window starts and does not wait for: service coroutines and blocking calls.

Both run as tasks on the qasync loop, so the GUI thread only starts them and later handles the
outcome; a blocking call (a file read or an fsync) runs in a worker thread through
``asyncio.to_thread``, and its result comes back on the loop, which under qasync is the GUI
thread, where widgets may be touched. A failure goes to the service's error list (the status
bar shows it) unless the caller handles it.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from mfsync.engine.service import ServiceError
from mfsync.gui.i18n import tr
from mfsync.gui.report_texts import report_of

__all__ = ["BackgroundTasks"]

log = logging.getLogger("mfsync.gui")

T = TypeVar("T")


class BackgroundTasks:
    """Runs coroutines and blocking calls in the background; keeps the tasks until they end."""

    def __init__(self, report_error: Callable[[str], object]) -> None:
        self._report_error = report_error
        self._tasks: set[asyncio.Task[Any]] = set()

    def run(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a service coroutine; a ``ServiceError`` (or any other) is reported."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def run_blocking(self, call: Callable[[], T],
                     on_done: Callable[[T], object]) -> asyncio.Task[Any]:
        """Run ``call`` in a worker thread, then ``on_done(result)`` on the GUI thread."""

        async def work() -> None:
            on_done(await asyncio.to_thread(call))

        return self.run(work())

    @property
    def pending(self) -> int:
        """How many tasks are still running."""
        return len(self._tasks)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ServiceError):
            self._report_error(report_of(exc))
        elif exc is not None:
            log.error("action failed", exc_info=exc)
            self._report_error(tr("unexpected error: {error}").format(error=exc))
