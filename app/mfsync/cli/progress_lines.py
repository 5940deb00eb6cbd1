"""The lines of the progress display: one per active file, a total line, and the summary.

Pure functions of a ``TransfersStatus`` and the terminal's size, so that every layout can be
checked without a terminal; :mod:`mfsync.cli.progress` draws them in place. Speeds and times
left are read from the status (the engine measures them), never measured here::

      42% [#########-----------]  120.0 MiB/285.3 MiB  48.1 MiB/s  0:03  path/to/file
    Total 3/12 files  42% [#########-----------]  1.2 GiB/2.8 GiB  146 MiB/s  0:11
"""

import math
from collections.abc import Callable, Sequence

from mfsync.cli.columns import head, shorten_middle, text_width
from mfsync.cli.formatting import (
    NO_ETA,
    format_duration,
    format_elapsed,
    format_eta,
    format_size,
    format_speed,
)
from mfsync.engine.transfer_status import (
    FINISHED_STATES,
    TransferSnapshot,
    TransfersStatus,
    TransferState,
)

__all__ = ["MAX_FILE_LINES", "frame_lines", "summary_line"]

MAX_FILE_LINES = 8  #: active files shown at most

_BAR_WIDTH = 20
_MIN_BAR_WIDTH = 5  # a narrower bar says nothing the percentage does not
_MIN_PATH_WIDTH = 20  # the bar shrinks before the path gets narrower than this
# Widths the fields are padded to, so that consecutive lines line up.
_SIZES_WIDTH = len("120.0 MiB/285.3 MiB")
_SPEED_WIDTH = len("48.1 MiB/s")
_ETA_WIDTH = len(NO_ETA)
# Files that are not part of the work: skipped ones were never fetched, cancelled ones never
# will be; counting them would keep the total below 100%.
_NOT_COUNTED = frozenset({TransferState.SKIPPED, TransferState.CANCELLED})


def frame_lines(
    status: TransfersStatus,
    width: int,
    rows: int | None,
    *,
    ellipsis: str = "…",
    clean: Callable[[str], str] = str,
) -> list[str]:
    """The lines that show ``status`` on a terminal ``width`` columns wide and ``rows`` high
    (None: no limit), each narrower than ``width``; ``clean`` makes a file name safe to print.
    """
    # One column spare: a character in the last column leaves the cursor in the "pending
    # wrap" state, where some terminals wrap early and "\x1b[K" erases that character.
    cols = max(width - 1, 1)
    # The bar shrinks (down to nothing) before the path gets too narrow to recognise; " [" and
    # "]" around the bar and the two spaces before the path take 5 columns.
    base = text_width(_fields(0.0, 0, 0, speed="", eta="", bar_width=0))
    bar_width = min(_BAR_WIDTH, cols - base - 5 - _MIN_PATH_WIDTH)
    if bar_width < _MIN_BAR_WIDTH:
        bar_width = 0

    active = sorted(
        status.active,
        key=lambda t: -math.inf if t.started_at is None else t.started_at,
        reverse=True,
    )
    max_files = MAX_FILE_LINES
    if rows is not None:
        # Lines scrolled off the top cannot be reached by moving the cursor up: the whole
        # frame (files, "and N more", total) must fit above the cursor's line.
        max_files = min(max_files, rows - 3)
    shown: Sequence[TransferSnapshot] = active[: max(max_files, 0)]
    lines = [_file_line(t, cols, bar_width, ellipsis, clean) for t in shown]
    if len(active) > len(shown) and (rows is None or rows >= 3):
        lines.append(head(f"  {ellipsis} and {len(active) - len(shown)} more", cols))
    lines.append(_total_line(status, cols, bar_width))
    return lines


