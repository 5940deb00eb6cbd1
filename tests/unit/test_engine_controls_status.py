"""Paused and cancelled transfers in the status snapshots and in the command line's display."""

from __future__ import annotations

import io
from pathlib import Path

from mfsync.cli.progress import ProgressDisplay
from mfsync.engine.transfer_status import (
    FINISHED_STATES,
    TransferSnapshot,
    TransfersStatus,
    TransferState,
)

ROOT = Path("/tmp/dest")


def snap(path: str, state: TransferState, size: int = 100, done: int = 50) -> TransferSnapshot:
    return TransferSnapshot(path, size, done, done, state, started_at=1.0, key=(ROOT, path),
                            target=ROOT / path)


def test_paused_is_neither_active_nor_finished() -> None:
    status = TransfersStatus((
        snap("run", TransferState.DOWNLOADING),
        snap("wait", TransferState.PAUSED),
        snap("gone", TransferState.CANCELLED),
    ))
    assert [t.path for t in status.active] == ["run"]
    assert [t.path for t in status.paused] == ["wait"]
    assert status.finished == 0 and status.failed == ()
    assert TransferState.CANCELLED in FINISHED_STATES
    assert TransferState.PAUSED not in FINISHED_STATES


def test_snapshot_defaults_keep_old_callers_working() -> None:
    old_style = TransferSnapshot("x", 1, 0, 0, TransferState.QUEUED)
    assert old_style.key == (Path(), "") and old_style.target == Path()


def test_display_counts_paused_and_cancelled() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, enabled=True, width=100, clock=lambda: 2.0)
    status = TransfersStatus((
        snap("done", TransferState.DONE, done=100),
        snap("wait", TransferState.PAUSED),
        snap("gone", TransferState.CANCELLED),
    ))
    display.update(status)
    display.close(status)
    text = out.getvalue()
    assert "1 paused" in text
    assert "1 cancelled" in text
    # The cancelled file is not part of the work: 1 of 2 files, 150 of 200 bytes.
    assert "Total 1/2 files" in text
    summary = display.summary(status, now=2.0)
    assert summary.endswith(", 1 cancelled, 1 paused")
