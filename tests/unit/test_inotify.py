"""The inotify reader (watch/inotify.py): its parser on crafted buffers, and the reader itself on
real inotify in temporary folders, on a real asyncio loop (no thread)."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import random
import shutil
import struct
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mfsync.watch import inotify
from mfsync.watch.inotify import (
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_ISDIR,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    NAME_CAP,
    InotifyReader,
    RawEvent,
    Recent,
    parse_events,
)
from mfsync.watch.watcher import FolderWatcher
from waiting import wait_for

pytestmark = pytest.mark.skipif(not inotify.supported(), reason="inotify is Linux's")

WAIT = 5.0
QUIET = 0.3  # how long nothing more must come, after what was awaited came


def event(wd: int, mask: int, name: bytes = b"", cookie: int = 0,
          length: int | None = None) -> bytes:
    """One ``struct inotify_event`` as the kernel writes it: the name NUL-padded to 16 bytes.
    ``length``: the header says this instead (the name is written as it is, unpadded)."""
    if length is not None:
        return struct.pack("=iIII", wd, mask, cookie, length) + name
    padded = (len(name) // 16 + 1) * 16 if name else 0
    return struct.pack("=iIII", wd, mask, cookie, padded) + name.ljust(padded, b"\0")


# -- the parser ----------------------------------------------------------------------------------


def test_the_parser_reads_what_the_kernel_writes() -> None:
    data = (event(1, IN_CREATE, b"abc") + event(2, IN_CLOSE_WRITE | IN_ISDIR, b"x" * 16)
            + event(1, IN_MOVED_TO, b"dest", cookie=77) + event(3, IN_CREATE))
    assert parse_events(data) == [
        RawEvent(1, IN_CREATE, 0, b"abc"),
        RawEvent(2, IN_CLOSE_WRITE | IN_ISDIR, 0, b"x" * 16),
        RawEvent(1, IN_MOVED_TO, 77, b"dest"),
        RawEvent(3, IN_CREATE, 0, b""),
    ]
    assert parse_events(b"") == []


def test_a_name_filling_its_field_has_no_nul() -> None:
    # (the kernel always leaves one NUL; a name without one is taken whole, never read past)
    data = event(1, IN_CREATE, b"0123456789abcdef", length=16) + event(1, IN_CREATE, b"next")
    assert [e.name for e in parse_events(data)] == [b"0123456789abcdef", b"next"]


def test_an_overflow_has_no_watch_and_no_name() -> None:
    assert parse_events(event(-1, IN_Q_OVERFLOW)) == [RawEvent(-1, IN_Q_OVERFLOW, 0, b"")]


@pytest.mark.parametrize("cut", [1, 8, 15])
def test_a_truncated_header_is_a_logged_drop(cut: int, caplog: pytest.LogCaptureFixture) -> None:
    whole = event(1, IN_CREATE, b"kept")
    with caplog.at_level(logging.WARNING, logger="mfsync.watch"):
        events = parse_events(whole + event(2, IN_CREATE, b"lost")[:cut])
    assert events == [RawEvent(1, IN_CREATE, 0, b"kept")]
    assert "truncated header" in caplog.text


def test_a_name_past_the_end_is_a_logged_drop(caplog: pytest.LogCaptureFixture) -> None:
    whole = event(1, IN_CREATE, b"kept")
    with caplog.at_level(logging.WARNING, logger="mfsync.watch"):
        events = parse_events(whole + event(2, IN_CREATE, b"lost")[:-1])
    assert events == [RawEvent(1, IN_CREATE, 0, b"kept")]
    assert "a name of 16 bytes" in caplog.text


def test_a_name_longer_than_the_cap_is_a_logged_drop(caplog: pytest.LogCaptureFixture) -> None:
    huge = event(1, IN_CREATE, b"x" * (NAME_CAP + 16), length=NAME_CAP + 16)
    with caplog.at_level(logging.WARNING, logger="mfsync.watch"):
        assert parse_events(event(1, IN_CREATE, b"kept") + huge) == [
            RawEvent(1, IN_CREATE, 0, b"kept")]
    assert caplog.records
    # (a length field of 4 GiB is refused before anything is sliced)
    assert parse_events(event(1, IN_CREATE, b"short", length=0xFFFFFFFF)) == []


def test_random_bytes_never_raise() -> None:
    rng = random.Random(20240611)
    logging.getLogger("mfsync.watch").disabled = True
    try:
        for _ in range(3000):
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
            if rng.random() < 0.5:  # plausible headers, hostile lengths
                data = event(rng.randrange(-2, 5), rng.getrandbits(32), b"n" * rng.randrange(20),
                             length=rng.choice([0, 3, 16, 17, 4096, 2**32 - 1])) + data
            for parsed in parse_events(data):
                assert b"\0" not in parsed.name
    finally:
        logging.getLogger("mfsync.watch").disabled = False


def test_recent_forgets_the_oldest_and_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    recent: Recent[int] = Recent(limit=3, max_age=1.0)
    for key in range(5):
        recent.add(key)
    assert len(recent) == 3
    assert not recent.take(0) and not recent.take(1)
    assert recent.take(2)
    assert not recent.take(2)  # taken once
    now = [100.0]
    monkeypatch.setattr(inotify.time, "monotonic", lambda: now[0])
    aged: Recent[str] = Recent(limit=10, max_age=1.0)
    aged.add("old")
    now[0] += 2.0
    assert not aged.take("old")
    aged.add("a")
    now[0] += 2.0
    aged.add("b")  # "a" is dropped now, not only when asked for
    assert len(aged) == 1


# -- the reader on real inotify ------------------------------------------------------------------


class Collected:
    """What a reader reported, in order."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, bool]] = []

    def __call__(self, pairs: list[tuple[str, bool]]) -> None:
        assert threading.current_thread() is threading.main_thread()
        assert pairs
        self.pairs.extend(pairs)

    @property
    def paths(self) -> set[str]:
        return {path for path, _ in self.pairs}

    @property
    def done(self) -> set[str]:
        return {path for path, done in self.pairs if done}

    async def wait_seen(self, *paths: str) -> None:
        await wait_for(lambda: set(paths) <= self.paths, WAIT, f"{sorted(paths)} reported",
                       detail=lambda: f"reported: {self.pairs}")


