"""The progress display of ``mfsync get`` and ``sync`` on a terminal.

One line per active file (at most ``MAX_FILE_LINES``, the most recently started first) and a
total line, redrawn in place with ANSI cursor movement at most ``1 / REDRAW_INTERVAL`` times a
second::

      42% [#########-----------]  120.0 MiB/285.3 MiB  48.1 MiB/s  0:03  path/to/file
    Total 3/12 files  42% [#########-----------]  1.2 GiB/2.8 GiB  146 MiB/s  0:11

``close()`` leaves the final lines and a summary such as
``12 files, 1.2 GiB in 8.4 s (146 MiB/s)``. When the display is disabled (not a terminal, or
``-v``: log lines would interleave with the bars) only ``message()`` lines and the summary are
printed.

Speeds count only bytes received over the network (``fetched``), never what a resumed partial
file already held (``done``), so resuming a large file does not show an absurd speed.
"""

import collections
import math
import os
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import TextIO

from mfsync.display import shown
from mfsync.engine.transfer_status import TransferSnapshot, TransfersStatus, TransferState

__all__ = [
    "MAX_FILE_LINES",
    "REDRAW_INTERVAL",
    "SPEED_WINDOW",
    "ProgressDisplay",
    "format_duration",
    "format_size",
    "format_speed",
    "shorten_middle",
    "should_enable",
    "text_width",
]

REDRAW_INTERVAL = 0.1  #: seconds between two redraws at most
SPEED_WINDOW = 3.0  #: seconds the speed is averaged over
MAX_FILE_LINES = 8  #: active files shown at most

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_BAR_WIDTH = 20
_MIN_BAR_WIDTH = 5  # a narrower bar says nothing the percentage does not
_MIN_PATH_WIDTH = 20  # the bar shrinks before the path gets narrower than this
# Widths the fields are padded to, so that consecutive lines line up.
_SIZES_WIDTH = len("120.0 MiB/285.3 MiB")
_SPEED_WIDTH = len("48.1 MiB/s")
_ETA_WIDTH = len("--:--")
_NO_ETA = "--:--"
_MAX_ETA = 100 * 3600  # beyond this an estimate is noise: show it as unknown
# Float error in a clock's differences must not skip a redraw that is due.
_EPSILON = 1e-9

_CLEAR_LINE = "\x1b[K"
_CLEAR_BELOW = "\x1b[J"
# Paused files are not finished: they count in the total and its estimate (they will resume).
_PENDING = frozenset({
    TransferState.QUEUED,
    TransferState.VERIFYING,
    TransferState.DOWNLOADING,
    TransferState.WAITING,
    TransferState.PAUSED,
})
# Files that are not part of the work: skipped ones were never fetched, cancelled ones never
# will be; counting them would keep the total below 100%.
_NOT_COUNTED = frozenset({TransferState.SKIPPED, TransferState.CANCELLED})


def _cursor_up(n: int) -> str:
    # "\x1b[0A" moves up one line on most terminals, so zero must produce nothing at all.
    return f"\r\x1b[{n}A" if n > 0 else ""


# --- formatting -----------------------------------------------------------------------------


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


def _format_elapsed(seconds: float) -> str:
    # Short runs are common (a few files): tenths of a second say more than "0:08".
    if seconds < 60:
        return f"{seconds:.1f} s"
    return format_duration(round(seconds))


def _format_eta(remaining: int, speed: float | None) -> str:
    if speed is None or speed <= 0 or remaining < 0:
        return _NO_ETA
    seconds = math.ceil(remaining / speed)  # rounded up: "0:00" only once it is really done
    return _NO_ETA if seconds > _MAX_ETA else format_duration(seconds)


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


