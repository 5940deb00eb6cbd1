"""Watch a shared folder and tell the event loop, in batches, where something changed.

How it works, after Syncthing's ``lib/watchaggregator``: events are triggers for rescans, not a
record of what happened. On Linux we read inotify ourselves, on the event loop (``inotify.py``):
watchdog's observer parses every event into objects in threads of its own and pairs the moves
in queues it scans linearly, which under a storm of landing downloads took about 40 % of the
receiving process's CPU. Watching files of 4 KiB land costs about 0.75 CPU seconds per 1,000
files with watchdog and about 0.02 with our reader (``benchmarks/watch_storm.py``). The reader
hands ``(relative path, done)`` pairs straight to the loop-side code below. Elsewhere, or when
a test passes ``observer_factory``, a watchdog observer runs in its own threads; its handler
turns each event into the same pairs, drops the ones that are ours (partial downloads, the
``.mfsync`` folder), puts them in an inbox and wakes the loop with ``call_soon_threadsafe`` only
when the inbox was empty, so a storm of events costs one wake-up per loop turn rather than one
per event. On the loop the paths gather in a pending set. It is handed to ``on_change`` once
nothing has happened for ``settle`` seconds, or ``max_delay`` after its first path, whichever
comes first: a file written without pause is still looked at. Past ``collapse_threshold``
paths the set is collapsed to parent folders, deepest first, down to ``{""}``: rescan
everything.

A path whose writer is known to be done needs no settling: a file closed after writing (inotify's
``IN_CLOSE_WRITE``, watchdog's ``FileClosedEvent``) or moved into place (the end of a rename,
also a rename from outside the folder: on Linux both our reader and watchdog's observer report
those as moves, not creations). Such *done* paths are handed over after ``batch_window`` (about
15 ms, so that a program saving many files at once gives one rescan, as Syncthing batches its
events), and the scan may take them even if they were modified a moment ago. Other events, and
platforms that report neither, keep the settle delay.

A download of ours landing (its partial ``*.mfsync-part`` renamed into place, and closed under
its new name right after) is not reported at all: the downloader adopts the file itself, and a
rescan of each landed file would only repeat that work.

A path in a batch names a file or a folder to look at again (a folder means all below it); the
path may no longer exist. The watcher is a shortcut, not a guarantee: the kernel may drop events
when its queue overflows (then ``""`` is reported), a subfolder past the inotify watch limit is
not watched (our reader says so once and reports its parent; watchdog skips it silently), and
a user's rename of a ``*.mfsync-part`` file looks like a landing. So keep a slow periodic
rescan even while ``available`` is true.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

try:
    from watchdog.observers.inotify import InotifyObserver
except (ImportError, OSError):  # not Linux
    InotifyObserver = None  # type: ignore[assignment,misc]

from mfsync.store.folder_scan import outermost
from mfsync.store.ignore import PARTIAL_SUFFIX, STATE_DIR
from mfsync.watch import inotify
from mfsync.watch.inotify import INOTIFY_INSTANCES_FIX as _INOTIFY_INSTANCES_FIX
from mfsync.watch.inotify import INOTIFY_WATCHES_FIX as _INOTIFY_WATCHES_FIX
from mfsync.watch.inotify import InotifyReader, Recent

__all__ = ["BATCH_WINDOW", "FolderWatcher", "default_observer"]

log = logging.getLogger("mfsync.watch")

# watchdog warns when a folder made with its parents (mkdir -p, cp -r, unzip) is watched twice
# while it catches up; the second watch simply replaces the first. Left alone, Python prints that
# RuntimeWarning, a screenful of internals, on the user's terminal.
warnings.filterwarnings(
    "ignore", message=r"Callback with id '\d+' already exists", category=RuntimeWarning,
    module=r"watchdog\.",
)

#: The events that can change what we share. Opening, reading and closing without writing are
#: left out at the source (the inotify mask): our own hashing reads every file, and each read
#: would otherwise wake us and trigger the next rescan. A folder's own "modified" is left out as
#: well: it only repeats the event of the entry that was added or removed in it. Attribute
#: changes stay in because the index carries the mtime (``touch``, ``cp -p``).
_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent, DirCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent,
    FileDeletedEvent, DirDeletedEvent, FileMovedEvent, DirMovedEvent,
]
_WANTED = tuple(_EVENT_FILTER)

#: Done paths (closed after writing, moved into place) that arrive within this long of the first
#: one go into one batch: a program that saves many files at once causes one rescan, not one per
#: file, and a lone file is still listed at peers well within 0.1 s.
BATCH_WINDOW = 0.015

#: How long stop() waits for watchdog's threads before giving up on them (they are daemons).
_JOIN_TIMEOUT = 5.0

#: Below this, a timer that fired early is treated as on time (the loop's clock resolution).
_TIMER_SLACK = 0.001


class FolderWatcher:
    """Reports, in batches on the event loop, the relative paths under ``root`` that changed.

    ``on_change`` runs on ``loop`` with a non-empty frozenset of relative POSIX paths (``""``
    meaning the whole folder) and the subset of them that are *done* (closed after writing or
    moved into place: no need to wait for them to settle), and must not block. Call
    :meth:`start` and :meth:`stop` from the loop's thread. If the folder cannot be watched,
    :meth:`start` logs one warning and leaves ``available`` false: rely on periodic rescans
    then.

    ``observer_factory``: None (the default) watches with our own inotify reader on Linux and
    with watchdog's platform observer elsewhere; a factory given makes a watchdog observer
    watch (tests).
    """

    def __init__(
        self,
        root: Path,
        on_change: Callable[[frozenset[str], frozenset[str]], None],
        *,
        loop: asyncio.AbstractEventLoop,
        settle: float = 0.2,
        max_delay: float = 2.0,
        batch_window: float = BATCH_WINDOW,
        collapse_threshold: int = 512,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        """Prepare to watch ``root``; nothing happens until :meth:`start`."""
        if settle < 0 or max_delay <= 0 or batch_window < 0:
            raise ValueError("settle and batch_window must be >= 0 and max_delay > 0")
        if collapse_threshold < 1:
            raise ValueError("collapse_threshold must be at least 1")
        self.root = root
        #: Whether events are being delivered (true between a successful start and stop).
        self.available = False
        self._on_change = on_change
        self._loop = loop
        self._settle = settle
        self._max_delay = max_delay
        self._batch_window = batch_window
        self._collapse_threshold = collapse_threshold
        self._observer_factory = observer_factory
        self._root_str = os.fspath(root)
        # Event paths start with the path exactly as scheduled; the prefix cuts it off. join()
        # with "" gives one trailing separator, also for "/".
        self._prefix = os.path.join(self._root_str, "")
        self._observer: BaseObserver | None = None
        self._reader: InotifyReader | None = None
        self._started = False
        self._stopped = False
        # Filled on the observer's thread, emptied on the loop's: (path, done) pairs.
        self._inbox: list[tuple[str, bool]] = []
        self._inbox_lock = threading.Lock()
        # The observer's thread only: landed names whose close-after-write is still ours.
        self._landed: Recent[str] = Recent()
        # Loop side only: paths waiting to settle, and done paths waiting for the batch window.
        self._pending: set[str] = set()
        self._done: set[str] = set()
        self._first_at = 0.0
        self._last_at = 0.0
        self._done_at = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start watching. Failure to watch is logged (once) and leaves ``available`` false."""
        if self._started:
            raise RuntimeError("a FolderWatcher can be started once")
        self._started = True
        if self._observer_factory is None and inotify.supported():
            reader = InotifyReader(self.root, self._take, loop=self._loop)
            try:
                # Opening the inotify instance and watching the whole tree can hit a limit.
                reader.start()
            except NotImplementedError:
                log.debug("this event loop cannot wait for a descriptor: watchdog watches")
            except Exception as exc:
                self._cannot_watch(exc)
                return
            else:
                self._reader = reader
                self.available = True
                log.debug("watching %s (inotify)", self.root)
                return
        factory = self._observer_factory or default_observer
        observer: BaseObserver | None = None
        try:
            # The inotify observer opens its inotify instance when it is made, and adds the
            # watches (the whole tree) when it starts: both can hit a limit.
            observer = factory()
            observer.schedule(_Handler(self._from_observer), self._root_str, recursive=True,
                              event_filter=_EVENT_FILTER)
            observer.start()
        except Exception as exc:
            _discard(observer)
            self._cannot_watch(exc)
            return
        self._observer = observer
        self.available = True
        log.debug("watching %s", self.root)

    def _cannot_watch(self, exc: Exception) -> None:
        """Say once why the folder is not watched."""
        if not isinstance(exc, OSError):
            # Watching is an optimisation: whatever goes wrong in it must not stop sharing.
            log.warning("cannot watch %s for changes; mfsync falls back to periodic rescans",
                        self.root, exc_info=exc)
            return
        if exc.errno == errno.ENOSPC:
            reason = _INOTIFY_WATCHES_FIX
        elif exc.errno == errno.EMFILE:
            reason = _INOTIFY_INSTANCES_FIX
        else:
            reason = exc.strerror or str(exc)
        log.warning("cannot watch %s for changes: %s; mfsync falls back to periodic rescans",
                    self.root, reason)

    def stop(self) -> None:
        """Stop watching (close the inotify descriptor, or wait for watchdog's threads to end),
        from the loop's thread. Safe to call more than once. In a coroutine, ``aclose`` does the
        same without blocking the loop on watchdog's threads."""
        observer = self._let_go()
        if observer is not None:
            _join(observer, self.root)

    async def aclose(self) -> None:
        """``stop``, from a coroutine on the loop: what lives on the loop (the inotify reader,
        the timer) is let go of here, on the loop's thread (a reader removed from another
        thread left Qt's event dispatcher holding a deleted socket notifier: the desktop app
        crashed), and watchdog's threads are waited for in a worker thread."""
        observer = self._let_go()
        if observer is not None:
            await asyncio.to_thread(_join, observer, self.root)

    def _let_go(self) -> BaseObserver | None:
        """Stop delivering and let go of the loop's side; the observer still to stop, if any."""
        self._stopped = True
        self.available = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._done.clear()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        observer, self._observer = self._observer, None
        return observer

    # The observer's thread.

    def _from_observer(self, event: FileSystemEvent) -> None:
        if not isinstance(event, _WANTED):
            return  # an observer that ignored the filter (see _EVENT_FILTER)
        if event.is_directory and event.event_type == EVENT_TYPE_MODIFIED:
            return
        closed = isinstance(event, FileClosedEvent)
        if closed and self._landed and self._landed.take(os.fsdecode(event.src_path)):
            return  # a download of ours closed after it landed (see below)
        # (the end of a move and a file closed after writing are done: nothing is writing them)
        ends = [(event.src_path, closed)]
        if event.event_type == EVENT_TYPE_MOVED:
            if os.fsdecode(event.src_path).endswith(PARTIAL_SUFFIX):
                # A download of ours landing (its partial renamed into place, then closed) is
                # taken in by the downloader itself: a scan would only repeat it.
                self._landed.add(os.fsdecode(event.dest_path))
                return
            ends.append((event.dest_path, True))
        paths = [(rel, done) for rel, done in ((self._relative(end), done) for end, done in ends)
                 if rel is not None and not _ours(rel)]
        if not paths:
            return
        with self._inbox_lock:
            wake = not self._inbox
            self._inbox.extend(paths)
        if wake:
            # A closed loop means we are shutting down and nobody is listening.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._drain)

    def _relative(self, path: bytes | str) -> str | None:
        full = os.fsdecode(path)
        if not full:
            return None  # the missing end of a move into or out of the watched tree
        if full == self._root_str:
            return ""
        if not full.startswith(self._prefix):
            return None  # an end of a move that lies outside the folder
        rel = full[len(self._prefix):]
        return rel.replace(os.sep, "/") if os.sep != "/" else rel

    # The loop's thread.

    def _drain(self) -> None:
        with self._inbox_lock:
            paths, self._inbox = self._inbox, []
        self._take(paths)

    def _take(self, paths: list[tuple[str, bool]]) -> None:
        """Gather ``(path, done)`` pairs (from the inbox, or straight from the inotify reader)."""
        if self._stopped or not paths:
            return
        now = self._loop.time()
        settling = False
        for path, done in paths:
            if done:
                if not self._done:
                    self._done_at = now
                self._done.add(path)
                self._pending.discard(path)  # closed: what was written before has settled
            else:
                self._done.discard(path)  # written again after it was closed: settle again
                if not self._pending:
                    self._first_at = now
                self._pending.add(path)
                settling = True
        if settling:
            self._last_at = now
        # One timer for both sets, moved on only when it fires or must fire earlier:
        # re-arming it on every event would fill the loop's heap with cancelled timers during
        # a storm.
        due = self._due()
        if self._timer is not None and due < self._timer.when() - _TIMER_SLACK:
            self._timer.cancel()
            self._timer = None
        if self._timer is None and due != math.inf:
            self._timer = self._loop.call_at(due, self._on_timer)

    def _settle_due(self) -> float:
        if not self._pending:
            return math.inf
        return min(self._last_at + self._settle, self._first_at + self._max_delay)

    def _done_due(self) -> float:
        return self._done_at + self._batch_window if self._done else math.inf

    def _due(self) -> float:
        return min(self._settle_due(), self._done_due())

    def _on_timer(self) -> None:
        self._timer = None
        if self._stopped:
            return
        now = self._loop.time() + _TIMER_SLACK
        paths: set[str] = set()
        done: set[str] = set()
        if self._done_due() <= now:
            done, self._done = self._done, set()
            paths |= done
        if self._settle_due() <= now:
            paths |= self._pending
            self._pending = set()
        due = self._due()
        if due != math.inf:
            self._timer = self._loop.call_at(due, self._on_timer)
        if not paths:
            return
        batch = _collapse(paths, self._collapse_threshold)
        # (a path collapsed into its folder is no longer named: the scan settles it)
        try:
            self._on_change(batch, frozenset(done) & batch)
        except Exception:
            log.exception("the change handler failed for %d paths under %s",
                          len(batch), self.root)


