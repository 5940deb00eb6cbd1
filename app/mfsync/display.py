"""How text that peers choose is shown to a person: escaped, never raw.

File names and host names come from other hosts. Some characters in them act on the screen
instead of being drawn: C0/C1 controls (an escape sequence can rewrite a terminal), bidi
overrides and isolates (U+202E makes ``evil\u202etxt.exe`` read as ``evilexe.txt``), zero-width
and other format characters, line and paragraph separators, and lone surrogates (bytes that
were not UTF-8). Every place mfsync prints or draws such a name, on the terminal, in a log line
or in the desktop app, passes it through :func:`shown`, which replaces each of them by a visible
escape (``\\u202e``): a person sees that something odd is there and what it is, and nothing
acts on their screen. Wire names keep them (an Arabic name may legitimately hold a right-to-left
mark); only their display changes. ``--json`` output is for programs: JSON's own escaping
already shows them as ``\\u202e``.
"""

from __future__ import annotations

import logging
import re
import unicodedata

__all__ = ["EscapingFormatter", "is_hidden", "shown"]

#: The Unicode categories whose characters act on the display instead of being drawn:
#: controls, format characters (bidi, zero-width), surrogates, line and paragraph separators.
#: Private-use and unassigned characters are drawn (as a box at worst), so they stay.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

# A quick test first: almost every name is plain, and a regex over it is cheap. Anything that
# is not printable ASCII goes on to the exact per-character check.
_MAYBE_HIDDEN = re.compile(r"[^\x20-\x7e]")


def is_hidden(ch: str) -> bool:
    """Whether ``ch`` acts on the display (see :data:`HIDDEN_CATEGORIES`) instead of showing."""
    return unicodedata.category(ch) in HIDDEN_CATEGORIES


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(text: str) -> str:
    """``text`` with every character that would act on the display replaced by an escape
    (``\\x1b``, ``\\u202e``, ``\\U000e0001``), so it can be printed or drawn as it is."""
    if not _MAYBE_HIDDEN.search(text):
        return text
    return "".join(_escape(ch) if is_hidden(ch) else ch for ch in text)


class EscapingFormatter(logging.Formatter):
    """A log formatter that escapes the message (names from peers reach it through ``%s``).

    Only the message is escaped: a traceback's own line breaks (``exc_text``) stay as they are.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        """Format ``record`` with its message escaped by :func:`shown`."""
        record.message = shown(record.message)
        return super().formatMessage(record)
