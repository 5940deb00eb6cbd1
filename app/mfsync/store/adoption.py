"""Files a download just put in a shared folder, as the share set takes them in.

A sync folder that fills up lands files many at a time; taking each into its share set with its
own lock, ``stat`` in a worker thread and save cost more than the file. ``ShareSet.adopt`` takes
a batch of ``Landed`` files at once, and ``look_landed`` (run in one worker thread for the
whole batch) says what is on disk for each.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from mfsync.protocol.version import VersionVector
from mfsync.store.hashing import FileHashes
from mfsync.store.index_records import FileRecord
from mfsync.store.local_file import LocalFile

__all__ = ["Landed", "look_landed"]


@dataclass(frozen=True, slots=True)
class Landed:
    """A file a download put at wire path ``path``, with its hashes and the version it gets.
    ``local_path`` is where it was written when that is not ``path`` itself (the decomposed
    name a file of ours had on disk)."""

    path: str
    hashes: FileHashes
    version: VersionVector
    local_path: Path | None = None


def look_landed(root: Path, landed: list[Landed]) -> list[LocalFile | FileRecord]:
    """For each file of ``landed`` (under the folder ``root``), the shared file it now is, or,
    if it was deleted in the moment since it arrived, its tombstone (remembered, so that it is
    not fetched again by itself). Blocking: run it in a worker thread."""
    found: list[LocalFile | FileRecord] = []
    for item in landed:
        disk = item.path
        if item.local_path is not None and item.local_path.is_relative_to(root):
            disk = item.local_path.relative_to(root).as_posix()
        hashes = item.hashes
        try:
            st = os.stat(root.joinpath(*disk.split("/")))
        except FileNotFoundError:
            found.append(FileRecord(item.path, disk, hashes.size, 0, 0, hashes.block_size,
                                    hashes.block_hashes, hashes.content_id, item.version,
                                    deleted=True))
            continue
        found.append(LocalFile(item.path, disk, st.st_size, st.st_mtime_ns, st.st_ino, hashes,
                               item.version))
    return found
