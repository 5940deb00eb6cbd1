"""FolderWatcher on real files with a real asyncio loop: our own inotify reader (the default on
Linux) and the real watchdog observer (other platforms, and ``observer_factory``); the tests
that use ``make_watcher`` run with each.

Waits are generous ("seen within 5 s"); nothing here asserts how fast a batch comes, only that
it comes, what it holds, and how many there are.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers.api import BaseObserver

from mfsync.watch.watcher import FolderWatcher, _collapse, default_observer
from waiting import wait_for

WAIT = 5.0
LINUX = sys.platform.startswith("linux")

# watcher.py silences watchdog's harmless "watched twice" RuntimeWarning (mkdir -p) when it is
# imported, but pytest drops filters set while it collects, so say it again for the tests.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Callback with id '\d+' already exists:RuntimeWarning"
)


class Recorder:
    """Collects the batches a watcher delivers."""

    def __init__(self) -> None:
        self.calls: list[frozenset[str]] = []
        self.done: list[frozenset[str]] = []

    def __call__(self, paths: frozenset[str], done: frozenset[str]) -> None:
        assert threading.current_thread() is threading.main_thread()  # on the loop's thread
        assert done <= paths
        self.calls.append(paths)
        self.done.append(done)

    @property
    def seen(self) -> set[str]:
        return set().union(*self.calls)

    async def wait_seen(self, *paths: str) -> None:
        await wait_for(lambda: set(paths) <= self.seen, WAIT, f"{sorted(paths)} to be reported",
                       detail=lambda: f"not reported: {sorted(set(paths) - self.seen)}")


WatcherFactory = Callable[..., tuple[FolderWatcher, Recorder]]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "share"
    folder.mkdir()
    return folder


@pytest.fixture(params=["default", "watchdog"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """How a watcher watches: the default (our inotify reader on Linux), or watchdog's
    observer, which the default is on other platforms."""
    return {} if request.param == "default" else {"observer_factory": default_observer}


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
async def make_watcher(root: Path, backend: dict[str, Any]) -> AsyncIterator[WatcherFactory]:
    """Started watchers on ``root``; all are stopped, and their threads checked gone, at the end."""
    threads_before = set(threading.enumerate())
    made: list[FolderWatcher] = []

    def make(**options: Any) -> tuple[FolderWatcher, Recorder]:
        recorder = Recorder()
        watcher = FolderWatcher(root, recorder, loop=asyncio.get_running_loop(),
                                **{**backend, **options})
        made.append(watcher)
        watcher.start()
        return watcher, recorder

    yield make
    for watcher in made:
        watcher.stop()
    assert set(threading.enumerate()) <= threads_before


async def test_a_created_file_is_reported(root: Path, make_watcher: WatcherFactory) -> None:
    watcher, seen = make_watcher()
    assert watcher.available
    (root / "hello.txt").write_bytes(b"hi")
    await seen.wait_seen("hello.txt")
    assert all(paths for paths in seen.calls)


async def test_files_in_new_folders_are_reported(root: Path, make_watcher: WatcherFactory) -> None:
    _, seen = make_watcher()
    (root / "a" / "b" / "c").mkdir(parents=True)
    # written before the new folders' watches can exist: found when they are listed
    (root / "a" / "b" / "c" / "deep.txt").write_bytes(b"d")
    (root / "a" / "b" / "side.txt").write_bytes(b"s")
    await seen.wait_seen("a", "a/b/c/deep.txt", "a/b/side.txt")
    # and the new folders are watched from now on
    (root / "a" / "b" / "c" / "later.txt").write_bytes(b"l")
    await seen.wait_seen("a/b/c/later.txt")


async def test_files_of_a_folder_moved_in_are_reported(
    root: Path, tmp_path: Path, make_watcher: WatcherFactory
) -> None:
    staging = tmp_path / "staging" / "album"
    (staging / "disc2").mkdir(parents=True)
    (staging / "01.flac").write_bytes(b"1")
    (staging / "disc2" / "02.flac").write_bytes(b"2")
    _, seen = make_watcher()
    staging.rename(root / "album")
    await seen.wait_seen("album", "album/01.flac", "album/disc2/02.flac")
    assert "album" in set().union(*seen.done)  # moved into place: done
    (root / "album" / "disc2" / "03.flac").write_bytes(b"3")
    await seen.wait_seen("album/disc2/03.flac")


async def test_names_that_are_not_utf8_are_reported(
    root: Path, make_watcher: WatcherFactory
) -> None:
    _, seen = make_watcher()
    raw = b"caf\xe9-\xff\xfe.txt"  # Latin-1, not UTF-8
    folder = b"dir-\x80"
    os.mkdir(os.path.join(os.fsencode(root), folder))
    with open(os.path.join(os.fsencode(root), folder, raw), "wb") as file:
        file.write(b"x")
    name, sub = os.fsdecode(raw), os.fsdecode(folder)
    await seen.wait_seen(sub, f"{sub}/{name}")
    assert os.fsencode(f"{sub}/{name}") == folder + b"/" + raw


async def test_a_burst_arrives_in_few_batches(root: Path, make_watcher: WatcherFactory) -> None:
    _, seen = make_watcher()
    names = [f"burst-{i:02}.txt" for i in range(50)]
    for name in names:
        (root / name).write_bytes(name.encode())
    await seen.wait_seen(*names)
    await asyncio.sleep(0.5)  # let stragglers (close events) come in, to count them too
    assert len(seen.calls) <= 5, [len(c) for c in seen.calls]
    assert seen.seen == set(names)


async def test_a_modified_file_is_reported(root: Path, make_watcher: WatcherFactory) -> None:
    (root / "old.txt").write_bytes(b"1")
    _, seen = make_watcher()
    with (root / "old.txt").open("ab") as file:
        file.write(b"2")
    await seen.wait_seen("old.txt")


async def test_a_deleted_file_is_reported(root: Path, make_watcher: WatcherFactory) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "gone.txt").write_bytes(b"1")
    _, seen = make_watcher()
    (root / "sub" / "gone.txt").unlink()
    await seen.wait_seen("sub/gone.txt")


async def test_a_rename_reports_both_names(root: Path, make_watcher: WatcherFactory) -> None:
    (root / "before.txt").write_bytes(b"1")
    (root / "dir").mkdir()
    _, seen = make_watcher()
    (root / "before.txt").rename(root / "dir" / "after.txt")
    await seen.wait_seen("before.txt", "dir/after.txt")


async def test_a_file_written_without_pause_is_reported_while_written(
    root: Path, make_watcher: WatcherFactory
) -> None:
    # settle is longer than the pauses between writes, so only max_delay can deliver a batch
    # before the writer stops.
    _, seen = make_watcher(settle=2.0, max_delay=0.5)
    reported_while_writing = False
    with (root / "slow.bin").open("ab") as file:
        for _ in range(15):  # 3 s
            file.write(b"x" * 100)
            file.flush()
            await asyncio.sleep(0.2)
            reported_while_writing = reported_while_writing or "slow.bin" in seen.seen
    assert reported_while_writing, "batching starved a file that is written continuously"


async def test_many_paths_collapse_to_their_folder(
    root: Path, tmp_path: Path, make_watcher: WatcherFactory
) -> None:
    staging = tmp_path / "staging" / "many"
    staging.mkdir(parents=True)
    for i in range(30):
        (staging / f"f{i}.txt").write_bytes(b"x")
    _, seen = make_watcher(collapse_threshold=10, settle=0.5)
    staging.rename(root / "many")  # one move in: the folder and its 30 files at once
    await seen.wait_seen("many")
    assert frozenset({"many"}) in seen.calls
    assert all(len(paths) <= 10 for paths in seen.calls)


async def test_too_many_top_level_paths_mean_rescan_everything(
    root: Path, make_watcher: WatcherFactory
) -> None:
    _, seen = make_watcher(collapse_threshold=10, settle=0.5)
    for i in range(40):
        (root / f"top-{i}.txt").write_bytes(b"x")
    await seen.wait_seen("")
    assert frozenset({""}) in seen.calls
    assert all(len(paths) <= 10 for paths in seen.calls)


def test_collapse_goes_up_deepest_first() -> None:
    paths = {"a/b/c/1", "a/b/c/2", "a/b/c/3", "a/x", "d/e"}
    assert _collapse(paths, 5) == frozenset(paths)
    assert _collapse(paths, 4) == {"a/b/c", "a/x", "d/e"}
    assert _collapse(paths, 2) == {"a", "d"}
    assert _collapse(paths, 1) == {""}
    assert _collapse({"x", "", "y/z"}, 10) == {""}
    # A folder already pending covers what lies below it.
    assert _collapse({"a", "a/b/c", "a/b/d", "e"}, 2) == {"a", "e"}


async def test_partial_files_and_our_folder_are_not_reported(
    root: Path, make_watcher: WatcherFactory
) -> None:
    _, seen = make_watcher()
    (root / "movie.mkv.mfsync-part").write_bytes(b"x")
    (root / ".song.mp3.mfsync-part").write_bytes(b"x")
    (root / ".mfsync" / "sub").mkdir(parents=True)
    (root / ".mfsync" / "state.db").write_bytes(b"x")
    (root / ".mfsync" / "sub" / "more").write_bytes(b"x")
    (root / "nested" / ".mfsync").mkdir(parents=True)
    (root / "nested" / ".mfsync" / "x").write_bytes(b"x")
    # A finished download renamed from its partial file is ours as well: the downloader adopts
    # it (test_a_download_of_ours_landing_is_not_reported).
    (root / ".doc.txt.mfsync-part").write_bytes(b"doc")
    (root / ".doc.txt.mfsync-part").rename(root / "doc.txt")
    (root / "marker.txt").write_bytes(b"m")
    await seen.wait_seen("marker.txt", "nested")
    await asyncio.sleep(0.5)
    leaked = {p for p in seen.seen if "mfsync-part" in p or ".mfsync" in p.split("/")}
    assert leaked == set()
    assert "doc.txt" not in seen.seen


@pytest.mark.parametrize(("code", "fix"), [
    (errno.ENOSPC, "fs.inotify.max_user_watches=524288"),
    (errno.EMFILE, "fs.inotify.max_user_instances"),
])
async def test_an_inotify_limit_is_explained_once(
    root: Path, caplog: pytest.LogCaptureFixture, code: int, fix: str
) -> None:
    def failing_observer() -> BaseObserver:
        raise OSError(code, "inotify limit reached")

    seen = Recorder()
    watcher = FolderWatcher(root, seen, loop=asyncio.get_running_loop(),
                            observer_factory=failing_observer)
    with caplog.at_level(logging.WARNING, logger="mfsync.watch"):
        watcher.start()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert fix in warnings[0]
    assert "/etc/sysctl.d/" in warnings[0]
    assert "periodic rescans" in warnings[0]
    assert watcher.available is False
    watcher.stop()
    watcher.stop()


async def test_a_folder_that_cannot_be_watched_falls_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, backend: dict[str, Any]
) -> None:
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    watcher = FolderWatcher(tmp_path / "missing", Recorder(), loop=asyncio.get_running_loop(),
                            **backend)
    with caplog.at_level(logging.WARNING, logger="mfsync.watch"):
        watcher.start()
    assert watcher.available is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "periodic rescans" in warnings[0]
    watcher.stop()
    # The half-started observer's threads (or our inotify descriptor) were cleaned up.
    assert set(threading.enumerate()) <= threads_before
    if not backend:  # (watchdog 7 leaves its inotify descriptor and a pipe open here)
        assert open_fds() <= fds_before


async def test_stop_is_idempotent_and_leaves_no_thread(
    root: Path, backend: dict[str, Any]
) -> None:
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    seen = Recorder()
    watcher = FolderWatcher(root, seen, loop=asyncio.get_running_loop(), **backend)
    watcher.start()
    assert watcher.available
    started = set(threading.enumerate()) - threads_before
    opened = open_fds() - fds_before
    if backend or not LINUX:
        assert started  # watchdog's threads are running
    else:
        assert not started  # our reader runs on the loop
        assert len(opened) == 1  # its inotify descriptor
    watcher.stop()
    watcher.stop()
    assert watcher.available is False
    # What the watcher started is gone (compared as a whole, a thread or file that an earlier
    # test's leftovers opened meanwhile made this fail under load).
    assert not started & set(threading.enumerate())
    assert not opened & open_fds()
    # Nothing is delivered after stop.
    (root / "late.txt").write_bytes(b"x")
    await asyncio.sleep(0.5)
    assert seen.calls == []


async def test_a_failing_handler_does_not_stop_the_watcher(
    root: Path, caplog: pytest.LogCaptureFixture, backend: dict[str, Any]
) -> None:
    calls: list[frozenset[str]] = []
    got_second = asyncio.Event()

    def handler(paths: frozenset[str], done: frozenset[str]) -> None:
        del done
        calls.append(paths)
        if len(calls) == 1:
            raise RuntimeError("boom")
        if "second.txt" in paths:
            got_second.set()

    watcher = FolderWatcher(root, handler, loop=asyncio.get_running_loop(), **backend)
    watcher.start()
    try:
        with caplog.at_level(logging.ERROR, logger="mfsync.watch"):
            (root / "first.txt").write_bytes(b"1")
            async with asyncio.timeout(WAIT):
                while not calls:
                    await asyncio.sleep(0.05)
            (root / "second.txt").write_bytes(b"2")
            async with asyncio.timeout(WAIT):
                await got_second.wait()
        assert "change handler failed" in caplog.text
    finally:
        watcher.stop()


async def test_a_closed_file_is_reported_at_once_as_done(
    root: Path, make_watcher: WatcherFactory
) -> None:
    # A settle delay far longer than the wait: only the close-after-write path can deliver it.
    _, seen = make_watcher(settle=30.0, max_delay=60.0)
    loop = asyncio.get_running_loop()
    with (root / "saved.txt").open("wb") as file:
        file.write(b"all of it")
    closed_at = loop.time()
    await seen.wait_seen("saved.txt")
    assert loop.time() - closed_at < 1.0
    assert any("saved.txt" in done for done in seen.done)


async def test_a_file_moved_in_from_outside_is_done(
    root: Path, tmp_path: Path, make_watcher: WatcherFactory
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"written elsewhere")
    (root / "inside.txt").write_bytes(b"x")
    _, seen = make_watcher(settle=1.0, max_delay=60.0)
    outside.rename(root / "moved-in.txt")
    (root / "inside.txt").rename(root / "renamed.txt")
    await seen.wait_seen("moved-in.txt", "renamed.txt", "inside.txt")
    done = set().union(*seen.done)
    assert {"moved-in.txt", "renamed.txt"} <= done
    # The old name of a rename settles like a deletion: a file may be written there next.
    assert "inside.txt" not in done
    first = seen.calls[0]
    assert {"moved-in.txt", "renamed.txt"} <= first and "inside.txt" not in first


async def test_a_download_of_ours_landing_is_not_reported(
    root: Path, make_watcher: WatcherFactory
) -> None:
    # The downloader takes in what it lands itself: a rescan of each landed file only repeated
    # that work (a rescan per file while 10,000 small files land).
    (root / "sub").mkdir()
    (root / "mine.txt").write_bytes(b"a user's file")
    closed_first = root / ".closed.bin.mfsync-part"
    closed_first.write_bytes(b"verified")
    _, seen = make_watcher(settle=0.2, max_delay=5.0)
    # Landed as the downloader does it: written, renamed into place while still open, closed
    # (so the close comes under the landed name), in the root and in a subfolder.
    for folder in (root, root / "sub"):
        fd = os.open(folder / ".landed.bin.mfsync-part", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"verified")
            os.utime(fd, ns=(10**9, 10**9))
            os.rename(folder / ".landed.bin.mfsync-part", folder / "landed.bin")
        finally:
            os.close(fd)
    closed_first.rename(root / "closed.bin")  # one written and closed before it landed
    # A user's rename of a normal file is still reported, both names.
    (root / "mine.txt").rename(root / "yours.txt")
    await seen.wait_seen("mine.txt", "yours.txt")
    await asyncio.sleep(0.5)  # more than settle: anything that was coming has come
    assert seen.seen == {"mine.txt", "yours.txt"}, sorted(seen.seen)
    assert "yours.txt" in set().union(*seen.done)


async def test_other_events_keep_the_settle_delay(
    root: Path, make_watcher: WatcherFactory
) -> None:
    (root / "open.bin").write_bytes(b"")
    _, seen = make_watcher(settle=0.6, max_delay=5.0)
    loop = asyncio.get_running_loop()
    with (root / "open.bin").open("ab") as file:  # written, not closed yet
        file.write(b"part")
        file.flush()
        written_at = loop.time()
        await seen.wait_seen("open.bin")
        assert loop.time() - written_at >= 0.5  # it waited to settle
        assert all("open.bin" not in done for done in seen.done)


async def test_done_files_saved_together_come_in_one_batch(
    root: Path, make_watcher: WatcherFactory
) -> None:
    _, seen = make_watcher(settle=30.0, max_delay=60.0, batch_window=0.2)
    for i in range(20):
        (root / f"saved-{i}.txt").write_bytes(b"x")
    await seen.wait_seen(*(f"saved-{i}.txt" for i in range(20)))
    assert len(seen.calls) == 1, [sorted(c) for c in seen.calls]
