"""The trust list editor: which hosts may connect to us (and we to them).

How it works: the dialog edits a copy of the trust list (keys and their names) taken from the
service's configuration, never the live one. Keys come in three ways: pasted, picked from the
hosts seen on the network after comparing a verification code, or imported from a JSON file.
Nothing reaches the engine until OK or Apply, which hand the whole list to
``Service.set_trust`` (the config layer saves it atomically); Cancel throws the copy away.
"""

import html
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mfsync.crypto.keys import format_key, parse_key, short_key
from mfsync.display import shown
from mfsync.engine.status import PeerSnapshot
from mfsync.gui.trust_file import TrustFileError, read_trust_file
from mfsync.service import Service, ServiceError, ServiceStatus

__all__ = [
    "OPEN_MODE_TEXT",
    "REMOVED_LAST_WARNING",
    "TrustDialog",
    "TrustFileError",
    "VerifyDialog",
    "describe_peer",
    "peer_key",
    "read_trust_file",
    "trusted_mode_text",
]

log = logging.getLogger("mfsync.gui")

OPEN_MODE_TEXT = "Anyone on the network may fetch from you (no trusted keys)"
REMOVED_LAST_WARNING = "Everyone on the network will be able to fetch your files"
#: Red, for error lines: the palette has no "error" role.
ERROR_STYLE = "color: #c62828;"
WARNING_STYLE = "color: #b26a00;"
#: The verification code is read aloud and compared by eye: make it big.
CODE_POINT_SIZE = 28
#: The verification dialog's least width, in pixels.
VERIFY_MIN_WIDTH = 640
NAME_COLUMN, KEY_COLUMN = 0, 1
#: Keys are kept on the key cell, so the name column can be edited and sorted freely.
KEY_ROLE = Qt.ItemDataRole.UserRole


def trusted_mode_text(count: int) -> str:
    """The line on top of the dialog: who may connect with ``count`` trusted keys."""
    if count == 0:
        return OPEN_MODE_TEXT
    if count == 1:
        return "Only this 1 host may connect, both ways"
    return f"Only these {count} hosts may connect, both ways"