# --- terminal columns -----------------------------------------------------------------------


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters count 2, combining marks 0."""
    return sum(_char_width(c) for c in text)


def _head(text: str, width: int) -> str:
    """The longest start of ``text`` that fits in ``width`` columns."""
    used = 0
    for i, char in enumerate(text):
        used += _char_width(char)
        if used > width:
            return text[:i]
    return text


def _tail(text: str, width: int) -> str:
    """The longest end of ``text`` that fits in ``width`` columns, not starting with a mark."""
    used = 0
    start = len(text)
    for i in range(len(text) - 1, -1, -1):
        used += _char_width(text[i])
        if used > width:
            break
        start = i
    # A combining mark cut from its base character would decorate the ellipsis instead.
    while start < len(text) and _char_width(text[start]) == 0:
        start += 1
    return text[start:]


def shorten_middle(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` if it fits in ``width`` columns, else its start and end around ``ellipsis``.

    The end gets the larger half: for a path, the file name matters most.
    """
    if text_width(text) <= width:
        return text
    room = width - text_width(ellipsis)
    if room <= 0:
        return _head(ellipsis, max(width, 0))
    tail_room = (room + 1) // 2
    return _head(text, room - tail_room) + ellipsis + _tail(text, tail_room)


# --- speed ----------------------------------------------------------------------------------


