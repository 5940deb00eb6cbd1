"""Sync over real sockets: several ``Syncer``s on nodes that share a folder and want files.

Files spread host to host, edits replace old versions, concurrent edits end in one conflict
copy named the same everywhere, deletions stay local, and the index database spares a restart
the rehash.
"""

from __future__ import annotations

import asyncio
import os
import time
import unicodedata
from pathlib import Path

import pytest
from loopback import make_tree, read_tree

import mfsync.engine.sync as sync_module
from mfsync.crypto.keys import Identity
from mfsync.engine.node import Node
from mfsync.engine.sync import SYNC_SOURCE_WAIT, Syncer
from mfsync.engine.transfer_status import FINISHED_STATES
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.protocol.version import MAX_COUNTER, Order, VersionVector
from mfsync.store import folder_scan
from mfsync.store.conflicts import conflict_name, is_conflict_name
from waiting import wait_for

SYNCED = 20.0  # generous bound for "every host has it"
_SYNCERS: dict[Node, Syncer] = {}


def _age(path: Path, seconds: float) -> int:
    """Give ``path`` a modification time ``seconds`` in the past (settled, and distinct)."""
    mtime = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(mtime, mtime))
    return mtime


@pytest.fixture
async def host(make_node):
    """Start a syncing host on a folder; syncers are stopped before their nodes."""
    syncers: dict[Node, Syncer] = {}

    async def make(folder: Path, files: dict[str, bytes] | None = None, **overrides) -> Node:
        folder.mkdir(parents=True, exist_ok=True)
        make_tree(folder, files or {})
        node = await make_node(share_dir=folder, wants=True, **overrides)
        syncers[node] = _SYNCERS[node] = Syncer(node)
        syncers[node].start()
        return node

    async def stop(node: Node) -> None:
        await syncers.pop(node).stop()
        _SYNCERS.pop(node, None)
        await node.stop()

    make.stop = stop
    yield make
    for node, syncer in syncers.items():
        await syncer.stop()
        _SYNCERS.pop(node, None)


def _root(node: Node) -> Path:
    assert node.share is not None
    return node.share.root


def _versions(node: Node) -> dict[str, object]:
    assert node.share is not None
    return {p: f.version for p, f in node.share.files.items()}


async def _all_have(nodes: list[Node], files: dict[str, bytes], timeout: float = SYNCED) -> None:
    def done(node: Node) -> bool:  # on disk, and recorded in the share set (just after)
        return read_tree(_root(node)) == files and set(node.share.files) == set(files)

    try:
        await wait_for(lambda: all(done(n) for n in nodes), timeout)
    except AssertionError as exc:
        report = [f"{n.name}:{n.server.port} has {sorted(read_tree(_root(n)).items())}; "
                  f"transfers {_SYNCERS[n].downloader.status.transfers}"
                  for n in nodes]
        detail = "\n".join(report)
        raise AssertionError(f"{exc}; expected {sorted(files.items())}\n{detail}") from None


async def test_files_spread_and_survive_their_origin(host, tmp_path: Path) -> None:
    files = {"a.txt": b"alpha\n", "empty": b"", "sub/b.bin": os.urandom(400_000),
             "sub/deeper/c.md": b"# c\n"}
    a = await host(tmp_path / "a", files)
    b = await host(tmp_path / "b")
    c = await host(tmp_path / "c")
    await _all_have([b, c], files)
    assert read_tree(_root(a)) == files
    # Versions travel with the files (and settle to the same everywhere).
    await wait_for(lambda: _versions(a) == _versions(b) == _versions(c))
    a_port = a.server.port
    await host.stop(a)
    d = await host(tmp_path / "d")
    await _all_have([d], files)
    assert all(h.port != a_port for f in d.status.files for h in f.hosts)
    await wait_for(lambda: _versions(d) == _versions(b))  # recorded just after the rename


