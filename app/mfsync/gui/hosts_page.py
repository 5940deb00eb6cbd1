"""The "Hosts" page: the hosts seen on the network, and verifying and trusting them."""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from mfsync.engine.service import Service, ServiceStatus
from mfsync.gui.models import HostsModel
from mfsync.gui.pages import button_row, make_table, page_layout

__all__ = ["HostsPage"]


class HostsPage(QWidget):
    """The hosts table; its buttons ask the app for the trust dialog (``trustRequested``)."""

    #: The trust dialog is wanted: at the verification of a key, or (None) at the list.
    trustRequested = Signal(object)  # noqa: N815 - Qt signal naming

    def __init__(self, service: Service, model: HostsModel) -> None:
        super().__init__()
        self.model = model
        self._status = service.status
        self.view, self.proxy = make_table(
            model, samples=("192.168.100.100:65535", "0123456789AB", "trusted (not yet proven)",
                            "59 min 59 s ago", "99999"))
        self.verify_button = QPushButton("Verify and trust…")
        self.verify_button.clicked.connect(self.verify_selected_host)
        self.trust_button = QPushButton("Trusted keys…")
        self.trust_button.clicked.connect(lambda: self.trustRequested.emit(None))
        self.hint = QLabel("")
        page_layout(self, None, self.view, button_row(
            self.verify_button, self.trust_button, self.hint, stretch_at=2))

    def update_status(self, status: ServiceStatus) -> None:
        """Follow a new snapshot: the line that says who may connect."""
        self._status = status
        self.hint.setText(
            "Anyone on the network may fetch your files" if not status.trusted_keys else
            f"{len(status.trusted_keys)} trusted key(s); others are refused")

    def verify_selected_host(self) -> None:
        """Ask for the trust dialog at the selected host's verification code."""
        rows = self.view.selectionModel().selectedRows()
        key = None
        if rows:
            source = self.proxy.mapToSource(rows[0])
            key = self.model.peer_key(source.row(), self._status)
        self.trustRequested.emit(key)
