"""A share set's folder identity: kept in its index database, written once."""

import asyncio
from pathlib import Path

import pytest

from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.store.index_db import FolderIdentity, IndexDB
from mfsync.store.shareset import RootChanged, ShareSet


def _share(root: Path, db_path: Path, identity: FolderIdentity | None = None) -> ShareSet:
    return ShareSet(root, open_db=lambda: IndexDB(db_path), identity=identity)


def test_identity_is_kept_in_the_index_database(tmp_path: Path) -> None:
    root = tmp_path / "My Notes"
    root.mkdir()
    db_path = IndexDB.path_for(tmp_path / "state", root)
    notes = FolderIdentity(FolderId.parse("k3x9-pq2m"), "Notes")

    async def run() -> None:
        plain = _share(root, db_path)
        await plain.open_index()
        assert (plain.folder_id, plain.label) == (DEFAULT_FOLDER, "My Notes")
        plain.close()
        first = _share(root, db_path, notes)
        assert first.folder_id == DEFAULT_FOLDER  # not read before the database opens
        await first.open_index()
        assert (first.folder_id, first.label) == (notes.id, "Notes")
        first.close()
        # a later run: what the database recorded, whatever identity it is handed
        later = _share(root, db_path, FolderIdentity(FolderId.new(), "Other"))
        await later.rescan()
        assert (later.folder_id, later.label) == (notes.id, "Notes")
        later.close()
        again = _share(root, db_path)
        await again.open_index()
        assert again.folder_id == notes.id
        again.close()

    asyncio.run(run())


def test_without_a_database_the_identity_is_the_one_given(tmp_path: Path) -> None:
    notes = FolderIdentity(FolderId.new(), "Notes")
    assert ShareSet(tmp_path, identity=notes).folder_id == notes.id
    assert ShareSet(tmp_path / "x").label == "x"


def test_a_root_that_is_not_the_folder_shared_is_paused_across_runs(tmp_path: Path) -> None:
    """The root's device and inode are recorded at the first scan; a later run that finds
    another folder there (an unmounted drive's empty mount point) scans nothing, makes no
    tombstone, and says why, until the folder is back or is shared again (``rebind``)."""
    root = tmp_path / "drive"
    root.mkdir()
    (root / "a.txt").write_bytes(b"a")
    db_path = IndexDB.path_for(tmp_path / "state", root)

    async def run() -> None:
        first = _share(root, db_path)
        await first.rescan()
        assert set(first.files) == {"a.txt"} and not first.paused
        first.close()
        root.rename(tmp_path / "away")  # unmounted: an empty folder in its place
        root.mkdir()
        later = _share(root, db_path)
        with pytest.raises(RootChanged, match=r"drive is not the folder that was shared "
                                              r"\(unmounted\?\)"):
            await later.rescan()
        assert later.paused and later.generation == 0
        record = later.record("a.txt")
        assert record is not None and not record.deleted  # no tombstone
        root.rmdir()
        (tmp_path / "away").rename(root)  # mounted again
        assert await later.rescan() and not later.paused
        assert set(later.files) == {"a.txt"}
        later.close()
        # Shared again by the user: the folder there now is the one shared.
        root.rename(tmp_path / "old")
        root.mkdir()
        again = _share(root, db_path)
        with pytest.raises(RootChanged):
            await again.rescan()
        await again.rebind()
        await again.rescan()
        assert again.files == {} and not again.paused
        again.close()

    asyncio.run(run())
