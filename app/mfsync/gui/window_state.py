"""The main window's size, place and tab, kept between starts in the app's own settings file.

Not in ``config.json``: that file is the engine's (``mfsync daemon`` runs from it too) and holds
what the user chose; where a window was is the desktop app's business alone. So the app's own
Qt settings file (INI) beside it, ``gui.ini``, holds Qt's own geometry blob (``saveGeometry``:
size, position, maximised, the screen) and the tab's index. A file that is missing, damaged or from
another Qt version restores nothing, and the window opens at its default size.
"""

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QTabWidget

__all__ = ["GUI_SETTINGS_FILE", "WindowState", "window_state_path"]

#: The desktop app's own settings file, in the folder of ``config.json``.
GUI_SETTINGS_FILE = "gui.ini"
_GEOMETRY = "window/geometry"
_TAB = "window/tab"


def window_state_path(config_path: Path) -> Path:
    """Where the window's state is kept for the app that runs from ``config_path``."""
    return config_path.parent / GUI_SETTINGS_FILE


class WindowState:
    """Restores and saves one window's geometry and current tab (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._settings = QSettings(str(path), QSettings.Format.IniFormat)

    def restore(self, window: QMainWindow, tabs: QTabWidget) -> None:
        """Give ``window`` and ``tabs`` what was saved last, as far as it still fits."""
        geometry = self._settings.value(_GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            window.restoreGeometry(geometry)  # (False for a blob it cannot read: ignored)
        tab = self._settings.value(_TAB)
        try:
            index = int(str(tab))
        except ValueError:
            return
        if 0 <= index < tabs.count():
            tabs.setCurrentIndex(index)

    def save(self, window: QMainWindow, tabs: QTabWidget) -> None:
        """Write ``window``'s geometry and ``tabs``' current index to the file now."""
        self._settings.setValue(_GEOMETRY, window.saveGeometry())
        self._settings.setValue(_TAB, tabs.currentIndex())
        self._settings.sync()
