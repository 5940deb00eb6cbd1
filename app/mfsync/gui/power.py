"""Whether the computer runs on battery, for pause-on-battery.

How it works: a ``PowerSource`` answers "on battery?" with True, False or None (unknown, or no
battery at all, which counts as mains power). ``PowerMonitor.poll`` asks it and reports changes
only; the app calls ``poll`` from a timer (``POLL_INTERVAL``), so the monitor itself keeps no
clock and tests drive it with a fake source. No Qt here.
"""

import logging
from collections.abc import Callable

__all__ = ["POLL_INTERVAL", "PowerMonitor", "PowerSource", "psutil_source"]

log = logging.getLogger("mfsync.gui")

#: Seconds between polls: unplugging is not urgent, and reading the battery costs a little.
POLL_INTERVAL = 30.0

#: Returns True on battery, False on mains power, None when unknown or there is no battery.
PowerSource = Callable[[], bool | None]


def psutil_source() -> bool | None:
    """The power state from ``psutil.sensors_battery()``; None without a battery, or where the
    platform cannot tell."""
    try:
        import psutil  # noqa: PLC0415 - only the real backend needs it

        battery = psutil.sensors_battery()
    except Exception as exc:  # psutil raises platform-specific errors on odd hardware
        log.debug("cannot read the battery state: %s", exc)
        return None
    if battery is None or battery.power_plugged is None:
        return None
    return not battery.power_plugged


class PowerMonitor:
    """Reports the power state to ``on_change(on_battery)`` when it changes, from ``poll``."""

    def __init__(self, source: PowerSource, on_change: Callable[[bool], None]) -> None:
        self._source = source
        self._on_change = on_change
        self._on_battery: bool | None = None  # None until the first poll reports

    @property
    def on_battery(self) -> bool:
        """The state last reported (False before the first poll)."""
        return bool(self._on_battery)

    def poll(self) -> bool:
        """Ask the source; calls ``on_change`` on the first poll and on every change. Returns
        whether the computer is on battery now (unknown counts as mains power)."""
        try:
            reading = self._source()
        except Exception:  # a broken backend must not stop the app's timer
            log.exception("cannot read the power state")
            reading = None
        on_battery = bool(reading)
        if on_battery != self._on_battery:
            previous, self._on_battery = self._on_battery, on_battery
            if previous is not None:
                log.info("now on %s", "battery" if on_battery else "mains power")
            self._on_change(on_battery)
        return on_battery
