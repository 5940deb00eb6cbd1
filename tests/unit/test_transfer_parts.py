"""Tests for the pure and blocking parts of transfers, on real temporary files: conflict names,
safe paths, partial files, free-space checks, missing runs and block sizes."""

import calendar
import itertools
import os
import shutil
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mfsync.store.space as space_module
from mfsync.protocol.content import (
    MAX_BLOCK_SIZE,
    MIN_BLOCK_SIZE,
    TARGET_BLOCKS,
    block_count,
    block_size_for,
)
from mfsync.protocol.names import check_wire_path
from mfsync.store.conflicts import CONFLICT_MARKER, conflict_name, is_conflict_name
from mfsync.store.dirfd import UnsafeComponent, open_folder
from mfsync.store.partial import MAX_RANGE, PartialFile, missing_runs
from mfsync.store.safe_paths import (
    PARTIAL_SUFFIX,
    UnsafePath,
    partial_path_for,
    partial_target_name,
    target_for,
)
from mfsync.store.space import InsufficientSpace, check_free_space, reserve_for

FAST = settings(max_examples=200, deadline=None)
MIB = 1024 * 1024
KEY = bytes.fromhex("ab12cd34") + b"\x00" * 28


def _ns(date: tuple[int, int, int], time: tuple[int, int, int]) -> int:
    """Nanoseconds since the epoch of a UTC date and time."""
    return calendar.timegm((*date, *time, 0, 0, 0)) * 1_000_000_000


# -- conflict names ------------------------------------------------------------------------------

STAMP = "20261126-101500"
MTIME = _ns((2026, 11, 26), (10, 15, 0))


def test_conflict_name_keeps_the_extension() -> None:
    assert conflict_name("report.pdf", MTIME, KEY) == f"report.sync-conflict-{STAMP}-ab12cd.pdf"


def test_conflict_name_in_a_folder_changes_only_the_last_suffix() -> None:
    assert conflict_name("dir/a.tar.gz", MTIME, KEY) == f"dir/a.tar.sync-conflict-{STAMP}-ab12cd.gz"
    assert conflict_name("x/y/z.txt", MTIME, KEY) == f"x/y/z.sync-conflict-{STAMP}-ab12cd.txt"


@pytest.mark.parametrize("name", [".bashrc", "Makefile", "d.dir/README", "sub/.gitignore"])
def test_conflict_name_without_extension_gets_the_tag_at_the_end(name: str) -> None:
    assert conflict_name(name, MTIME, KEY) == f"{name}.sync-conflict-{STAMP}-ab12cd"


def test_conflict_name_uses_utc_and_the_first_six_hex_digits_of_the_key() -> None:
    other_key = bytes.fromhex("0f00ff") + b"\xee" * 29
    mtime = _ns((2001, 2, 3), (4, 5, 6)) + 123_456_789
    assert conflict_name("a.b", mtime, other_key) == "a.sync-conflict-20010203-040506-0f00ff.b"


def test_conflict_name_cuts_to_whole_seconds_without_rounding_up() -> None:
    # The last nanosecond of a second is still that second (a float would round it up).
    last = _ns((2023, 11, 14), (22, 13, 20)) + 999_999_999
    assert conflict_name("f.txt", last, KEY) == "f.sync-conflict-20231114-221320-ab12cd.txt"
    assert conflict_name("f.txt", -1, KEY) == "f.sync-conflict-19691231-235959-ab12cd.txt"


@pytest.mark.parametrize("mtime_ns", [0, -(2**63), 2**63 - 1])
def test_conflict_name_of_extreme_times(mtime_ns: int) -> None:
    name = conflict_name("f.txt", mtime_ns, KEY)
    assert is_conflict_name(name)
    assert check_wire_path(name) == name


def test_conflict_name_is_deterministic() -> None:
    first = conflict_name("dir/report.pdf", MTIME, KEY)
    assert all(conflict_name("dir/report.pdf", MTIME, KEY) == first for _ in range(10))
    assert conflict_name("dir/report.pdf", MTIME + 1_000_000_000, KEY) != first
    assert conflict_name("dir/report.pdf", MTIME, b"\x01" * 32) != first


