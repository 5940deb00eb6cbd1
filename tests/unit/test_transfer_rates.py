"""The engine's speed and time-left measurement (mfsync.engine.transfer_rates), fed clock
values directly: no sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfsync.engine.transfer_rates import SPEED_WINDOW, RateMeter, TransferRates
from mfsync.engine.transfer_status import TransferSnapshot, TransfersStatus, TransferState

MiB = 1024 * 1024
ROOT = Path("/tmp/dest")


def snap(path: str, size: int, done: int, fetched: int | None = None,
         state: TransferState = TransferState.DOWNLOADING, *,
         started_at: float | None = 100.0) -> TransferSnapshot:
    return TransferSnapshot(path, size, done, done if fetched is None else fetched, state,
                            started_at=started_at, key=(ROOT, path), target=ROOT / path)


# --- the meter ------------------------------------------------------------------------------


def test_meter_needs_two_samples_apart() -> None:
    meter = RateMeter()
    assert meter.rate() is None
    meter.add(10.0, 0)
    assert meter.rate() is None
    meter.add(10.0, 5)  # the same moment: no time has passed
    assert meter.rate() is None
    meter.add(11.0, 1005)
    assert meter.rate() == pytest.approx(1000.0)


def test_meter_averages_over_the_window_only() -> None:
    meter = RateMeter()
    now, value = 0.0, 0
    for _ in range(50):  # 5 s at 10 MiB/s
        meter.add(now, value)
        now += 0.1
        value += MiB
    assert meter.rate() == pytest.approx(10 * MiB, rel=0.01)
    for _ in range(40):  # then 4 s at 1 MiB/s: the fast part has left the window
        meter.add(now, value)
        now += 0.1
        value += MiB // 10
    assert meter.rate() == pytest.approx(MiB, rel=0.05)


def test_meter_falls_to_zero_when_the_count_stalls() -> None:
    meter = RateMeter()
    meter.add(0.0, 0)
    meter.add(1.0, 10 * MiB)
    speeds = []
    for step in range(1, 9):  # no progress, sampled every half second
        meter.add(1.0 + step * 0.5, 10 * MiB)
        speed = meter.rate()
        assert speed is not None
        speeds.append(speed)
    assert speeds == sorted(speeds, reverse=True) and speeds[0] > 0
    assert speeds[-1] == 0.0  # a whole window without a byte


def test_meter_restarts_when_the_count_falls() -> None:
    meter = RateMeter()
    meter.add(0.0, 0)
    meter.add(1.0, 50 * MiB)
    meter.add(2.0, 0)  # retried from scratch
    assert meter.rate() is None
    meter.add(3.0, MiB)
    assert meter.rate() == pytest.approx(MiB)


def test_meter_memory_stays_bounded_when_sampled_very_often() -> None:
    meter = RateMeter()
    for i in range(100_000):  # a status asked for every 0.1 ms
        meter.add(i * 1e-4, i)
    assert len(meter._samples) <= SPEED_WINDOW / 0.05 + 3
    assert meter.rate() == pytest.approx(10_000, rel=0.01)


# --- stamping statuses ----------------------------------------------------------------------


def test_resumed_bytes_do_not_count() -> None:
    rates = TransferRates()
    # Resumed: verifying what an earlier run left, nothing verified or received yet.
    first = rates.stamp((snap("big", 200 * MiB, 0, 0, TransferState.VERIFYING),), now=100.0)
    assert first.transfers[0].speed is None and first.speed is None
    assert first.transfers[0].seconds_left is None and first.seconds_left is None
    # A second later the old half is verified (done) and 10 MiB came over the network (fetched).
    second = rates.stamp((snap("big", 200 * MiB, 110 * MiB, 10 * MiB),), now=101.0)
    (big,) = second.transfers
    assert big.speed == pytest.approx(10 * MiB)  # not 110 MiB/s
    assert second.speed == pytest.approx(10 * MiB)
    assert big.seconds_left == pytest.approx(9.0)  # 90 MiB left at 10 MiB/s
    assert second.seconds_left == pytest.approx(9.0)


def test_total_counts_small_files_that_finish_between_statuses() -> None:
    rates = TransferRates()
    rates.stamp((), now=0.0)
    # Within one second, 20 files of 1 MiB came and went: none was ever seen active.
    done = tuple(snap(f"f{i}", MiB, MiB, state=TransferState.DONE, started_at=0.5)
                 for i in range(20))
    status = rates.stamp(done, now=1.0)
    assert status.speed == pytest.approx(20 * MiB)
    assert all(t.speed is None for t in status.transfers)  # finished: no speed of their own
    # Taking them off the list (clear_finished) does not make the count fall.
    later = rates.stamp((snap("g", 10 * MiB, MiB),), now=2.0)
    assert later.speed == pytest.approx(21 * MiB / 2)


def test_unchanged_snapshots_keep_counting_once() -> None:
    rates = TransferRates()
    running = snap("a", 100 * MiB, 10 * MiB)
    finished = snap("b", MiB, MiB, state=TransferState.DONE)
    rates.stamp((finished, running), now=0.0)
    # The same objects again (a downloader hands out cached snapshots): nothing new counted,
    # and the stalled active transfer is still measured.
    status = rates.stamp((finished, running), now=1.0)
    assert status.speed == 0.0
    assert status.transfers[1].speed == 0.0 and status.transfers[0].speed is None


def test_rows_that_shift_are_still_known_by_identity() -> None:
    """A finished job forgotten at the front shifts every row after it: the same snapshots
    at new positions count nothing new, and the active ones keep their meters."""
    rates = TransferRates()
    old = snap("old", MiB, MiB, state=TransferState.DONE)
    rows = tuple(snap(f"a{i}", 100 * MiB, i * MiB) for i in range(5))
    queued = snap("q", MiB, 0, state=TransferState.QUEUED)
    rates.stamp((old, *rows, queued), now=0.0)
    received = rates._received
    status = rates.stamp((*rows, queued), now=1.0)
    assert rates._received == received  # nothing counted twice
    assert [t.speed for t in status.transfers] == [0.0] * 5 + [None]
    # One of them moves on by 2 MiB: only it is counted, at its new position.
    moved = snap("a3", 100 * MiB, 5 * MiB)
    status = rates.stamp((rows[0], rows[1], rows[2], moved, rows[4], queued), now=2.0)
    assert rates._received == received + 2 * MiB
    assert status.transfers[3].speed == pytest.approx(MiB)  # 2 MiB over 2 s


def test_stall_makes_speed_fall_and_time_left_unknown() -> None:
    rates = TransferRates()
    rates.stamp((snap("a", 100 * MiB, 0),), now=0.0)
    status = rates.stamp((snap("a", 100 * MiB, 10 * MiB),), now=1.0)
    assert status.transfers[0].speed == pytest.approx(10 * MiB)
    for step in range(1, 10):
        status = rates.stamp((snap("a", 100 * MiB, 10 * MiB),), now=1.0 + step * 0.5)
    assert status.transfers[0].speed == 0.0 and status.speed == 0.0
    assert status.transfers[0].seconds_left is None and status.seconds_left is None


def test_a_new_run_of_the_same_file_is_measured_afresh() -> None:
    rates = TransferRates()
    rates.stamp((snap("a", 100 * MiB, 0, started_at=0.0),), now=0.0)
    rates.stamp((snap("a", 100 * MiB, 50 * MiB, started_at=0.0),), now=1.0)
    # Taken again (a new start) and already 1 MiB in when next seen.
    again = rates.stamp((snap("a", 100 * MiB, MiB, started_at=1.5),), now=2.0)
    assert again.transfers[0].speed is None  # one sample of the new run so far
    assert again.speed == pytest.approx(51 * MiB / 2)  # the new run's MiB counts as well


def test_only_active_transfers_get_a_speed() -> None:
    rates = TransferRates()
    states = [TransferState.QUEUED, TransferState.VERIFYING, TransferState.DOWNLOADING,
              TransferState.WAITING, TransferState.PAUSED, TransferState.DONE]
    for now in (0.0, 1.0):
        status = rates.stamp(tuple(snap(s.value, 10, 5, 0, s) for s in states), now=now)
    speeds = {t.path: t.speed for t in status.transfers}
    assert speeds == {"queued": None, "verifying": 0.0, "downloading": 0.0, "waiting": 0.0,
                      "paused": None, "done": None}


def test_total_time_left_includes_queued_and_paused_files() -> None:
    rates = TransferRates()
    queued = snap("q", 500 * MiB, 0, state=TransferState.QUEUED, started_at=None)
    paused = snap("p", 100 * MiB, 60 * MiB, state=TransferState.PAUSED)
    skipped = snap("s", 999 * MiB, 0, state=TransferState.SKIPPED)
    rates.stamp((snap("a", 100 * MiB, 0), queued, paused, skipped), now=0.0)
    status = rates.stamp((snap("a", 100 * MiB, 40 * MiB), queued, paused, skipped), now=2.0)
    assert status.total_remaining == (60 + 500 + 40) * MiB
    assert status.seconds_left == pytest.approx(600 / 20)


def test_combining_statuses_keeps_totals_right() -> None:
    one, two = TransferRates(), TransferRates()
    one.stamp((snap("a", 100 * MiB, 0),), now=0.0)
    two.stamp((snap("b", 300 * MiB, 0),), now=0.0)
    a = one.stamp((snap("a", 100 * MiB, 10 * MiB),), now=1.0)
    b = two.stamp((snap("b", 300 * MiB, 30 * MiB),), now=1.0)
    both = TransfersStatus.combine(a, b)
    assert [t.path for t in both.transfers] == ["a", "b"]
    assert both.speed == pytest.approx(40 * MiB)
    assert both.seconds_left == pytest.approx((90 + 270) / 40)
    assert both.total_fetched == 40 * MiB
    # A downloader with nothing measured yet adds no speed; none measured at all: unknown.
    assert TransfersStatus.combine(a, TransfersStatus()).speed == pytest.approx(10 * MiB)
    assert TransfersStatus.combine(TransfersStatus(), TransfersStatus()).speed is None
    assert TransfersStatus.combine() == TransfersStatus()
