"""The one rule for naming the network's files: ``path``, ``LABEL:path`` or ``ID:path``."""

from __future__ import annotations

import pytest

from mfsync.engine.folder_names import AmbiguousLabel, FolderNames
from mfsync.engine.status import RemoteFile
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

NOTES = FolderId.parse("k3x9-pq2m")
PHOTOS = FolderId.parse("ab12-cd34")
PHOTOS_TOO = FolderId.parse("zz99-yy88")


def _names() -> FolderNames:
    return FolderNames([(DEFAULT_FOLDER, "default"), (NOTES, "Notes"), (PHOTOS, "Photos"),
                        (PHOTOS_TOO, "Photos")])


def test_names_are_the_path_the_label_or_the_id() -> None:
    names = _names()
    assert names.name(DEFAULT_FOLDER, "a.txt") == "a.txt"
    assert names.name(NOTES, "sub/a.txt") == "Notes:sub/a.txt"
    # Two offered folders share a label: each is told by its id.
    assert names.name(PHOTOS, "p.jpg") == "ab12-cd34:p.jpg"
    assert names.name(PHOTOS_TOO, "p.jpg") == "zz99-yy88:p.jpg"
    remote = RemoteFile("x", 1, 0, b"c" * 32, (), folder=NOTES)
    assert names.name_of(remote) == "Notes:x"
    assert names.label(NOTES) == "Notes" and names.label(DEFAULT_FOLDER) == "default"
    assert names.directory(NOTES) == "Notes" and names.directory(PHOTOS) == "ab12-cd34"


def test_names_read_back() -> None:
    names = _names()
    assert names.parse("a.txt") == (DEFAULT_FOLDER, "a.txt")
    assert names.parse("photos/") == (DEFAULT_FOLDER, "photos/")
    assert names.parse("Notes:sub/a.txt") == (NOTES, "sub/a.txt")
    assert names.parse("Notes:") == (NOTES, "")
    assert names.parse("k3x9-pq2m:sub/a.txt") == (NOTES, "sub/a.txt")
    assert names.parse("K3X9PQ2M:a") == (NOTES, "a")
    assert names.parse("ab12-cd34:p.jpg") == (PHOTOS, "p.jpg")
    # Every name shown reads back as what it names.
    for folder, path in ((DEFAULT_FOLDER, "a"), (NOTES, "b/c"), (PHOTOS, "d"), (PHOTOS_TOO, "e")):
        assert names.parse(names.name(folder, path)) == (folder, path)


def test_an_ambiguous_label_is_an_error_listing_the_ids() -> None:
    with pytest.raises(AmbiguousLabel) as raised:
        _names().parse("Photos:p.jpg")
    assert "ab12-cd34" in str(raised.value) and "zz99-yy88" in str(raised.value)


def test_unknown_labels_and_ids() -> None:
    names = _names()
    assert names.parse("Music:a.mp3") is None  # not offered (yet)
    assert names.parse("default:a.txt") is None  # the default folder's files have no prefix
    assert names.parse("My Notes:a") is None  # a label, not an id with spaces
    other = FolderId.parse("qqqq-rrrr")
    assert names.parse("qqqq-rrrr:a") == (other, "a")  # an id not offered yet
    assert names.parse("0000-0000:a.txt") == (DEFAULT_FOLDER, "a.txt")


def test_a_label_that_is_no_file_name_gets_the_id_as_its_directory() -> None:
    dots = FolderId.parse("dddd-dddd")
    names = FolderNames([(dots, "..."), (NOTES, "CON")])
    assert names.directory(dots) == "dddd-dddd"
    assert names.directory(NOTES) == "k3x9-pq2m"  # a reserved name on Windows