def summary_line(status: TransfersStatus, now: float, since: float) -> str:
    """``12 files, 1.2 GiB in 8.4 s (146 MiB/s)``, then how many were skipped, failed,
    cancelled, paused or not finished.

    The time runs from the first transfer's start (or from ``since`` if none started); the
    speed counts bytes received, so a resumed file's old part does not inflate it.
    """
    transfers = status.transfers
    done = [t for t in transfers if t.state is TransferState.DONE]
    size = format_size(sum(t.size for t in done))
    fetched = status.total_fetched
    start = min((t.started_at for t in transfers if t.started_at is not None), default=since)
    elapsed = max(now - start, 0.0)
    text = f"{len(done)} file{'' if len(done) == 1 else 's'}, {size}"
    received = format_size(fetched)
    if received != size:
        text += f" ({received} received)"
    text += f" in {format_elapsed(elapsed)}"
    if fetched > 0 and elapsed > 0:
        # The run's average, not the engine's recent speed: this line sums up the whole run.
        text += f" ({format_speed(fetched / elapsed)})"
    skipped = sum(1 for t in transfers if t.state is TransferState.SKIPPED)
    cancelled = sum(1 for t in transfers if t.state is TransferState.CANCELLED)
    paused = len(status.paused)
    # Paused files are not finished either, but they get a count of their own.
    unfinished = sum(1 for t in transfers if t.state not in FINISHED_STATES) - paused
    for count, what in (
        (skipped, "skipped"),
        (len(status.failed), "failed"),
        (cancelled, "cancelled"),
        (paused, "paused"),
        (unfinished, "not finished"),
    ):
        if count:
            text += f", {count} {what}"
    return text


def _fraction(done: int, size: int, complete: bool) -> float:
    if size <= 0:
        return 1.0 if complete else 0.0
    return min(max(done / size, 0.0), 1.0)


def _percent(fraction: float) -> str:
    # Rounded down, so that 100% means finished rather than 99.6%.
    return f"{int(fraction * 100):3d}%"


def _bar(fraction: float, width: int) -> str:
    filled = int(fraction * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _speed_text(speed: float | None) -> str:
    return "--" if speed is None else format_speed(speed)


def _fields(
    fraction: float,
    done: int,
    size: int,
    *,
    speed: str,
    eta: str,
    bar_width: int,
    indent: str = "  ",
) -> str:
    bar = f" {_bar(fraction, bar_width)}" if bar_width else ""
    sizes = f"{format_size(done)}/{format_size(size)}"
    return (
        f"{indent}{_percent(fraction)}{bar}  {sizes:>{_SIZES_WIDTH}}"
        f"  {speed:>{_SPEED_WIDTH}}  {eta:>{_ETA_WIDTH}}"
    )


def _file_line(
    t: TransferSnapshot, cols: int, bar_width: int, ellipsis: str, clean: Callable[[str], str]
) -> str:
    if t.state is TransferState.VERIFYING:
        speed, eta = "verifying", NO_ETA
    elif t.state is TransferState.WAITING:
        speed, eta = "waiting", NO_ETA
    else:
        speed, eta = _speed_text(t.speed), format_eta(t.seconds_left)
    fraction = _fraction(t.done, t.size, t.state is TransferState.DONE)
    fields = _fields(fraction, t.done, t.size, speed=speed, eta=eta, bar_width=bar_width)
    room = cols - text_width(fields) - 2
    path = shorten_middle(clean(t.path), room, ellipsis) if room > 0 else ""
    return head(f"{fields}  {path}" if path else fields, cols)


def _total_line(status: TransfersStatus, cols: int, bar_width: int) -> str:
    counted = [t for t in status.transfers if t.state not in _NOT_COUNTED]
    size = sum(t.size for t in counted)
    done = sum(t.done for t in counted)
    # Paused files are not finished: they count in the total and its estimate (they resume).
    pending = any(t.state not in FINISHED_STATES for t in counted)
    label = f"Total {status.finished}/{len(counted)} files"
    failed = len(status.failed)
    if failed:
        label += f", {failed} failed"
    paused = len(status.paused)
    if paused:
        label += f", {paused} paused"
    fields = _fields(
        _fraction(done, size, not pending),
        done,
        size,
        speed=_speed_text(status.speed),
        eta=format_eta(status.seconds_left) if pending else format_duration(0),
        bar_width=bar_width,
        indent=label + "  ",
    )
    return head(fields, cols)
