"""The trust dialog's list of keys: a two-column table (name, key) that edits names in place.

The key itself rides on the key cell under ``KEY_ROLE`` (the text there is only its display
form), so the name column can be edited and sorted freely.
"""

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from mfsync.crypto.keys import format_key
from mfsync.gui.i18n import tr

__all__ = ["KEY_COLUMN", "KEY_ROLE", "NAME_COLUMN", "NAME_WIDTH", "TrustedKeysTable"]

NAME_COLUMN, KEY_COLUMN = 0, 1
#: Keys are kept on the key cell, so the name column can be edited and sorted freely.
KEY_ROLE = Qt.ItemDataRole.UserRole
#: The name column's starting width, in pixels.
NAME_WIDTH = 160


class TrustedKeysTable(QTableWidget):
    """Trusted keys and their names, in the order shown; names are edited in place."""

    def __init__(self) -> None:
        super().__init__(0, 2)
        self.setHorizontalHeaderLabels([tr("Name"), tr("Key")])
        header = self.horizontalHeader()
        header.setSectionResizeMode(NAME_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(KEY_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.setColumnWidth(NAME_COLUMN, NAME_WIDTH)
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.SelectedClicked)

    def keys(self) -> list[bytes]:
        """The keys, in table order."""
        return [self.key_at(r) for r in range(self.rowCount())]

    def names(self) -> dict[bytes, str]:
        """The names given to keys (keys without a name are left out)."""
        names: dict[bytes, str] = {}
        for row in range(self.rowCount()):
            name = self.name_at(row)
            if name:
                names[self.key_at(row)] = name
        return names

    def append(self, key: bytes, name: str) -> None:
        """Add a row for ``key`` named ``name`` at the end."""
        row = self.rowCount()
        self.insertRow(row)
        name_item = QTableWidgetItem(name)
        key_item = QTableWidgetItem(format_key(key))
        key_item.setData(KEY_ROLE, key)
        key_item.setFlags(key_item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        key_item.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setItem(row, NAME_COLUMN, name_item)
        self.setItem(row, KEY_COLUMN, key_item)

    def rename(self, row: int, name: str) -> bool:
        """Give the key on ``row`` the name ``name``; False if it had that name already."""
        item = self.item(row, NAME_COLUMN)
        if item is None or item.text() == name:
            return False
        item.setText(name)
        return True

    def selected_rows(self) -> list[int]:
        """The selected rows, last first (the order to remove them in)."""
        return sorted({index.row() for index in self.selectionModel().selectedRows()},
                      reverse=True)

    def key_at(self, row: int) -> bytes:
        """The key on ``row``."""
        item = self.item(row, KEY_COLUMN)
        assert item is not None
        key: Any = item.data(KEY_ROLE)
        return bytes(key)

    def name_at(self, row: int) -> str:
        """The name on ``row``, without surrounding blanks (empty if none)."""
        item = self.item(row, NAME_COLUMN)
        return item.text().strip() if item is not None else ""

    def row_of(self, key: bytes) -> int | None:
        """The row holding ``key``, if any."""
        return next((r for r in range(self.rowCount()) if self.key_at(r) == key), None)
