"""The "Hosts" page: the hosts seen on the network, verifying and trusting them, and sending
them files (dropped on a host's row, or *Send files…* on its context menu; ``send_files``)."""

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel, QMenu, QPushButton, QWidget

from mfsync.engine.service import ServiceStatus
from mfsync.gui.i18n import tr
from mfsync.gui.models import HostsModel
from mfsync.gui.pages import WindowContext, button_row, make_table, page_layout
from mfsync.gui.send_files import dropped_paths, send_files

__all__ = ["HostsPage"]

_DRAG_EVENTS = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop)


class HostsPage(QWidget):
    """The hosts table; its buttons ask the app for the trust dialog (``trustRequested``);
    files dropped on a row are sent to that host."""

    #: The trust dialog is wanted: at the verification of a key, or (None) at the list.
    trustRequested = Signal(object)  # noqa: N815 - Qt signal naming

    def __init__(self, context: WindowContext, model: HostsModel) -> None:
        super().__init__()
        self.context = context
        self.model = model
        self._status = context.service.status
        self.view, self.proxy = make_table(
            model, tr("Hosts on the network"),
            samples=("192.168.100.100:65535", "0123456789AB", "trusted (not yet proven)",
                     "59 min 59 s ago", "99999"))
        self.view.setToolTip(tr("Drop files or folders on a host to send them to it"))
        self.view.viewport().setAcceptDrops(True)
        self.view.viewport().installEventFilter(self)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self.show_menu)
        self.menu = QMenu(self)
        self.verify_button = QPushButton(tr("Verify and trust…"))
        self.verify_button.clicked.connect(self.verify_selected_host)
        self.send_button = QPushButton(tr("Send files…"))
        self.send_button.clicked.connect(self.send_to_selected_host)
        self.trust_button = QPushButton(tr("Trusted keys…"))
        self.trust_button.clicked.connect(lambda: self.trustRequested.emit(None))
        self.hint = QLabel("")
        page_layout(self, None, self.view, button_row(
            self.verify_button, self.send_button, self.trust_button, self.hint, stretch_at=3))

    def update_status(self, status: ServiceStatus) -> None:
        """Follow a new snapshot: the line that says who may connect."""
        self._status = status
        self.hint.setText(
            tr("Anyone on the network may fetch your files") if not status.trusted_keys else
            tr("%n trusted key(s); others are refused", "", len(status.trusted_keys)))

    def selected_key(self) -> bytes | None:
        """The key of the selected host, if it has one."""
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.peer_key(self.proxy.mapToSource(rows[0]).row(), self._status)

    def key_at(self, position: QPoint) -> bytes | None:
        """The key of the host on the row at ``position`` (viewport coordinates), if any."""
        index = self.view.indexAt(position)
        if not index.isValid():
            return None
        return self.model.peer_key(self.proxy.mapToSource(index).row(), self._status)

    def verify_selected_host(self) -> None:
        """Ask for the trust dialog at the selected host's verification code."""
        self.trustRequested.emit(self.selected_key())

    def send_to_selected_host(self) -> None:
        """Ask for files, then send them to the selected host."""
        key = self.selected_key()
        if key is None:
            self.context.show_message(tr("Choose a host first"), 4000)
            return
        self.context.choose_files(tr("Files to send"),
                                  lambda paths: self.send(paths, key))

    def send(self, paths: list[Path], key: bytes) -> bool:
        """Send ``paths`` to the host of ``key``."""
        return send_files(self.context.service, paths, key, self.context.show_message)

    def show_menu(self, position: QPoint) -> QMenu | None:
        """The context menu of the host row at ``position``: *Send files…*, *Verify…*."""
        index = self.view.indexAt(position)
        if not index.isValid():
            return None
        self.view.selectRow(index.row())
        menu = self.menu
        menu.clear()
        send = menu.addAction(tr("Send files…"), self.send_to_selected_host)
        send.setEnabled(self.key_at(position) is not None)
        menu.addAction(tr("Verify and trust…"), self.verify_selected_host)
        menu.popup(self.view.viewport().mapToGlobal(position))
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Files dragged over the table: taken over a host row with a key, sent on drop."""
        if watched is not self.view.viewport() or event.type() not in _DRAG_EVENTS:
            return super().eventFilter(watched, event)
        assert isinstance(event, QDropEvent)  # (a drag's enter and move events are drops too)
        paths = dropped_paths(event.mimeData())
        if paths and event.type() == QEvent.Type.DragEnter:
            event.acceptProposedAction()  # else Qt sends no moves: a row is chosen as it moves
            return True
        key = self.key_at(event.position().toPoint())
        if key is None or not paths:
            event.ignore()
            return True
        event.acceptProposedAction()
        if event.type() == QEvent.Type.Drop:
            self.send(paths, key)
        else:  # the row the files would go to stands out while they hover over it
            self.view.selectRow(self.view.indexAt(event.position().toPoint()).row())
        return True
