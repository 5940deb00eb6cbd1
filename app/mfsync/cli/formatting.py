"""How the command line writes sizes, speeds and durations: ``120.0 MiB``, ``48.1 MiB/s``, ``0:03``.

The engine measures (speeds and times left come stamped on each ``TransfersStatus``, see
:mod:`mfsync.engine.transfer_rates`); these functions only turn numbers into short text.
"""

import math

__all__ = ["NO_ETA", "format_duration", "format_elapsed", "format_eta", "format_size",
           "format_speed"]

#: What a time left that is unknown (or too far off to mean anything) is shown as.
NO_ETA = "--:--"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_MAX_ETA = 100 * 3600  # beyond this an estimate is noise: show it as unknown


def format_size(n: float) -> str:
    """Bytes in binary units: ``512 B``, ``12 KiB``, ``120.0 MiB``, ``1.2 GiB``, ``3.0 TiB``.

    Bytes and KiB are whole numbers; MiB and above have one decimal.
    """
    value = float(max(n, 0))
    for i, unit in enumerate(_UNITS):
        text = f"{value:.{1 if i >= 2 else 0}f}"
        # Decide on the rounded text, so that 1023.96 MiB becomes "1.0 GiB", not "1024.0 MiB".
        if float(text) < 1024 or i == len(_UNITS) - 1:
            return f"{text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_speed(bytes_per_second: float) -> str:
    """A speed such as ``48.1 MiB/s`` or ``146 MiB/s`` (three significant digits are plenty)."""
    number, unit = format_size(bytes_per_second).split(" ")
    if "." in number and float(number) >= 100:
        number = str(int(float(number)))
    return f"{number} {unit}/s"


def format_duration(seconds: float) -> str:
    """Whole seconds as ``m:ss`` (under an hour) or ``h:mm:ss``."""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_elapsed(seconds: float) -> str:
    """A run's length: ``8.4 s`` under a minute (short runs are common: tenths say more than
    ``0:08``), else as :func:`format_duration`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return format_duration(round(seconds))


def format_eta(seconds_left: float | None) -> str:
    """A time left such as ``0:03``, or ``--:--`` when unknown or more than 100 hours away."""
    if seconds_left is None or seconds_left < 0:
        return NO_ETA
    seconds = math.ceil(seconds_left)  # rounded up: "0:00" only once it is really done
    return NO_ETA if seconds > _MAX_ETA else format_duration(seconds)