@FAST
@given(st.sampled_from(["report.pdf", "dir/a.tar.gz", ".bashrc", "Makefile", "a/b/c"]),
       st.integers(-(2**63), 2**63 - 1), st.binary(min_size=32, max_size=32))
def test_conflict_names_are_valid_recognisable_names_in_the_same_folder(
    path: str, mtime_ns: int, key: bytes
) -> None:
    name = conflict_name(path, mtime_ns, key)
    assert check_wire_path(name) == name
    assert is_conflict_name(name)
    assert not is_conflict_name(path)
    assert name.rpartition("/")[0] == path.rpartition("/")[0]
    assert key.hex()[:6] in name.rpartition("/")[2]


def test_is_conflict_name() -> None:
    assert is_conflict_name(f"report.sync-conflict-{STAMP}-ab12cd.pdf")
    assert is_conflict_name(f"d/Makefile.sync-conflict-{STAMP}-ab12cd")
    assert not is_conflict_name("report.pdf")
    assert not is_conflict_name("sync-conflict.txt")
    # Only the file's own name counts, not a folder's.
    assert not is_conflict_name(f"old{CONFLICT_MARKER}dir/file.txt")


# -- safe paths ----------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "dest"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "wire_path", ["../x", "/abs", "a/../../b", "a/./b", "C:x", "a//b", "", "a\\b", "x/..", "CON"]
)
def test_target_for_refuses_bad_names(root: Path, wire_path: str) -> None:
    with pytest.raises(UnsafePath, match="refused name"):
        target_for(root, wire_path)


def test_target_for_accepts_nested_new_paths_without_creating_them(root: Path) -> None:
    assert target_for(root, "new/dir/f.txt") == root / "new" / "dir" / "f.txt"
    assert target_for(root, "f.txt") == root / "f.txt"
    assert list(root.iterdir()) == []


def test_target_for_accepts_existing_folders_and_files(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_bytes(b"old")
    assert target_for(root, "a/b/f") == root / "a" / "b" / "f"
    assert target_for(root, "a/b/new/g") == root / "a" / "b" / "new" / "g"


def test_target_for_refuses_a_path_through_a_symlinked_folder(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "real").mkdir()
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "real" / "in").symlink_to(root / "real", target_is_directory=True)
    with pytest.raises(UnsafePath, match="symlink"):
        target_for(root, "out/f.txt")
    with pytest.raises(UnsafePath, match="symlink"):
        target_for(root, "out/deeper/f.txt")
    with pytest.raises(UnsafePath, match="symlink"):  # even one pointing inside the root
        target_for(root, "real/in/f.txt")


def test_target_for_refuses_a_final_symlink(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"secret")
    (root / "link.txt").symlink_to(outside)
    (root / "dangling").symlink_to(tmp_path / "missing")
    with pytest.raises(UnsafePath, match="symlink"):
        target_for(root, "link.txt")
    with pytest.raises(UnsafePath, match="symlink"):
        target_for(root, "dangling")
    assert outside.read_bytes() == b"secret"


def test_target_for_refuses_a_file_used_as_a_folder(root: Path) -> None:
    (root / "file").write_bytes(b"x")
    with pytest.raises(UnsafePath, match="not a folder"):
        target_for(root, "file/inner.txt")


def test_the_folders_above_a_target_are_created(root: Path) -> None:
    target = target_for(root, "a/b/c/f.txt")
    with open_folder(root, target.parent.relative_to(root).parts, create=True):
        pass
    assert (root / "a" / "b" / "c").is_dir()
    assert not target.exists()
    with open_folder(root, ("a", "b", "c"), create=True):  # again: nothing to do
        pass
    with open_folder(root, (), create=True) as folder:  # the root itself: nothing to do
        assert folder.path == root


def test_creating_folders_refuses_a_symlink_component(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "a").mkdir()
    (root / "a" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeComponent, match="is a symlink"):
        open_folder(root, ("a", "link", "b"), create=True)
    assert list(outside.iterdir()) == []


def test_creating_folders_refuses_a_file_component(root: Path) -> None:
    (root / "file").write_bytes(b"x")
    with pytest.raises(UnsafeComponent, match="not a folder"):
        open_folder(root, ("file",), create=True)


