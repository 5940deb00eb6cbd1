"""One way to publish immutable status snapshots: the engine's rooms and the service use it.

A room that has something to show (the node, a downloader, the service) owns a ``Publisher``
over a function that takes its snapshot. It calls ``changed()`` after every change; the
publisher takes one snapshot soon after (folding every change in between into it) and hands it
to each observer. Observers get the same frozen object, may keep it, compare it with the one
before or hand it to another thread (the GUI bridge does).

The gap is per call: a change of state may ask for a snapshot sooner than a byte counter moving
(``changed(gap=...)``); an earlier due time replaces a later one, never the other way round.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from mfsync.engine.loop import current_loop

__all__ = ["Observer", "Publisher"]

log = logging.getLogger(__name__)

S = TypeVar("S")
#: What an observer of snapshots of type ``S`` is called with.
Observer = Callable[[S], None]


class Publisher(Generic[S]):
    """Takes snapshots of one room with ``take`` and delivers them to its observers.

    ``current`` is always the last snapshot taken: ``take_now()`` takes one at once (a room
    that has just started, so that callers see it right away), ``changed()`` schedules one on
    the running loop.
    """

    def __init__(self, take: Callable[[], S], initial: S, *, name: str) -> None:
        self._take = take
        self._current = initial
        self._name = name
        self._observers: list[Callable[[S], None]] = []
        self._handle: asyncio.Handle | None = None
        # (qasync's call_later gives a plain Handle without a due time, so it is kept here)
        self._due = 0.0
        self._last = 0.0

    @property
    def current(self) -> S:
        """The last snapshot taken."""
        return self._current

    @property
    def pending(self) -> bool:
        """Whether a snapshot is scheduled and not delivered yet."""
        return self._handle is not None

    def subscribe(self, observer: Callable[[S], None]) -> Callable[[], None]:
        """Call ``observer`` with every snapshot delivered from now on; returns the way out.

        Observers are called in the order they subscribed, so a room that subscribes to its
        own publisher first sees each snapshot before anyone else does.
        """
        self._observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def changed(self, gap: float = 0.0) -> None:
        """Something changed: deliver a snapshot no sooner than ``gap`` seconds after the last
        one (at once, on the next turn of the loop, for ``gap=0``)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No loop runs this moment: a service configured before its loop starts, or qasync
            # stepping a task from Qt's event processing. The snapshot is taken now, for
            # whoever asks for ``current``, and delivered when the thread's loop runs.
            self._current = self._take()
            thread_loop = _thread_loop()
            if thread_loop is None:
                return
            loop = thread_loop
        now = time.monotonic()
        due = max(now, self._last + gap)
        if self._handle is not None:
            if self._due <= due:
                return
            self._handle.cancel()
        self._due = due
        self._handle = loop.call_later(due - now, self.deliver)

    def take_now(self) -> S:
        """Take a snapshot at once (without delivering it) and return it."""
        self._current = self._take()
        return self._current

    def deliver(self) -> None:
        """Take a snapshot now and hand it to every observer; a scheduled one is folded in."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._last = time.monotonic()
        self._current = self._take()
        for observer in list(self._observers):
            try:
                observer(self._current)
            except Exception:
                log.exception("%s observer failed", self._name)

    def flush(self) -> None:
        """Deliver a scheduled snapshot now rather than later (nothing if none is due)."""
        if self._handle is not None:
            self.deliver()

    def close(self) -> None:
        """Cancel a scheduled snapshot: the room is stopping and nobody will run it."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _thread_loop() -> asyncio.AbstractEventLoop | None:
    """The loop set for this thread, if it is still open (qasync steps tasks outside
    ``run_forever`` too, when a GUI shuts down, and that loop runs what is scheduled)."""
    try:
        loop = current_loop()
    except RuntimeError:
        return None
    return None if loop.is_closed() else loop
