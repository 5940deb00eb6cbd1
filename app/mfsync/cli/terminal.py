"""The terminal the progress bars are drawn on: whether it can take them, and the escape
sequences that redraw them in place."""

import os
import sys
from typing import TextIO

__all__ = ["CLEAR_BELOW", "CLEAR_LINE", "cursor_up", "should_enable"]

#: Erase from the cursor to the end of its line.
CLEAR_LINE = "\x1b[K"
#: Erase from the cursor to the end of the screen.
CLEAR_BELOW = "\x1b[J"


def cursor_up(n: int) -> str:
    """Back to the start of the line ``n`` lines up ("" for zero)."""
    # "\x1b[0A" moves up one line on most terminals, so zero must produce nothing at all.
    return f"\r\x1b[{n}A" if n > 0 else ""


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
