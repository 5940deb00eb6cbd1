"""The desktop app's own settings: its language, and the window's size, place and tab.

Not in ``config.json``: that file is the engine's (``mfsync daemon`` runs from it too); how the
app looks and speaks is the desktop app's business alone. So the app's own Qt settings file
(INI) beside it, ``gui.ini``, holds the language chosen in Settings (empty: the system's), Qt's
geometry blob (``saveGeometry``: size, position, maximised, the screen) and the tab's index. A
file that is missing, damaged or from another Qt version restores nothing: the system's
language, the window at its default size.
"""

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QTabWidget

__all__ = ["GUI_SETTINGS_FILE", "GuiSettings", "gui_settings_path"]

#: The desktop app's own settings file, in the folder of ``config.json``.
GUI_SETTINGS_FILE = "gui.ini"
_GEOMETRY = "window/geometry"
_TAB = "window/tab"
_LANGUAGE = "app/language"


def gui_settings_path(config_path: Path) -> Path:
    """Where the app's own settings are kept for the app that runs from ``config_path``."""
    return config_path.parent / GUI_SETTINGS_FILE


class GuiSettings:
    """The app's language, and one window's geometry and current tab (see the module's
    docstring)."""

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

    @property
    def language(self) -> str:
        """The language chosen in Settings (a code of ``i18n.LANGUAGES``), or "" for the
        system's."""
        value = self._settings.value(_LANGUAGE, "")
        return value if isinstance(value, str) else ""

    @language.setter
    def language(self, code: str) -> None:
        self._settings.setValue(_LANGUAGE, code)
        self._settings.sync()