class VerifyDialog(QDialog):
    """The verification step before trusting a host.

    Shows the code both hosts compute from the pair of keys; accepting means "they match".
    ``proven`` says whether the key was proven in a handshake or only announced.
    """

    def __init__(self, service: Service, key: bytes, *, name: str = "", address: str = "",
                 proven: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.name = name
        label = name or address or short_key(key)
        self.setWindowTitle(f"Verify {label}")
        # wide enough for a key on one line: the labels wrap, and would make it tall and narrow
        self.setMinimumWidth(VERIFY_MIN_WIDTH)
        layout = QVBoxLayout(self)

        self.code_label = QLabel(service.verification_code(key))
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(CODE_POINT_SIZE)
        font.setWeight(QFont.Weight.Bold)
        self.code_label.setFont(font)
        self.code_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        own = format_key(service.status.own_key)
        self.instruction_label = QLabel(
            f"Compare this code with the one shown on {html.escape(label)}'s screen "
            f"(in mfsync: Hosts → Verify and trust…, or <code>mfsync --verify {own}</code>). "
            "Trust only if they match."
        )
        self.instruction_label.setWordWrap(True)
        self.instruction_label.setTextFormat(Qt.TextFormat.RichText)
        self.instruction_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)

        where = f" at {address}" if address else ""
        self.key_label = QLabel(
            f"{label}{where}, key {format_key(key)}"
            + ("" if proven else " (announced only, not yet proven by a connection)")
        )
        # The name is what the host announced: plain text, never markup.
        self.key_label.setTextFormat(Qt.TextFormat.PlainText)
        self.key_label.setWordWrap(True)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QDialogButtonBox()
        self.match_button = buttons.addButton(
            "They match \u2013 trust", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # Enter must not trust a host by accident: the user has to click.
        self.match_button.setAutoDefault(False)
        self.cancel_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout.addWidget(self.key_label)
        layout.addWidget(self.code_label)
        layout.addWidget(self.instruction_label)
        layout.addWidget(buttons)


class TrustDialog(QDialog):
    """Edit the trusted keys and their names; OK or Apply saves through ``Service.set_trust``."""

    def __init__(self, service: Service, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.setWindowTitle("Trusted hosts")
        self.resize(720, 520)
        #: The text of the last error (save, import, export), also shown in ``error_label``.
        self.last_error = ""
        #: The verification dialog currently open, if any.
        self.verify_dialog: VerifyDialog | None = None
        config = service.config
        # Names of keys that are not on the list are kept as they are: set_trust replaces the
        # whole name table, and a name may be useful again when the key comes back.
        self._other_names = {k: v for k, v in config.key_names.items()
                             if k not in config.trusted_keys}
        self._peers: list[PeerSnapshot] = []

        layout = QVBoxLayout(self)
        self.mode_label = QLabel()
        font = self.mode_label.font()
        font.setBold(True)
        self.mode_label.setFont(font)
        self.mode_label.setWordWrap(True)
        layout.addWidget(self.mode_label)

        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Name", "Key"])
        self.table.horizontalHeader().setSectionResizeMode(
            NAME_COLUMN, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setSectionResizeMode(
            KEY_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(NAME_COLUMN, 160)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.SelectedClicked)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, stretch=1)

        row = QHBoxLayout()
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.clicked.connect(self.remove_selected)
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(self._import_clicked)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self._export_clicked)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        row.addWidget(self.import_button)
        row.addWidget(self.export_button)
        layout.addLayout(row)

        self.warning_label = QLabel()
        self.warning_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warning_label.setStyleSheet(WARNING_STYLE)
        self.warning_label.setWordWrap(True)
        self.warning_label.hide()
        layout.addWidget(self.warning_label)

        layout.addWidget(self._paste_box())
        layout.addWidget(self._network_box())
        layout.addWidget(self._own_key_box())

        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Apply
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        layout.addWidget(self.buttons)

        for key in sorted(config.trusted_keys):
            self._append_row(key, config.name_of(key))
        self._unsubscribe: Callable[[], None] | None = service.subscribe(self._status_changed)
        self.finished.connect(self._stop_watching)
        self._refresh()

    # -- sections -------------------------------------------------------------------------

    def _paste_box(self) -> QGroupBox:
        box = QGroupBox("Add a key")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("Paste a public key (64 hex characters)")
        self.key_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Name (optional)")
        self.add_button = QPushButton("Add")
        self.add_button.setAutoDefault(False)
        self.add_button.clicked.connect(self.add_pasted)
        self.key_edit.returnPressed.connect(self.add_pasted)
        self.name_edit.returnPressed.connect(self.add_pasted)
        self.key_edit.textChanged.connect(self._hide_add_error)
        row.addWidget(self.key_edit, stretch=3)
        row.addWidget(self.name_edit, stretch=1)
        row.addWidget(self.add_button)
        layout.addLayout(row)
        self.add_error_label = QLabel()
        self.add_error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.add_error_label.setStyleSheet(ERROR_STYLE)
        self.add_error_label.setWordWrap(True)
        self.add_error_label.hide()
        layout.addWidget(self.add_error_label)
        return box

    def _network_box(self) -> QGroupBox:
        box = QGroupBox("Add a host seen on the network")
        row = QHBoxLayout(box)
        self.peer_combo = QComboBox()
        self.peer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.verify_button = QPushButton("Verify and trust…")
        self.verify_button.setAutoDefault(False)
        self.verify_button.clicked.connect(self._verify_clicked)
        row.addWidget(self.peer_combo, stretch=1)
        row.addWidget(self.verify_button)
        return box

    def _own_key_box(self) -> QGroupBox:
        box = QGroupBox("This computer's key (give it to the hosts that should trust you)")
        row = QHBoxLayout(box)
        self.own_key_label = QLabel(format_key(self.service.status.own_key))
        self.own_key_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.own_key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setAutoDefault(False)
        self.copy_button.clicked.connect(self.copy_own_key)
        row.addWidget(self.own_key_label, stretch=1)
        row.addWidget(self.copy_button)
        return box

    # -- the list -------------------------------------------------------------------------

    def trusted_keys(self) -> list[bytes]:
        """The keys on the list as edited, in table order."""
        return [self._key_at(r) for r in range(self.table.rowCount())]

    def key_names(self) -> dict[bytes, str]:
        """The names given to keys on the list as edited (keys without a name are left out)."""
        names: dict[bytes, str] = {}
        for row in range(self.table.rowCount()):
            name = self._name_at(row)
            if name:
                names[self._key_at(row)] = name
        return names

    def add_key(self, key: bytes, name: str = "") -> bool:
        """Put ``key`` on the list (or name it, if it is there); False if nothing changed."""
        name = name.strip()
        row = self._row_of(key)
        if row is not None:
            item = self.table.item(row, NAME_COLUMN)
            if not name or item is None or item.text() == name:
                return False
            item.setText(name)
            return True
        self._append_row(key, name or self._other_names.get(key, ""))
        self.warning_label.hide()
        self._refresh()
        return True

    def _hide_add_error(self, _text: str = "") -> None:
        self.add_error_label.hide()

    def add_pasted(self) -> bool:
        """Add the key in the paste field; a malformed key shows the parser's message instead."""
        text = self.key_edit.text()
        if not text.strip():
            self._show_add_error("Paste a public key first.")
            return False
        try:
            key = parse_key(text)
        except ValueError as exc:
            self._show_add_error(str(exc))
            return False
        if not self.add_key(key, self.name_edit.text()):
            self._show_add_error(f"{short_key(key)}… is on the list already.")
            return False
        self.add_error_label.hide()
        self.key_edit.clear()
        self.name_edit.clear()
        return True

    def remove_selected(self) -> int:
        """Remove the selected rows; returns how many keys were removed."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()},
                      reverse=True)
        for row in rows:
            if self._name_at(row):
                self._other_names[self._key_at(row)] = self._name_at(row)
            self.table.removeRow(row)
        if rows and self.table.rowCount() == 0:
            self.warning_label.setText(REMOVED_LAST_WARNING)
            self.warning_label.show()
        self._refresh()
        return len(rows)

    # -- the network ----------------------------------------------------------------------

    def untrusted_peers(self) -> list[PeerSnapshot]:
        """Hosts seen on the network with a key that is not on the list (one per key)."""
        listed = set(self.trusted_keys())
        seen: set[bytes] = set()
        peers: list[PeerSnapshot] = []
        for peer in self.service.status.node.peers:
            key = peer_key(peer)
            if key is None or key in listed or key in seen:
                continue
            if key == self.service.status.own_key:
                continue
            seen.add(key)
            peers.append(peer)
        return peers

    def start_verification(self, peer: PeerSnapshot) -> VerifyDialog:
        """Open the verification step for a host seen on the network; its key (proven, or else
        announced) is added with its announced name if the user confirms."""
        key = peer_key(peer)
        if key is None:
            raise ValueError("a host without any key cannot be verified")
        return self._open_verification(VerifyDialog(
            self.service, key, name=peer.name, address=peer.address,
            proven=peer.key is not None, parent=self))

    def verify_key(self, key: bytes) -> VerifyDialog:
        """Open the verification step for ``key`` (for "Verify" on a host elsewhere in the app).

        The host's name and address come from the network snapshot when it is there.
        """
        peer = next((p for p in self.service.status.node.peers if peer_key(p) == key), None)
        if peer is not None:
            return self.start_verification(peer)
        return self._open_verification(VerifyDialog(
            self.service, key, name=self.service.config.name_of(key), parent=self))

    def _open_verification(self, dialog: VerifyDialog) -> VerifyDialog:
        if self.verify_dialog is not None:
            self.verify_dialog.close()
        self.verify_dialog = dialog

        def confirmed() -> None:
            self.add_key(dialog.key, dialog.name)
            log.info("verified and trusted %s", dialog.name or short_key(dialog.key))

        dialog.accepted.connect(confirmed)
        dialog.finished.connect(lambda _r: self._verify_closed(dialog))
        # open(), not exec(): window-modal without a nested event loop, so the engine keeps
        # running underneath (qasync) and tests can drive the buttons.
        dialog.open()
        return dialog

    def _verify_clicked(self) -> None:
        index = self.peer_combo.currentIndex()
        if 0 <= index < len(self._peers):
            self.start_verification(self._peers[index])

    def _verify_closed(self, dialog: VerifyDialog) -> None:
        if self.verify_dialog is dialog:
            self.verify_dialog = None

    # -- own key --------------------------------------------------------------------------

    def copy_own_key(self) -> None:
        """Put our own key (text form) on the clipboard."""
        QGuiApplication.clipboard().setText(format_key(self.service.status.own_key))

    # -- import and export ----------------------------------------------------------------

    def export_to(self, path: Path) -> bool:
        """Write the list as edited to ``path`` as ``{"trustedKeys": [...], "keyNames": {...}}``."""
        keys = self.trusted_keys()
        names = self.key_names()
        data = {
            "trustedKeys": [format_key(k) for k in keys],
            "keyNames": {format_key(k): names[k] for k in keys if k in names},
        }
        try:
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            self._show_error(f"Cannot write {path}: {exc.strerror or exc}")
            return False
        self._clear_error()
        log.info("exported %d trusted key(s) to %s", len(keys), path)
        return True

    def import_from(self, path: Path) -> int | None:
        """Merge the keys in ``path`` into the list; returns how many were new, None on error.

        The file is what ``export_to`` writes, or a bare JSON list of keys. Every key is checked
        first; if any is malformed nothing is imported and the error lists them all.
        """
        try:
            keys, names = read_trust_file(path)
        except TrustFileError as exc:
            self._show_error(str(exc))
            return None
        added = 0
        for key in keys:
            row = self._row_of(key)
            if row is None:
                self.add_key(key, names.get(key, ""))
                added += 1
            elif not self._name_at(row) and names.get(key):
                # A name the user typed wins over an imported one; an empty one does not.
                self.add_key(key, names[key])
        self._clear_error()
        log.info("imported %d key(s) from %s (%d new)", len(keys), path, added)
        return added

    def _import_clicked(self) -> None:
        path = self.choose_file(save=False)
        if path is not None:
            self.import_from(path)

    def _export_clicked(self) -> None:
        path = self.choose_file(save=True)
        if path is not None:
            self.export_to(path)

    def choose_file(self, *, save: bool) -> Path | None:
        """Ask for a file to export to (``save``) or import from; None if the user cancels."""
        filter_ = "JSON files (*.json);;All files (*)"
        if save:
            name, _ = QFileDialog.getSaveFileName(self, "Export trusted keys",
                                                  "mfsync-trusted-keys.json", filter_)
        else:
            name, _ = QFileDialog.getOpenFileName(self, "Import trusted keys", "", filter_)
        return Path(name) if name else None

    # -- saving ---------------------------------------------------------------------------

    def apply(self) -> bool:
        """Save the list through the service; on failure the error is shown and False returned."""
        keys = frozenset(self.trusted_keys())
        names = {**{k: v for k, v in self._other_names.items() if k not in keys},
                 **self.key_names()}
        try:
            self.service.set_trust(keys, names)
        except ServiceError as exc:
            self._show_error(f"Cannot save the trust list: {exc}")
            return False
        self._clear_error()
        return True

    def accept(self) -> None:
        """Save, and close only if saving worked."""
        if self.apply():
            super().accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        """Enter in the paste fields adds the key rather than closing the dialog."""
        if (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and self.focusWidget() in (self.key_edit, self.name_edit)):
            event.accept()
            return
        super().keyPressEvent(event)

    # -- helpers --------------------------------------------------------------------------

    def _append_row(self, key: bytes, name: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        name_item = QTableWidgetItem(name)
        key_item = QTableWidgetItem(format_key(key))
        key_item.setData(KEY_ROLE, key)
        key_item.setFlags(key_item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        key_item.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.table.setItem(row, NAME_COLUMN, name_item)
        self.table.setItem(row, KEY_COLUMN, key_item)

    def _key_at(self, row: int) -> bytes:
        item = self.table.item(row, KEY_COLUMN)
        assert item is not None
        key: Any = item.data(KEY_ROLE)
        return bytes(key)

    def _name_at(self, row: int) -> str:
        item = self.table.item(row, NAME_COLUMN)
        return item.text().strip() if item is not None else ""

    def _row_of(self, key: bytes) -> int | None:
        return next((r for r in range(self.table.rowCount()) if self._key_at(r) == key), None)

    def _refresh(self) -> None:
        self.mode_label.setText(trusted_mode_text(self.table.rowCount()))
        self._selection_changed()
        self._fill_peers()

    def _fill_peers(self) -> None:
        current = self.peer_combo.currentIndex()
        old = peer_key(self._peers[current]) if 0 <= current < len(self._peers) else None
        self._peers = self.untrusted_peers()
        self.peer_combo.clear()
        for peer in self._peers:
            self.peer_combo.addItem(describe_peer(peer))
        if not self._peers:
            self.peer_combo.addItem("No untrusted hosts seen on the network")
        keys = [peer_key(p) for p in self._peers]
        self.peer_combo.setCurrentIndex(keys.index(old) if old in keys else 0)
        self.peer_combo.setEnabled(bool(self._peers))
        self.verify_button.setEnabled(bool(self._peers))

    def _selection_changed(self) -> None:
        self.remove_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def _status_changed(self, _status: ServiceStatus) -> None:
        self._fill_peers()

    def _stop_watching(self, _result: int) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _show_add_error(self, message: str) -> None:
        self.add_error_label.setText(message)
        self.add_error_label.show()

    def _show_error(self, message: str) -> None:
        log.warning("%s", message)
        self.last_error = message
        self.error_label.setText(message)
        self.error_label.show()

    def _clear_error(self) -> None:
        self.last_error = ""
        self.error_label.hide()


def peer_key(peer: PeerSnapshot) -> bytes | None:
    """The key a peer is known by: proven in a handshake if it was, else announced."""
    return peer.key if peer.key is not None else peer.announced_key


def describe_peer(peer: PeerSnapshot) -> str:
    """One line for the host picker: name, address and short key (and whether it is proven)."""
    key = peer_key(peer)
    key_text = short_key(key) if key is not None else "?"
    proven = "" if peer.key is not None else ", announced only"
    return f"{shown(peer.name) or '(no name)'} — {peer.address} — {key_text}{proven}"
