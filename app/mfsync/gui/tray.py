"""The tray icon: state at a glance, a menu, and the notifications.

The menu is rebuilt each time it is about to show (as Vorta does), so it always reflects the
latest snapshot without being kept in step by hand. The icon shows idle, transferring, paused or
error. Notifications go through ``TrayNotificationSink``; a click on one opens the folder it is
about (looked up off the GUI thread), or the window. The tray takes snapshots from the bridge's
signal, never from the service directly.
"""

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from mfsync.display import shown
from mfsync.engine.outbox import OutgoingState
from mfsync.engine.service import ServiceStatus
from mfsync.engine.transfer_status import TransferSnapshot
from mfsync.gui.i18n import tr
from mfsync.gui.icons import icon
from mfsync.gui.report_texts import render
from mfsync.gui.state_texts import state_text

__all__ = ["RECENT", "Tray", "TrayNotificationSink", "TrayState", "tray_state"]

log = logging.getLogger("mfsync.gui")

#: How many recent downloads the tray menu lists.
RECENT = 8
#: How long a notification stays up, in milliseconds.
MESSAGE_MS = 6000


class TrayState:
    """What the tray icon shows (the names of the icon files without ``tray-``)."""

    IDLE = "idle"
    TRANSFERRING = "transferring"
    PAUSED = "paused"
    ERROR = "error"


def tray_state(status: ServiceStatus) -> str:
    """The icon state for a snapshot: errors first, then paused, then transferring."""
    if status.errors:
        return TrayState.ERROR
    if status.paused:
        return TrayState.PAUSED
    if status.transfers.active or _sending(status):
        return TrayState.TRANSFERRING
    return TrayState.IDLE


def _sending(status: ServiceStatus) -> int:
    """How many offers we send are being fetched now."""
    return sum(o.state is OutgoingState.SENDING for o in status.outgoing)


class Tray(QObject):
    """The system-tray icon and its menu."""

    openRequested = Signal()  # noqa: N815 - Qt signal naming
    pauseToggled = Signal()  # noqa: N815
    #: *Send files…*: the app asks for the files, then the host.
    sendRequested = Signal()  # noqa: N815
    quitRequested = Signal()  # noqa: N815

    def __init__(self, open_url: Callable[[QUrl], object] | None = None) -> None:
        super().__init__()
        self.open_url = open_url or QDesktopServices.openUrl
        self.icon = QSystemTrayIcon()
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.state = ""
        self.recent: deque[TransferSnapshot] = deque(maxlen=RECENT)
        self._status: ServiceStatus | None = None
        self.set_state(TrayState.IDLE)

    def show(self) -> None:
        """Put the icon in the tray."""
        self.icon.show()

    def hide(self) -> None:
        """Take the icon out of the tray."""
        self.icon.hide()

    def set_state(self, state: str) -> None:
        """Show ``state``'s icon and a tooltip that says it."""
        if state == self.state:
            return
        self.state = state
        self.icon.setIcon(icon(f"tray-{state}"))

    def update_status(self, status: ServiceStatus) -> None:
        """Follow a new snapshot: icon and tooltip (the menu is rebuilt when shown)."""
        self._status = status
        self.set_state(tray_state(status))
        active = len(status.transfers.active) + _sending(status)
        lines = ["mfsync"]
        if status.paused:
            lines.append(state_text(status.pause_reason).capitalize())
        elif active:
            lines.append(tr("%n transfer(s) running", "", active))
        else:
            lines.append(tr("Idle"))
        if status.errors:
            lines.append(render(status.errors[-1]))
        self.icon.setToolTip("\n".join(lines))

    def add_recent(self, transfer: TransferSnapshot) -> None:
        """Remember a finished download for the menu."""
        self.recent.appendleft(transfer)

    def rebuild_menu(self) -> None:
        """Build the menu from the latest snapshot (called just before it shows)."""
        menu = self.menu
        menu.clear()
        menu.addAction(tr("Open mfsync"), self.openRequested.emit)
        paused = self._status is not None and self._status.paused
        menu.addAction(tr("Resume transfers") if paused else tr("Pause transfers"),
                       self.pauseToggled.emit)
        menu.addAction(tr("Send files…"), self.sendRequested.emit)
        recent = menu.addMenu(tr("Recent downloads"))
        if not self.recent:
            recent.addAction(tr("None yet")).setEnabled(False)
        for transfer in self.recent:
            # partial, not a lambda with a default argument: PySide passes ``checked`` into
            # such a lambda's first parameter
            recent.addAction(shown(transfer.path),
                             functools.partial(self.open_folder_of, transfer.target))
        menu.addSeparator()
        menu.addAction(tr("Quit mfsync"), self.quitRequested.emit)

    def open_folder_of(self, target: Path) -> None:
        """Open the folder holding ``target`` in the file manager."""
        self.open_url(QUrl.fromLocalFile(str(target.parent)))

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.openRequested.emit()


class TrayNotificationSink:
    """Shows notifications as tray messages; a click opens their target or the window."""

    def __init__(self, tray: Tray, open_window: Callable[[], None]) -> None:
        self._tray = tray
        self._open_window = open_window
        self._target: str | None = None
        self._pending: set[asyncio.Task[bool]] = set()
        #: What was shown: (title, text, kind, target), newest last (tests and the log read it).
        self.shown: list[tuple[str, str, str, str | None]] = []
        tray.icon.messageClicked.connect(self.clicked)

    def show(self, title: str, text: str, kind: str, target: str | None) -> None:
        """Show one notification (as ``NotificationSink`` asks)."""
        self.shown.append((title, text, kind, target))
        del self.shown[:-50]
        self._target = target
        log.info("notification: %s: %s", title, text)
        icon_kind = (QSystemTrayIcon.MessageIcon.Warning if kind in ("failure", "refused")
                     else QSystemTrayIcon.MessageIcon.Information)
        self._tray.icon.showMessage(title, text, icon_kind, MESSAGE_MS)

    def clicked(self) -> asyncio.Task[bool] | None:
        """Open what the last notification was about: the folder it names, or the folder of
        the file it names, or else the window. Returns the task that looks at the disk."""
        if not self._target:
            self._open_window()
            return None
        path = Path(self._target)
        # Folder or file is a stat, done off the GUI thread: the target may sit on a slow
        # network share or a disk that has gone away since.
        task = asyncio.ensure_future(asyncio.to_thread(path.is_dir))
        self._pending.add(task)
        task.add_done_callback(functools.partial(self._open_target, path))
        return task

    def _open_target(self, path: Path, task: asyncio.Task[bool]) -> None:
        self._pending.discard(task)
        is_dir = not task.cancelled() and task.exception() is None and task.result()
        self._tray.open_url(QUrl.fromLocalFile(str(path if is_dir else path.parent)))
