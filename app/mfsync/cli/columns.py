"""Terminal columns: how wide text is on screen, and cutting it to fit.

Wide (CJK) characters take two columns and combining marks none, so ``len()`` is no measure of
what fits on a line; peers' file names hold all of these.
"""

import unicodedata

__all__ = ["head", "shorten_middle", "text_width"]


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters count 2, combining marks 0."""
    return sum(_char_width(c) for c in text)


def head(text: str, width: int) -> str:
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
        return head(ellipsis, max(width, 0))
    tail_room = (room + 1) // 2
    return head(text, room - tail_room) + ellipsis + _tail(text, tail_room)
