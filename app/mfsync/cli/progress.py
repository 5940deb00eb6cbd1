"""The progress display of ``mfsync get`` and ``sync`` on a terminal.

One line per active file (at most ``MAX_FILE_LINES``, the most recently started first) and a
total line, redrawn in place with ANSI cursor movement at most ``1 / REDRAW_INTERVAL`` times a
second (the lines themselves come from :mod:`mfsync.cli.progress_lines`)::

      42% [#########-----------]  120.0 MiB/285.3 MiB  48.1 MiB/s  0:03  path/to/file
    Total 3/12 files  42% [#########-----------]  1.2 GiB/2.8 GiB  146 MiB/s  0:11

``close()`` leaves the final lines and a summary such as
``12 files, 1.2 GiB in 8.4 s (146 MiB/s)``. When the display is disabled (not a terminal, or
``-v``: log lines would interleave with the bars) only ``message()`` lines and the summary are
printed.

Speeds and times left are the engine's (:mod:`mfsync.engine.transfer_rates` stamps them on each
status): they count only bytes received over the network, never what a resumed partial file
already held, so resuming a large file does not show an absurd speed.
"""

import shutil
import time
from collections.abc import Callable
from typing import TextIO

from mfsync.cli.progress_lines import MAX_FILE_LINES, frame_lines, summary_line
from mfsync.cli.terminal import CLEAR_BELOW, CLEAR_LINE, cursor_up, should_enable
from mfsync.display import shown
from mfsync.engine.transfer_status import TransfersStatus

__all__ = ["MAX_FILE_LINES", "REDRAW_INTERVAL", "ProgressDisplay", "should_enable"]

REDRAW_INTERVAL = 0.1  #: seconds between two redraws at most
# Float error in a clock's differences must not skip a redraw that is due.
_EPSILON = 1e-9


class ProgressDisplay:
    """Progress bars redrawn in place on ``stream``, from ``TransfersStatus`` snapshots.

    Call ``update()`` with every new snapshot (the downloader publishes one every few tenths of
    a second while anything is active, so a stall shows as a falling speed); ``message()`` for
    any line
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
        erase = cursor_up(self._drawn_lines) + CLEAR_BELOW
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
        speed is the run's average of the bytes received, so a resumed file's old part does not
        inflate it.
        """
        return summary_line(status, self._clock() if now is None else now, self._created)

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
        width, rows = self._size()
        lines = frame_lines(status, width, rows, ellipsis=self._ellipsis, clean=self._clean)
        parts = [prefix, cursor_up(self._drawn_lines)]
        parts.extend(CLEAR_LINE + line + "\n" for line in lines)
        if len(lines) < self._drawn_lines:
            parts.append(CLEAR_BELOW)  # what is left of a taller previous frame
        parts.append(suffix)
        self._write("".join(parts))
        self._drawn_lines = len(lines)
        self._last_draw = now