def test_partial_path_for_is_a_hidden_file_beside_the_target(root: Path) -> None:
    assert partial_path_for(root / "d" / "name.txt") == root / "d" / f".name.txt{PARTIAL_SUFFIX}"
    assert partial_path_for(root / ".bashrc") == root / "..bashrc.mfsync-part"
    assert PARTIAL_SUFFIX == ".mfsync-part"


# -- partial files -------------------------------------------------------------------------------


def _hashes(data: bytes, block_size: int) -> tuple[bytes, ...]:
    return tuple(blake3.blake3(data[i : i + block_size]).digest()
                 for i in range(0, len(data), block_size))


def _partial(target: Path, data: bytes) -> PartialFile:
    block = block_size_for(len(data))
    return PartialFile(target, len(data), block, _hashes(data, block))


def _blocks(data: bytes, block_size: int) -> list[bytes]:
    return [data[i : i + block_size] for i in range(0, len(data), block_size)]


def _disk_bytes(path: Path) -> int:
    return os.stat(path).st_blocks * 512


SOURCE = os.urandom(4 * MIN_BLOCK_SIZE + 12345)  # five blocks, the last one short
SOURCE_MTIME = _ns((2024, 5, 6), (7, 8, 9)) + 123_456_789


def test_partial_blocks_and_ranges(root: Path) -> None:
    partial = _partial(root / "f.bin", SOURCE)
    assert partial.block_size == MIN_BLOCK_SIZE
    assert partial.blocks == 5 == block_count(len(SOURCE))
    assert partial.block_range(0) == (0, MIN_BLOCK_SIZE)
    assert partial.block_range(4) == (4 * MIN_BLOCK_SIZE, 12345)
    assert partial.path == root / ".f.bin.mfsync-part"


def test_fresh_download_writes_blocks_and_finalizes(root: Path) -> None:
    target = root / "f.bin"
    partial = _partial(target, SOURCE)
    assert partial.open() == 0
    assert partial.path.stat().st_size == len(SOURCE)
    assert partial.verify_existing() == [False] * 5
    for index, block in enumerate(_blocks(SOURCE, partial.block_size)):
        assert partial.accept_block(index, block) is True
    assert not target.exists()
    assert partial.finalize(SOURCE_MTIME) == target
    assert target.read_bytes() == SOURCE
    assert not partial.path.exists()
    assert target.stat().st_mtime_ns == SOURCE_MTIME
    assert [p.name for p in root.iterdir()] == ["f.bin"]


def test_blocks_may_arrive_in_any_order(root: Path) -> None:
    partial = _partial(root / "f.bin", SOURCE)
    partial.open()
    blocks = _blocks(SOURCE, partial.block_size)
    for index in (4, 1, 3, 0, 2):
        assert partial.accept_block(index, blocks[index])
    partial.finalize(SOURCE_MTIME)
    assert (root / "f.bin").read_bytes() == SOURCE


def test_finalize_to_another_name_leaves_the_target_alone(root: Path) -> None:
    target = root / "f.bin"
    target.write_bytes(b"ours")
    partial = _partial(target, SOURCE)
    partial.open()
    for index, block in enumerate(_blocks(SOURCE, partial.block_size)):
        partial.accept_block(index, block)
    other = root / "f.sync-conflict-x.bin"
    assert partial.finalize(SOURCE_MTIME, other) == other
    assert other.read_bytes() == SOURCE
    assert target.read_bytes() == b"ours"
    assert not partial.path.exists()


def test_finalize_replaces_the_old_file_in_one_step(root: Path) -> None:
    target = root / "f.bin"
    target.write_bytes(b"old content")
    old_inode = target.stat().st_ino
    partial = _partial(target, SOURCE)
    partial.open()
    for index, block in enumerate(_blocks(SOURCE, partial.block_size)):
        partial.accept_block(index, block)
        # Until finalize the target is untouched: never a half-written file under its name.
        assert target.read_bytes() == b"old content"
    partial_inode = partial.path.stat().st_ino
    partial.finalize(SOURCE_MTIME)
    # A rename of the partial (a new inode), not a copy into the old file.
    assert target.stat().st_ino == partial_inode != old_inode
    assert target.read_bytes() == SOURCE


