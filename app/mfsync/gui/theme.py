"""Colours that read on the desktop's theme, light or dark.

Qt draws the app in the desktop's palette, dark themes included; only the few colours the
palette has no role for (an error line, a warning, the no-tray banner) are chosen here, each
in a light-theme and a dark-theme tone, picked by the lightness of the palette's window colour.
Each tone keeps a contrast of at least 4.5:1 with the window colour of ordinary light and dark
themes (WCAG AA for text; ``tests/gui/test_theme.py`` measures it).
"""

from dataclasses import dataclass

from PySide6.QtGui import QGuiApplication, QPalette

__all__ = ["ERROR", "WARNING", "Tone", "banner_style", "is_dark", "text_style"]


@dataclass(frozen=True)
class Tone:
    """One colour in its light-theme and dark-theme versions (``#rrggbb``)."""

    light: str
    dark: str


#: Error lines (the palette has no "error" role).
ERROR = Tone("#b71c1c", "#ff8a80")
#: Warning lines.
WARNING = Tone("#8a5300", "#ffcc80")
_BANNER = Tone("background: #fff8e1; color: #4e342e; border: 1px solid #ffe082;",
               "background: #3b3000; color: #ffe9a8; border: 1px solid #8d7400;")


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether ``palette`` (default: the application's) is a dark theme's."""
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def text_style(tone: Tone, palette: QPalette | None = None) -> str:
    """A style sheet for text in ``tone`` on ``palette``'s theme."""
    return f"color: {tone.dark if is_dark(palette) else tone.light};"


def banner_style(palette: QPalette | None = None) -> str:
    """The style sheet of a notice banner (background, text, border) on the theme."""
    return (_BANNER.dark if is_dark(palette) else _BANNER.light) + " padding: 6px;"
