"""Tests for small modules: rate limiter, addresses, interface choice, hashing, share set."""

import logging
import os
import struct
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mfsync.store.folder_scan as folder_scan_module
from mfsync.net.addresses import format_host_port, parse_host_port
from mfsync.net.ratelimit import RateLimiter
from mfsync.net.sockets import Interface, InterfaceError, choose_interfaces
from mfsync.protocol import content
from mfsync.protocol.content import (
    MAX_BLOCK_SIZE,
    MIN_BLOCK_SIZE,
    TARGET_BLOCKS,
    block_size_for,
    content_id_of,
)
from mfsync.store import hashing
from mfsync.store.hashing import FileHashes, hash_file
from mfsync.store.shareset import ShareSet, ShareSetError

FAST = settings(max_examples=200, deadline=None)


# -- RateLimiter -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_burst_then_refusal_then_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, True]
    assert limiter.allow("a") is False
    assert limiter.allow("a") is False
    assert limiter.allow("b") is True  # other keys have their own bucket
    clock.now += 0.25  # half a token
    assert limiter.allow("a") is False
    clock.now += 0.25  # one whole token now
    assert limiter.allow("a") is True
    assert limiter.allow("a") is False
    clock.now += 100  # refills, but never beyond the burst
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_rate_limiter_refused_calls_do_not_earn_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    assert limiter.allow("k")
    allowed = 0
    for _ in range(10):
        clock.now += 0.1
        allowed += limiter.allow("k")
    assert allowed == 1  # exactly one second passed: one token, not more


def test_rate_limiter_max_keys_bound() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=2, max_keys=3, clock=clock)
    for key in ("a", "b", "c"):
        assert limiter.allow(key)
    assert limiter.allow("d") is False  # table full of buckets that still matter
    assert len(limiter._buckets) == 3
    assert limiter.allow("a") is True  # known keys still work
    clock.now += 10  # every bucket refilled: they carry no information any more
    assert limiter.allow("d") is True
    assert len(limiter._buckets) <= 3


def test_rate_limiter_key_flood_stays_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=0.1, burst=1, max_keys=100, clock=clock)
    results = [limiter.allow(("10.0.0.1", port)) for port in range(10_000)]
    assert sum(results) == 100
    assert len(limiter._buckets) == 100


# -- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host", ("host", None)),
        ("host:9000", ("host", 9000)),
        ("  host:1  ", ("host", 1)),
        ("10.0.0.1:65535", ("10.0.0.1", 65535)),
        ("[::1]:9000", ("::1", 9000)),
        ("[::1]", ("::1", None)),
        ("::1", ("::1", None)),
        ("fe80::1%eth0", ("fe80::1%eth0", None)),
        ("[fe80::1%eth0]:80", ("fe80::1%eth0", 80)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "host:", "host:0", "host:65536", "host:-1", "host:+80", "host:http", ":80",
     "[::1", "[]:80", "[::1]80", "[::1]:", "[::1]:0", "two words", "two words:80", "h:1 2"],
)
def test_parse_host_port_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)


def test_format_host_port() -> None:
    assert format_host_port("host", 9000) == "host:9000"
    assert format_host_port("10.0.0.1", 1) == "10.0.0.1:1"
    assert format_host_port("::1", 9000) == "[::1]:9000"


@FAST
@given(
    st.one_of(
        st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
        st.ip_addresses().map(str),
    ),
    st.integers(1, 65535),
)
def test_format_parse_round_trip(host: str, port: int) -> None:
    assert parse_host_port(format_host_port(host, port)) == (host, port)


# -- choose_interfaces ---------------------------------------------------------------------------

ETH = Interface("eth0", "192.168.1.5")
WLAN = Interface("wlan0", "10.0.0.7")
LO = Interface("lo", "127.0.0.1", loopback=True, multicast=False)
DOWN = Interface("eth1", "192.168.2.5", up=False)
NOMC = Interface("tun0", "10.8.0.2", multicast=False)
ALL = [LO, ETH, DOWN, WLAN, NOMC]


def test_choose_explicit_name() -> None:
    assert choose_interfaces(("wlan0",), ALL) == [WLAN]


def test_choose_explicit_address() -> None:
    assert choose_interfaces(("192.168.1.5",), ALL) == [ETH]