class _RateMeter:
    """Bytes per second of a growing counter, averaged over about ``SPEED_WINDOW``."""

    __slots__ = ("_samples",)

    def __init__(self) -> None:
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, value: int) -> None:
        samples = self._samples
        if samples and value < samples[-1][1]:
            samples.clear()  # the counter restarted (a transfer retried from scratch)
        if samples and samples[-1][0] >= now:
            samples[-1] = (samples[-1][0], value)
        else:
            samples.append((now, value))
        # Keep one sample at or before the window start, so the average covers the whole window.
        while len(samples) >= 2 and samples[1][0] <= now - SPEED_WINDOW:
            samples.popleft()

    def rate(self) -> float | None:
        """Bytes per second, or None until two samples some time apart exist."""
        if len(self._samples) < 2:
            return None
        (t0, v0), (t1, v1) = self._samples[0], self._samples[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else None


# --- enabling -------------------------------------------------------------------------------


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only

    def _enable_windows_vt(stream: TextIO) -> bool:
        # The classic Windows console shows escape sequences as text unless asked to
        # interpret them; Windows Terminal already does.
        import ctypes  # noqa: PLC0415 - Windows only
        import msvcrt  # noqa: PLC0415 - Windows only
        from ctypes import wintypes  # noqa: PLC0415 - Windows only

        enable_virtual_terminal_processing = 0x0004
        try:
            handle = msvcrt.get_osfhandle(stream.fileno())
            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            mode = wintypes.DWORD()
            if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
                return False
            if mode.value & enable_virtual_terminal_processing:
                return True
            return bool(
                kernel32.SetConsoleMode(handle, mode.value | enable_virtual_terminal_processing)
            )
        except (OSError, ValueError, AttributeError):
            return False

else:

    def _enable_windows_vt(stream: TextIO) -> bool:
        return True


def should_enable(stream: TextIO, verbose: int) -> bool:
    """Whether to draw progress bars on ``stream``.

    Only on a terminal that understands cursor movement (not ``TERM=dumb``), and not with
    ``-v``: log lines written to the same screen would tear the bars apart. On Windows this also
    switches the console to interpreting escape sequences, and says no if that fails.
    """
    try:
        tty = stream.isatty()
    except (ValueError, OSError):  # closed or detached stream
        return False
    if not tty or verbose or os.environ.get("TERM") == "dumb":
        return False
    return _enable_windows_vt(stream)


# --- the display ----------------------------------------------------------------------------


class ProgressDisplay:
    """Progress bars redrawn in place on ``stream``, from ``TransfersStatus`` snapshots.

    Call ``update()`` with every new snapshot (and preferably every few tenths of a second even
    without progress, so the speed falls when a transfer stalls); ``message()`` for any line
    that must appear while the bars are shown; ``close()`` once at the end. Nothing else may
    write to ``stream`` (or to the same terminal) in between. Not thread-safe: call it from one
    thread (the event loop's).

    ``clock`` must be the clock of the snapshots' ``started_at`` (``time.monotonic``). With
    ``width`` None the terminal's size is read at every redraw, so that frames keep fitting a
    resized window (a wrapped line would throw the cursor arithmetic off).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self._stream = stream
        self._enabled = enabled
        self._clock = clock
        self._width = width
        self._encoding: str | None = getattr(stream, "encoding", None)
        self._ellipsis = "…" if self._encodable("…") else "..."
        self._created = clock()
        self._status: TransfersStatus | None = None  # the latest, drawn or not
        self._drawn_lines = 0  # lines of the frame on screen, above the cursor
        self._last_draw: float | None = None
        self._closed = False
        self._total_meter = _RateMeter()
        self._file_meters: dict[str, _RateMeter] = {}

    @property
    def enabled(self) -> bool:
        """Whether bars are drawn (as opposed to only messages and the summary)."""
        return self._enabled

    def update(self, status: TransfersStatus) -> None:
        """Show ``status``; redraws at most once per ``REDRAW_INTERVAL`` (later calls wait)."""
        if self._closed or not self._enabled:
            return
        self._status = status
        now = self._clock()
        if self._last_draw is not None and now - self._last_draw < REDRAW_INTERVAL - _EPSILON:
            return
        self._draw(status, now)

    def message(self, text: str) -> None:
        """Print ``text`` as a line of its own above the bars, then redraw them below it."""
        line = text if text.endswith("\n") else text + "\n"
        if not self._encodable(line):
            # Messages quote peers' file names too; one the stream cannot encode must not raise.
            line = self._reencode(line)
        if not self._enabled or self._closed or self._status is None:
            self._write(line)
            return
        # One write: the bars vanish and come back in the same screen update, without flicker.
        erase = _cursor_up(self._drawn_lines) + _CLEAR_BELOW
        self._drawn_lines = 0
        self._draw(self._status, self._clock(), prefix=erase + line)

    def close(self, status: TransfersStatus) -> None:
        """Draw ``status`` one last time, leave it on screen, and print the summary line.

        Later calls to ``update()`` and ``close()`` do nothing; ``message()`` just prints.
        """
        if self._closed:
            return
        now = self._clock()
        summary = self.summary(status, now) + "\n"
        if self._enabled:
            self._draw(status, now, suffix=summary)
        else:
            self._write(summary)
        self._closed = True

    def summary(self, status: TransfersStatus, now: float | None = None) -> str:
        """``12 files, 1.2 GiB in 8.4 s (146 MiB/s)``, then how many were skipped,
        failed, cancelled, paused or not finished.

        The time runs from the first transfer's start (or from this display's creation); the
        speed counts bytes received, so a resumed file's old part does not inflate it.
        """
        if now is None:
            now = self._clock()
        transfers = status.transfers
        done = [t for t in transfers if t.state is TransferState.DONE]
        size = format_size(sum(t.size for t in done))
        fetched = status.total_fetched
        start = min(
            (t.started_at for t in transfers if t.started_at is not None), default=self._created
        )
        elapsed = max(now - start, 0.0)
        text = f"{len(done)} file{'' if len(done) == 1 else 's'}, {size}"
        received = format_size(fetched)
        if received != size:
            text += f" ({received} received)"
        text += f" in {_format_elapsed(elapsed)}"
        if fetched > 0 and elapsed > 0:
            text += f" ({format_speed(fetched / elapsed)})"
        skipped = sum(1 for t in transfers if t.state is TransferState.SKIPPED)
        cancelled = sum(1 for t in transfers if t.state is TransferState.CANCELLED)
        paused = len(status.paused)
        unfinished = sum(1 for t in transfers if t.state in _PENDING) - paused
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

    # --- drawing ----------------------------------------------------------------------------

    def _encodable(self, text: str) -> bool:
        if not self._encoding:
            return True
        try:
            text.encode(self._encoding)
        except (UnicodeEncodeError, LookupError):
            return False
        return True

    def _clean(self, text: str) -> str:
        text = shown(text)
        # A name the terminal's encoding cannot show would make the whole write raise.
        return text if self._encodable(text) else self._reencode(text)

    def _reencode(self, text: str) -> str:
        encoding = self._encoding or "ascii"
        try:
            return text.encode(encoding, "replace").decode(encoding)
        except LookupError:  # an encoding Python does not know: be conservative
            return text.encode("ascii", "replace").decode("ascii")

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def _size(self) -> tuple[int, int | None]:
        if self._width is not None:
            return self._width, None
        size = shutil.get_terminal_size()
        return size.columns, size.lines

    def _draw(
        self, status: TransfersStatus, now: float, prefix: str = "", suffix: str = ""
    ) -> None:
        self._sample(status, now)
        lines = self._frame(status)
        parts = [prefix, _cursor_up(self._drawn_lines)]
        parts.extend(_CLEAR_LINE + line + "\n" for line in lines)
        if len(lines) < self._drawn_lines:
            parts.append(_CLEAR_BELOW)  # what is left of a taller previous frame
        parts.append(suffix)
        self._write("".join(parts))
        self._drawn_lines = len(lines)
        self._last_draw = now

    def _sample(self, status: TransfersStatus, now: float) -> None:
        self._total_meter.add(now, status.total_fetched)
        meters: dict[str, _RateMeter] = {}
        for t in status.active:
            meter = self._file_meters.get(t.path) or _RateMeter()
            meter.add(now, t.fetched)
            meters[t.path] = meter
        self._file_meters = meters  # forget the files that are no longer active

    def _frame(self, status: TransfersStatus) -> list[str]:
        width, rows = self._size()
        # One column spare: a character in the last column leaves the cursor in the "pending
        # wrap" state, where some terminals wrap early and "\x1b[K" erases that character.
        cols = max(width - 1, 1)
        # The bar shrinks (down to nothing) before the path gets too narrow to recognise; " [" and
        # "]" around the bar and the two spaces before the path take 5 columns.
        base = text_width(self._fields(0.0, 0, 0, speed="", eta="", bar_width=0))
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
        lines = [self._file_line(t, cols, bar_width) for t in shown]
        if len(active) > len(shown) and (rows is None or rows >= 3):
            more = f"  {self._ellipsis} and {len(active) - len(shown)} more"
            lines.append(_head(more, cols))
        lines.append(self._total_line(status, cols, bar_width))
        return lines

    def _fields(
        self,
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

    def _file_line(self, t: TransferSnapshot, cols: int, bar_width: int) -> str:
        if t.state is TransferState.VERIFYING:
            speed_text, eta = "verifying", _NO_ETA
        elif t.state is TransferState.WAITING:
            speed_text, eta = "waiting", _NO_ETA
        else:
            meter = self._file_meters.get(t.path)
            speed = meter.rate() if meter is not None else None
            speed_text = "--" if speed is None else format_speed(speed)
            eta = _format_eta(t.size - t.done, speed)
        fraction = _fraction(t.done, t.size, t.state is TransferState.DONE)
        fields = self._fields(
            fraction, t.done, t.size, speed=speed_text, eta=eta, bar_width=bar_width
        )
        room = cols - text_width(fields) - 2
        path = shorten_middle(self._clean(t.path), room, self._ellipsis) if room > 0 else ""
        return _head(f"{fields}  {path}" if path else fields, cols)

    def _total_line(self, status: TransfersStatus, cols: int, bar_width: int) -> str:
        counted = [t for t in status.transfers if t.state not in _NOT_COUNTED]
        size = sum(t.size for t in counted)
        done = sum(t.done for t in counted)
        pending = [t for t in counted if t.state in _PENDING]
        remaining = sum(max(t.size - t.done, 0) for t in pending)
        speed = self._total_meter.rate()
        label = f"Total {status.finished}/{len(counted)} files"
        failed = len(status.failed)
        if failed:
            label += f", {failed} failed"
        paused = len(status.paused)
        if paused:
            label += f", {paused} paused"
        fields = self._fields(
            _fraction(done, size, not pending),
            done,
            size,
            speed="--" if speed is None else format_speed(speed),
            eta=_format_eta(remaining, speed) if pending else format_duration(0),
            bar_width=bar_width,
            indent=label + "  ",
        )
        return _head(fields, cols)
