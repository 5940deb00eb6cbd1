"""Tests for the names mfsync keeps for itself (``reserved_name_reason``) and for
descriptor-relative file operations (``mfsync.store.dirfd``) as partial files, hashing and
serving use them."""

import os
from pathlib import Path

import pytest

from mfsync.protocol.content import block_hash, block_size_for
from mfsync.protocol.names import InvalidName, check_wire_path, reserved_name_reason
from mfsync.store.dirfd import (
    DIR_FD_SUPPORTED,
    UnsafeComponent,
    open_folder,
    open_under,
    rename_below,
    unlink_below,
)
from mfsync.store.hashing import hash_file
from mfsync.store.ignore import IgnoreRules
from mfsync.store.partial import PartialFile
from mfsync.store.safe_paths import UnsafePath, partial_path_for

needs_dir_fd = pytest.mark.skipif(not DIR_FD_SUPPORTED, reason="no dir_fd on this platform")
MTIME = 1_600_000_000_000_000_000

RESERVED = [
    ".race.bin.mfsync-part",
    "a.mfsync-part",
    ".A.MFSYNC-PART",
    "x/.good.txt.Mfsync-Part",
    ".mfsync",
    ".MFSYNC/state",
    "deep/down/.mfsync/x",
    ".mfsyncignore",
    "sub/.MfSyncIgnore",
    ".race.bin.mf\u017fync-part",  # long s: case-folds to "s", as a case-insensitive disk does
]
NOT_RESERVED = [".mfsync-partial", "mfsync", "a.mfsync-part.txt", ".mfsyncignore.bak",
                "x.mfsync", "notes.mfsync-par"]


@pytest.mark.parametrize("name", RESERVED)
def test_names_of_mfsyncs_own_files_never_cross_the_wire(name: str) -> None:
    with pytest.raises(InvalidName, match="mfsync"):
        check_wire_path(name)


@pytest.mark.parametrize("name", NOT_RESERVED)
def test_names_that_only_look_alike_are_fine(name: str) -> None:
    assert check_wire_path(name) == name
    assert reserved_name_reason(name.rpartition("/")[2]) is None


@pytest.mark.parametrize("name", RESERVED)
def test_what_the_wire_refuses_is_never_offered(tmp_path: Path, name: str) -> None:
    # One rule for both: the ignore rules leave out exactly these names (at any depth).
    assert IgnoreRules(tmp_path).is_ignored(name, is_dir=False)


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "b.txt").write_bytes(b"inside\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.txt").write_bytes(b"OUTSIDE")
    return root, outside


def _swap_for_symlink(root: Path, outside: Path) -> None:
    os.rename(root / "sub", root.parent / "sub-was")
    os.symlink(outside, root / "sub")


@needs_dir_fd
def test_a_folder_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    root, outside = _tree(tmp_path)
    fd = open_under(root, "sub/b.txt")
    os.close(fd)
    _swap_for_symlink(root, outside)
    with pytest.raises(UnsafeComponent, match="sub is a symlink; not following it"):
        open_under(root, "sub/b.txt")
    with pytest.raises(UnsafeComponent, match="is a symlink"):
        hash_file(root / "sub" / "b.txt", root)
    with pytest.raises(UnsafeComponent):
        unlink_below(root, "sub/b.txt")
    assert (outside / "b.txt").exists()


@needs_dir_fd
def test_the_last_component_is_not_followed_either(tmp_path: Path) -> None:
    root, outside = _tree(tmp_path)
    os.symlink(outside / "b.txt", root / "link.txt")
    with pytest.raises(UnsafeComponent, match=r"link\.txt is a symlink"):
        open_under(root, "link.txt")


def test_a_file_in_the_way_of_a_folder_is_named(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    with pytest.raises(UnsafeComponent, match=r"b.txt is not a folder"):
        open_folder(root, ["sub", "b.txt", "c"], create=True)


def test_missing_folders_are_made_only_when_asked(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    with pytest.raises(FileNotFoundError):
        open_folder(root, ["new", "deeper"])
    with open_folder(root, ["new", "deeper"], create=True) as folder:
        assert folder.path == root / "new" / "deeper"
    assert (root / "new" / "deeper").is_dir()


def test_rename_below_moves_within_the_root(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    rename_below(root, "sub/b.txt", "sub/c.txt")
    assert (root / "sub" / "c.txt").read_bytes() == b"inside\n"


def _partial(root: Path, rel: str, data: bytes) -> PartialFile:
    block = block_size_for(len(data))
    return PartialFile(root / rel, len(data), block, (block_hash(data),), root)


def test_finalize_sets_the_time_through_the_open_file(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    partial = _partial(root, "a/b/new.txt", b"verified")
    partial.open()
    assert partial.accept_block(0, b"verified")
    assert partial.finalize(MTIME) == root / "a" / "b" / "new.txt"
    assert (root / "a" / "b" / "new.txt").stat().st_mtime_ns == MTIME
    assert not partial_path_for(root / "a" / "b" / "new.txt").exists()


def test_a_partial_replaced_after_verification_is_not_landed(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    target = root / "race.bin"
    partial = _partial(root, "race.bin", b"verified")
    partial.open()
    assert partial.accept_block(0, b"verified")
    other = root / "other"
    other.write_bytes(b"HOSTILE!")
    os.replace(other, partial.path)  # someone else's file under the partial's name
    with pytest.raises(UnsafePath, match="replaced by another file after it was verified"):
        partial.finalize(MTIME)
    partial.close()
    assert not target.exists()


@needs_dir_fd
def test_finalize_lands_in_the_folder_it_wrote_in(tmp_path: Path) -> None:
    root, outside = _tree(tmp_path)
    partial = _partial(root, "sub/new.txt", b"verified")
    partial.open()
    assert partial.accept_block(0, b"verified")
    _swap_for_symlink(root, outside)  # the path now leads outside; the held folder does not
    partial.finalize(MTIME)
    assert (root.parent / "sub-was" / "new.txt").read_bytes() == b"verified"
    assert not (outside / "new.txt").exists()


def test_a_folder_where_the_file_goes_is_refused_and_the_partial_goes(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    partial = _partial(root, "sub", b"a file named sub")
    partial.open()
    assert partial.accept_block(0, b"a file named sub")
    with pytest.raises(UnsafePath, match="is a folder here; a file cannot take its place"):
        partial.finalize(MTIME)
    partial.close()
    assert (root / "sub").is_dir()
    assert not partial.path.exists()