def test_choose_explicit_may_pick_loopback_and_down_interfaces() -> None:
    assert choose_interfaces(("lo", "eth1"), ALL) == [LO, DOWN]


def test_choose_explicit_without_duplicates_in_given_order() -> None:
    assert choose_interfaces(("wlan0", "eth0", "10.0.0.7"), ALL) == [WLAN, ETH]


def test_choose_interface_with_several_addresses() -> None:
    second = Interface("eth0", "192.168.9.9")
    assert choose_interfaces(("eth0",), [ETH, second, WLAN]) == [ETH, second]


def test_choose_unknown_lists_available_ones() -> None:
    with pytest.raises(InterfaceError) as info:
        choose_interfaces(("eth9",), ALL)
    message = str(info.value)
    assert "'eth9'" in message
    for iface in ALL:
        assert f"{iface.name} ({iface.address})" in message


def test_choose_unknown_with_nothing_available() -> None:
    with pytest.raises(InterfaceError, match="available: none"):
        choose_interfaces(("eth0",), [])


def test_choose_default_excludes_loopback_down_and_non_multicast() -> None:
    assert choose_interfaces((), ALL) == [ETH, WLAN]


def test_choose_default_falls_back_to_loopback() -> None:
    lo2 = Interface("lo", "127.0.0.2", loopback=True)
    assert choose_interfaces((), [DOWN, LO, lo2, NOMC]) == [LO]
    assert choose_interfaces((), [DOWN, NOMC]) == []
    assert choose_interfaces((), []) == []


# -- hashing -----------------------------------------------------------------------------------


def test_hashing_re_exports_the_content_functions() -> None:
    for name in ("MAX_BLOCK_SIZE", "MIN_BLOCK_SIZE", "block_size_for", "content_id_of"):
        assert name in hashing.__all__
        assert getattr(hashing, name) is getattr(content, name)


def test_block_size_boundaries() -> None:
    assert MIN_BLOCK_SIZE == 128 * 1024
    assert block_size_for(0) == MIN_BLOCK_SIZE
    assert block_size_for(1) == MIN_BLOCK_SIZE
    limit = MIN_BLOCK_SIZE * TARGET_BLOCKS
    assert block_size_for(limit) == MIN_BLOCK_SIZE
    assert block_size_for(limit + 1) == 2 * MIN_BLOCK_SIZE
    assert block_size_for(2 * limit) == 2 * MIN_BLOCK_SIZE
    assert block_size_for(2 * limit + 1) == 4 * MIN_BLOCK_SIZE
    top = MAX_BLOCK_SIZE // 2 * TARGET_BLOCKS
    assert block_size_for(top) == MAX_BLOCK_SIZE // 2
    assert block_size_for(top + 1) == MAX_BLOCK_SIZE
    assert block_size_for(2**63) == MAX_BLOCK_SIZE


