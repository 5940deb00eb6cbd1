"""The app's icons and other packaged files, read from ``mfsync.resources``.

``icon_path`` and ``resource_path`` need no Qt (the autostart entry names the icon file);
``icon`` imports Qt when it is called.
"""

import functools
import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

__all__ = ["ICON_NAMES", "icon", "icon_path", "resource_path"]

log = logging.getLogger("mfsync.gui")

#: Every icon in resources/icons (without ``.svg``).
ICON_NAMES = ("mfsync", "tray-idle", "tray-transferring", "tray-paused", "tray-error")
#: Sizes drawn when Qt's SVG icon engine is missing (say a frozen build without its plugin).
FALLBACK_SIZES = (16, 20, 22, 24, 32, 48, 64, 128, 256)


def resource_path(*parts: str) -> Path:
    """The file ``parts`` (like ``"linux", "mfsync-autostart.desktop"``) of the installed
    resources; ``FileNotFoundError`` if it is missing."""
    ref = resources.files("mfsync.resources")
    for part in parts:
        ref = ref.joinpath(part)
    # wheels and PyInstaller bundles unpack to real files; a zipped install would not
    if not isinstance(ref, Path) or not ref.is_file():
        raise FileNotFoundError(f"mfsync resource {'/'.join(parts)} is not installed")
    return ref


def icon_path(name: str) -> Path:
    """The SVG file of icon ``name`` (one of ``ICON_NAMES``, ``.svg`` optional)."""
    return resource_path("icons", name if name.endswith(".svg") else f"{name}.svg")


@functools.cache
def icon(name: str) -> "QIcon":
    """Icon ``name`` as a ``QIcon`` (needs a QGuiApplication), sharp at every size."""
    from PySide6.QtGui import QIcon  # noqa: PLC0415 - keep this module importable without Qt

    path = icon_path(name)
    result = QIcon(str(path))
    if result.isNull() or not result.pixmap(16).toImage().width():
        log.info("no SVG icon engine; drawing %s at fixed sizes", path.name)
        result = _rendered(path)
    return result


def _rendered(path: Path) -> "QIcon":
    from PySide6.QtCore import Qt  # noqa: PLC0415
    from PySide6.QtGui import QIcon, QPainter, QPixmap  # noqa: PLC0415
    from PySide6.QtSvg import QSvgRenderer  # noqa: PLC0415

    renderer = QSvgRenderer(str(path))
    result = QIcon()
    for size in FALLBACK_SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter)
        painter.end()
        result.addPixmap(pixmap)
    return result
