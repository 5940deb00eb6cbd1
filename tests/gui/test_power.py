"""The power monitor with a fake source, and the psutil backend with a fake psutil."""

import sys
import types

import pytest

from mfsync.gui.power import PowerMonitor, psutil_source


def _monitor(readings: list[bool | None]) -> tuple[PowerMonitor, list[bool]]:
    changes: list[bool] = []
    it = iter(readings)
    return PowerMonitor(lambda: next(it), changes.append), changes


def test_first_poll_reports_the_initial_state() -> None:
    monitor, changes = _monitor([False])
    assert monitor.on_battery is False
    assert monitor.poll() is False
    assert changes == [False]


def test_only_changes_are_reported() -> None:
    monitor, changes = _monitor([True, True, False, False, True, True])
    results = [monitor.poll() for _ in range(6)]
    assert results == [True, True, False, False, True, True]
    assert changes == [True, False, True]
    assert monitor.on_battery is True


def test_unknown_counts_as_mains_power() -> None:
    monitor, changes = _monitor([None, False, True, None, None])
    for _ in range(5):
        monitor.poll()
    assert changes == [False, True, False]


def test_a_failing_source_counts_as_mains_power(caplog: pytest.LogCaptureFixture) -> None:
    calls = iter([True, RuntimeError("no sysfs"), True])

    def source() -> bool | None:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    changes: list[bool] = []
    monitor = PowerMonitor(source, changes.append)
    for _ in range(3):
        monitor.poll()
    assert changes == [True, False, True]
    assert "cannot read the power state" in caplog.text


@pytest.mark.parametrize(
    ("battery", "expected"),
    [
        (None, None),  # no battery: a desktop
        (types.SimpleNamespace(percent=50, secsleft=-2, power_plugged=True), False),
        (types.SimpleNamespace(percent=50, secsleft=3600, power_plugged=False), True),
        (types.SimpleNamespace(percent=50, secsleft=-1, power_plugged=None), None),
    ],
)
def test_psutil_source(
    monkeypatch: pytest.MonkeyPatch, battery: object, expected: bool | None
) -> None:
    fake = types.ModuleType("psutil")
    fake.sensors_battery = lambda: battery  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "psutil", fake)
    assert psutil_source() is expected


def test_psutil_source_survives_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise OSError("no battery info")

    fake = types.ModuleType("psutil")
    fake.sensors_battery = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "psutil", fake)
    assert psutil_source() is None
    monkeypatch.delattr(fake, "sensors_battery")  # platforms without the function
    assert psutil_source() is None


def test_real_psutil_source_answers() -> None:
    assert psutil_source() in (True, False, None)