def test_resume_keeps_the_blocks_a_partial_already_holds(root: Path) -> None:
    target = root / "f.bin"
    half = 2 * MIN_BLOCK_SIZE + 1000  # two whole blocks and the start of a third
    partial_path = partial_path_for(target)
    partial_path.write_bytes(SOURCE[:half])
    partial = _partial(target, SOURCE)
    assert partial.open() == half
    assert partial.path.stat().st_size == len(SOURCE)
    have = partial.verify_existing()
    assert have == [True, True, False, False, False]
    assert missing_runs(have, partial.block_size) == [(2, 4)]
    blocks = _blocks(SOURCE, partial.block_size)
    for index in (2, 3, 4):
        assert partial.accept_block(index, blocks[index])
    partial.finalize(SOURCE_MTIME)
    assert target.read_bytes() == SOURCE


def test_a_corrupted_block_is_repaired_alone(root: Path) -> None:
    target = root / "f.bin"
    damaged = bytearray(SOURCE)
    damaged[2 * MIN_BLOCK_SIZE + 77] ^= 0x40
    partial_path_for(target).write_bytes(damaged)
    partial = _partial(target, SOURCE)
    assert partial.open() == len(SOURCE)
    have = partial.verify_existing()
    assert have == [True, True, False, True, True]
    assert missing_runs(have, partial.block_size) == [(2, 2)]
    assert partial.accept_block(2, _blocks(SOURCE, partial.block_size)[2])
    partial.finalize(SOURCE_MTIME)
    assert target.read_bytes() == SOURCE


def test_a_partial_longer_than_the_file_is_truncated_on_open(root: Path) -> None:
    target = root / "f.bin"
    partial_path_for(target).write_bytes(SOURCE + b"stale tail" * 1000)
    partial = _partial(target, SOURCE)
    assert partial.open() == len(SOURCE) + 10_000
    assert partial.path.stat().st_size == len(SOURCE)
    assert partial.verify_existing() == [True] * 5
    partial.finalize(SOURCE_MTIME)
    assert target.read_bytes() == SOURCE


def test_a_partial_of_other_content_is_replaced_block_by_block(root: Path) -> None:
    target = root / "f.bin"
    partial_path_for(target).write_bytes(os.urandom(len(SOURCE) - 5))
    partial = _partial(target, SOURCE)
    partial.open()
    have = partial.verify_existing()
    assert have == [False] * 5
    for index, block in enumerate(_blocks(SOURCE, partial.block_size)):
        assert partial.accept_block(index, block)
    partial.finalize(SOURCE_MTIME)
    assert target.read_bytes() == SOURCE


def test_an_empty_file_finalizes_to_an_empty_file(root: Path) -> None:
    target = root / "empty"
    partial = PartialFile(target, 0, block_size_for(0), ())
    assert partial.blocks == 0
    assert partial.open() == 0
    assert partial.verify_existing() == []
    assert missing_runs([], partial.block_size) == []
    partial.finalize(SOURCE_MTIME)
    assert target.read_bytes() == b""
    assert target.stat().st_mtime_ns == SOURCE_MTIME
    assert not partial.path.exists()


def test_an_empty_file_over_an_old_partial(root: Path) -> None:
    target = root / "empty"
    partial_path_for(target).write_bytes(b"old junk")
    partial = PartialFile(target, 0, block_size_for(0), ())
    assert partial.open() == 8
    assert partial.verify_existing() == []
    partial.finalize(SOURCE_MTIME)
    assert target.read_bytes() == b""


def test_a_one_block_file(root: Path) -> None:
    target = root / "small.txt"
    data = b"hello world\n"
    partial = _partial(target, data)
    assert partial.blocks == 1
    assert partial.block_range(0) == (0, len(data))
    partial.open()
    assert partial.verify_existing() == [False]
    assert partial.accept_block(0, data)
    partial.finalize(SOURCE_MTIME)
    assert target.read_bytes() == data


def test_accept_block_refuses_wrong_data_and_writes_nothing(root: Path) -> None:
    target = root / "f.bin"
    partial = _partial(target, SOURCE)
    partial.open()
    blocks = _blocks(SOURCE, partial.block_size)
    wrong = bytearray(blocks[1])
    wrong[0] ^= 1
    assert partial.accept_block(1, bytes(wrong)) is False
    assert partial.accept_block(1, blocks[1][:-1]) is False  # too short
    assert partial.accept_block(1, blocks[1] + b"x") is False  # too long
    assert partial.accept_block(1, blocks[2]) is False  # another block's data
    assert partial.accept_block(4, blocks[4] + b"\x00") is False  # padding the short last block
    partial.close()
    assert partial.path.read_bytes() == bytes(len(SOURCE))
    assert _disk_bytes(partial.path) == 0


