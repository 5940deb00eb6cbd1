"""The trust list editor: which hosts may connect to us (and we to them).

How it works: the dialog edits a copy of the trust list (keys and their names) taken from the
service's configuration, never the live one. Keys come in three ways: pasted, picked from the
hosts seen on the network after comparing a verification code, or imported from a JSON file.
Nothing reaches the engine until OK or Apply, which hand the whole list to
``Service.set_trust`` (the config layer saves it atomically); Cancel throws the copy away.

The list is a ``TrustedKeysTable`` (``trust_table``), the verification step a ``VerifyDialog``
(``verify_dialog``), the pasted key a ``KeyPasteBox`` (``trust_paste``), the hosts seen on the
network a ``HostVerifier`` (``trust_hosts``); Import… and Export… are ``TrustListFiles``
(``trust_files``), which reads and writes through ``mfsync.store.trust_file`` in a worker thread
(the export atomically) behind non-blocking file choosers.
The hosts seen on the network are followed through the bridge's ``statusChanged`` signal.
"""

import logging
from pathlib import Path

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtGui import QFontDatabase, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mfsync.crypto.keys import format_key
from mfsync.engine.service import Service, ServiceError, ServiceStatus
from mfsync.engine.status import PeerSnapshot
from mfsync.gui.dialogs import message_line, ok_apply_cancel
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.theme import WARNING
from mfsync.gui.trust_files import TrustListFiles
from mfsync.gui.trust_hosts import HostVerifier
from mfsync.gui.trust_paste import KeyPasteBox
from mfsync.gui.trust_table import TrustedKeysTable
from mfsync.gui.verify_dialog import VerifyDialog, describe_peer, peer_key
from mfsync.store.trust_file import TrustFileError, read_trust_file

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

OPEN_MODE_TEXT = QT_TR_NOOP("Anyone on the network may fetch from you (no trusted keys)")
REMOVED_LAST_WARNING = QT_TR_NOOP("Everyone on the network will be able to fetch your files")


def trusted_mode_text(count: int) -> str:
    """The line on top of the dialog: who may connect with ``count`` trusted keys."""
    if count == 0:
        return tr(OPEN_MODE_TEXT)
    return tr("Only these %n host(s) may connect, both ways", "", count)


