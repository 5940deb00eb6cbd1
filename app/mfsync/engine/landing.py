"""Landing finished downloads: many at once, in one trip off the event loop and one flush.

Every download ends the same way: its partial file is flushed to disk, gets the modification
time of the original and is renamed over its target (``PartialFile.finalize``). Done one file at
a time that is a thread hand-off, an ``fsync`` of the file and an ``fsync`` of its folder per
file, which for 4 KiB files costs far more than receiving them. The ``Lander`` (a
``ThreadBatcher``) queues landings and does whatever has queued up together: one thread trip,
one ``durable.sync_files`` for all their data, the renames, then one ``fsync`` per folder.
While a batch is on the disk the next one gathers, so batches grow with the load and a lone
file lands at once.

The order within a landing never changes: data on disk, then the rename. A batch that fails to
flush renames nothing; a file that fails on its own fails its own download only.
"""

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mfsync.engine.batches import ThreadBatcher
from mfsync.store.dirfd import HeldFolders
from mfsync.store.durable import sync_files
from mfsync.store.partial import PartialFile, fsync_dir

__all__ = ["TEST_HOOK_HOLD_VERIFIED", "Lander", "Landing", "hold_verified_for_test",
           "land_batch"]

log = logging.getLogger("mfsync.transfer")

#: TEST HOOK, inert unless this environment variable is set (only tests set it), as
#: ``WIRE_PATH=RELEASE_FILE``: a download of ``WIRE_PATH``, once verified and before it lands,
#: creates ``RELEASE_FILE.held`` and waits until ``RELEASE_FILE`` exists. It makes the race
#: between verification and the final rename happen every time in the tests.
TEST_HOOK_HOLD_VERIFIED = "MFSYNC_TEST_HOOK_HOLD_VERIFIED"
#: The test hook holds a download at most this long (a test that forgot it must not hang).
_TEST_HOOK_MAX_HOLD = 60.0
_TEST_HOOK_POLL = 0.05


@dataclass(frozen=True)
class Landing:
    """One download to land.

    ``content`` is the whole file when it arrived in memory (a small file): it is written into
    the partial first. ``destination`` runs in the batch's thread just before the rename and
    names the path to rename to (it may choose a conflict copy's name).
    """

    root: Path
    partial: PartialFile
    mtime_ns: int
    destination: Callable[[], Path]
    content: bytes | None = None


#: What a landing becomes: the path written, or the exception that failed it.
Outcome = Path | BaseException


def land_batch(landings: list[Landing]) -> list[Outcome]:
    """Land every one of ``landings``: write the contents held in memory, flush all their data
    at once, rename each, flush each folder once. Blocks; the outcome of each, in order."""
    held = HeldFolders()  # (each folder of the small files written here opened once)
    try:
        return _land(landings, held)
    finally:
        held.close()


def _land(landings: list[Landing], held: HeldFolders) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(landings)
    ready: list[int] = []
    for index, landing in enumerate(landings):
        try:
            if landing.content is not None:
                _write_whole(landing, held)
            ready.append(index)
        except Exception as exc:
            outcomes[index] = exc
    try:
        sync_files(landings[index].partial.fileno for index in ready)
    except OSError as exc:
        # Nothing of this batch may be renamed now: its data may not be on the disk.
        for index in ready:
            outcomes[index] = exc
        ready = []
    folders: set[Path] = set()
    for index in ready:
        landing = landings[index]
        try:
            final = landing.partial.finalize(landing.mtime_ns, landing.destination(),
                                             synced=True)
        except Exception as exc:
            outcomes[index] = exc
            continue
        outcomes[index] = final
        folders.add(final.parent)
    for folder in folders:
        fsync_dir(folder)
    return [outcome if outcome is not None else RuntimeError("not landed")
            for outcome in outcomes]


def _write_whole(landing: Landing, held: HeldFolders) -> None:
    """Write a verified small file, held in memory, into its partial (replacing what that
    held); the folders up to it are made (or opened, never through a symlink) first."""
    partial = landing.partial
    partial.open(held)
    if landing.content:
        partial.write_block(0, landing.content)


class Lander(ThreadBatcher[Landing, Path]):
    """Lands downloads in batches (see the module's docstring): ``await lander.run(landing)``
    is the path written."""

    def __init__(self) -> None:
        super().__init__(land_batch)


async def hold_verified_for_test(wire_path: str) -> None:
    """The test hook ``TEST_HOOK_HOLD_VERIFIED``: does nothing unless a test set it for
    ``wire_path``."""
    spec = os.environ.get(TEST_HOOK_HOLD_VERIFIED)
    if not spec:
        return
    path, sep, release = spec.rpartition("=")
    if not sep or path != wire_path:
        return
    log.warning("test hook %s: holding the verified %s until %s exists",
                TEST_HOOK_HOLD_VERIFIED, wire_path, release)
    await asyncio.to_thread(Path(release + ".held").touch)
    deadline = time.monotonic() + _TEST_HOOK_MAX_HOLD
    while time.monotonic() < deadline and not await asyncio.to_thread(os.path.exists, release):
        await asyncio.sleep(_TEST_HOOK_POLL)
