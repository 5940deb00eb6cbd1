"""Offers of files made to us, in the window: "office-pc wants to send you 3 files (12.4 MB)"
with *Show files…*, *Accept* and *Decline*, above the Transfers table.

The same offers are asked about by notification or dialog (``offer_prompt``); this panel is
where they can still be answered once the notification is gone. Rebuilt only when the waiting
offers change; hidden while there are none. Names come from the sender: plain text.
"""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mfsync.engine.inbox import IncomingOffer, IncomingState
from mfsync.engine.service import ServiceError, ServiceStatus
from mfsync.gui.i18n import tr
from mfsync.gui.offer_prompt import offer_text
from mfsync.gui.pages import WindowContext
from mfsync.gui.report_texts import render, report_of

__all__ = ["OfferRow", "OffersPanel"]


class OfferRow(QFrame):
    """One waiting offer: what is offered, and the answers."""

    def __init__(self, panel: "OffersPanel", offer: IncomingOffer) -> None:
        super().__init__()
        self.offer = offer
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel(offer_text(offer))
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # the names come from the sender
        self.label.setWordWrap(True)
        self.show_button = QPushButton(tr("Show files…"))
        self.show_button.clicked.connect(lambda: panel.dialogRequested.emit(offer))
        self.accept_button = QPushButton(tr("Accept"))
        self.accept_button.clicked.connect(lambda: panel.answer(offer, True))
        self.decline_button = QPushButton(tr("Decline"))
        self.decline_button.clicked.connect(lambda: panel.answer(offer, False))
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        for button in (self.show_button, self.accept_button, self.decline_button):
            layout.addWidget(button)


class OffersPanel(QWidget):
    """The rows of the offers that wait for an answer (see the module)."""

    #: The dialog listing an offer's files is wanted (the IncomingOffer).
    dialogRequested = Signal(object)  # noqa: N815 - Qt signal naming

    def __init__(self, context: WindowContext) -> None:
        super().__init__()
        self.context = context
        self.rows: list[OfferRow] = []
        self._shown: tuple[IncomingOffer, ...] = ()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.hide()

    def update_status(self, status: ServiceStatus) -> None:
        """Show the offers of ``status`` that wait for an answer."""
        waiting = tuple(o for o in status.incoming if o.state is IncomingState.PENDING)
        if waiting == self._shown:
            return
        self._shown = waiting
        for row in self.rows:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.rows = [OfferRow(self, offer) for offer in waiting]
        for row in self.rows:
            self._layout.addWidget(row)
        self.setVisible(bool(self.rows))

    def answer(self, offer: IncomingOffer, accepted: bool) -> None:
        """Accept or decline ``offer``."""
        offers = self.context.service.offers
        try:
            if accepted:
                offers.accept(offer.offer)
            else:
                offers.decline(offer.offer)
        except ServiceError as exc:
            self.context.show_message(render(report_of(exc)), 8000)