def test_block_matches(root: Path) -> None:
    partial = _partial(root / "f", SOURCE)
    blocks = _blocks(SOURCE, partial.block_size)
    assert partial.block_matches(0, blocks[0])
    assert partial.block_matches(0, bytearray(blocks[0]))
    assert partial.block_matches(4, memoryview(blocks[4]))
    assert not partial.block_matches(0, blocks[1])


def test_close_keeps_the_partial_and_discard_deletes_it(root: Path) -> None:
    target = root / "f.bin"
    partial = _partial(target, SOURCE)
    partial.open()
    partial.accept_block(0, SOURCE[:MIN_BLOCK_SIZE])
    partial.close()
    partial.close()  # twice is fine
    assert partial.path.exists()
    again = _partial(target, SOURCE)
    again.open()
    assert again.verify_existing() == [True, False, False, False, False]
    again.discard()
    assert not partial.path.exists()
    assert not target.exists()
    again.discard()  # nothing left: fine


def test_a_symlink_at_the_partial_path_is_not_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "victim"
    outside.write_bytes(b"keep me")
    target = root / "f.bin"
    partial_path_for(target).symlink_to(outside)
    with pytest.raises(OSError):
        _partial(target, SOURCE).open()
    assert outside.read_bytes() == b"keep me"


ZERO_SIZE = 64 * MIB