ReaderFactory = Callable[..., tuple[InotifyReader, Collected]]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "share"
    folder.mkdir()
    return folder


@pytest.fixture
async def make_reader(root: Path) -> AsyncIterator[ReaderFactory]:
    """Started readers on ``root``; closed at the end, leaving no descriptor and no thread."""
    threads, fds = set(threading.enumerate()), open_fds()
    made: list[InotifyReader] = []

    def make() -> tuple[InotifyReader, Collected]:
        collected = Collected()
        reader = InotifyReader(root, collected, loop=asyncio.get_running_loop())
        made.append(reader)
        reader.start()
        return reader, collected

    yield make
    for reader in made:
        reader.close()
        reader.close()
    assert set(threading.enumerate()) == threads
    assert open_fds() == fds


async def test_a_closed_file_is_done(root: Path, make_reader: ReaderFactory) -> None:
    _, seen = make_reader()
    (root / "saved.txt").write_bytes(b"x")
    await seen.wait_seen("saved.txt")
    await wait_for(lambda: "saved.txt" in seen.done, WAIT)
    assert seen.pairs[0] == ("saved.txt", False)  # created: must settle until it is closed


async def test_a_landing_of_ours_reports_nothing(root: Path, make_reader: ReaderFactory) -> None:
    (root / "sub").mkdir()
    _, seen = make_reader()
    # closed, then renamed
    (root / ".x.mfsync-part").write_bytes(b"x")
    (root / ".x.mfsync-part").rename(root / "x")
    # the downloader's way: renamed while open (the close comes under the new name)
    fd = os.open(root / "sub" / ".y.mfsync-part", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"y")
    os.rename(root / "sub" / ".y.mfsync-part", root / "sub" / "y")
    os.close(fd)
    (root / "marker").write_bytes(b"m")
    await seen.wait_seen("marker")
    await asyncio.sleep(QUIET)
    assert seen.paths == {"marker"}, seen.pairs


async def test_a_users_rename_reports_both_names(root: Path, make_reader: ReaderFactory) -> None:
    (root / "a").write_bytes(b"a")
    _, seen = make_reader()
    (root / "a").rename(root / "b")
    await seen.wait_seen("a", "b")
    assert seen.pairs == [("a", False), ("b", True)]


async def test_a_users_close_after_a_landing_is_only_dropped_once(
    root: Path, make_reader: ReaderFactory
) -> None:
    _, seen = make_reader()
    fd = os.open(root / ".y.mfsync-part", os.O_WRONLY | os.O_CREAT, 0o644)
    os.rename(root / ".y.mfsync-part", root / "y")
    os.close(fd)
    with (root / "y").open("ab") as file:  # a user writes it afterwards
        file.write(b"mine")
    await wait_for(lambda: "y" in seen.done, WAIT, detail=lambda: seen.pairs)