async def test_an_edit_replaces_the_old_version(host, tmp_path: Path) -> None:
    files = {"notes.txt": b"first draft\n", "other.bin": os.urandom(200_000)}
    a = await host(tmp_path / "a", files)
    b = await host(tmp_path / "b")
    c = await host(tmp_path / "c")
    await _all_have([b, c], files)
    old_version = a.share.get("notes.txt").version
    edited = dict(files, **{"notes.txt": b"second draft, longer than the first\n"})
    (_root(b) / "notes.txt").write_bytes(edited["notes.txt"])
    await asyncio.sleep(0.4)  # older than SETTLE_AGE: the scan takes it
    await b.rescan()
    new_version = b.share.get("notes.txt").version
    assert new_version.compare(old_version) is Order.NEWER
    await _all_have([a, b, c], edited)  # replaced in place: no conflict copy anywhere
    await wait_for(lambda: all(n.share.get("notes.txt").version == new_version
                               for n in (a, b, c)))


async def test_concurrent_edits_end_in_one_conflict_copy(host, tmp_path: Path) -> None:
    files = {"plan.txt": b"the plan\n", "keep.txt": b"untouched\n"}
    # No watchers: the two edits are scanned exactly when the test says, so they are concurrent.
    a = await host(tmp_path / "a", files, watch=False)
    b = await host(tmp_path / "b", watch=False)
    c = await host(tmp_path / "c", watch=False)
    await _all_have([b, c], files)
    await wait_for(lambda: _versions(a) == _versions(b) == _versions(c))

    (_root(a) / "plan.txt").write_bytes(b"A's plan: go left\n")
    (_root(b) / "plan.txt").write_bytes(b"B's plan: go right, it is longer\n")
    a_mtime = _age(_root(a) / "plan.txt", 20)
    _age(_root(b) / "plan.txt", 10)  # B's edit is the newer one: it wins
    await asyncio.sleep(0.4)
    await asyncio.gather(a.rescan(), b.rescan())

    loser = conflict_name("plan.txt", a_mtime, a.identity.public_key)
    expected = {"plan.txt": b"B's plan: go right, it is longer\n",
                loser: b"A's plan: go left\n", "keep.txt": b"untouched\n"}
    # Usually a second or two. But if C queued A's edit just before A set it aside (a race
    # that load makes likely), C's job waits for that content under the old name until
    # SYNC_SOURCE_WAIT runs out, and only then does the policy fetch the winner: slow, but it
    # converges all the same.
    await _all_have([a, b, c], expected, SYNCED + SYNC_SOURCE_WAIT)
    # And it stays that way: no further copies appear, the versions agree.
    await wait_for(lambda: _versions(a) == _versions(b) == _versions(c))
    await asyncio.sleep(1.5)
    for node in (a, b, c):
        tree = read_tree(_root(node))
        assert tree == expected
        assert [p for p in tree if is_conflict_name(p)] == [loser]
    assert _versions(a) == _versions(b) == _versions(c)


async def test_a_conflict_on_a_conflict_copy_makes_no_copy_of_the_copy(host,
                                                                       tmp_path: Path) -> None:
    # A conflict copy is synced like any file, so two hosts may change it at once (or one
    # edits it while another still holds its first content under a version of its own). The
    # newer version takes the name; the other is not kept as a copy of the copy (Syncthing's
    # rule: found by the churn soak, which saw x.sync-conflict-A.sync-conflict-B.md).
    copy = conflict_name("plan.txt", time.time_ns() - 60 * 10**9, bytes.fromhex("e9415b") * 11)
    files = {copy: b"the loser of an earlier conflict\n", "keep.txt": b"untouched\n"}
    a = await host(tmp_path / "a", files, watch=False)
    b = await host(tmp_path / "b", watch=False)
    await _all_have([b], files)
    await wait_for(lambda: _versions(a) == _versions(b))

    (_root(a) / copy).write_bytes(b"A edits the copy first\n")
    (_root(b) / copy).write_bytes(b"B edits the copy later, and wins\n")
    _age(_root(a) / copy, 20)
    b_mtime = _age(_root(b) / copy, 10)
    await asyncio.sleep(0.4)
    await asyncio.gather(a.rescan(), b.rescan())

    expected = {copy: b"B edits the copy later, and wins\n", "keep.txt": b"untouched\n"}
    await _all_have([a, b], expected)
    await wait_for(lambda: _versions(a) == _versions(b))
    await asyncio.sleep(1.5)  # and no copy of the copy turns up later
    for node in (a, b):
        assert read_tree(_root(node)) == expected
        assert (_root(node) / copy).stat().st_mtime_ns == b_mtime
    assert _versions(a) == _versions(b)