def _zero_partial(target: Path) -> PartialFile:
    block = block_size_for(ZERO_SIZE)
    zero = blake3.blake3(bytes(block)).digest()
    return PartialFile(target, ZERO_SIZE, block, (zero,) * (ZERO_SIZE // block))


def test_zero_blocks_beyond_the_old_partial_stay_holes(root: Path) -> None:
    target = root / "zeros.img"
    partial = _zero_partial(target)
    assert partial.open() == 0
    zeros = bytes(partial.block_size)
    for index in range(partial.blocks):
        assert partial.accept_block(index, zeros)
    partial.finalize(SOURCE_MTIME)
    assert target.stat().st_size == ZERO_SIZE
    assert _disk_bytes(target) < MIB  # far less than 64 MiB on disk
    with target.open("rb") as handle:
        while chunk := handle.read(8 * MIB):
            assert chunk.count(0) == len(chunk)


def test_a_sparse_partial_resumes_reading_its_holes_as_zero_blocks(root: Path) -> None:
    target = root / "zeros.img"
    partial = _zero_partial(target)
    partial.open()
    partial.close()  # interrupted at once: a partial of full size, all holes
    again = _zero_partial(target)
    assert again.open() == ZERO_SIZE
    assert again.verify_existing() == [True] * again.blocks
    again.finalize(SOURCE_MTIME)
    assert _disk_bytes(target) < MIB


def test_zero_blocks_over_old_data_are_written(root: Path) -> None:
    target = root / "zeros.img"
    old = ZERO_SIZE // 2
    with partial_path_for(target).open("wb") as handle:
        handle.write(b"\xa5" * old)  # garbage where zeros belong, in the first half
    partial = _zero_partial(target)
    assert partial.open() == old
    assert partial.verify_existing() == [False] * partial.blocks
    zeros = bytes(partial.block_size)
    for index in range(partial.blocks):
        assert partial.accept_block(index, zeros)
    partial.finalize(SOURCE_MTIME)
    with target.open("rb") as handle:
        while chunk := handle.read(8 * MIB):
            assert chunk.count(0) == len(chunk)  # the garbage was overwritten
    disk = _disk_bytes(target)
    assert old <= disk < old + MIB  # the first half was written, the second half stayed holes


def test_a_3_gib_sparse_file_is_not_written_in_full(root: Path) -> None:
    size = 3 * 1024 * MIB
    block = block_size_for(size)
    count = block_count(size)
    first = os.urandom(block)
    last_length = size - (count - 1) * block
    last = os.urandom(last_length)
    filler = blake3.blake3(b"not zeros").digest()  # blocks never sent in this test
    hashes = (blake3.blake3(first).digest(),) + (filler,) * (count - 2) + (
        blake3.blake3(last).digest(),)
    target = root / "big.img"
    partial_path_for(target).write_bytes(first)  # an earlier run got the first block
    partial = PartialFile(target, size, block, hashes)
    assert partial.open() == block
    assert partial.path.stat().st_size == size
    have = partial.verify_existing()  # reads only what the old partial held
    assert have == [True] + [False] * (count - 1)
    assert partial.accept_block(count - 1, last)
    partial.close()
    assert _disk_bytes(partial.path) < block + last_length + MIB
    with partial.path.open("rb") as handle:
        handle.seek(size - last_length)
        assert handle.read() == last
        handle.seek(0)
        assert handle.read(block) == first
        handle.seek(block)
        assert handle.read(MIB) == bytes(MIB)


# -- free space ---------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


def test_needing_more_than_is_free_raises_naming_folder_and_sizes(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    needed = usage.free + 1024 * MIB
    with pytest.raises(InsufficientSpace) as info:
        check_free_space(tmp_path, needed)
    message = str(info.value)
    assert str(tmp_path) in message
    assert f"{_mib(needed)} needed" in message
    assert f"{_mib(reserve_for(usage.total))} must stay free" in message
    assert " MiB free" in message


def test_a_small_need_passes(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    if usage.free < reserve_for(usage.total) + 512 * MIB:
        pytest.skip("the temporary file system is nearly full")
    check_free_space(tmp_path, 0)
    check_free_space(tmp_path, MIB)
    check_free_space(tmp_path, usage.free - reserve_for(usage.total) - 256 * MIB)


def test_the_reserve_must_stay_free(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    reserve = reserve_for(usage.total)
    if usage.free < reserve + 512 * MIB:
        pytest.skip("the temporary file system is nearly full")
    with pytest.raises(InsufficientSpace):
        check_free_space(tmp_path, usage.free - reserve + 256 * MIB)  # fits, but eats the reserve


def test_a_missing_subfolder_is_checked_on_its_nearest_existing_parent(tmp_path: Path) -> None:
    missing = tmp_path / "not" / "yet" / "there"
    check_free_space(missing, 0)
    with pytest.raises(InsufficientSpace) as info:
        check_free_space(missing, shutil.disk_usage(tmp_path).free + 1024 * MIB)
    assert f"in {tmp_path}:" in str(info.value)
    assert not missing.exists() and not (tmp_path / "not").exists()


def test_free_space_boundaries_and_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    total, free = 1000 * MIB, 100 * MIB  # reserve: the 16 MiB minimum (1 % would be 10 MiB)
    probes: list[Path] = []

    def fake_usage(path: Path) -> tuple[int, int, int]:
        probes.append(Path(path))
        return shutil._ntuple_diskusage(total, total - free, free)

    monkeypatch.setattr(space_module.shutil, "disk_usage", fake_usage)
    check_free_space(tmp_path / "a" / "b", free - 16 * MIB)
    assert probes == [tmp_path]
    with pytest.raises(InsufficientSpace) as info:
        check_free_space(tmp_path, free - 16 * MIB + 1)
    assert str(info.value) == (
        f"not enough free space in {tmp_path}: 84.0 MiB needed, 100.0 MiB free, "
        "and 16.0 MiB must stay free"
    )


def test_reserve_for() -> None:
    assert reserve_for(0) == 16 * MIB
    assert reserve_for(1600 * MIB) == 16 * MIB
    assert reserve_for(10_000 * MIB) == 100 * MIB


# -- missing runs --------------------------------------------------------------------------------


def test_missing_runs_all_present_is_empty() -> None:
    assert missing_runs([True] * 100, MIN_BLOCK_SIZE) == []
    assert missing_runs([], MIN_BLOCK_SIZE) == []


def test_missing_runs_none_present_covers_everything_in_max_range_pieces() -> None:
    per_run = MAX_RANGE // MIN_BLOCK_SIZE
    assert per_run == 512
    assert missing_runs([False] * 10, MIN_BLOCK_SIZE) == [(0, 9)]
    assert missing_runs([False] * per_run, MIN_BLOCK_SIZE) == [(0, per_run - 1)]
    assert missing_runs([False] * 1200, MIN_BLOCK_SIZE) == [(0, 511), (512, 1023), (1024, 1199)]
    assert missing_runs([False] * 10, MAX_BLOCK_SIZE) == [(0, 3), (4, 7), (8, 9)]
    # A block larger than a range is still fetched, one block at a time.
    assert missing_runs([False] * 3, 2 * MAX_RANGE) == [(0, 0), (1, 1), (2, 2)]


def test_missing_runs_are_contiguous() -> None:
    have = [True, False, False, True, False, True, True, False]
    assert missing_runs(have, MIN_BLOCK_SIZE) == [(1, 2), (4, 4), (7, 7)]
    assert missing_runs([False, True], MIN_BLOCK_SIZE) == [(0, 0)]


@FAST
@given(st.lists(st.booleans(), max_size=300),
       st.sampled_from([MIN_BLOCK_SIZE, 4 * MIB, MAX_BLOCK_SIZE, 2 * MAX_RANGE]))
def test_missing_runs_property(have: list[bool], block_size: int) -> None:
    per_run = max(1, MAX_RANGE // block_size)
    runs = missing_runs(have, block_size)
    covered = [i for first, last in runs for i in range(first, last + 1)]
    # Each missing block exactly once, in order.
    assert covered == [i for i, ok in enumerate(have) if not ok]
    for first, last in runs:
        assert first <= last
        assert last - first + 1 <= per_run
        assert (last - first + 1) * block_size <= max(MAX_RANGE, block_size)
        # Maximal: a run stops only at a present block, the end, or the size cap.
        assert last + 1 == len(have) or have[last + 1] or last - first + 1 == per_run
    for (_, last), (first, _) in itertools.pairwise(runs):
        assert first > last


# -- block sizes ---------------------------------------------------------------------------------


def test_block_size_boundaries() -> None:
    assert (MIN_BLOCK_SIZE, MAX_BLOCK_SIZE, TARGET_BLOCKS) == (128 * 1024, 16 * MIB, 2000)
    assert block_size_for(0) == MIN_BLOCK_SIZE
    limit = MIN_BLOCK_SIZE * TARGET_BLOCKS
    assert block_size_for(limit) == MIN_BLOCK_SIZE
    assert block_size_for(limit + 1) == 2 * MIN_BLOCK_SIZE
    assert block_size_for(3 * 1024 * MIB) == 2 * MIB
    assert block_size_for(MAX_BLOCK_SIZE * TARGET_BLOCKS) == MAX_BLOCK_SIZE
    assert block_size_for(MAX_BLOCK_SIZE * TARGET_BLOCKS + 1) == MAX_BLOCK_SIZE
    assert block_size_for(2**64 - 1) == MAX_BLOCK_SIZE


def test_block_count() -> None:
    assert block_count(0) == 0
    assert block_count(1) == 1
    assert block_count(MIN_BLOCK_SIZE) == 1
    assert block_count(MIN_BLOCK_SIZE + 1) == 2
    limit = MIN_BLOCK_SIZE * TARGET_BLOCKS
    assert block_count(limit) == TARGET_BLOCKS
    assert block_count(limit + 1) == TARGET_BLOCKS // 2 + 1  # blocks of twice the size
    assert block_count(3 * 1024 * MIB) == 1536
    assert block_count(MAX_BLOCK_SIZE * TARGET_BLOCKS * 4) == 4 * TARGET_BLOCKS
    assert block_count(2**64 - 1) == 2**40


@FAST
@given(st.integers(0, 2**64 - 1))
def test_block_count_property(size: int) -> None:
    block, count = block_size_for(size), block_count(size)
    assert (count - 1) * block < size <= count * block or size == count == 0
    assert count <= TARGET_BLOCKS or block == MAX_BLOCK_SIZE


@pytest.mark.parametrize("name", ["a.txt", "Ünïcode name.bin", ".hidden", "x" * 200])
def test_partial_target_name_reads_back_partial_path_for(tmp_path: Path, name: str) -> None:
    partial = partial_path_for(tmp_path / name)
    assert partial_target_name(partial.name) == name
    for other in ("a.txt", ".a.txt", "a.mfsync-part", PARTIAL_SUFFIX):
        assert partial_target_name(other) is None
