"""Saving ``config.json`` off the event loop, one save after another in the order asked.

How it works: ``save`` queues the updates and returns at once; one task takes the queue in
order and runs each ``save_config`` (read, merge, atomic write, fsync) in a worker thread, so
that a slow disk never stalls the loop (in the desktop app: the GUI). A later save never
overtakes an earlier one, so the file ends as the last change left it. A failed save is handed
to ``on_error`` (the service shows it with its other errors); ``wait`` returns once everything
queued so far is on disk, and the service waits for it before it stops.
"""

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mfsync.config import Config, ConfigError, preview_save, save_config

__all__ = ["ConfigWriter"]

class ConfigWriter:
    """Writes updates to one config file in the background, in order."""

    def __init__(self, path: Path, *, on_saved: Callable[[Config], None],
                 on_error: Callable[[str], None]) -> None:
        self.path = path
        self._on_saved = on_saved
        self._on_error = on_error
        #: Updates not written yet, in order: the one being written first.
        self._queue: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        """Whether a save is queued or under way."""
        return self._task is not None and not self._task.done()

    def preview(self, updates: Mapping[str, Any]) -> Config:
        """The configuration the file will hold once ``updates`` are saved after every save
        queued before; ``ConfigError`` if they cannot be (see ``config.preview_save``)."""
        combined: dict[str, Any] = {}
        for earlier in self._queue:
            combined.update(earlier)
        combined.update(updates)
        return preview_save(self.path, combined)

    def save(self, updates: Mapping[str, Any]) -> None:
        """Queue ``updates`` (JSON keys and values, as ``save_config`` takes them).

        Without a running loop (a service configured before its loop starts) the file is
        written at once, on the calling thread: nothing else is waiting for that thread then.
        """
        self._queue.append(dict(updates))
        if self.pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_now()
            return
        self._task = loop.create_task(self._drain())

    async def wait(self) -> None:
        """Return once every save queued so far has been written (or has failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while self._queue:
            try:
                config = await asyncio.to_thread(save_config, self.path, self._queue[0])
            except ConfigError as exc:
                self._done(None, str(exc))
            else:
                self._done(config, "")

    def _write_now(self) -> None:
        while self._queue:
            try:
                config = save_config(self.path, self._queue[0])
            except ConfigError as exc:
                self._done(None, str(exc))
            else:
                self._done(config, "")

    def _done(self, config: Config | None, error: str) -> None:
        # (taken off the queue only now: until it is on disk, previews must include it)
        del self._queue[0]
        if config is None:
            self._on_error(error)
        elif not self._queue:  # a later save brings its own, newer result
            self._on_saved(config)
