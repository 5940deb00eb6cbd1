"""The transfers table: downloads and the files we send to hosts, one row each.

Downloads are keyed by their ``TransferSnapshot.key`` (a tuple: the folder and the path); an
offer we send (``ServiceStatus.outgoing``) is one row keyed by its offer id (a ``FolderId``),
so the page tells the two apart by the key's type. Speeds, times left and the words for where
an offer stands are the engine's (``TransferSnapshot.speed``, ``OutgoingStatus.text`` and
``seconds_left``): the model only formats them.
"""

from collections.abc import Hashable

from mfsync.engine.folder_names import FolderId
from mfsync.engine.outbox import OutgoingState, OutgoingStatus
from mfsync.engine.service import ServiceStatus
from mfsync.engine.transfer_status import TransferSnapshot, TransferState
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.models import KeyedTableModel, Row, human_duration, human_size
from mfsync.gui.report_texts import render
from mfsync.gui.state_texts import send_text, state_text

__all__ = ["DOWNLOAD_DIRECTION", "SEND_DIRECTION", "TransfersModel"]

#: The Direction column's words.
DOWNLOAD_DIRECTION = QT_TR_NOOP("↓ download")
SEND_DIRECTION = QT_TR_NOOP("↑ send")


class TransfersModel(KeyedTableModel):
    """Downloads and sends: name, direction, progress, speed, time left, host, state."""

    HEADERS = (QT_TR_NOOP("Name"), QT_TR_NOOP("Direction"), QT_TR_NOOP("Progress"),
               QT_TR_NOOP("Speed"), QT_TR_NOOP("Time left"), QT_TR_NOOP("Host"),
               QT_TR_NOOP("State"))
    PROGRESS_COLUMN = 2

    def __init__(self) -> None:
        super().__init__()
        self._snapshots: dict[Hashable, TransferSnapshot] = {}
        self._outgoing: dict[Hashable, OutgoingStatus] = {}

    def snapshot(self, key: Hashable) -> TransferSnapshot | None:
        """The latest snapshot of the download with ``key`` (None for a send)."""
        return self._snapshots.get(key)

    def outgoing(self, key: Hashable) -> OutgoingStatus | None:
        """The latest status of the offer we send with ``key`` (None for a download)."""
        return self._outgoing.get(key)

    def speed_of(self, key: Hashable) -> float:
        """The speed of a transfer in bytes per second, as the engine measured it (0 when it
        is not measured)."""
        snapshot = self._snapshots.get(key) or self._outgoing.get(key)
        return (snapshot.speed or 0.0) if snapshot is not None else 0.0

    def update(self, status: ServiceStatus) -> None:
        """Rows from the downloads, then the offers we send."""
        self._snapshots = {t.key: t for t in status.transfers.transfers}
        self._outgoing = {o.offer: o for o in status.outgoing}
        rows = [_download_row(t, status) for t in status.transfers.transfers]
        rows.extend(_send_row(o) for o in status.outgoing)
        self.set_rows(rows)


def _download_row(transfer: TransferSnapshot, status: ServiceStatus) -> Row:
    fraction = transfer.done / transfer.size if transfer.size else (
        1.0 if transfer.state is TransferState.DONE else 0.0)
    # Speed and time left only while bytes flow: verifying or waiting has neither.
    running = transfer.state is TransferState.DOWNLOADING
    speed = (transfer.speed or 0.0) if running else 0.0
    left = transfer.seconds_left if running else None
    state = state_text(transfer.state.value) + (
        f": {render(transfer.error)}" if transfer.error else "")
    host = status.host_label(transfer.source) if transfer.source else ""
    if host and transfer.sources > 1:  # (a large file from several hosts at once)
        host = tr("{host} and %n more", "", transfer.sources - 1).format(host=host)
    return Row(
        transfer.key,
        (transfer.path, tr(DOWNLOAD_DIRECTION), f"{fraction:.0%}",
         f"{human_size(speed)}/s" if running else "",
         human_duration(left) if left is not None else "", host, state),
        sort=(transfer.path.lower(), DOWNLOAD_DIRECTION, fraction, speed, left or 0.0,
              host.lower(), transfer.state.value),
        progress=fraction, tooltip=f"{transfer.path}\n→ {transfer.target}")


def _send_row(offer: OutgoingStatus) -> Row:
    sending = offer.state is OutgoingState.SENDING
    if offer.state is OutgoingState.DELIVERED:
        fraction = 1.0
    else:  # a file fetched again counts again: never past the end
        fraction = min(1.0, offer.bytes_sent / offer.bytes) if offer.bytes else 0.0
    speed = (offer.speed or 0.0) if sending else 0.0
    left = offer.seconds_left
    files = tr("%n file(s)", "", offer.files)
    key: FolderId = offer.offer
    return Row(
        key,
        (offer.label or files, tr(SEND_DIRECTION), f"{fraction:.0%}",
         f"{human_size(speed)}/s" if sending else "",
         human_duration(left) if left is not None else "", offer.to_text, send_text(offer)),
        sort=(offer.label.lower(), SEND_DIRECTION, fraction, speed, left or 0.0,
              offer.to_text.lower(), offer.state.value),
        progress=fraction,
        tooltip=f"{offer.label}: {files}, {human_size(offer.bytes)}\n→ {offer.to_text}")