async def test_deletion_stays_local(host, tmp_path: Path) -> None:
    files = {"gone.txt": b"delete me\n", "stay.txt": b"stay\n"}
    a = await host(tmp_path / "a", files)
    b = await host(tmp_path / "b")
    await _all_have([b], files)
    (_root(b) / "gone.txt").unlink()
    await b.rescan()
    record = b.share.record("gone.txt")
    assert record is not None and record.deleted
    # Something new from A: B is evidently syncing, yet does not take the deleted file back.
    (_root(a) / "new.txt").write_bytes(b"new\n")
    _age(_root(a) / "new.txt", 1)
    await a.rescan()
    await wait_for(lambda: (_root(b) / "new.txt").exists(), SYNCED)
    await asyncio.sleep(2.5)
    assert read_tree(_root(b)) == {"stay.txt": b"stay\n", "new.txt": b"new\n"}
    # Nor does the deletion reach A.
    assert read_tree(_root(a)) == dict(files, **{"new.txt": b"new\n"})
    assert "gone.txt" in {f.path for f in b.status.files}  # still offered by A, mind you


async def test_restart_uses_the_index_database(make_node, tmp_path: Path,
                                               monkeypatch) -> None:
    identity = Identity.generate()
    folder = make_tree(tmp_path / "share", {"a.txt": b"one\n", "b/c.bin": os.urandom(300_000),
                                            "d.txt": b"to be deleted\n"})
    options = {"share_dir": folder, "state_dir": tmp_path / "state", "identity": identity,
               "discovery": False, "watch": False}
    first = await make_node(**options)
    (folder / "a.txt").write_bytes(b"two\n")
    _age(folder / "a.txt", 5)
    (folder / "d.txt").unlink()
    await first.rescan()
    versions = _versions(first)
    assert versions["a.txt"].get(identity.public_key) == 2
    content = {p: f.hashes.content_id for p, f in first.share.files.items()}
    await first.stop()

    hashed: list[str] = []
    real_hash = folder_scan.hash_file

    def counting(path: Path, root: Path | None = None):
        hashed.append(path.relative_to(folder).as_posix())
        return real_hash(path, root)

    monkeypatch.setattr(folder_scan, "hash_file", counting)
    second = await make_node(**options)
    assert hashed == []
    assert _versions(second) == versions
    assert {p: f.hashes.content_id for p, f in second.share.files.items()} == content
    record = second.share.record("d.txt")
    assert record is not None and record.deleted  # the deletion is remembered too
    # A real change is still noticed (and the counter does count).
    (folder / "b/c.bin").write_bytes(b"changed")
    _age(folder / "b/c.bin", 5)
    await second.rescan()
    assert hashed == ["b/c.bin"]
    assert second.share.get("b/c.bin").version.get(identity.public_key) == 2


# -- names stored decomposed (NFD, as macOS writes them); found by the churn soak ------------

NFC_NAME = "Müsli/Grüße.txt"
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)


async def test_an_edit_elsewhere_replaces_a_file_named_in_nfd_here(host, tmp_path: Path) -> None:
    # A holds the file under its decomposed name; an edit on B must replace that very file on
    # A, not land in a twin beside it (two files with one NFC name: one of them unshared, and
    # the old one, if the next scan picks it, sent back over everyone's edit).
    a = await host(tmp_path / "a", {NFD_NAME: b"v1\n"})
    b = await host(tmp_path / "b")
    await _all_have([b], {NFC_NAME: b"v1\n"})
    (_root(b) / NFC_NAME).write_bytes(b"v2, edited on B\n")
    _age(_root(b) / NFC_NAME, 5)
    await b.rescan()
    edited = b.share.get(NFC_NAME).version
    await wait_for(lambda: read_tree(_root(a)) == {NFD_NAME: b"v2, edited on B\n"}, SYNCED)
    await wait_for(lambda: a.share.get(NFC_NAME).version == edited)
    assert a.share.get(NFC_NAME).disk_path == NFD_NAME
    await a.rescan()  # and a scan sees nothing new: the same file, the same version
    assert read_tree(_root(a)) == {NFD_NAME: b"v2, edited on B\n"}
    assert a.share.get(NFC_NAME).version == edited
    assert read_tree(_root(b)) == {NFC_NAME: b"v2, edited on B\n"}


