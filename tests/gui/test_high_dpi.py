"""High-DPI screens: icons are drawn at the screen's resolution, not blown up, and the window
lays out at a fractional scale.

An icon asked for at 22 logical pixels on a screen of device pixel ratio 2 (or 1.5) must come
as a 44 (33) pixel image drawn at that size: it differs from the 22-pixel image scaled up, which
is what a blurry icon is. The main window is then drawn by a real ``mfsync-gui``-like process
at ``QT_SCALE_FACTOR=1.5``: its grab is 1.5 times its logical size.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from pytestqt.qtbot import QtBot

from mfsync.gui.icons import ICON_NAMES, icon


@pytest.mark.parametrize("ratio", [2.0, 1.5])
@pytest.mark.parametrize("name", ICON_NAMES)
def test_icons_are_drawn_at_the_screens_resolution(qtbot: QtBot, name: str,
                                                   ratio: float) -> None:
    logical = 22
    sharp = icon(name).pixmap(QSize(logical, logical), ratio)
    physical = round(logical * ratio)
    assert sharp.devicePixelRatio() == pytest.approx(ratio)
    assert sharp.width() == physical and sharp.height() == physical
    blown_up = icon(name).pixmap(QSize(logical, logical), 1.0).scaled(
        physical, physical, Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.SmoothTransformation)
    sharp_image, blown_image = sharp.toImage(), blown_up.toImage()
    differing = sum(sharp_image.pixel(x, y) != blown_image.pixel(x, y)
                    for x in range(physical) for y in range(physical))
    assert differing > physical  # drawn anew, not the small one stretched


def test_the_window_lays_out_at_a_fractional_scale(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import asyncio, sys
        from PySide6.QtWidgets import QApplication
        app = QApplication(sys.argv[:1])
        from mfsync.engine.service import Service
        from mfsync.config import Config
        sys.path[:0] = [sys.argv[1], sys.argv[2]]
        from harness import loopback_options
        from loopback_ports import free_udp_port
        from mfsync.gui.main_window import MainWindow
        service = Service(loopback_options(free_udp_port()), Config())
        window = MainWindow(service, tray_available=True)
        window.resize(900, 560)
        window.show()
        app.processEvents()
        grab = window.grab()
        print(window.width(), window.height(), grab.width(), grab.height(),
              grab.devicePixelRatio())
    """)
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": "1.5",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script, str(tests), str(tests.parent)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    width, height, grab_width, grab_height, ratio = done.stdout.split()
    assert float(ratio) == pytest.approx(1.5)
    assert int(grab_width) == round(int(width) * 1.5)
    assert int(grab_height) == round(int(height) * 1.5)
