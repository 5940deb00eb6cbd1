"""Our shared folders (``engine/local_folders.py``): the generation we announce never goes back
and moves whenever what we offer does; a folder that cannot be scanned offers nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from mfsync.audience import Audience
from mfsync.engine.local_folders import LocalFolders
from mfsync.folder_config import FolderConfig
from mfsync.protocol.folder_id import FolderId
from mfsync.store.shareset import ShareSetError


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` under ``root``, dated a minute ago (settled: offered at once)."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (time.time() - 60, time.time() - 60))
    return root.resolve()


class Counts:
    """What the folders told their owner."""

    def __init__(self) -> None:
        self.changes = 0
        self.offers = 0

    def change(self) -> None:
        self.changes += 1

    def offer(self) -> None:
        self.offers += 1


def _folders(*roots: Path, told: Counts) -> LocalFolders:
    return LocalFolders(roots, local_key=bytes(32), state_dir=None, watch=False,
                        rescan_interval=3600.0, on_change=told.change,
                        on_offer_changed=told.offer)


async def test_the_generation_counts_every_change_of_the_offer(tmp_path: Path) -> None:
    told = Counts()
    a = _tree(tmp_path / "a", {"one": b"1"})
    b = _tree(tmp_path / "b", {"two": b"2"})
    folders = _folders(a, a, told=told)  # a folder named twice is shared once
    try:
        assert [s.root for s in folders.shares] == [a]
        await folders.start()
        first = folders.generation
        assert first > 0 and folders.snapshot()[0].files == 1
        assert told.changes >= 2  # the first scan is shown as it starts and ends

        await folders.rescan()  # nothing changed
        assert folders.generation == first and told.offers == 0

        _tree(a, {"three": b"3"})
        await folders.rescan()
        assert folders.generation > first and told.offers == 1

        share, new = await folders.add(b)
        assert new and folders.generation > first + 1
        again, new = await folders.add(b)
        assert again is share and not new
        await folders.open(share)
        before = folders.generation
        assert await folders.remove(b)
        assert not await folders.remove(b)
        # Its generation stays counted: the sum never goes back.
        assert folders.generation > before and [s.root for s in folders.shares] == [a]

        folders.bump()  # the trust list changed
        assert folders.generation == before + 2
    finally:
        await folders.stop_watching()
        folders.cancel()
        folders.close()


async def test_a_folder_that_cannot_be_scanned_offers_nothing_until_it_can(
        tmp_path: Path) -> None:
    told = Counts()
    a = _tree(tmp_path / "a", {"one": b"1"})
    folders = _folders(a, told=told)
    try:
        await folders.start()
        [share] = folders.offered()
        generation = folders.generation
        (a / "one").unlink()
        a.rmdir()
        await folders.rescan()
        # Not scanned (its files are not marked deleted), not offered, shown with the reason.
        assert folders.offered() == [] and share.count == 1
        assert folders.snapshot()[0].error
        assert folders.generation == generation + 1 and told.offers == 1
        await folders.rescan()  # still gone: nothing new
        assert folders.generation == generation + 1 and told.offers == 1

        _tree(a, {"one": b"1"})
        await folders.rescan()
        assert folders.offered() == [share] and not folders.snapshot()[0].error
        assert folders.generation > generation + 1 and told.offers == 2
    finally:
        await folders.stop_watching()
        folders.cancel()
        folders.close()


async def test_a_folder_that_is_not_there_cannot_be_added(tmp_path: Path) -> None:
    folders = _folders(told=Counts())
    with pytest.raises(ShareSetError):
        await folders.add(tmp_path / "missing")
    assert folders.shares == () and folders.generation == 0


async def test_a_restart_offers_the_index_at_once_and_walks_in_the_background(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path / "share", {f"f{i}": b"%d" % i for i in range(5)})
    state = tmp_path / "state"
    told = Counts()

    def folders() -> LocalFolders:
        return LocalFolders([root], local_key=bytes(32), state_dir=state, watch=False,
                            rescan_interval=3600.0, on_change=told.change,
                            on_offer_changed=told.offer)

    first = folders()
    await first.start()
    await first.stop_watching()
    first.cancel()
    first.close()

    (root / "f0").unlink()  # while nobody watched
    _tree(root, {"new": b"n"})
    again = folders()
    walked: list[bool] = []
    share = again.shares[0]
    real = share.rescan

    async def rescan(*args: object, **kwargs: object) -> bool:
        walked.append(True)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    share.rescan = rescan  # type: ignore[method-assign]
    try:
        await again.start()
        # Ready before any walk: what the index held, f0 included.
        assert sorted(share.files) == [f"f{i}" for i in range(5)] and not walked
        for _ in range(200):
            if walked and "new" in share.files:
                break
            await asyncio.sleep(0.01)
        assert sorted(share.files) == ["f1", "f2", "f3", "f4", "new"]
        record = share.record("f0")
        assert record is not None and record.deleted
    finally:
        await again.stop_watching()
        for task in again.cancel():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        again.close()


async def test_the_served_views_are_built_again_when_what_they_show_changes(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path / "share", {"a": b"a"})
    config = FolderConfig(root, id=FolderId.parse("k3x9-pq2m"), label="Notes")
    trusted = [frozenset({b"\x01" * 32})]
    folders = LocalFolders([config], local_key=bytes(32), state_dir=None, watch=False,
                           rescan_interval=3600.0, on_change=lambda: None,
                           on_offer_changed=lambda: None, trusted=lambda: trusted[0])
    try:
        await folders.start()
        first = folders.views()
        assert folders.views() is first  # nothing changed: not built again
        (view,) = first
        assert view.admits(b"\x01" * 32) and not view.admits(b"\x02" * 32)

        _tree(root, {"b": b"b"})
        await folders.rescan()
        (view,) = folders.views()
        assert view.generation > first[0].generation

        trusted[0] = frozenset({b"\x02" * 32})  # the trust list changed
        (view,) = folders.views()
        assert view.admits(b"\x02" * 32) and not view.admits(b"\x01" * 32)

        assert folders.configure(config.id, audience=Audience.of_keys(frozenset({b"\x03" * 32})))
        after = folders.views()
        assert after is not first
        assert after[0].admits(b"\x03" * 32) and not after[0].admits(b"\x02" * 32)
        assert not after[0].announced
    finally:
        await folders.stop_watching()
        folders.cancel()
