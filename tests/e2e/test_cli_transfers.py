"""End to end: ``mfsync get`` between real processes on a private LAN of network namespaces.

What a user sees: a whole tree arrives byte for byte; a folder or a name can be asked for; a name
nobody offers is an error; a download killed half way resumes and only the rest crosses the wire;
a large sparse file stays sparse; a hostile sharer's file names cannot write outside DEST.
Every mfsync process runs inside the LAN's namespaces (see ``mfsync_cli.py``).
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mfsync_cli import (
    cli_hosts,
    kill_now,
    limit_egress,
    make_tree,
    read_tree,
    run_concurrently,
    tx_bytes,
)

pytestmark = pytest.mark.timeout(150)

MiB = 1024 * 1024
PARTIAL_RE = re.compile(r"(^|/)\.[^/]*\.mfsync-part$")


def _conflict_name(path: str, mtime_ns: int, key_text: str) -> str:
    """The name a conflict copy gets (``name.sync-conflict-YYYYMMDD-HHMMSS-xxxxxx.ext``)."""
    stamp = datetime.datetime.fromtimestamp(mtime_ns // 10**9, tz=datetime.UTC)
    stem, ext = path.rsplit(".", 1)
    return f"{stem}.sync-conflict-{stamp:%Y%m%d-%H%M%S}-{key_text.lower()[:6]}.{ext}"


def _partials(root: Path) -> list[str]:
    return [p for p in _tree_names(root) if PARTIAL_RE.search(p)]


def _tree_names(root: Path) -> list[str]:
    return sorted(
        (Path(folder) / name).relative_to(root).as_posix()
        for folder, _dirs, names in os.walk(root)
        for name in names
    )


# -- 1. a tree, a folder, a missing name, existing files ------------------------------------

TREE = {
    "nested/deep/er/file.txt": b"deep down\n" * 10,
    "empty.txt": b"",
    "one-block.bin": os.urandom(128 * 1024),  # exactly one block
    "big/random.bin": os.urandom(3 * MiB + 17),  # a few MiB, not a whole number of blocks
    "Müsli/Äpfel ö.txt": "Grüße aus Köln\n".encode(),
    "sub/a.txt": b"in sub\n",
    "sub/inner/b.txt": b"deeper in sub\n" * 3,
    "subway.txt": b"not in sub/ (a prefix of the name, not of the folder)\n",
}


def test_get_everything_a_folder_and_missing_names(lan_factory, tmp_path: Path) -> None:
    a, b = cli_hosts(lan_factory(2), tmp_path)
    key_a = a.public_key()
    source = make_tree(tmp_path / "share", TREE)
    share = a.share(source)
    assert share.file_count == len(TREE), share.describe()

    # destinations prepared beforehand: an identical file, and a different one at a name
    same_dir = make_tree(tmp_path / "same", {"sub/a.txt": TREE["sub/a.txt"]})
    os.utime(same_dir / "sub/a.txt", ns=(10**18, 10**18))
    same_before = os.stat(same_dir / "sub/a.txt")
    ours = b"our own local version\n"
    differ_dir = make_tree(tmp_path / "differ", {"nested/deep/er/file.txt": ours})

    everything, folder, missing, identical, different = run_concurrently(
        [
            (b, ["get", tmp_path / "all"]),
            (b, ["get", "sub/", tmp_path / "folder"]),
            (b, ["get", "nope", "sub/a.txt", tmp_path / "missing"]),
            (b, ["get", "sub/a.txt", same_dir]),
            (b, ["get", "nested/deep/er/file.txt", differ_dir]),
        ],
        timeout=60,
    )

    # everything: the same tree, byte for byte, with the sharer's modification times
    assert everything.returncode == 0, everything
    assert read_tree(tmp_path / "all") == TREE, everything
    for rel in TREE:
        got, want = os.stat(tmp_path / "all" / rel), os.stat(source / rel)
        assert got.st_mtime_ns == want.st_mtime_ns, rel
    assert not _partials(tmp_path / "all")

    # a folder prefix: only that folder, not a name that merely starts the same way
    assert folder.returncode == 0, folder
    assert read_tree(tmp_path / "folder") == {
        k: v for k, v in TREE.items() if k.startswith("sub/")
    }, folder

    # a name nobody offers: exit 1 and a clear message (what was offered still arrives)
    assert missing.returncode == 1, missing
    assert "mfsync: error: 'nope' is not offered on the network" in missing.stderr, missing
    assert read_tree(tmp_path / "missing") == {"sub/a.txt": TREE["sub/a.txt"]}, missing

    # onto an identical file: done, untouched
    assert identical.returncode == 0, identical
    same_after = os.stat(same_dir / "sub/a.txt")
    assert (same_after.st_ino, same_after.st_mtime_ns) == (
        same_before.st_ino,
        same_before.st_mtime_ns,
    ), identical
    assert read_tree(same_dir) == {"sub/a.txt": TREE["sub/a.txt"]}, identical

    # onto a different file: ours stays, theirs lands under the conflict name, with a warning
    assert different.returncode == 0, different
    rel = "nested/deep/er/file.txt"
    copy = _conflict_name(rel, os.stat(source / rel).st_mtime_ns, key_a)
    assert read_tree(differ_dir) == {rel: ours, copy: TREE[rel]}, different
    assert "exists here with other content" in different.stderr, different
    assert copy.rsplit("/", 1)[1] in different.stderr, different
    # ... and asking again makes no second copy
    again = b.mfsync("get", "nested/deep/er/file.txt", differ_dir)
    assert again.returncode == 0, again
    assert read_tree(differ_dir) == {rel: ours, copy: TREE[rel]}, again
    assert share.alive(), share.describe()


# -- 2. stop and go, measured in bytes ------------------------------------------------------

BIG_SIZE = 400 * MiB


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))


def _blocks_in_place(partial: Path, source: Path, block: int) -> int:
    """Bytes of ``partial`` that already equal ``source``, counted in whole blocks."""
    done = 0
    with partial.open("rb") as got, source.open("rb") as want:
        while True:
            a, b = got.read(block), want.read(block)
            if not b:
                return done
            if a == b:
                done += len(b)


def _same_file(a: Path, b: Path) -> bool:
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(8 * MiB), fb.read(8 * MiB)
            if x != y:
                return False
            if not x:
                return True


def test_killed_get_resumes_and_fetches_only_the_rest(lan_factory, tmp_path: Path) -> None:
    a, b = cli_hosts(lan_factory(2), tmp_path)
    source = tmp_path / "share"
    source.mkdir()
    _write_random(source / "big.bin", BIG_SIZE)
    share = a.share(source)
    dest = tmp_path / "dest"
    partial = dest / ".big.bin.mfsync-part"

    # First run: killed (SIGKILL, no clean shutdown) with 30 % to 70 % of the file on disk.
    # The partial is created at full size up front (sparse), so progress is what it occupies.
    # The sharer's link is capped at about 50 MB/s meanwhile, so that the window lasts seconds
    # and a busy machine that leaves this loop unscheduled for a while cannot overshoot it.
    limit_egress(a, "400mbit")
    first = b.start("get", "big.bin", dest)
    seen: list[tuple[float, int]] = []
    start = time.monotonic()
    killed_at = None
    while time.monotonic() - start < 60 and first.alive():
        try:
            occupied = partial.stat().st_blocks * 512
        except FileNotFoundError:
            occupied = -1
        if not seen or seen[-1][1] != occupied:
            seen.append((round(time.monotonic() - start, 3), occupied))
        if 0.30 * BIG_SIZE <= occupied <= 0.70 * BIG_SIZE:
            kill_now(first)
            killed_at = occupied
            break
        time.sleep(0.005)
    assert killed_at is not None, f"never caught between 30% and 70%: {seen}\n{first.describe()}"
    assert first.proc.returncode == -9, first.describe()
    assert partial.exists() and not (dest / "big.bin").exists()
    assert partial.stat().st_size == BIG_SIZE  # created at the final size
    done = _blocks_in_place(partial, source / "big.bin", 256 * 1024)
    assert 0.25 * BIG_SIZE <= done <= 0.75 * BIG_SIZE, (done, killed_at, seen)
    time.sleep(0.5)  # let anything still in flight for the killed client drain
    at_kill = tx_bytes(a)

    # Second run, still capped, cut short by -w: exit 1, a hint to resume, the partial kept.
    cut = b.mfsync("get", "big.bin", dest, "-w", "4", timeout=60)
    assert cut.returncode == 1, cut
    assert "run the same command again to resume" in cut.stderr, cut
    assert partial.exists() and not (dest / "big.bin").exists(), cut
    limit_egress(a, None)
    done_after_cut = _blocks_in_place(partial, source / "big.bin", 256 * 1024)
    assert done_after_cut >= done, (done, done_after_cut)
    time.sleep(0.5)
    before = tx_bytes(a)

    # Third run: completes, and the sharer sends little more than what was missing.
    last = b.mfsync("get", "big.bin", dest, timeout=90)
    after = tx_bytes(a)
    assert last.returncode == 0, last
    assert _same_file(dest / "big.bin", source / "big.bin")
    assert _tree_names(dest) == ["big.bin"], last
    sent_last, sent_since_kill = after - before, after - at_kill
    print(
        f"killed with {killed_at} bytes allocated, {done} in place; {done_after_cut} after -w; "
        f"sent {sent_since_kill - sent_last} by the -w run, {sent_last} by the last one"
    )
    # The bytes of both runs after the kill, and of the last run alone: only what was missing
    # (the partial's verified blocks are reused), plus at most 10 % of the file in overhead.
    for sent, in_place in ((sent_since_kill, done), (sent_last, done_after_cut)):
        assert BIG_SIZE - in_place <= sent < (1 - in_place / BIG_SIZE + 0.10) * BIG_SIZE, (
            f"the sharer sent {sent} bytes; {BIG_SIZE - in_place} were missing "
            f"({in_place / BIG_SIZE:.0%} of {BIG_SIZE} was on disk)"
        )
    assert share.alive(), share.describe()


# -- 3. a large sparse file ------------------------------------------------------------------

SPARSE_SIZE = 3 * 1024 * MiB


def test_large_sparse_file_arrives_sparse(lan_factory, tmp_path: Path) -> None:
    a, b = cli_hosts(lan_factory(2), tmp_path)
    source = tmp_path / "share"
    source.mkdir()
    with (source / "holes.img").open("wb") as out:
        out.truncate(SPARSE_SIZE)
    assert os.stat(source / "holes.img").st_blocks == 0
    a.start("share", source).wait_ready(120)  # hashing 3 GiB of holes takes a while

    dest = tmp_path / "dest"
    started = time.monotonic()
    result = b.mfsync("get", "holes.img", dest, timeout=120)
    took = time.monotonic() - started
    assert result.returncode == 0, result
    assert _tree_names(dest) == ["holes.img"], result
    st = os.stat(dest / "holes.img")
    assert st.st_size == SPARSE_SIZE
    # stays sparse: (almost) nothing allocated, and no data anywhere, so all of it reads as zeros
    assert st.st_blocks * 512 <= MiB, (st.st_blocks, took)
    fd = os.open(dest / "holes.img", os.O_RDONLY)
    try:
        with pytest.raises(OSError) as no_data:
            os.lseek(fd, 0, os.SEEK_DATA)
        assert no_data.value.errno == errno.ENXIO  # no data from offset 0 on
    finally:
        os.close(fd)


# -- 7. a hostile sharer's file names --------------------------------------------------------

HOSTILE_NAMES = [
    "../escape.txt",
    "/etc/passwd-x",
    "a/../../b",
    "C:x",
    "CON",
    "a\\b",
    "x\x1by",
    "./dot.txt",
    "Mu\u0308sli.txt",  # not NFC
    "trailing-dot.",
]

# A sharer speaking mfsync's real protocol (its own modules) whose index offers hostile names
# beside two good ones, and which would serve any of them if asked. It prints every request.
# It does not announce itself: the client reaches it with --peer.
HOSTILE_SHARER = r"""
import asyncio, json, sys, time
import blake3
from mfsync.crypto.keys import Identity
from mfsync.net.server import Server
from mfsync.protocol.content import block_size_for, content_id_of
from mfsync.protocol.messages import (
    MAX_DATA, BlockList, BlocksRequest, Data, End, ErrorCode, ErrorMessage, FolderFlags,
    FolderInfo, FolderList, FoldersRequest, GetRequest, Hello, IndexChunk, IndexEntry,
    IndexRequest,
)
from mfsync.protocol.folder_id import DEFAULT_FOLDER
from mfsync.protocol.version import EMPTY_VERSION