@FAST
@given(st.integers(0, 2**50))
def test_block_size_property(size: int) -> None:
    block = block_size_for(size)
    assert MIN_BLOCK_SIZE <= block <= MAX_BLOCK_SIZE
    assert block & (block - 1) == 0
    assert block == MAX_BLOCK_SIZE or -(-size // block) <= TARGET_BLOCKS
    assert block == MIN_BLOCK_SIZE or size > (block // 2) * TARGET_BLOCKS


def _manual(data: bytes) -> FileHashes:
    block = block_size_for(len(data))
    hashes = [blake3.blake3(data[i : i + block]).digest() for i in range(0, len(data), block)]
    h = blake3.blake3(b"mfsync content id v1\x00" + struct.pack(">QI", len(data), block))
    for digest in hashes:
        h.update(digest)
    return FileHashes(len(data), block, tuple(hashes), h.digest())


@pytest.mark.parametrize(
    "size",
    [0, 1, 1000, MIN_BLOCK_SIZE - 1, MIN_BLOCK_SIZE, MIN_BLOCK_SIZE + 1, 2 * MIN_BLOCK_SIZE,
     3 * MIN_BLOCK_SIZE + 12345, 9 * 1024 * 1024 + 7],
)
def test_hash_file_matches_manual_computation(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    got = hash_file(path)
    assert got == _manual(data)
    assert len(got.block_hashes) == -(-size // got.block_size)
    assert got.content_id == content_id_of(size, got.block_size, list(got.block_hashes))


def test_empty_file_has_zero_blocks_and_a_stable_content_id(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "b").write_bytes(b"")
    a, b = hash_file(tmp_path / "a"), hash_file(tmp_path / "b")
    assert a.block_hashes == ()
    assert a.size == 0
    assert a == b
    expected = blake3.blake3(
        b"mfsync content id v1\x00" + struct.pack(">QI", 0, MIN_BLOCK_SIZE)
    ).digest()
    assert a.content_id == expected
    assert a.content_id != blake3.blake3(b"").digest()


def test_one_block_file(tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_bytes(b"hello world\n")
    got = hash_file(path)
    assert got.size == 12
    assert got.block_size == MIN_BLOCK_SIZE
    assert got.block_hashes == (blake3.blake3(b"hello world\n").digest(),)


def test_content_id_differs_when_one_byte_changes(tmp_path: Path) -> None:
    data = bytearray(os.urandom(2 * MIN_BLOCK_SIZE + 10))
    path = tmp_path / "f"
    path.write_bytes(data)
    before = hash_file(path)
    data[MIN_BLOCK_SIZE + 5] ^= 0x01
    path.write_bytes(data)
    after = hash_file(path)
    assert after.content_id != before.content_id
    assert after.block_hashes[0] == before.block_hashes[0]
    assert after.block_hashes[1] != before.block_hashes[1]
    assert after.block_hashes[2] == before.block_hashes[2]


def test_content_id_depends_on_size_and_block_size() -> None:
    hashes = [b"\x00" * 32]
    ids = {
        content_id_of(1, MIN_BLOCK_SIZE, hashes),
        content_id_of(2, MIN_BLOCK_SIZE, hashes),
        content_id_of(1, 2 * MIN_BLOCK_SIZE, hashes),
        content_id_of(1, MIN_BLOCK_SIZE, [b"\x01" * 32]),
    }
    assert len(ids) == 4


# -- ShareSet ----------------------------------------------------------------------------------


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "share"
    folder.mkdir()
    return folder


async def test_scans_nested_files(root: Path) -> None:
    _tree(root, {"a.txt": b"a", "d/b.txt": b"bb", "d/e/f/c.bin": b"ccc", ".hidden": b"h"})
    shares = ShareSet(root)
    assert shares.generation == 0
    assert await shares.rescan() is True
    assert shares.generation == 1
    assert sorted(shares.files) == [".hidden", "a.txt", "d/b.txt", "d/e/f/c.bin"]
    entries = shares.entries()
    assert [e.path for e in entries] == [".hidden", "a.txt", "d/b.txt", "d/e/f/c.bin"]
    by_path = {e.path: e for e in entries}
    assert by_path["d/e/f/c.bin"].size == 3
    assert by_path["d/e/f/c.bin"].content_id == hash_file(root / "d/e/f/c.bin").content_id
    assert by_path["a.txt"].mtime_ns == (root / "a.txt").stat().st_mtime_ns


async def test_empty_folder_publishes_generation_1_once_then_is_unchanged(root: Path) -> None:
    # The first scan always publishes (generation 1), even of an empty folder, so that an index
    # loaded from the database is announced too; later scans without changes do not.
    shares = ShareSet(root)
    assert shares.generation == 0
    assert await shares.rescan() is True
    assert shares.entries() == []
    assert shares.generation == 1
    assert await shares.rescan() is False
    assert shares.entries() == []
    assert shares.generation == 1


async def test_skips_symlinks(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    other = tmp_path / "otherdir"
    other.mkdir()
    (other / "inner.txt").write_bytes(b"also secret")
    _tree(root, {"real.txt": b"r"})
    (root / "link.txt").symlink_to(outside)
    (root / "dirlink").symlink_to(other, target_is_directory=True)
    (root / "inlink.txt").symlink_to(root / "real.txt")
    shares = ShareSet(root)
    await shares.rescan()
    assert sorted(shares.files) == ["real.txt"]


async def test_skips_builtin_ignores(root: Path) -> None:
    _tree(root, {
        "keep.txt": b"k", ".DS_Store": b"x", "x.mfsync-part": b"x", ".y.mfsync-part": b"x",
        "Thumbs.db": b"x", "sub/desktop.ini": b"x", ".f.swp": b"x", "backup~": b"x",
        ".#lock": b"x", ".mfsyncignore": b"x", ".mfsync/state": b"x", "sub/keep2": b"k",
    })
    shares = ShareSet(root)
    await shares.rescan()
    assert sorted(shares.files) == ["keep.txt", "sub/keep2"]


async def test_skips_names_that_may_not_cross_the_wire(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _tree(root, {"CON": b"x", "a\\b": b"x", "ok.txt": b"o", "d/aux.c": b"x"})
    shares = ShareSet(root)
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        await shares.rescan()
    assert sorted(shares.files) == ["ok.txt"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'CON'" in m and "reserved" in m for m in messages)
    assert any("'a\\\\b'" in m for m in messages)
    assert any("'d/aux.c'" in m for m in messages)
    # Warned once: a second scan stays quiet.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        assert await shares.rescan() is False
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_skips_names_that_are_not_utf8(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _tree(root, {"good.txt": b"g"})
    bad = os.path.join(os.fsencode(root), b"bad\xff.txt")
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"data")
    os.close(fd)
    bad_dir = os.path.join(os.fsencode(root), b"dir\xfe")
    os.mkdir(bad_dir)
    fd = os.open(os.path.join(bad_dir, b"inner.txt"), os.O_WRONLY | os.O_CREAT)
    os.close(fd)
    shares = ShareSet(root)
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        assert await shares.rescan() is True
    assert sorted(shares.files) == ["good.txt"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("not valid UTF-8" in m for m in messages) == 2
    for entry in shares.entries():
        entry.path.encode("utf-8")


async def test_rescan_without_changes_does_not_rehash(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = folder_scan_module.hash_file

    def counting(path: Path, root: Path | None = None) -> FileHashes:
        calls.append(path)
        return real(path, root)

    monkeypatch.setattr(folder_scan_module, "hash_file", counting)
    _tree(root, {"a": b"1", "b/c": b"22"})
    shares = ShareSet(root)
    assert await shares.rescan() is True
    assert len(calls) == 2
    before = shares.entries()
    assert await shares.rescan() is False
    assert await shares.rescan() is False
    assert len(calls) == 2
    assert shares.generation == 1
    assert shares.entries() == before


async def test_rescan_detects_add_modify_delete(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = folder_scan_module.hash_file

    def counting(path: Path, root: Path | None = None) -> FileHashes:
        calls.append(path.name)
        return real(path, root)

    monkeypatch.setattr(folder_scan_module, "hash_file", counting)
    _tree(root, {"a": b"1", "b": b"2"})
    shares = ShareSet(root)
    await shares.rescan()
    assert shares.generation == 1
    calls.clear()

    (root / "new").write_bytes(b"3")  # add
    assert await shares.rescan() is True
    assert shares.generation == 2
    assert calls == ["new"]
    assert "new" in shares.files

    old_id = shares.files["a"].hashes.content_id
    (root / "a").write_bytes(b"X")  # modify: same size, so make sure the mtime moves
    st = (root / "a").stat()
    os.utime(root / "a", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    calls.clear()
    assert await shares.rescan() is True
    assert shares.generation == 3
    assert calls == ["a"]
    assert shares.files["a"].hashes.content_id != old_id

    (root / "b").unlink()  # delete
    calls.clear()
    assert await shares.rescan() is True
    assert shares.generation == 4
    assert calls == []
    assert sorted(shares.files) == ["a", "new"]

    assert await shares.rescan() is False
    assert shares.generation == 4


async def test_touch_without_content_change_updates_mtime(root: Path) -> None:
    _tree(root, {"a": b"same"})
    shares = ShareSet(root)
    await shares.rescan()
    st = (root / "a").stat()
    os.utime(root / "a", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert await shares.rescan() is True
    assert shares.files["a"].mtime_ns == st.st_mtime_ns + 1_000_000_000


def test_check_root_accepts_a_folder(root: Path) -> None:
    assert ShareSet.check_root(root) == root.resolve()


def test_check_root_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ShareSetError, match="does not exist"):
        ShareSet.check_root(tmp_path / "missing")


def test_check_root_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    path.write_bytes(b"x")
    with pytest.raises(ShareSetError, match="is not a folder"):
        ShareSet.check_root(path)
