"""A downloader that runs for a long time (a sync folder) remembers only its last finished
jobs: rows in its status and results, the oldest forgotten first; unfinished jobs never."""

import asyncio
from pathlib import Path

from mfsync.engine.download_jobs import DownloadJob, DownloadResult
from mfsync.engine.download_queue import DownloadQueue
from mfsync.engine.transfer_status import TransferState


def _queue(history: int | None, release: dict[str, asyncio.Event],
           finished: list[str] | None = None) -> DownloadQueue:
    async def run(job: DownloadJob) -> DownloadResult:
        if job.path in release:
            await release[job.path].wait()
        queue.board.set_state(job, TransferState.DONE)  # (as the downloader does)
        return DownloadResult(job, TransferState.DONE)

    def done(result: DownloadResult) -> None:
        if finished is not None:
            finished.append(result.job.path)

    queue = DownloadQueue(run, lambda _job, _target: None, workers=4, history=history,
                          on_done=done)
    return queue


async def test_only_the_last_finished_jobs_are_remembered(tmp_path: Path) -> None:
    hold = {"slow": asyncio.Event()}
    finished: list[str] = []
    queue = _queue(3, hold, finished)
    queue.add(DownloadJob("slow", tmp_path))
    for i in range(10):
        queue.add(DownloadJob(f"f{i}", tmp_path))
    while len(finished) < 10:
        await asyncio.sleep(0.01)
    rows = {key[1]: record.state for key, record in queue.board.records.items()}
    # the three last finished, and the one still running: never forgotten
    assert set(rows) == {"slow", "f7", "f8", "f9"}
    assert rows["slow"] is not TransferState.DONE
    assert [r.job.path for r in queue.results] == ["f7", "f8", "f9"]
    assert len(queue.board.status().transfers) == 4
    hold["slow"].set()
    await queue.join()
    assert set(key[1] for key in queue.board.records) == {"f8", "f9", "slow"}
    await queue.stop()


async def test_a_job_queued_again_is_remembered_as_its_latest_run(tmp_path: Path) -> None:
    queue = _queue(2, {})
    for name in ("a", "b", "a", "c"):
        queue.add(DownloadJob(name, tmp_path))
        await queue.join()
    assert set(key[1] for key in queue.board.records) == {"a", "c"}
    await queue.stop()


async def test_without_a_history_everything_is_remembered(tmp_path: Path) -> None:
    queue = _queue(None, {})
    for i in range(50):
        queue.add(DownloadJob(f"f{i}", tmp_path))
    await queue.join()
    assert len(queue.board.records) == 50 and len(queue.results) == 50
    await queue.stop()