identity = Identity.generate()
names = json.loads(sys.argv[1])
files = {name: f"written by a hostile peer as {name!r}\n".encode() for name in names}
files["ok.txt"] = b"a perfectly good file\n" * 1000
files["linked/x.txt"] = b"a good name, unless linked/ is a symlink at the receiver\n"
mtime = time.time_ns() - 10**9

def describe(data):
    bs = block_size_for(len(data))
    hashes = tuple(blake3.blake3(data[i:i + bs]).digest() for i in range(0, len(data), bs))
    return bs, hashes, content_id_of(len(data), bs, hashes)

described = {name: describe(data) for name, data in files.items()}

async def handler(channel, message):
    if isinstance(message, FoldersRequest):
        await channel.send(FolderList((FolderInfo(DEFAULT_FOLDER, "default",
                                                  FolderFlags.ANNOUNCED, 1, len(files), 0),)))
        return
    if isinstance(message, IndexRequest):
        version = EMPTY_VERSION.bump(identity.public_key)
        entries = tuple(IndexEntry(name, len(data), mtime, described[name][2], version)
                        for name, data in files.items())
        await channel.send(IndexChunk(1, entries, last=True))
        return
    if isinstance(message, (BlocksRequest, GetRequest)):
        print(type(message).__name__, json.dumps(message.path), flush=True)
        data = files.get(message.path)
        if data is None:
            await channel.send(ErrorMessage(ErrorCode.NOT_FOUND, "no such file"))
            return
        bs, hashes, cid = described[message.path]
        if isinstance(message, BlocksRequest):
            await channel.send(BlockList(cid, len(data), bs, 0, hashes, True))
            return
        end = message.offset + message.length
        for start in range(message.offset, end, MAX_DATA):
            await channel.send(Data(start, data[start:min(end, start + MAX_DATA)]))
        await channel.send(End(end))
        return
    await channel.send(ErrorMessage(ErrorCode.BAD_REQUEST, "unsupported"))

