"""The versions a scan gives the files it found, and the tombstones it leaves for those it did not.

A file new to us gets our counter 1; a file whose content changed gets its version bumped by us
(a tombstone's version too, when a deleted file is re-created); a file a download is about to land
(announced by ``ShareSet.expect``) takes the version it came with, so that the download is not
taken for a change made here; a file that disappeared leaves a tombstone (its version, marked
deleted) so that sync does not fetch it again. Pure bookkeeping, no disk: it runs on the event
loop, once per scan, over what store/folder_scan.py found.
"""

import logging
from collections.abc import Mapping
from dataclasses import replace

from mfsync.protocol.version import EMPTY_VERSION, VersionVector
from mfsync.store.folder_scan import FolderScan
from mfsync.store.index_db import FileRecord
from mfsync.store.local_file import LocalFile

__all__ = ["stamp_limited", "stamp_versions"]

log = logging.getLogger("mfsync.store")


def stamp_versions(
    found: dict[str, LocalFile], present: set[str], records: Mapping[str, FileRecord],
    expected: Mapping[str, tuple[bytes, VersionVector]], local_key: bytes, *,
    previous: Mapping[str, LocalFile] | None = None,
) -> list[FileRecord]:
    """Give each file of ``found`` its version (in place) and return the rows that changed.

    ``present`` are the names of every regular file on disk (one left out of ``found`` as it
    is still being written is among them, and gets no tombstone); ``records`` what the index
    remembers, tombstones included; ``expected`` maps a path to the (content id, version) of a
    download on its way there; ``local_key`` is our counter's key in version vectors.
    ``previous``: the files as the share set held them, each saved as its record; a file the
    walk found unchanged is that very object, and keeps its version and row as they are.
    """
    updates: list[FileRecord] = []
    # Equal versions are one shared object (they are immutable): a first scan gives every
    # file the same new version, and 100,000 copies of it were ~20 MB.
    bumped: dict[VersionVector, VersionVector] = {}
    unchanged = previous if previous is not None else {}
    for path, scanned in found.items():
        if unchanged.get(path) is scanned and path not in expected:
            continue  # (a rescan of 100,000 unchanged files built and compared every row)
        local = scanned
        old = records.get(path)
        landing = expected.get(path)
        if landing is not None and landing[0] == local.hashes.content_id:
            version = landing[1]  # a download landed: not a change made here
        elif old is not None and not old.deleted and old.content_id == local.hashes.content_id:
            version = old.version
        else:
            # changed here, or re-created (a tombstone's version is bumped), or new
            base = old.version if old is not None else EMPTY_VERSION
            if base not in bumped:
                bumped[base] = base.bump(local_key)
            version = bumped[base]
        if local.version != version:
            local = found[path] = local.with_version(version)
        record = local.to_record()
        if record != old:
            updates.append(record)
    for path, old in records.items():
        if path not in found and path not in present and not old.deleted:
            updates.append(replace(old, deleted=True))
            log.info("%s was deleted here; it will not be fetched again by itself", path)
    return updates


def stamp_limited(
    scan: FolderScan, files: dict[str, LocalFile], records: Mapping[str, FileRecord],
    expected: Mapping[str, tuple[bytes, VersionVector]], local_key: bytes,
) -> tuple[dict[str, LocalFile], list[FileRecord]]:
    """After a walk limited to ``scan.scope``: every file of the set (``files`` as it was, with
    what the scope covers replaced by what the walk found, versions given) and the rows that
    changed; tombstones only for what the scope covers."""
    assert scan.scope is not None
    covered = scan.scope.covers(files)
    # The rows versions are given from: what was there, and tombstones of what is back.
    known = {name: records[name] for name in covered | scan.files.keys() if name in records}
    updates = stamp_versions(scan.files, scan.present, known, expected, local_key,
                             previous=files)
    found = dict(files)
    for name in covered:
        del found[name]
    found.update(scan.files)
    return found, updates