def default_observer() -> BaseObserver:
    """The platform's observer; on Linux, one that reports a rename into the folder from
    outside it as a move (its end is done), not as a creation (which must settle)."""
    if Observer is InotifyObserver:
        return InotifyObserver(generate_full_events=True)
    return Observer()


class _Handler(FileSystemEventHandler):
    """Passes every event to one function (on watchdog's thread)."""

    def __init__(self, callback: Callable[[FileSystemEvent], None]) -> None:
        super().__init__()
        self._callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Forward the event."""
        self._callback(event)


def _ours(rel: str) -> bool:
    """Paths that only we write and nobody shares: partial downloads and our folder."""
    names = rel.split("/")
    return names[-1].endswith(PARTIAL_SUFFIX) or STATE_DIR in names


def _collapse(paths: set[str], limit: int) -> frozenset[str]:
    """At most ``limit`` paths covering ``paths``: deepest paths replaced by their parents."""
    if "" in paths:
        return frozenset({""})
    current = paths
    while len(current) > limit:
        depth = max(path.count("/") for path in current)
        if depth == 0:
            return frozenset({""})
        current = outermost(
            path.rpartition("/")[0] if path.count("/") == depth else path for path in current
        )
    return frozenset(current)


def _join(observer: BaseObserver, root: Path) -> None:
    """Stop watchdog's observer and wait (a while) for its threads to end (blocks)."""
    observer.stop()
    observer.join(_JOIN_TIMEOUT)
    if observer.is_alive():
        log.warning("the watcher of %s did not stop within %.0f s", root, _JOIN_TIMEOUT)


def _discard(observer: BaseObserver | None) -> None:
    """Release what a half-started observer holds (the inotify thread and descriptor)."""
    if observer is None:
        return
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(_JOIN_TIMEOUT)
    except Exception:
        log.debug("cleaning up a failed watcher", exc_info=True)