async def test_new_folders_are_watched_and_listed(root: Path, make_reader: ReaderFactory) -> None:
    reader, seen = make_reader()
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "f.txt").write_bytes(b"f")
    (root / "a" / ".mfsync").mkdir()
    (root / "a" / ".mfsync" / "state").write_bytes(b"s")
    await seen.wait_seen("a", "a/b", "a/b/c", "a/b/c/f.txt")
    await wait_for(lambda: {"a", "a/b", "a/b/c"} <= set(reader.watched.values()), WAIT)
    (root / "a" / ".mfsync" / "later").write_bytes(b"s")
    (root / "a" / "b" / "c" / "g.txt").write_bytes(b"g")
    await seen.wait_seen("a/b/c/g.txt")
    assert not [p for p in seen.paths if ".mfsync" in p.split("/")]
    assert not [f for f in reader.watched.values() if ".mfsync" in f.split("/")]


async def test_a_big_folder_moved_in_is_walked_a_few_folders_a_turn(
    root: Path, tmp_path: Path, make_reader: ReaderFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inotify, "WALK_BUDGET", 2)
    outside = tmp_path / "outside"
    for i in range(6):
        (outside / f"d{i}" / "e").mkdir(parents=True)
        (outside / f"d{i}" / "e" / "f").write_bytes(b"f")
    (outside / "top.txt").write_bytes(b"t")
    reader, seen = make_reader()
    outside.rename(root / "in")
    files = [f"in/d{i}/e/f" for i in range(6)]
    await seen.wait_seen("in", "in/top.txt", *files)
    assert "in" in seen.done
    assert len(reader.watched) == 1 + 1 + 6 * 2


async def test_a_deleted_folder_drops_its_watches(root: Path, make_reader: ReaderFactory) -> None:
    (root / "gone" / "deeper").mkdir(parents=True)
    (root / "kept").mkdir()
    reader, seen = make_reader()
    assert sorted(reader.watched.values()) == ["", "gone", "gone/deeper", "kept"]
    shutil.rmtree(root / "gone")
    await seen.wait_seen("gone")
    await wait_for(lambda: sorted(reader.watched.values()) == ["", "kept"], WAIT,
                   detail=lambda: reader.watched)


async def test_a_folder_moved_within_is_watched_at_its_new_place(
    root: Path, tmp_path: Path, make_reader: ReaderFactory
) -> None:
    (root / "old" / "sub").mkdir(parents=True)
    (root / "away").mkdir()
    reader, seen = make_reader()
    (root / "old").rename(root / "new")
    await seen.wait_seen("old", "new", "new/sub")
    assert "new" in seen.done and "old" not in seen.done
    await wait_for(lambda: sorted(reader.watched.values()) == ["", "away", "new", "new/sub"],
                   WAIT, detail=lambda: reader.watched)
    (root / "new" / "sub" / "f").write_bytes(b"f")
    await seen.wait_seen("new/sub/f")
    # moved out of the tree: no longer watched, nothing more from it
    (root / "away").rename(tmp_path / "away")
    await wait_for(lambda: "away" not in reader.watched.values(), WAIT)
    (tmp_path / "away" / "f").write_bytes(b"f")
    (root / "marker").write_bytes(b"m")
    await seen.wait_seen("marker")
    await asyncio.sleep(QUIET)
    assert not [p for p in seen.paths if p.startswith(("old/", "away/"))], seen.pairs


async def test_hostile_names_survive(root: Path, make_reader: ReaderFactory) -> None:
    _, seen = make_reader()
    base = os.fsencode(root)
    names = [b"\xff\xfe", b"caf\xe9", b"new\nline", b"\x1b[31mred", b"-" * 255]
    os.mkdir(base + b"/d\x80")
    for name in names:
        with open(base + b"/d\x80/" + name, "wb") as file:
            file.write(b"x")
    expected = [os.fsdecode(b"d\x80/" + name) for name in names]
    await seen.wait_seen(*expected)
    assert {os.fsencode(p) for p in seen.paths} >= {b"d\x80/" + n for n in names}