async def main():
    server = Server(identity, hello=Hello(capabilities=("index",), name="hostile"),
                    authorize=lambda key: True, handler=handler, port=8000, port_explicit=True)
    await server.start()
    print("READY", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, bytes]]:
    """Everything under ``root`` except ``skip``: path -> (mode, mtime, content or b"")."""
    found: dict[str, tuple[int, int, bytes]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder) / d != skip]
        for name in dirs + names:
            path = Path(folder) / name
            st = path.lstat()
            content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            found[path.relative_to(root).as_posix()] = (st.st_mode, st.st_mtime_ns, content)
    return found


def test_hostile_names_are_refused_and_nothing_lands_outside_dest(
    lan_factory, tmp_path: Path
) -> None:
    lan = lan_factory(2)
    hostile, b = cli_hosts(lan, tmp_path)
    sharer = hostile.host.popen(
        [sys.executable, "-c", HOSTILE_SHARER, json.dumps(HOSTILE_NAMES)],
        env=hostile.env,
        text=True,
        stderr=subprocess.STDOUT,
    )
    assert sharer.stdout is not None
    assert sharer.stdout.readline() == "READY\n", sharer.poll()

    outside = tmp_path / "outside"
    make_tree(outside, {"sibling.txt": b"leave me alone\n", "deeper/x.txt": b"x\n"})
    dest = outside / "dest"
    dest.mkdir()
    # a second destination where linked/ is a symlink out of it: nothing is written through it
    linked_dest = outside / "linked-dest"
    linked_dest.mkdir()
    (linked_dest / "linked").symlink_to(outside / "deeper")
    before = _snapshot(tmp_path, skip=dest)
    etc_before = os.path.lexists("/etc/passwd-x")

    result, through_link = run_concurrently(
        [
            (b, ["get", dest, "--peer", hostile.address, "-v"]),
            (b, ["get", "linked/x.txt", linked_dest, "--peer", hostile.address]),
        ]
    )

    # Only refused names besides the good ones were offered, which arrived: exit 0.
    assert result.returncode == 0, result
    assert read_tree(dest) == {
        "ok.txt": b"a perfectly good file\n" * 1000,
        "linked/x.txt": b"a good name, unless linked/ is a symlink at the receiver\n",
    }, result
    # Through the symlink: refused, so the named file was not obtained: exit 1.
    assert through_link.returncode == 1, through_link
    assert "linked/x.txt" in through_link.stderr and "symlink" in through_link.stderr, through_link
    # Nothing changed around DEST (but in the hosts' homes: keys, remembered hosts)...
    after = _snapshot(tmp_path, skip=dest)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert all(k.startswith("home-") for k in changed), changed
    assert not (outside / "escape.txt").exists() and not (outside / "b").exists()
    assert os.path.lexists("/etc/passwd-x") == etc_before
    # ... each refusal is logged once, quoting the name safely (no raw escape character) ...
    for name in HOSTILE_NAMES:
        line = f"offers a file with a refused name {name!r}"
        assert result.stderr.count(line) == 1, (name, result.stderr)
    assert "\x1b" not in result.stderr + result.stdout
    # ... and the hostile sharer was never even asked for one of them.
    hostile.host.terminate(sharer)
    out = sharer.stdout.read()
    requests = [line for line in out.splitlines() if line.startswith(("Blocks", "Get"))]
    assert requests, out
    assert {json.loads(line.split(" ", 1)[1]) for line in requests} == {
        "ok.txt",
        "linked/x.txt",
    }, out
