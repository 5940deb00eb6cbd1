"""A downloader's statuses: folded together, so that many jobs cost few statuses, and the last
one after ``join`` shows every final state."""

import asyncio
from pathlib import Path
from types import SimpleNamespace

from mfsync.engine.transfer_status import TransfersStatus, TransferState
from mfsync.engine.transfers import Downloader, DownloadJob

#: No job ever runs (everything is paused): a node only needs to take subscriptions.
NO_NODE = SimpleNamespace(subscribe=lambda observer: lambda: None)


async def test_changes_in_quick_succession_share_statuses(tmp_path: Path) -> None:
    # No job ever runs: everything is paused, so no node is needed.
    downloader = Downloader(NO_NODE)  # type: ignore[arg-type]
    statuses: list[TransfersStatus] = []
    downloader.subscribe(statuses.append)
    downloader.pause()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(2000):
        assert downloader.add(DownloadJob(f"f{i}", tmp_path))
        await asyncio.sleep(0)  # each change in a loop iteration of its own
    elapsed = loop.time() - started
    await asyncio.sleep(0.3)
    # One status per change would be 2,000 statuses of up to 2,000 jobs each (quadratic);
    # folded, a status is published at most every 20 ms (and less often for many jobs).
    assert len(statuses) <= elapsed / 0.02 + 3, (len(statuses), elapsed)
    assert len(statuses[-1].transfers) == 2000
    assert all(t.state is TransferState.PAUSED for t in statuses[-1].transfers)
    # A snapshot that did not change is the same object from one status to the next.
    assert statuses[-1].transfers[0] is downloader.status.transfers[0]
    await downloader.stop()


async def test_join_delivers_the_final_states_at_once(tmp_path: Path) -> None:
    downloader = Downloader(NO_NODE)  # type: ignore[arg-type]
    statuses: list[TransfersStatus] = []
    downloader.subscribe(statuses.append)
    downloader.pause()
    downloader.add(DownloadJob("a", tmp_path))
    await downloader.join()  # nothing queued or running: returns at once...
    # ... having published the status with the job in it, without waiting for a timer
    assert statuses and [t.path for t in statuses[-1].transfers] == ["a"]
    await downloader.stop()
