"""The trust dialog's "Add a key" box: a pasted key (and an optional name) goes on the list.

A malformed key is not added; the key parser's own message is shown under the fields, and the
text stays there for the user to fix.
"""

from collections.abc import Callable

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

from mfsync.crypto.keys import parse_key, short_key
from mfsync.gui.dialogs import message_line
from mfsync.gui.i18n import tr

__all__ = ["KeyPasteBox"]


class KeyPasteBox(QGroupBox):
    """A key field, a name field and Add; ``add_key(key, name)`` returns False for a key that
    is on the list already."""

    def __init__(self, add_key: Callable[[bytes, str], bool]) -> None:
        super().__init__(tr("Add a key"))
        self._add_key = add_key
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText(tr("Paste a public key (64 hex characters)"))
        self.key_edit.setAccessibleName(tr("Public key to trust"))
        self.key_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(tr("Name (optional)"))
        self.name_edit.setAccessibleName(tr("Name for the key"))
        self.add_button = QPushButton(tr("Add"))
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self.add_pasted)
        self.key_edit.returnPressed.connect(self.add_pasted)
        self.name_edit.returnPressed.connect(self.add_pasted)
        row.addWidget(self.key_edit, stretch=3)
        row.addWidget(self.name_edit, stretch=1)
        row.addWidget(self.add_button)
        layout.addLayout(row)
        self.error_label = message_line()
        layout.addWidget(self.error_label)
        self.key_edit.textChanged.connect(lambda _text: self.error_label.hide())

    def add_pasted(self) -> bool:
        """Add the key in the paste field; a malformed key shows the parser's message instead."""
        text = self.key_edit.text()
        if not text.strip():
            self._show_error(tr("Paste a public key first."))
            return False
        try:
            key = parse_key(text)
        except ValueError as exc:
            self._show_error(str(exc))
            return False
        if not self._add_key(key, self.name_edit.text()):
            self._show_error(tr("{key}… is on the list already.").format(key=short_key(key)))
            return False
        self.error_label.hide()
        self.key_edit.clear()
        self.name_edit.clear()
        return True

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()