def _nfc_tree(root: Path) -> dict[str, bytes]:
    """``read_tree`` by NFC name (what the share set offers), failing on two files that are
    one name once normalised."""
    tree = read_tree(root)
    nfc = {unicodedata.normalize("NFC", name): content for name, content in tree.items()}
    assert len(nfc) == len(tree), f"twins in {root}: {sorted(tree)}"
    return nfc


async def test_a_conflict_lost_in_an_nfd_folder_is_set_aside_there(host, tmp_path: Path) -> None:
    # A's folder is named in NFD. When A's version loses a conflict, A must set its copy aside
    # beside it (there is no NFC-named folder to rename it into) and take the winner into the
    # same folder, not into a twin folder.
    a = await host(tmp_path / "a", {NFD_NAME: b"v1\n"}, watch=False)
    b = await host(tmp_path / "b", watch=False)
    await _all_have([b], {NFC_NAME: b"v1\n"})
    await wait_for(lambda: _versions(a) == _versions(b))
    (_root(a) / NFD_NAME).write_bytes(b"A's edit\n")
    (_root(b) / NFC_NAME).write_bytes(b"B's edit, the newer one\n")
    a_mtime = _age(_root(a) / NFD_NAME, 20)
    _age(_root(b) / NFC_NAME, 10)
    await asyncio.sleep(0.4)
    await asyncio.gather(a.rescan(), b.rescan())
    loser = conflict_name(NFC_NAME, a_mtime, a.identity.public_key)
    expected = {NFC_NAME: b"B's edit, the newer one\n", loser: b"A's edit\n"}
    await wait_for(lambda: _nfc_tree(_root(a)) == expected and read_tree(_root(b)) == expected,
                   SYNCED + SYNC_SOURCE_WAIT)
    folder = NFD_NAME.split("/")[0]
    assert os.listdir(_root(a)) == [folder]  # one folder, as it was named
    inside = sorted(unicodedata.normalize("NFC", n) for n in os.listdir(_root(a) / folder))
    assert inside == sorted(p.split("/")[1] for p in expected)
    assert a.share.get(loser).disk_path == f"{folder}/{loser.split('/')[1]}"


async def test_an_offer_with_worn_out_version_counters_is_ignored(host, make_node, tmp_path,
                                                                   caplog):
    hostile = await make_node(share_dir=make_tree(tmp_path / "h", {"x.txt": b"hostile",
                                                                  "ok.txt": b"fine"}))
    share = hostile.share
    assert share is not None
    worn = VersionVector.of({hostile.identity.public_key: MAX_COUNTER})
    await share.set_version("x.txt", worn)
    hostile.share_changed()
    good = await host(tmp_path / "good")
    await wait_for(lambda: (tmp_path / "good" / "ok.txt").exists(), SYNCED)
    await asyncio.sleep(1.0)  # time enough for x.txt too, were it taken
    assert not (tmp_path / "good" / "x.txt").exists()
    assert "near their limit" in caplog.text
    assert good.share is not None and good.share.get("x.txt") is None


async def test_a_relayed_version_is_set_aside_under_its_makers_name(host, make_node,
                                                                    tmp_path: Path) -> None:
    # A made the file; B only relays it. A download that finds a different file of ours in
    # the way stores theirs under the conflict name the sync rules give that version -- A's
    # key, not B's -- or each host that relays a loser would add one more copy of it (found by
    # the churn soak: two hosts editing one file at once left two copies of the loser).
    a = await host(tmp_path / "a", {"doc.txt": b"made on A\n"})
    b = await host(tmp_path / "b")
    await _all_have([b], {"doc.txt": b"made on A\n"})
    await wait_for(lambda: _versions(b) == _versions(a))
    await host.stop(a)
    fetcher = await make_node(wants=True)
    await wait_for(lambda: any(f.hosts for f in fetcher.files_for("doc.txt")))
    [remote] = fetcher.files_for("doc.txt")
    assert {h.key for h in remote.hosts} == {b.identity.public_key}
    dest = make_tree(tmp_path / "dest", {"doc.txt": b"ours, in the way\n"})
    downloader = Downloader(fetcher)
    try:
        assert downloader.add(DownloadJob("doc.txt", dest))
        await asyncio.wait_for(downloader.join(), SYNCED)
        [result] = downloader.results
    finally:
        await downloader.stop()
    copy = conflict_name("doc.txt", remote.mtime_ns, a.identity.public_key)
    assert result.stored_as == copy, result
    assert read_tree(dest) == {"doc.txt": b"ours, in the way\n", copy: b"made on A\n"}


