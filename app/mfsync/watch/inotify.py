"""Linux inotify read on the event loop itself: the folder watcher's source of events on Linux.

Why not watchdog's observer there: a landing download makes five or six inotify events, and
watchdog turns each into Python objects in threads of its own, holds them in a queue that it
scans linearly on every move and pairs the moves, all while contending for the GIL with the
event loop. We only use events as triggers for rescans and never need the pairs. Landing files
of 4 KiB the way the downloader does under a watched folder (``benchmarks/watch_storm.py``, 2
cores) cost the process 0.77 CPU seconds per 1,000 files with watchdog's observer and 0.037
with this reader, of which 0.016 is the landing itself: the watching went from about 0.75 to
about 0.02 CPU seconds per 1,000 files (and at 10,000 files watchdog took 8.2 s of wall time to
catch up, the reader 0.4 s).

How it works, split sans-IO style. ``parse_events`` is a pure function from what one ``read`` of
the inotify descriptor returned to ``RawEvent`` tuples; a truncated or malformed buffer is a
logged drop of its rest, never an exception. ``InotifyReader`` owns the descriptor (opened
non-blocking with ``inotify_init1`` through ``ctypes``) and the map from watch descriptors to
folders; ``loop.add_reader`` calls it when events wait, and it reads at most
``MAX_READS_PER_WAKE`` buffers of ``READ_SIZE`` per call (the descriptor stays readable while
more wait, so the loop stays fair), filters and translates them and hands the list of
``(relative POSIX path, done)`` pairs to its ``report`` callback, on the loop.

What is reported: a file closed after writing or moved into place is *done*; anything else (created,
written, attributes, deleted, the old name of a move) must settle. Filtered out as bytes, before any
name is decoded: partial downloads (``*.mfsync-part``) and our ``.mfsync`` folders (never watched),
a folder's own attribute changes, and a download of ours landing: the ``IN_MOVED_TO`` whose cookie a
partial's ``IN_MOVED_FROM`` gave (the downloader adopts the file itself), and the ``IN_CLOSE_WRITE``
under the landed name that follows it (the downloader renames the partial while it is still open;
remembered once, for at most two seconds, so a user's later writes, which come with ``IN_MODIFY``,
are still seen). A user's own rename of a ``*.mfsync-part`` file looks the same and is left to the
periodic rescans.

The tree: at start every folder below the root is watched (``os.scandir``, symlinks never followed,
``.mfsync`` skipped), in one go on the loop, as watchdog's ``start`` did. A folder created or moved
in is watched and listed, and everything found in it is reported (it may have been filled before its
watch existed); that walk goes ``WALK_BUDGET`` folders per loop turn. A folder moved away loses its
watches (its new place, if in the tree, is watched afresh); a deleted folder's watch ends with
``IN_IGNORED``. A kernel queue overflow reports ``""`` (rescan everything) and walks the tree again
for folders created meanwhile. A subfolder that cannot be watched (the watch limit,
``fs.inotify.max_user_watches``) is logged once, with the fix, and its parent is reported as changed
(not at start: nothing changed yet): a rescan sees what is there now, the periodic rescans what
changes later. Failing to watch the root raises ``OSError`` from :meth:`InotifyReader.start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import math
import os
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from mfsync.store.ignore import PARTIAL_SUFFIX, STATE_DIR

__all__ = [
    "INOTIFY_INSTANCES_FIX", "INOTIFY_WATCHES_FIX", "MAX_READS_PER_WAKE", "READ_SIZE",
    "WALK_BUDGET", "InotifyReader", "RawEvent", "Recent", "parse_events", "supported",
]

log = logging.getLogger("mfsync.watch")

INOTIFY_WATCHES_FIX = (
    "the inotify watch limit is reached; raise it with `sudo sysctl "
    "fs.inotify.max_user_watches=524288` (and make it permanent with a file in /etc/sysctl.d/, "
    "e.g. `echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/90-mfsync.conf`)"
)
INOTIFY_INSTANCES_FIX = (
    "the inotify instance limit (or the open-file limit) is reached; raise it with `sudo sysctl "
    "fs.inotify.max_user_instances=512` (and make it permanent with a file in /etc/sysctl.d/, "
    "e.g. `echo fs.inotify.max_user_instances=512 | sudo tee /etc/sysctl.d/90-mfsync.conf`)"
)

# <sys/inotify.h>
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

#: What can change what we share. No IN_OPEN, IN_ACCESS or IN_CLOSE_NOWRITE: our own hashing
#: reads every file, and each read would wake us and trigger the next rescan. No events of
#: children after they were unlinked (a temporary file still being written).
_ROOT_MASK = (IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM
              | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
#: Below the root a symlink is never followed (the root itself may be one: it is what we share).
_MASK = _ROOT_MASK | IN_DONT_FOLLOW
_DONE = IN_CLOSE_WRITE | IN_MOVED_TO

#: ``struct inotify_event``: wd, mask, cookie, len, then ``len`` bytes of NUL-padded name.
_HEADER = struct.Struct("=iIII")
HEADER_SIZE = _HEADER.size
#: A name field longer than this is not the kernel's (NAME_MAX is 255, padded to 256).
NAME_CAP = 4096
#: One read's buffer, and at most how many reads one wake-up makes.
READ_SIZE = 256 * 1024
MAX_READS_PER_WAKE = 4
#: A read that returned this much less than it asked for emptied the queue.
_FULL_READ = READ_SIZE - HEADER_SIZE - NAME_CAP
#: Folders watched and listed per loop turn when a folder is created or moved in.
WALK_BUDGET = 256
#: How many landing cookies (and landed names) are remembered, and for how long (seconds):
#: the two events of a rename come one after the other, the close right after them.
_RECENT_LIMIT = 1024
_RECENT_AGE = 2.0

_PARTIAL = os.fsencode(PARTIAL_SUFFIX)
_STATE = os.fsencode(STATE_DIR)

#: A path relative to the root, and whether its writer is done with it.
Pair = tuple[str, bool]


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        init1, add, remove = libc.inotify_init1, libc.inotify_add_watch, libc.inotify_rm_watch
    except (OSError, AttributeError):
        return None
    init1.argtypes, init1.restype = [ctypes.c_int], ctypes.c_int
    add.argtypes, add.restype = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32], ctypes.c_int
    remove.argtypes, remove.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return libc


_LIBC = _load_libc()


def supported() -> bool:
    """Whether this system has inotify (Linux, with a C library that offers it)."""
    return _LIBC is not None


class RawEvent(NamedTuple):
    """One ``struct inotify_event``; ``name`` without its NUL padding (``b""``: the watched
    folder itself, or no folder at all for ``IN_Q_OVERFLOW``)."""

    wd: int
    mask: int
    cookie: int
    name: bytes


def parse_events(data: bytes) -> list[RawEvent]:
    """The events in ``data`` (one read of an inotify descriptor). A truncated header or a
    name running past the end (or past ``NAME_CAP``) ends the parse: what came before it is
    returned, the rest is dropped with a warning."""
    events: list[RawEvent] = []
    unpack = _HEADER.unpack_from
    end = len(data)
    pos = 0
    while pos < end:
        if end - pos < HEADER_SIZE:
            log.warning("dropped %d bytes of inotify events: a truncated header", end - pos)
            break
        wd, mask, cookie, length = unpack(data, pos)
        pos += HEADER_SIZE
        if length > NAME_CAP or length > end - pos:
            log.warning("dropped %d bytes of inotify events: a name of %d bytes at %d",
                        end - pos + HEADER_SIZE, length, pos - HEADER_SIZE)
            break
        name = b""
        if length:
            nul = data.find(b"\0", pos, pos + length)
            name = data[pos : nul if nul >= 0 else pos + length]
            pos += length
        events.append(RawEvent(wd, mask, cookie, name))
    return events


K = TypeVar("K", bound=Hashable)


class Recent(Generic[K]):
    """A set that forgets: at most ``limit`` keys, each for at most ``max_age`` seconds."""

    __slots__ = ("_added", "_limit", "_max_age")

    def __init__(self, limit: int = _RECENT_LIMIT, max_age: float = _RECENT_AGE) -> None:
        """An empty set."""
        self._added: dict[K, float] = {}
        self._limit = limit
        self._max_age = max_age

    def __len__(self) -> int:
        return len(self._added)

    def add(self, key: K) -> None:
        """Remember ``key`` (again, from now), forgetting the oldest beyond the limits."""
        now = time.monotonic()
        added = self._added
        added.pop(key, None)
        added[key] = now
        too_old = now - self._max_age
        while True:
            oldest = next(iter(added))
            if len(added) <= self._limit and added[oldest] >= too_old:
                break
            del added[oldest]

    def take(self, key: K) -> bool:
        """Whether ``key`` was remembered (and not too long ago); it is forgotten either way."""
        added = self._added.pop(key, None)
        return added is not None and time.monotonic() - added <= self._max_age


class InotifyReader:
    """Watches the tree under ``root`` with one inotify descriptor read on ``loop``; hands
    lists of ``(relative path, done)`` to ``report``, on the loop (see the module's docstring).

    Call :meth:`start` and :meth:`close` on the loop's thread.
    """

    def __init__(self, root: Path, report: Callable[[list[Pair]], None], *,
                 loop: asyncio.AbstractEventLoop) -> None:
        """Prepare to watch ``root``; nothing happens until :meth:`start`."""
        self._root = os.fspath(root)
        self._report = report
        self._loop = loop
        self._fd = -1
        self._reading = False
        self._started = False
        self._thread: int | None = None  # (the loop's thread, where start was called)
        self._root_wd = -1
        #: watch descriptor -> the folder it watches, relative to the root ("": the root)
        self._folders: dict[int, str] = {}
        #: folders to watch and list: (relative path, whether to report what they hold)
        self._to_walk: deque[tuple[str, bool]] = deque()
        self._walk_handle: asyncio.Handle | None = None
        self._landing_cookies: Recent[int] = Recent()
        self._landed: Recent[tuple[int, bytes]] = Recent()
        self._warned = False

    @property
    def fileno(self) -> int:
        """The inotify descriptor (-1 before start and after close)."""
        return self._fd

    @property
    def watched(self) -> dict[int, str]:
        """A copy of the watch descriptors and the folders they watch."""
        return dict(self._folders)

    def start(self) -> None:
        """Open the descriptor, watch the whole tree and start reading. Raises ``OSError`` when
        the root cannot be watched (a limit, a missing folder), with nothing left open."""
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available here")
        if self._started:
            raise RuntimeError("an InotifyReader can be started once")
        self._started = True
        self._thread = threading.get_ident()
        fd = _LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        self._fd = fd
        try:
            self._root_wd = self._visit("", report=False, out=[], strict=True)
            self._walk(math.inf, [])
            self._loop.add_reader(fd, self._on_readable)
            self._reading = True
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading and close the descriptor. Safe to call more than once. Called from
        another thread than the loop's, it is done on the loop's (soon): a reader removed from
        another thread leaves Qt's event dispatcher with a deleted socket notifier."""
        if self._thread is not None and threading.get_ident() != self._thread:
            with contextlib.suppress(RuntimeError):  # (a loop already closed forgot it anyway)
                self._loop.call_soon_threadsafe(self.close)
                return
        if self._walk_handle is not None:
            self._walk_handle.cancel()
            self._walk_handle = None
        self._to_walk.clear()
        self._folders.clear()
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        if self._reading:
            self._reading = False
            with contextlib.suppress(RuntimeError):  # a loop already closed forgot it anyway
                self._loop.remove_reader(fd)
        os.close(fd)

    # Reading.

    def _on_readable(self) -> None:
        out: list[Pair] = []
        for _ in range(MAX_READS_PER_WAKE):
            try:
                data = os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("cannot read the changes under %s any more (%s); mfsync falls back "
                            "to periodic rescans", self._root, exc.strerror or exc)
                self._loop.remove_reader(self._fd)
                self._reading = False
                break
            self._translate(parse_events(data), out)
            if len(data) < _FULL_READ:
                break
        self._walk(WALK_BUDGET, out)
        if out:
            self._report(out)

    def _translate(self, events: list[RawEvent], out: list[Pair]) -> None:
        folders = self._folders
        for wd, mask, cookie, name in events:
            if mask & IN_Q_OVERFLOW:
                log.debug("the kernel's queue of events for %s overflowed", self._root)
                out.append(("", False))
                self._to_walk.append(("", False))  # for folders made meanwhile
                continue
            folder = folders.get(wd)
            if folder is None:
                continue  # a watch we dropped (its folder moved away or was deleted)
            if not name:
                self._on_self(wd, mask, folder, out)
                continue
            if name.endswith(_PARTIAL):
                if mask & IN_MOVED_FROM:
                    self._landing_cookies.add(cookie)
                continue
            if name == _STATE:
                continue
            if mask & IN_MOVED_TO:
                if self._landing_cookies.take(cookie):
                    self._landed.add((wd, name))  # a download of ours landing
                    continue
            elif mask & IN_CLOSE_WRITE and self._landed and self._landed.take((wd, name)):
                continue  # closed after it landed: still ours
            rel = os.fsdecode(name)
            if folder:
                rel = f"{folder}/{rel}"
            if mask & IN_ISDIR:
                if mask & (IN_ATTRIB | IN_MODIFY):
                    continue  # a folder's own attributes: not shared
                if mask & (IN_CREATE | IN_MOVED_TO):
                    self._to_walk.append((rel, True))
                elif mask & IN_MOVED_FROM:
                    self._unwatch(rel)
            out.append((rel, bool(mask & _DONE)))

    def _on_self(self, wd: int, mask: int, folder: str, out: list[Pair]) -> None:
        """An event of a watched folder itself (its parent reports the rest)."""
        if mask & (IN_DELETE_SELF | IN_IGNORED):
            del self._folders[wd]
        if wd == self._root_wd and mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT):
            out.append(("", False))  # the shared folder itself is gone from its place
        elif mask & IN_UNMOUNT:
            out.append((folder, False))

    # The tree.

    def _walk(self, budget: float, out: list[Pair]) -> None:
        """Watch and list queued folders, up to ``budget`` of them; the rest on a later turn."""
        while self._to_walk and budget > 0:
            budget -= 1
            rel, report = self._to_walk.popleft()
            self._visit(rel, report=report, out=out)
        if self._to_walk and self._walk_handle is None and self._fd >= 0:
            self._walk_handle = self._loop.call_soon(self._walk_later)

    def _walk_later(self) -> None:
        self._walk_handle = None
        out: list[Pair] = []
        self._walk(WALK_BUDGET, out)
        if out:
            self._report(out)

    def _visit(self, rel: str, *, report: bool, out: list[Pair], strict: bool = False) -> int:
        """Watch folder ``rel`` and list it: subfolders are queued and, with ``report``, every
        entry goes to ``out``. The watch descriptor, or -1 when it cannot be watched (with
        ``strict``: ``OSError``)."""
        path = os.path.join(self._root, rel) if rel else self._root
        wd = int(_LIBC.inotify_add_watch(self._fd, os.fsencode(path), _MASK if rel else _ROOT_MASK))
        if wd < 0:
            code = ctypes.get_errno()
            if strict:
                raise OSError(code, os.strerror(code), path)
            self._cannot_watch(rel, code, out)
            return -1
        self._folders[wd] = rel
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    name = entry.name
                    if name == STATE_DIR or name.endswith(PARTIAL_SUFFIX):
                        continue
                    child = f"{rel}/{name}" if rel else name
                    if report:
                        out.append((child, False))
                    if entry.is_dir(follow_symlinks=False):
                        self._to_walk.append((child, report))
        except OSError as exc:
            log.debug("cannot list %s to watch what is below it: %s", path, exc)
        return wd

    def _cannot_watch(self, rel: str, code: int, out: list[Pair]) -> None:
        if code in (errno.ENOENT, errno.ENOTDIR):
            return  # gone already, or no longer a folder (a symlink is not followed)
        if not self._warned:
            self._warned = True
            reason = {errno.ENOSPC: INOTIFY_WATCHES_FIX,
                      errno.EMFILE: INOTIFY_INSTANCES_FIX}.get(code, os.strerror(code))
            log.warning("cannot watch every folder under %s for changes (first %r): %s; "
                        "changes there are found by the periodic rescans", self._root, rel,
                        reason)
        if self._reading:
            out.append((rel.rpartition("/")[0], False))  # what is there now: rescan it

    def _unwatch(self, rel: str) -> None:
        """Drop the watches of folder ``rel`` and below (it moved away: if it moved within the
        tree, its new place is watched afresh)."""
        below = rel + "/"
        for wd in [wd for wd, folder in self._folders.items()
                   if folder == rel or folder.startswith(below)]:
            del self._folders[wd]
            _LIBC.inotify_rm_watch(self._fd, wd)