class TrustDialog(QDialog):
    """Edit the trusted keys and their names; OK or Apply saves through ``Service.set_trust``.

    ``status_changed`` is the bridge's signal of new snapshots: while the dialog is open, its
    list of hosts seen on the network follows it.
    """

    def __init__(self, service: Service, parent: QWidget | None = None, *,
                 status_changed: SignalInstance | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.files = TrustListFiles(self, keys=self.trusted_keys, names=self.key_names,
                                    merge=self.merge, show_error=self._show_error,
                                    clear_error=self._clear_error)
        self.setWindowTitle(tr("Trusted hosts"))
        self.resize(720, 520)
        #: The text of the last error (save, import, export), also shown in ``error_label``.
        self.last_error = ""
        config = service.config
        # Names of keys that are not on the list are kept as they are: set_trust replaces the
        # whole name table, and a name may be useful again when the key comes back.
        self._other_names = {k: v for k, v in config.key_names.items()
                             if k not in config.trusted_keys}

        layout = QVBoxLayout(self)
        self.mode_label = QLabel()
        font = self.mode_label.font()
        font.setBold(True)
        self.mode_label.setFont(font)
        self.mode_label.setWordWrap(True)
        layout.addWidget(self.mode_label)

        self.table = TrustedKeysTable()
        self.table.setAccessibleName(tr("Trusted keys"))
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, stretch=1)

        row = QHBoxLayout()
        self.remove_button = QPushButton(tr("Remove selected"))
        self.remove_button.clicked.connect(self.remove_selected)
        self.import_button = QPushButton(tr("Import…"))
        self.import_button.clicked.connect(lambda: self.choose_file(save=False))
        self.export_button = QPushButton(tr("Export…"))
        self.export_button.clicked.connect(lambda: self.choose_file(save=True))
        row.addWidget(self.remove_button)
        row.addStretch(1)
        row.addWidget(self.import_button)
        row.addWidget(self.export_button)
        layout.addLayout(row)

        self.warning_label = message_line(WARNING)
        layout.addWidget(self.warning_label)

        self.paste = KeyPasteBox(self.add_key)
        # the names tests and callers use
        self.key_edit, self.name_edit = self.paste.key_edit, self.paste.name_edit
        self.add_button, self.add_error_label = self.paste.add_button, self.paste.error_label
        layout.addWidget(self.paste)
        self.hosts = HostVerifier(service, self.trusted_keys, self.add_key)
        # the names tests and callers use
        self.peer_combo, self.verify_button = self.hosts.peer_combo, self.hosts.verify_button
        layout.addWidget(self.hosts)
        layout.addWidget(self._own_key_box())

        self.error_label = message_line()
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.error_label)

        self.buttons = ok_apply_cancel(self, self.apply)
        layout.addWidget(self.buttons)

        for key in sorted(config.trusted_keys):
            self.table.append(key, config.name_of(key))
        self._status_changed_signal = status_changed
        if status_changed is not None:
            status_changed.connect(self._status_changed)
        self.finished.connect(self._stop_watching)
        self._refresh()

    # -- sections -------------------------------------------------------------------------

    def _own_key_box(self) -> QGroupBox:
        box = QGroupBox(tr("This computer's key (give it to the hosts that should trust you)"))
        row = QHBoxLayout(box)
        self.own_key_label = QLabel(format_key(self.service.status.own_key))
        self.own_key_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.own_key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton(tr("Copy"))
        self.copy_button.setAutoDefault(False)
        self.copy_button.clicked.connect(self.copy_own_key)
        row.addWidget(self.own_key_label, stretch=1)
        row.addWidget(self.copy_button)
        return box

    # -- the list -------------------------------------------------------------------------

    def trusted_keys(self) -> list[bytes]:
        """The keys on the list as edited, in table order."""
        return self.table.keys()

    def key_names(self) -> dict[bytes, str]:
        """The names given to keys on the list as edited (keys without a name are left out)."""
        return self.table.names()

    def add_key(self, key: bytes, name: str = "") -> bool:
        """Put ``key`` on the list (or name it, if it is there); False if nothing changed."""
        name = name.strip()
        row = self.table.row_of(key)
        if row is not None:
            return bool(name) and self.table.rename(row, name)
        self.table.append(key, name or self._other_names.get(key, ""))
        self.warning_label.hide()
        self._refresh()
        return True

    def add_pasted(self) -> bool:
        """Add the key in the paste field (see ``KeyPasteBox.add_pasted``)."""
        return self.paste.add_pasted()

    def remove_selected(self) -> int:
        """Remove the selected rows; returns how many keys were removed."""
        rows = self.table.selected_rows()
        for row in rows:
            if self.table.name_at(row):
                self._other_names[self.table.key_at(row)] = self.table.name_at(row)
            self.table.removeRow(row)
        if rows and self.table.rowCount() == 0:
            self.warning_label.setText(tr(REMOVED_LAST_WARNING))
            self.warning_label.show()
        self._refresh()
        return len(rows)

    # -- the network ----------------------------------------------------------------------

    @property
    def verify_dialog(self) -> VerifyDialog | None:
        """The verification dialog currently open, if any."""
        return self.hosts.verify_dialog

    def untrusted_peers(self) -> list[PeerSnapshot]:
        """Hosts seen on the network with a key that is not on the list (one per key)."""
        return self.hosts.untrusted_peers()

    def start_verification(self, peer: PeerSnapshot) -> VerifyDialog:
        """Open the verification step for a host seen on the network (see ``HostVerifier``)."""
        return self.hosts.start_verification(peer)

    def verify_key(self, key: bytes) -> VerifyDialog:
        """Open the verification step for ``key`` (for "Verify" on a host elsewhere in the app)."""
        return self.hosts.verify_key(key)

    # -- own key --------------------------------------------------------------------------

    def copy_own_key(self) -> None:
        """Put our own key (text form) on the clipboard."""
        QGuiApplication.clipboard().setText(format_key(self.service.status.own_key))

    # -- import and export ----------------------------------------------------------------

    async def export_to(self, path: Path) -> bool:
        """Write the list as edited to ``path`` (see ``TrustListFiles.export_to``)."""
        return await self.files.export_to(path)

    async def import_from(self, path: Path) -> int | None:
        """Merge the keys in ``path`` into the list (see ``TrustListFiles.import_from``)."""
        return await self.files.import_from(path)

    def choose_file(self, *, save: bool) -> QFileDialog:
        """Ask (without waiting) for a file to export to or import from; returns the dialog."""
        return self.files.choose_file(save=save)

    def merge(self, keys: list[bytes], names: dict[bytes, str]) -> int:
        """Add ``keys`` not on the list yet, with their ``names``; returns how many were new."""
        added = 0
        for key in keys:
            row = self.table.row_of(key)
            if row is None:
                self.add_key(key, names.get(key, ""))
                added += 1
            elif not self.table.name_at(row) and names.get(key):
                # A name the user typed wins over an imported one; an empty one does not.
                self.add_key(key, names[key])
        return added

    # -- saving ---------------------------------------------------------------------------

    def apply(self) -> bool:
        """Save the list through the service; on failure the error is shown and False returned."""
        keys = frozenset(self.trusted_keys())
        names = {**{k: v for k, v in self._other_names.items() if k not in keys},
                 **self.key_names()}
        try:
            self.service.set_trust(keys, names)
        except ServiceError as exc:
            self._show_error(tr("Cannot save the trust list: {error}").format(error=exc))
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

    def _refresh(self) -> None:
        self.mode_label.setText(trusted_mode_text(self.table.rowCount()))
        self._selection_changed()
        self.hosts.refresh()

    def _selection_changed(self) -> None:
        self.remove_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def _status_changed(self, _status: ServiceStatus) -> None:
        self.hosts.refresh()

    def _stop_watching(self, _result: int) -> None:
        if self._status_changed_signal is not None:
            self._status_changed_signal.disconnect(self._status_changed)
            self._status_changed_signal = None

    def _show_error(self, message: str) -> None:
        log.warning("%s", message)
        self.last_error = message
        self.error_label.setText(message)
        self.error_label.show()

    def _clear_error(self) -> None:
        self.last_error = ""
        self.error_label.hide()