async def test_a_partial_download_nobody_needs_any_more_is_removed(host, tmp_path: Path) -> None:
    # A run stopped in the middle of a download leaves its partial file, for a resume. If the
    # version it was for has lost meanwhile (here: both hosts hold the same file), nothing will
    # ever finish it: it must go, not stay for ever (found by the churn soak). A partial of a
    # file that nobody offers right now stays: its host may come back.
    files = {"doc.txt": b"the current version\n"}
    folder = tmp_path / "a"
    folder.mkdir()
    stale = folder / ".doc.txt.mfsync-part"
    stale.write_bytes(b"the first half of an older version")
    waiting = folder / ".elsewhere.txt.mfsync-part"
    waiting.write_bytes(b"a file from a host that is away")
    a = await host(folder, files)
    b = await host(tmp_path / "b", files)
    await wait_for(lambda: _versions(a) == _versions(b))
    await wait_for(lambda: not stale.exists())
    assert waiting.exists()
    assert read_tree(_root(b)) == files


async def test_a_change_during_the_first_scan_is_seen_at_once(make_node, tmp_path: Path,
                                                               monkeypatch) -> None:
    # The first scan of a big folder takes a while. What changes meanwhile must not wait for
    # the periodic rescan (30 s): the watcher runs from before the scan (found by the churn
    # soak: an edit made as a host restarted took half a minute to spread).
    folder = make_tree(tmp_path / "a", {"first.txt": b"there before\n"})
    real_hash = folder_scan.hash_file

    def hash_while_a_file_appears(path: Path, root: Path | None = None):
        if not (folder / "during.txt").exists():
            (folder / "during.txt").write_bytes(b"written during the first scan\n")
        return real_hash(path, root)

    monkeypatch.setattr(folder_scan, "hash_file", hash_while_a_file_appears)
    node = await make_node(share_dir=folder)
    assert "first.txt" in node.share.files
    await wait_for(lambda: "during.txt" in node.share.files, 10)


async def test_a_sync_queues_a_window_of_downloads_at_a_time(
        host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 100,000 new files held a job, a record and a status row each at once; now the policy
    # queues SYNC_WINDOW of them and the rest as those finish.
    monkeypatch.setattr(sync_module, "SYNC_WINDOW", 7)
    files = {f"d{i % 3}/w{i:03}.bin": os.urandom(300) for i in range(60)}
    await host(tmp_path / "a", files)
    b = await host(tmp_path / "b")
    syncer = _SYNCERS[b]
    real_add = syncer.downloader.add
    unfinished: list[int] = []

    def add(job: DownloadJob) -> bool:
        added = real_add(job)
        unfinished.append(sum(1 for t in syncer.downloader.status.transfers
                              if t.state not in FINISHED_STATES))
        return added

    monkeypatch.setattr(syncer.downloader, "add", add)
    await _all_have([b], files)
    assert len(unfinished) == len(files) and max(unfinished) <= 7
    assert sorted(r.job.path for r in syncer.downloader.results) == sorted(files)


async def test_each_file_is_fetched_once(host, tmp_path: Path) -> None:
    # A name stays pending until its file is in the share set: a policy run in between used to
    # find neither a download nor the file and fetch it again (up to four times a file).
    files = {f"d{i % 4}/f{i:03}.bin": os.urandom(512) for i in range(120)}
    await host(tmp_path / "a", files)
    b = await host(tmp_path / "b")
    await _all_have([b], files)
    results = _SYNCERS[b].downloader.results
    assert sorted(r.job.path for r in results) == sorted(files)
    assert {r.state.name for r in results} == {"DONE"}
