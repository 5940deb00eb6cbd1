"""A share set's folder identity: kept in its index database, written once."""

import asyncio
from pathlib import Path

from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.store.index_db import FolderIdentity, IndexDB
from mfsync.store.shareset import ShareSet


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
