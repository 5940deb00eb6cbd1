"""The Settings dialog's language row: the system's language, or one the app speaks.

The choice is kept in the app's own ``gui.ini`` (``GuiSettings.language``), not in
``config.json``, and takes effect at the next start: the translators are installed before the
first window is built.
"""

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QWidget

from mfsync.gui.gui_settings import GuiSettings
from mfsync.gui.i18n import LANGUAGES, tr

__all__ = ["LanguageChoice"]


class LanguageChoice(QGroupBox):
    """A group with the language list; ``save`` keeps what is chosen in ``settings``."""

    def __init__(self, settings: GuiSettings, parent: QWidget | None = None) -> None:
        super().__init__(tr("Language"), parent)
        self._settings = settings
        self.combo = QComboBox()
        self.combo.addItem(tr("The system's language"), "")
        for code, name in LANGUAGES.items():
            self.combo.addItem(name, code)  # (each named in itself, as people look for it)
        index = self.combo.findData(settings.language)
        self.combo.setCurrentIndex(max(index, 0))
        label = QLabel(tr("Language:"))
        label.setBuddy(self.combo)
        note = QLabel(tr("A change applies after restarting mfsync."))
        note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(label, self.combo)
        form.addRow(note)

    def chosen(self) -> str:
        """The language code chosen ("" for the system's)."""
        return str(self.combo.currentData() or "")

    def save(self) -> None:
        """Keep the choice for the next start."""
        if self.chosen() != self._settings.language:
            self._settings.language = self.chosen()
