"""Sending files to a host: the hosts one can send to, the host picker, and the send itself.

Three ways lead here: files dropped on a row of the Hosts page, *Send files…* on a host's
context menu (files, then that host), and *Send files…* in the tray menu (files, then the
``HostPickerDialog``). Each ends in ``send_files``, which hands the paths to
``Service.offers.send``: the engine stages them (in a worker thread) and the offer shows up
in the Transfers page as an outgoing row.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mfsync.crypto.keys import short_key
from mfsync.display import shown
from mfsync.engine.service import Service, ServiceError, ServiceStatus
from mfsync.engine.status import PeerState
from mfsync.gui.i18n import tr
from mfsync.gui.report_texts import render, report_of

__all__ = ["HostPickerDialog", "dropped_paths", "send_files", "sendable_hosts"]

#: The data role of a host item: its key.
KEY_ROLE = Qt.ItemDataRole.UserRole + 1


def sendable_hosts(status: ServiceStatus) -> list[tuple[bytes, str]]:
    """The hosts one can send to now, (key, name for people), by name: those that have a key
    and are not refusing us, one entry per key."""
    hosts: dict[bytes, str] = {}
    for peer in status.node.peers:
        key = peer.key or peer.announced_key
        if key is None or peer.state is PeerState.REFUSED or key == status.own_key:
            continue
        hosts.setdefault(key, status.name_of(key) or peer.name or peer.address)
    return sorted(hosts.items(), key=lambda item: (item[1].lower(), item[0]))


def send_files(service: Service, paths: list[Path], key: bytes,
               show_message: Callable[[str, int], None]) -> bool:
    """Offer ``paths`` to the host of ``key``; says what happens (or why not) through
    ``show_message``. Whether the offer was made."""
    if not paths:
        return False
    name = service.status.name_of(key) or next(
        (n for k, n in sendable_hosts(service.status) if k == key), short_key(key))
    try:
        service.offers.send(paths, key)
    except ServiceError as exc:
        show_message(tr("Cannot send to {host}: {error}").format(
            host=shown(name), error=render(report_of(exc))),
                     8000)
        return False
    what = shown(paths[0].name) if len(paths) == 1 else tr("%n item(s)", "", len(paths))
    show_message(tr("Sending {what} to {host}…").format(what=what, host=shown(name)), 5000)
    return True


def dropped_paths(mime: Any) -> list[Path]:
    """The local files and folders in a drag's MIME data (remote URLs are left out)."""
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class HostPickerDialog(QDialog):
    """Which host to send to: the hosts that can take files, by name and short key; Send calls
    ``on_chosen`` with the key of the host chosen."""

    def __init__(self, status: ServiceStatus, what: str, on_chosen: Callable[[bytes], object],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Send files"))
        self.setMinimumWidth(380)
        self._on_chosen = on_chosen
        question = QLabel(tr("Send {what} to:").format(what=what))
        question.setTextFormat(Qt.TextFormat.PlainText)
        self.hosts = QListWidget()
        self.hosts.setAccessibleName(tr("Hosts that can take files"))
        for key, name in sendable_hosts(status):
            item = QListWidgetItem(tr("{host}  (key {key}…)").format(host=shown(name),
                                                                   key=short_key(key)))
            item.setData(KEY_ROLE, key)
            self.hosts.addItem(item)
        self.empty = QLabel(tr("No host is on the network now."))
        self.empty.setVisible(self.hosts.count() == 0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton(tr("Send"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.send_button.setEnabled(self.hosts.count() > 0)
        if self.hosts.count():
            self.hosts.setCurrentRow(0)
        buttons.accepted.connect(self.send)
        buttons.rejected.connect(self.reject)
        self.hosts.itemDoubleClicked.connect(lambda _item: self.send())
        layout = QVBoxLayout(self)
        for widget in (question, self.hosts, self.empty, buttons):
            layout.addWidget(widget)

    def choose(self, key: bytes) -> None:
        """Select the host of ``key`` (tests, and a caller that knows the host)."""
        for row in range(self.hosts.count()):
            if self.hosts.item(row).data(KEY_ROLE) == key:
                self.hosts.setCurrentRow(row)

    def send(self) -> None:
        """Send to the selected host."""
        item = self.hosts.currentItem()
        if item is None:
            return
        self._on_chosen(bytes(item.data(KEY_ROLE)))
        self.accept()
