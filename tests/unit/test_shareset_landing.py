"""A download that lands in a shared folder is not a change made here: a scan that finds it
before the syncer adopts it (the watcher sees the rename first) keeps the version it came with."""

from __future__ import annotations

from pathlib import Path

from mfsync.protocol.version import EMPTY_VERSION
from mfsync.store.adoption import Landed
from mfsync.store.hashing import hash_file
from mfsync.store.shareset import ShareSet

OURS = b"\x01" * 32
THEIRS = b"\x02" * 32


async def test_a_scan_during_a_landing_keeps_the_downloads_version(tmp_path: Path) -> None:
    share = ShareSet(tmp_path, local_key=OURS)
    await share.rescan()
    theirs = EMPTY_VERSION.bump(THEIRS)
    (tmp_path / "new.txt").write_bytes(b"from elsewhere")
    cid = hash_file(tmp_path / "new.txt").content_id
    share.expect("new.txt", cid, theirs)
    (tmp_path / "other.txt").write_bytes(b"made here")
    await share.rescan()
    landed = share.get("new.txt")
    assert landed is not None and landed.version == theirs
    made = share.get("other.txt")
    assert made is not None and made.version == EMPTY_VERSION.bump(OURS)
    # once adopted, the expectation is gone: a later edit here is a change made here; the
    # scan took it in already, so adopting it is no new generation (peers would fetch again)
    generation = share.generation
    await share.adopt([Landed("new.txt", landed.hashes, theirs)])
    assert share.generation == generation
    (tmp_path / "new.txt").write_bytes(b"edited here")
    await share.rescan()
    edited = share.get("new.txt")
    assert edited is not None and edited.version == theirs.bump(OURS)
    share.close()


async def test_other_content_than_expected_is_a_change_made_here(tmp_path: Path) -> None:
    share = ShareSet(tmp_path, local_key=OURS)
    await share.rescan()
    share.expect("x.txt", b"\x00" * 32, EMPTY_VERSION.bump(THEIRS))
    (tmp_path / "x.txt").write_bytes(b"the user was faster")
    await share.rescan()
    found = share.get("x.txt")
    assert found is not None and found.version == EMPTY_VERSION.bump(OURS)
    share.forget_expected("x.txt")
    share.close()


async def test_files_landed_together_are_taken_in_together(tmp_path: Path) -> None:
    share = ShareSet(tmp_path, local_key=OURS)
    await share.rescan()
    theirs = EMPTY_VERSION.bump(THEIRS)
    landed = []
    for name in ("a.txt", "b.txt", "gone.txt"):
        (tmp_path / name).write_bytes(name.encode())
        landed.append(Landed(name, hash_file(tmp_path / name), theirs))
    (tmp_path / "gone.txt").unlink()  # deleted in the moment since it arrived
    generation = share.generation
    await share.adopt(landed)
    assert share.generation == generation + 1  # one new generation for the batch
    assert sorted(share.files) == ["a.txt", "b.txt"]
    assert all(share.files[n].version == theirs for n in ("a.txt", "b.txt"))
    tombstone = share.record("gone.txt")
    assert tombstone is not None and tombstone.deleted  # not fetched again by itself
    assert share.changes_since(generation) == ({"a.txt", "b.txt"}, set())
    share.close()
