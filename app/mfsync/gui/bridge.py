"""The one place where engine snapshots become Qt signals and notification events.

The engine calls its observers on the event loop, which under qasync is the GUI thread, so a
snapshot can be emitted as a signal directly. Events for notifications (files arrived, a
transfer failed, a host was refused, files we sent were delivered or declined) are derived by
comparing each snapshot with the previous one, so the engine needs no second channel for them.
A finished download names the folder it arrived in (``arrival_folder``): the label of the shared
folder that holds it, else the download folder.
"""

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from mfsync.crypto.keys import format_key
from mfsync.engine.outbox import OutgoingState
from mfsync.engine.service import Service, ServiceStatus
from mfsync.engine.transfer_status import TransferSnapshot, TransferState
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.invitations_panel import invitation_host
from mfsync.gui.notify import Notifier
from mfsync.gui.report_texts import render
from mfsync.gui.state_texts import send_text

__all__ = ["DOWNLOAD_FOLDER_NAME", "EngineBridge", "Finished", "arrival_folder", "derive_events"]

log = logging.getLogger("mfsync.gui")

#: How notifications name the download folder.
DOWNLOAD_FOLDER_NAME = QT_TR_NOOP("the download folder")


@dataclass(frozen=True)
class Finished:
    """A transfer that reached DONE or FAILED since the previous snapshot."""

    transfer: TransferSnapshot


def _finished(status: ServiceStatus) -> dict[Hashable, TransferSnapshot]:
    return {t.key: t for t in status.transfers.transfers
            if t.state in (TransferState.DONE, TransferState.FAILED)}


def arrival_folder(status: ServiceStatus, transfer: TransferSnapshot,
                   download_folder: Callable[[], Path | None] = lambda: None) -> str:
    """The folder ``transfer`` saved its file in, as people call it: the label of the shared
    folder holding the file (the innermost, should one hold another), else "the download
    folder" when it went there (``download_folder`` is asked only then), else the name of the
    folder it was downloaded into."""
    holders = [f for f in status.folders if transfer.target.is_relative_to(f.path)]
    if holders:
        return max(holders, key=lambda f: len(f.path.parts)).label
    root = transfer.key[0]
    if root == download_folder():
        return tr(DOWNLOAD_FOLDER_NAME)
    return root.name


def derive_events(previous: ServiceStatus | None, current: ServiceStatus,
                  notifier: Notifier,
                  download_folder: Callable[[], Path | None] = lambda: None,
                  ) -> list[TransferSnapshot]:
    """Tell ``notifier`` what happened between two snapshots; returns new finished downloads.
    ``download_folder`` tells where downloads go by default (to name it)."""
    before = _finished(previous) if previous is not None else {}
    done: list[TransferSnapshot] = []
    for key, transfer in _finished(current).items():
        old = before.get(key)
        if old is not None and old.state is transfer.state:
            continue
        if transfer.state is TransferState.DONE:
            done.append(transfer)
            notifier.downloaded(transfer.path, transfer.target,
                                current.host_label(transfer.source) or tr("another host"),
                                arrival_folder(current, transfer, download_folder))
        else:
            notifier.failed(transfer.path, render(transfer.error) or tr("failed"))
    _sends_ended(previous, current, notifier)
    last_seq = max((r.seq for r in previous.node.refusals), default=-1) if previous else -1
    for refusal in current.node.refusals:
        if refusal.seq > last_seq and previous is not None:
            host = refusal.name or refusal.address
            notifier.refused(host, format_key(refusal.key))
    return done


def _sends_ended(previous: ServiceStatus | None, current: ServiceStatus,
                 notifier: Notifier) -> None:
    """Tell of each offer we send that ended since ``previous`` (none at the first snapshot:
    those ended before the app looked)."""
    if previous is None:
        return
    ended_before = {o.offer for o in previous.outgoing if o.final}
    for offer in current.outgoing:
        if offer.final and offer.offer not in ended_before:
            notifier.sent(str(offer.offer), offer.label, offer.to_text, send_text(offer),
                          offer.state is OutgoingState.DELIVERED)


class EngineBridge(QObject):
    """Re-emits the service's snapshots as ``statusChanged`` and feeds the notifier."""

    statusChanged = Signal(object)  # noqa: N815 - Qt signal naming
    #: A download finished (the TransferSnapshot), for the tray's recent list.
    downloadFinished = Signal(object)  # noqa: N815 - Qt signal naming

    def __init__(self, service: Service, notifier: Notifier) -> None:
        super().__init__()
        self.service = service
        self.notifier = notifier
        self._previous: ServiceStatus | None = None
        #: The folders whose invitations were told of: each once while the app runs, even if
        #: its host goes and comes back.
        self._invited: set[str] = set()
        self._unsubscribe = service.subscribe(self._on_status)

    def _on_status(self, status: ServiceStatus) -> None:
        try:
            for transfer in derive_events(self._previous, status, self.notifier,
                                          lambda: self.service.download_folder):
                self.downloadFinished.emit(transfer)
            for invitation in status.invitations:
                if str(invitation.folder) not in self._invited:
                    self._invited.add(str(invitation.folder))
                    self.notifier.invited(invitation_host(invitation, status),
                                          invitation.label, str(invitation.folder))
        except Exception:
            log.exception("cannot derive notifications")
        self._previous = status
        self.statusChanged.emit(status)

    def close(self) -> None:
        """Stop listening to the service."""
        self._unsubscribe()
