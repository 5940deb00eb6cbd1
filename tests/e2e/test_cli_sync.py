"""End to end: ``mfsync sync`` and live share sets, with real processes on a private LAN.

What a user sees: files spread host to host (and outlive the host they came from); an edit
replaces the older version everywhere; concurrent edits leave one winner and one conflict copy,
named the same on every host; deletions stay local; a shared folder's changes are announced
live, never half-written, and ``.mfsyncignore`` is obeyed. Every mfsync process runs inside the
LAN's namespaces (see ``mfsync_cli.py``).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from mfsync_cli import CliHost, Running, cli_hosts, make_tree, read_tree

from waiting import wait_for_blocking

pytestmark = pytest.mark.timeout(150)

SYNCING_RE = re.compile(r"^Syncing \d+ files in .* on TCP port \d+ ")
TRUST_WARNING = "anyone on this network can add files"
#: How long a change may take to reach another host (functional bound, not a speed target).
SPREAD_TIMEOUT = 30.0


def _tree(root: Path) -> dict[str, bytes] | None:
    """``read_tree`` that tolerates a file vanishing under it (a partial being renamed)."""
    try:
        return read_tree(root)
    except FileNotFoundError:
        return None


def _wait_tree(root: Path, expected: dict[str, bytes], timeout: float = SPREAD_TIMEOUT) -> None:
    wait_for_blocking(lambda: _tree(root) == expected, timeout,
                      f"{root} to become {sorted(expected)}",
                      detail=lambda: f"it is {sorted(_tree(root) or {})}", interval=0.2)


def _start_sync(host: CliHost, folder: Path, *args: str) -> Running:
    """Start ``mfsync sync FOLDER`` and wait for its "Syncing N files ..." line."""
    folder.mkdir(parents=True, exist_ok=True)
    sync = host.start("sync", folder, *args)
    assert sync.stderr.wait_line(SYNCING_RE, 20) is not None, sync.describe()
    return sync


def _scans(sync: Running) -> int:
    """How many times a ``sync -v`` has logged a changed share set."""
    return sum(1 for line in sync.stderr.snapshot() if "share set: " in line)


def _conflict_name(path: str, mtime_ns: int, key_text: str) -> str:
    stamp = datetime.datetime.fromtimestamp(mtime_ns // 10**9, tz=datetime.UTC)
    stem, ext = path.rsplit(".", 1)
    return f"{stem}.sync-conflict-{stamp:%Y%m%d-%H%M%S}-{key_text.lower()[:6]}.{ext}"


def _save(path: Path, content: bytes, mtime_ns: int | None = None) -> None:
    """Save as an editor does: write a temporary file beside it, then rename it into place.

    The temporary file is named as an editor's swap file (never shared), and the rename makes
    the new content appear at once, with its final modification time.
    """
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_bytes(content)
    if mtime_ns is not None:
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.replace(tmp, path)


# -- 4. files spread host to host and outlive their source ----------------------------------

SPREAD = {
    "hello.txt": b"hello from A\n",
    "docs/report.bin": os.urandom(2 * 1024 * 1024 + 5),
    "Müsli/ä.txt": "Grüße\n".encode(),
    "empty": b"",
}


def test_sync_spreads_files_beyond_the_host_they_came_from(lan_factory, tmp_path: Path) -> None:
    a, b, c, d = cli_hosts(lan_factory(4), tmp_path)
    share = a.share(make_tree(tmp_path / "a", SPREAD))
    sync_b = _start_sync(b, tmp_path / "b")
    sync_c = _start_sync(c, tmp_path / "c")
    _wait_tree(tmp_path / "b", SPREAD)
    _wait_tree(tmp_path / "c", SPREAD)

    # A leaves; D, which never saw A, still gets everything from B or C -- but what its own
    # .mfsyncignore leaves out of its folder
    share.interrupt()
    assert share.wait(20) == 130, share.describe()
    ignore = {".mfsyncignore": b"docs/\n"}
    sync_d = _start_sync(d, make_tree(tmp_path / "d", ignore), "-v")
    want_d = {k: v for k, v in SPREAD.items() if not k.startswith("docs/")} | ignore
    _wait_tree(tmp_path / "d", want_d)
    time.sleep(2)  # had docs/report.bin been fetched, it would be here by now
    assert _tree(tmp_path / "d") == want_d, sync_d.describe()
    assert "was deleted here" not in sync_d.stderr.text, sync_d.describe()

    for sync in (sync_b, sync_c, sync_d):
        assert sync.alive(), sync.describe()
        assert "Traceback" not in sync.stderr.text, sync.describe()
    assert _tree(tmp_path / "b") == _tree(tmp_path / "c") == SPREAD


# -- 5. edits, concurrent edits, deletions, the trust warning --------------------------------


def test_sync_edits_conflicts_and_deletions(lan_factory, tmp_path: Path) -> None:
    b, c = cli_hosts(lan_factory(2), tmp_path)
    key_c = c.public_key()
    dir_b = make_tree(tmp_path / "b", {"doc.txt": b"v1\n", "keep.txt": b"keep me\n"})
    dir_c = tmp_path / "c"
    sync_b = _start_sync(b, dir_b, "-v")
    sync_c = _start_sync(c, dir_c)
    _wait_tree(dir_c, {"doc.txt": b"v1\n", "keep.txt": b"keep me\n"})

    # an edit on B replaces the older version on C
    _save(dir_b / "doc.txt", b"v2, edited on B\n")
    _wait_tree(dir_c, {"doc.txt": b"v2, edited on B\n", "keep.txt": b"keep me\n"})
    assert _tree(dir_b) == _tree(dir_c)

    # concurrent edits: C is offline while both change doc.txt; B's edit is the newer one
    sync_c.interrupt()
    assert sync_c.wait(20) == 130, sync_c.describe()
    now = time.time_ns()
    b_mtime, c_mtime = now - 60 * 10**9, now - 120 * 10**9
    scans = _scans(sync_b)
    _save(dir_b / "doc.txt", b"v3, edited on B\n", b_mtime)
    _save(dir_c / "doc.txt", b"v3, edited on C while offline\n", c_mtime)
    # B has taken in its own edit before C comes back (else C's would look newer to B)
    wait_for_blocking(lambda: _scans(sync_b) > scans, 10, "B's next scan", detail=sync_b.describe)
    sync_c = _start_sync(c, dir_c)
    loser = _conflict_name("doc.txt", c_mtime, key_c)
    expected = {
        "doc.txt": b"v3, edited on B\n",
        loser: b"v3, edited on C while offline\n",
        "keep.txt": b"keep me\n",
    }
    _wait_tree(dir_b, expected)
    _wait_tree(dir_c, expected)
    assert os.stat(dir_b / loser).st_mtime_ns == os.stat(dir_c / loser).st_mtime_ns == c_mtime

    # a deletion on B stays there: B does not fetch keep.txt back, and C keeps its copy
    (dir_b / "keep.txt").unlink()
    assert sync_b.stderr.wait_line(re.compile(r"keep\.txt was deleted here"), 10), sync_b.describe()
    # a new file from C after the deletion: once B has it, B has seen C still offering keep.txt
    (dir_c / "after.txt").write_bytes(b"written on C after the deletion\n")
    after = {**expected, "after.txt": b"written on C after the deletion\n"}
    _wait_tree(dir_b, {k: v for k, v in after.items() if k != "keep.txt"})
    time.sleep(2)  # a few more evaluations on B
    assert _tree(dir_b) == {k: v for k, v in after.items() if k != "keep.txt"}
    assert _tree(dir_c) == after

    # ... until someone changes it after the deletion: then B fetches the new version
    _save(dir_c / "keep.txt", b"keep me, edited on C after B deleted it\n")
    after["keep.txt"] = b"keep me, edited on C after B deleted it\n"
    _wait_tree(dir_b, after)
    _wait_tree(dir_c, after)

    # the conflict did not multiply anywhere
    for folder in (dir_b, dir_c):
        copies = [p for p in _tree(folder) or {} if ".sync-conflict-" in p]
        assert copies == [loser], (folder, copies)

    # with no trust list, each sync warned exactly once
    for sync in (sync_b, sync_c):
        assert sync.alive(), sync.describe()
        assert sync.stderr.text.count(TRUST_WARNING) == 1, sync.describe()
        assert "Traceback" not in sync.stderr.text, sync.describe()


# -- 6. live announcements of a shared folder -------------------------------------------------


def test_changes_to_a_shared_folder_are_announced_live(lan_factory, tmp_path: Path) -> None:
    a, b, c = cli_hosts(lan_factory(3), tmp_path)
    folder = make_tree(tmp_path / "share", {"first.txt": b"first\n", ".mfsyncignore": b"*.tmp\n"})
    share = a.share(folder)
    follow = b.start("fetch", "--follow", "--json")
    downloads = tmp_path / "downloads"
    getter = c.start("get", "--follow", downloads)

    def seen(path: str) -> list[dict]:
        return [o for o in map(json.loads, follow.stdout.snapshot()) if o["path"] == path]

    wait_for_blocking(lambda: seen("first.txt"), 20, "first.txt listed", detail=follow.describe)

    # a file copied in shows up within seconds
    outside = tmp_path / "outside.bin"
    outside.write_bytes(os.urandom(300_000))
    copied_at = time.monotonic()
    shutil.copy(outside, folder / "copied.bin")
    wait_for_blocking(lambda: seen("copied.bin"), 5, "copied.bin listed", detail=follow.describe,
                      interval=0.05)
    print(f"copied.bin listed after {time.monotonic() - copied_at:.2f} s")
    assert seen("copied.bin")[0]["size"] == 300_000

    # a removed file leaves the index
    (folder / "copied.bin").unlink()

    # a file written slowly in place is offered only once complete
    chunk = os.urandom(64 * 1024)
    gaps = []
    with (folder / "slow.bin").open("wb") as out:
        last = time.monotonic()
        for _ in range(6):
            out.write(chunk)
            out.flush()
            time.sleep(0.2)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
    full = 6 * len(chunk)
    wait_for_blocking(lambda: seen("slow.bin"), 10, "slow.bin listed", detail=follow.describe,
                      interval=0.05)

    # an ignored file stays out; a file written after it marks that it was looked at
    (folder / "x.tmp").write_bytes(b"scratch\n")
    (folder / "marker.txt").write_bytes(b"after x.tmp\n")
    wait_for_blocking(lambda: seen("marker.txt"), 10, "marker.txt listed", detail=follow.describe)

    listed = c.mfsync("fetch", "--json")
    assert listed.returncode == 0, listed
    by_path = {o["path"]: o for o in map(json.loads, listed.stdout.splitlines())}
    assert sorted(by_path) == ["first.txt", "marker.txt", "slow.bin"], listed
    assert by_path["slow.bin"]["size"] == full, listed
    # the follower never saw it with a partial size (the scan waits until a file has been
    # quiet for 0.3 s; the writes above were 0.2 s apart unless the machine stalled)
    if max(gaps) < 0.28:
        assert [o["size"] for o in seen("slow.bin")] == [full], (gaps, follow.describe())
    assert not seen("x.tmp") and not seen(".mfsyncignore"), follow.describe()
    assert share.alive() and follow.alive(), share.describe() + follow.describe()

    # `get --follow` fetched what appeared, complete (copied.bin, gone again within a second,
    # only if it was quick enough: it may have left a partial or nothing)
    want = {"first.txt": b"first\n", "marker.txt": b"after x.tmp\n"}
    want["slow.bin"] = (folder / "slow.bin").read_bytes()
    wait_for_blocking(
        lambda: (
            {k: v for k, v in (_tree(downloads) or {}).items() if "copied.bin" not in k} == want
        ),
        10, f"{sorted(want)} downloaded",
        detail=lambda: f"it holds {sorted(_tree(downloads) or {})}\n{getter.describe()}",
    )
    if "copied.bin" in (_tree(downloads) or {}):
        assert (downloads / "copied.bin").read_bytes() == outside.read_bytes()
    getter.interrupt()
    assert getter.wait(20) == 130, getter.describe()
