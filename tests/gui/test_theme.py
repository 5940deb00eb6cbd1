"""The app's own colours and icons read on light and dark themes.

Text colours are measured against the window colour of a light and of a dark palette (WCAG's
contrast ratio, at least 4.5:1 for text); the tray icons are drawn on a light and on a dark
panel, and most of each icon's pixels must stand out from the panel (at least 3:1, WCAG's
figure for graphics).
"""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtSvg import QSvgRenderer
from pytestqt.qtbot import QtBot

from mfsync.gui.icons import ICON_NAMES, icon_path
from mfsync.gui.theme import ERROR, WARNING, banner_style, is_dark, text_style

LIGHT_WINDOW = QColor("#efefef")  # Fusion's, Breeze's and Adwaita's are within a few steps
DARK_WINDOW = QColor("#2a2a2a")
#: Panels the tray sits on: GNOME's dark top bar, KDE's light and dark panels, Windows 11's.
PANELS = ("#000000", "#202020", "#31363b", "#eff0f1", "#f3f3f3", "#ffffff")


def palette(window: QColor) -> QPalette:
    result = QPalette()
    result.setColor(QPalette.ColorRole.Window, window)
    return result


def luminance(color: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
    return (0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF())
            + 0.0722 * channel(color.blueF()))


def contrast(a: QColor, b: QColor) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour_of(style: str, prop: str = "color") -> QColor:
    for part in style.split(";"):
        key, _, value = part.partition(":")
        if key.strip() == prop:
            return QColor(value.strip())
    raise AssertionError(f"no {prop} in {style!r}")


@pytest.mark.parametrize("window", [LIGHT_WINDOW, DARK_WINDOW], ids=["light", "dark"])
def test_message_colours_read_on_the_theme(qtbot: QtBot, window: QColor) -> None:
    theme = palette(window)
    assert is_dark(theme) == (window == DARK_WINDOW)
    for tone in (ERROR, WARNING):
        ratio = contrast(colour_of(text_style(tone, theme)), window)
        assert ratio >= 4.5, (tone, window.name(), ratio)
    banner = banner_style(theme)
    assert contrast(colour_of(banner), colour_of(banner, "background")) >= 4.5


@pytest.mark.parametrize("name", [n for n in ICON_NAMES if n.startswith("tray-")])
@pytest.mark.parametrize("panel", PANELS)
def test_tray_icons_stand_out_on_light_and_dark_panels(qtbot: QtBot, name: str,
                                                       panel: str) -> None:
    size = 32  # (at 22 px, a common tray size, a third of the pixels are edges, blended)
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(QColor(panel))
    painter = QPainter(image)
    QSvgRenderer(str(icon_path(name))).render(painter)
    painter.end()
    background = QColor(panel)
    pixels = [image.pixelColor(x, y) for x in range(size) for y in range(size)]
    changed = [p for p in pixels if p != background]
    standing_out = [p for p in changed if contrast(p, background) >= 3.0]
    assert len(changed) > size * size * 0.3, "the icon draws almost nothing"
    assert len(standing_out) >= 0.6 * len(changed), (name, panel,
                                                      len(standing_out), len(changed))


def test_the_dark_palette_is_seen_from_the_application(qtbot: QtBot, qapp) -> None:
    before = qapp.palette()
    try:
        qapp.setPalette(palette(DARK_WINDOW))
        assert is_dark()
        assert colour_of(text_style(ERROR)) == QColor(ERROR.dark)
    finally:
        qapp.setPalette(before)
    assert colour_of(text_style(ERROR)) == QColor(ERROR.dark if is_dark() else ERROR.light)
