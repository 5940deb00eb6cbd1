"""The "Transfers" page: downloads and the files we send, with their progress; pausing, resuming
or cancelling downloads, cancelling sends; the offers of files that wait for our answer on top
(``offers_panel``)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QWidget,
)

from mfsync.engine.folder_names import FolderId
from mfsync.engine.service import ServiceError, ServiceStatus
from mfsync.engine.transfer_status import TransferState
from mfsync.gui.i18n import tr
from mfsync.gui.models import PROGRESS_ROLE
from mfsync.gui.offers_panel import OffersPanel
from mfsync.gui.pages import WindowContext, button_row, make_table, page_layout, selected_keys
from mfsync.gui.report_texts import report_of
from mfsync.gui.transfers_model import TransfersModel

__all__ = ["PROGRESS_WIDTH", "ProgressDelegate", "TransfersPage"]

#: The progress column's width, in pixels.
PROGRESS_WIDTH = 130


class ProgressDelegate(QStyledItemDelegate):
    """Draws ``PROGRESS_ROLE`` as a progress bar."""

    def paint(self, painter: Any, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        """A bar with the percentage on it, else the plain cell."""
        fraction = index.data(PROGRESS_ROLE)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = int(fraction * 1000)
        bar.text = index.data(Qt.ItemDataRole.DisplayRole)
        bar.textVisible = True
        # Qt 6 reads the orientation from the state: without State_Horizontal the style
        # draws a vertical bar, a sliver at the bottom of the cell
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        widget = option.widget
        style = widget.style() if widget is not None else QGuiApplication.instance().style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)


class TransfersPage(QWidget):
    """The transfers table and its buttons; "Pause all" toggles every transfer at once."""

    def __init__(self, context: WindowContext, model: TransfersModel) -> None:
        super().__init__()
        self.context = context
        self.model = model
        self._paused = context.service.status.paused
        service = context.service
        self.view, self.proxy = make_table(
            model, tr("Transfers"),
            samples=("↓ download", "", "999.9 MB/s", "59 min 59 s", "desktop-anna",
                     "sending to desktop-anna"))
        self.view.setItemDelegateForColumn(TransfersModel.PROGRESS_COLUMN,
                                           ProgressDelegate(self.view))
        self.view.horizontalHeader().setSectionResizeMode(TransfersModel.PROGRESS_COLUMN,
                                                          QHeaderView.ResizeMode.Fixed)
        self.view.setColumnWidth(TransfersModel.PROGRESS_COLUMN, PROGRESS_WIDTH)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.doubleClicked.connect(lambda _i: self.open_selected_transfer())
        self.pause_button = QPushButton(tr("Pause"))
        self.pause_button.clicked.connect(lambda: self._each_selected(service.pause_transfer))
        self.resume_button = QPushButton(tr("Resume"))
        self.resume_button.clicked.connect(lambda: self._each_selected(service.resume_transfer))
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.open_button = QPushButton(tr("Open"))
        self.open_button.clicked.connect(self.open_selected_transfer)
        self.clear_button = QPushButton(tr("Clear finished"))
        self.clear_button.clicked.connect(service.clear_finished)
        self.pause_all_button = QPushButton(tr("Pause all"))
        self.pause_all_button.clicked.connect(self.toggle_pause)
        #: Offers of files made to us that wait for an answer (hidden while there are none).
        self.offers_panel = OffersPanel(context)
        page_layout(self, self.offers_panel, self.view, button_row(
            self.pause_button, self.resume_button, self.cancel_button, self.open_button,
            self.clear_button, self.pause_all_button, stretch_at=4))

    def update_status(self, status: ServiceStatus) -> None:
        """Follow a new snapshot: the text of "Pause all"."""
        self._paused = status.paused
        self.pause_all_button.setText(self.pause_text(status))
        self.offers_panel.update_status(status)

    @staticmethod
    def pause_text(status: ServiceStatus) -> str:
        """What the pause switch offers for ``status``: "Pause all" or "Resume all"."""
        return tr("Resume all") if status.paused else tr("Pause all")

    @staticmethod
    def title(status: ServiceStatus) -> str:
        """The page's tab title: with the number of running transfers, if any."""
        active = len(status.transfers.active) + sum(not o.final for o in status.outgoing)
        return tr("Transfers ({count})").format(count=active) if active else tr("Transfers")

    def selected_transfer_keys(self) -> list[tuple[Path, str]]:
        """Keys of the selected downloads."""
        return [k for k in selected_keys(self.view, self.proxy) if isinstance(k, tuple)]

    def selected_offer_ids(self) -> list[FolderId]:
        """Ids of the selected offers we send."""
        return [k for k in selected_keys(self.view, self.proxy) if isinstance(k, FolderId)]

    def cancel_selected(self) -> None:
        """Cancel the selected downloads, and the selected sends (the receiver is told)."""
        self._each_selected(self.context.service.cancel_transfer)
        for offer in self.selected_offer_ids():
            status = self.model.outgoing(offer)
            if status is None or status.final:
                continue
            try:
                self.context.service.offers.cancel(offer)
            except ServiceError as exc:
                self.context.service.report_error(report_of(exc))

    def open_selected_transfer(self) -> None:
        """Open a finished download (or the folder it goes to, while it runs)."""
        for key in self.selected_transfer_keys():
            snapshot = self.model.snapshot(key)
            if snapshot is None:
                continue
            target = snapshot.target
            path = target if snapshot.state is TransferState.DONE else target.parent
            self.context.open_url(QUrl.fromLocalFile(str(path)))

    def toggle_pause(self) -> None:
        """Pause every transfer, or resume them."""
        self.context.service.set_paused(not self._paused)

    def _each_selected(self, action: Callable[[tuple[Path, str]], None]) -> None:
        for key in self.selected_transfer_keys():
            try:
                action(key)
            except ServiceError as exc:
                self.context.service.report_error(report_of(exc))
