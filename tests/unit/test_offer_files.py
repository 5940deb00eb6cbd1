"""Staging what is sent (engine/offer_files.py): names, hashes, refusals, and the folder view
only the receiver may see."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mfsync.engine.offer_files import StagingError, stage
from mfsync.protocol.folder_id import FolderId
from mfsync.store import folder_scan
from mfsync.store.hashing import FileChanged, hash_file

RECEIVER = b"r" * 32


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_a_folder_keeps_its_name_and_loose_files_are_flat(tmp_path: Path) -> None:
    photos = _tree(tmp_path / "a" / "Photos", {"x.jpg": b"x", "2024/y.jpg": b"yy",
                                               ".a.mfsync-part": b"partial"})
    loose = _tree(tmp_path / "b" / "c", {"notes.txt": b"notes"}) / "notes.txt"
    staged = stage([photos, loose])
    assert staged.entries == [
        ("Photos/2024/y.jpg", 2, hash_file(photos / "2024" / "y.jpg").content_id),
        ("Photos/x.jpg", 1, hash_file(photos / "x.jpg").content_id),
        ("notes.txt", 5, hash_file(loose).content_id),
    ]
    assert (staged.label, staged.total_files, staged.total_bytes) == ("3 files", 3, 8)
    # Each file is read from the folder it was found in, below it.
    served = {local.path: root.root / local.disk_path for root in staged.roots
              for local in root.files.values()}
    assert served == {"Photos/2024/y.jpg": photos / "2024" / "y.jpg",
                      "Photos/x.jpg": photos / "x.jpg", "notes.txt": loose}
    assert stage([photos]).label == "Photos"
    assert stage([loose]).label == "notes.txt"


def test_the_view_is_the_receivers_alone_and_never_announced(tmp_path: Path) -> None:
    loose = _tree(tmp_path, {"a.txt": b"a"}) / "a.txt"
    sent: list[int] = []
    offer = FolderId.new()
    view = stage([loose]).view(offer, RECEIVER, sent.append)
    assert view.id == offer and view.label == "a.txt"
    assert view.admits(RECEIVER) and not view.admits(b"s" * 32)
    assert not view.announced and not view.sync
    assert [e.path for root in view.shares for e in root.entries()] == ["a.txt"]
    view.sent(5)
    assert sent == [5]


@pytest.mark.parametrize("names", [("x/a.txt", "y/a.txt"), ("x/A.txt", "y/a.txt")])
def test_two_things_of_one_name_are_an_error(tmp_path: Path, names: tuple[str, str]) -> None:
    _tree(tmp_path, dict.fromkeys(names, b"1"))
    with pytest.raises(StagingError, match="under one name"):
        stage([tmp_path / name for name in names])


def test_what_cannot_be_sent_is_refused(tmp_path: Path) -> None:
    target = _tree(tmp_path, {"real.txt": b"r"}) / "real.txt"
    (tmp_path / "link.txt").symlink_to(target)
    with pytest.raises(StagingError, match="symbolic link"):
        stage([tmp_path / "link.txt"])
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(StagingError, match="not a file or a folder"):
        stage([tmp_path / "pipe"])
    with pytest.raises(StagingError, match="cannot read"):
        stage([tmp_path / "missing.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(StagingError, match="holds no file"):
        stage([tmp_path / "empty"])
    bad = _tree(tmp_path, {"trailing.": b"t"}) / "trailing."
    with pytest.raises(StagingError, match="ends in a dot"):
        stage([bad])
    with pytest.raises(StagingError, match="nothing to send"):
        stage([])


def test_inside_a_folder_links_and_bad_names_are_left_out(tmp_path: Path) -> None:
    folder = _tree(tmp_path / "F", {"ok.txt": b"ok", "bad:name.txt": b"b"})
    (folder / "escape").symlink_to(tmp_path)
    (folder / "link.txt").symlink_to(folder / "ok.txt")
    assert [path for path, _, _ in stage([folder]).entries] == ["F/ok.txt"]


def test_a_file_that_changes_while_it_is_read_is_not_left_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _tree(tmp_path / "F", {"a.txt": b"a", "b.txt": b"b"})

    def changing(path: Path, root: Path | None = None) -> Any:
        if path.name == "b.txt":
            raise FileChanged(f"{path} changed size while being hashed")
        return hash_file(path, root)

    monkeypatch.setattr(folder_scan, "hash_file", changing)
    with pytest.raises(StagingError, match="changed while they were read"):
        stage([folder])