async def test_an_overflow_means_rescan_everything(
    root: Path, make_reader: ReaderFactory
) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 100_000:
        pytest.skip(f"max_queued_events is {limit}: too many events to make")
    (root / "a").write_bytes(b"")
    (root / "b").write_bytes(b"")
    reader, seen = make_reader()
    # The loop does not run meanwhile, so nothing is read: alternate files, as the kernel
    # merges an event with the same one just before it.
    for i in range(limit // 2 + 10):
        os.utime(root / "a", ns=(i, i))
        os.utime(root / "b", ns=(i, i))
    (root / "made-meanwhile").mkdir()  # its event is lost
    await seen.wait_seen("")
    await wait_for(lambda: "made-meanwhile" in reader.watched.values(), WAIT)


async def test_a_subfolder_past_the_watch_limit_is_explained_once(
    root: Path, make_reader: ReaderFactory, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    real = inotify._LIBC

    class Limited:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def inotify_add_watch(self, fd: int, path: bytes, mask: int) -> int:
            if b"deny" in os.path.basename(path):
                ctypes.set_errno(errno.ENOSPC)
                return -1
            return int(real.inotify_add_watch(fd, path, mask))

    monkeypatch.setattr(inotify, "_LIBC", Limited())
    (root / "old-deny").mkdir()
    (root / "x").mkdir()
    with caplog.at_level(logging.WARNING, logger="mfsync.watch"):
        reader, seen = make_reader()  # old-deny: warned, not reported (nothing changed yet)
        (root / "x" / "deny").mkdir()
        (root / "x" / "deny-too").mkdir()
        # the parent of each folder that cannot be watched is reported, to be rescanned
        await wait_for(lambda: seen.pairs.count(("x", False)) == 2, WAIT,
                       detail=lambda: seen.pairs)
    assert seen.paths == {"x", "x/deny", "x/deny-too"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "fs.inotify.max_user_watches=524288" in warnings[0]
    assert "periodic rescans" in warnings[0]
    assert sorted(reader.watched.values()) == ["", "x"]


async def test_a_root_past_the_limit_leaves_the_watcher_unavailable(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = inotify._LIBC

    class Full:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def inotify_add_watch(self, fd: int, path: bytes, mask: int) -> int:
            del fd, path, mask
            ctypes.set_errno(errno.ENOSPC)
            return -1

    monkeypatch.setattr(inotify, "_LIBC", Full())
    fds = open_fds()
    watcher = FolderWatcher(root, lambda paths, done: None, loop=asyncio.get_running_loop())
    with caplog.at_level(logging.WARNING, logger="mfsync.watch"):
        watcher.start()
    assert watcher.available is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "fs.inotify.max_user_watches=524288" in warnings[0]
    watcher.stop()
    assert open_fds() == fds


async def test_close_leaves_no_descriptor_and_nothing_more_comes(
    root: Path, make_reader: ReaderFactory
) -> None:
    fds = open_fds()
    reader, seen = make_reader()
    assert reader.fileno >= 0
    assert len(open_fds() - fds) == 1
    assert os.readlink(f"/proc/self/fd/{reader.fileno}") == "anon_inode:inotify"
    reader.close()
    assert reader.fileno == -1
    assert open_fds() == fds
    (root / "late").write_bytes(b"x")
    await asyncio.sleep(QUIET)
    assert seen.pairs == []


def test_the_default_on_linux_is_our_reader() -> None:
    assert sys.platform.startswith("linux")
    assert inotify.supported()


async def test_a_close_from_another_thread_is_done_on_the_loop(
        root: Path, make_reader: ReaderFactory) -> None:
    # (the engine once stopped watchers in a worker thread: under qasync the reader's socket
    # notifier was then deleted behind Qt's dispatcher, and the desktop app crashed)
    reader, _ = make_reader()
    fd = reader.fileno
    removed_on: list[int] = []
    loop = asyncio.get_running_loop()
    real_remove = loop.remove_reader

    def remove_reader(fileno: int) -> bool:
        removed_on.append(threading.get_ident())
        return real_remove(fileno)

    loop.remove_reader = remove_reader  # type: ignore[method-assign]
    try:
        closer = threading.Thread(target=reader.close)  # (joined: no thread is left)
        closer.start()
        closer.join()
        assert str(fd) in open_fds() or reader.fileno == -1  # (not closed behind the loop's back)
        await wait_for(lambda: reader.fileno == -1, 5.0, "the reader to close on the loop")
    finally:
        loop.remove_reader = real_remove  # type: ignore[method-assign]
    assert removed_on == [threading.get_ident()]
