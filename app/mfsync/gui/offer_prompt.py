"""Asking the user about files another host wants to send: a notification with Accept and
Decline, or a small dialog listing the files.

How it works: ``OfferPrompt`` follows the snapshots (``ServiceStatus.incoming``). Each offer
that waits for an answer (``IncomingState.PENDING``) is asked about once: through the desktop's
notification service when it offers action buttons (``ActionNotifications``; on Linux
``DBusNotifications``, the freedesktop interface over D-Bus, which Qt's tray balloon cannot
do), else in an ``OfferDialog``. Accept and Decline go to ``Service.offers``; a click on the
notification itself opens the dialog. An offer that stops waiting (answered in the window,
cancelled by its sender, or declined after two minutes without an answer) has its notification
closed and its dialog too. The dialog is also reachable from the window (the Transfers page's
offers panel, ``offers_panel``). Every name here comes from the sender: plain text, escaped.
"""

import asyncio
import html
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import Q_ARG, Q_RETURN_ARG, SLOT, QMetaObject, QObject, Qt, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from mfsync.crypto.keys import short_key
from mfsync.display import shown
from mfsync.engine.folder_names import FolderId
from mfsync.engine.inbox import IncomingOffer, IncomingState
from mfsync.engine.service import Service, ServiceError, ServiceStatus
from mfsync.gui.background import BackgroundTasks
from mfsync.gui.i18n import tr
from mfsync.gui.models import human_size
from mfsync.gui.report_texts import report_of

__all__ = [
    "ACCEPT",
    "DECLINE",
    "OPEN",
    "ActionNotifications",
    "DBusNotifications",
    "OfferDialog",
    "OfferPrompt",
    "desktop_notifications",
    "offer_text",
]

log = logging.getLogger("mfsync.gui")

#: The notification's action keys (``OPEN``: a click on the notification itself, by the
#: freedesktop specification's name for it).
ACCEPT, DECLINE, OPEN = "accept", "decline", "default"
#: The freedesktop notification service.
NOTIFICATIONS_SERVICE = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
#: How long a call to the notification service may take, in milliseconds.
DBUS_TIMEOUT_MS = 5000


def offer_text(offer: IncomingOffer) -> str:
    """``office-pc wants to send you 3 files (12.4 MB)`` (names escaped: they are the
    sender's)."""
    files = tr("%n file(s)", "", offer.files)
    # a folder's name is worth saying; loose files are labelled "3 files" by the sender's
    # engine (or by their one name)
    named = offer.files > 1 and offer.label not in ("", files, f"{offer.files} files")
    what = tr("'{label}': {files}").format(label=shown(offer.label), files=files) if named \
        else files
    return tr("{sender} wants to send you {what} ({size})").format(
        sender=shown(offer.from_text), what=what, size=human_size(offer.bytes))


class ActionNotifications(Protocol):
    """A desktop notification service with buttons (the freedesktop one; a test's fake).

    ``has_actions`` tells whether it exists and shows buttons; ``notify`` shows one with the
    ``actions`` (key, label) and returns its id; a click calls the handler given to
    ``set_handler`` with the id and the action's key."""

    async def has_actions(self) -> bool:
        """Whether the service exists and shows action buttons."""

    async def notify(self, summary: str, body: str, actions: Sequence[tuple[str, str]]) -> int:
        """Show a notification; its id."""

    async def close(self, notification_id: int) -> None:
        """Take the notification ``notification_id`` away."""

    def set_handler(self, on_action: Callable[[int, str], None]) -> None:
        """Call ``on_action(id, key)`` when an action of one of ours is clicked."""


class DBusNotifications(QObject):
    """``ActionNotifications`` through ``org.freedesktop.Notifications`` on the session bus.

    ``GetCapabilities`` is an asynchronous call. ``Notify`` and ``CloseNotification`` take an
    unsigned id, which Qt for Python cannot mark in a plain message (a Python int goes out as a
    signed one, and the services reject the call): they go through a ``QDBusInterface``, which
    converts the arguments to the types the service declares, in a worker thread, since its
    calls block.
    """

    def __init__(self, connection: Any = None) -> None:
        super().__init__()
        from PySide6.QtDBus import QDBusConnection  # noqa: PLC0415 - not every Qt build has it

        self._bus = connection if connection is not None else QDBusConnection.sessionBus()
        self._capabilities: list[str] | None = None
        self._handler: Callable[[int, str], None] | None = None
        self._watchers: set[Any] = set()
        if self._bus.isConnected():
            # the slot as text: the stubs say bytes, but this binding takes only a str
            self._bus.connect(NOTIFICATIONS_SERVICE, NOTIFICATIONS_PATH,  # type: ignore[call-overload]
                              NOTIFICATIONS_SERVICE, "ActionInvoked", self,
                              SLOT("_action_invoked(uint,QString)"))

    async def has_actions(self) -> bool:
        """Whether the service answers and lists the "actions" capability (asked once)."""
        if self._capabilities is None:
            self._capabilities = await self._capabilities_of_service()
        return "actions" in self._capabilities

    async def notify(self, summary: str, body: str, actions: Sequence[tuple[str, str]]) -> int:
        """Show a notification that stays until it is answered; its id (0 if it failed)."""
        if self._capabilities is not None and "body-markup" in self._capabilities:
            body = html.escape(body, quote=False)  # the service reads markup: names are text
        flat = [text for action in actions for text in action]
        arguments = [("QString", "mfsync"), ("uint", 0), ("QString", "mfsync"),
                     ("QString", summary), ("QString", body), ("QStringList", flat),
                     ("QVariantMap", {"urgency": 1}), ("int", 0)]
        result = await asyncio.to_thread(self._call, "Notify", arguments, "uint")
        return int(result or 0)

    async def close(self, notification_id: int) -> None:
        """Take a notification away."""
        await asyncio.to_thread(self._call, "CloseNotification", [("uint", notification_id)],
                                None)

    def set_handler(self, on_action: Callable[[int, str], None]) -> None:
        """Call ``on_action(id, key)`` on each ``ActionInvoked``."""
        self._handler = on_action

    @Slot("uint", str)
    def _action_invoked(self, notification_id: int, key: str) -> None:
        if self._handler is not None:
            self._handler(int(notification_id), str(key))

    async def _capabilities_of_service(self) -> list[str]:
        from PySide6.QtDBus import QDBusMessage, QDBusPendingCallWatcher  # noqa: PLC0415

        if not self._bus.isConnected():
            return []
        message = QDBusMessage.createMethodCall(NOTIFICATIONS_SERVICE, NOTIFICATIONS_PATH,
                                                NOTIFICATIONS_SERVICE, "GetCapabilities")
        done: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        watcher = QDBusPendingCallWatcher(self._bus.asyncCall(message, DBUS_TIMEOUT_MS))
        self._watchers.add(watcher)

        def finished(call: Any) -> None:
            self._watchers.discard(watcher)
            reply = call.reply()
            arguments = reply.arguments() if reply.errorName() == "" else []
            if not done.done():
                done.set_result([str(c) for c in arguments[0]] if arguments else [])

        watcher.finished.connect(finished)
        capabilities = await done
        log.info("notification service capabilities: %s", capabilities or "none")
        return capabilities

    def _call(self, method: str, arguments: list[tuple[str, Any]], result: str | None) -> Any:
        """Call ``method`` with typed ``arguments`` (blocking: in a worker thread)."""
        from PySide6.QtDBus import QDBusInterface  # noqa: PLC0415

        interface = QDBusInterface(NOTIFICATIONS_SERVICE, NOTIFICATIONS_PATH,
                                   NOTIFICATIONS_SERVICE, self._bus)
        interface.setTimeout(DBUS_TIMEOUT_MS)
        if not interface.isValid():
            log.warning("no notification service: %s", interface.lastError().message())
            return None
        typed = [Q_ARG(kind, value) for kind, value in arguments]
        try:
            if result is None:
                QMetaObject.invokeMethod(interface, method, Qt.ConnectionType.DirectConnection,
                                         *typed)
                return None
            return QMetaObject.invokeMethod(interface, method,
                                            Qt.ConnectionType.DirectConnection,
                                            Q_RETURN_ARG(result), *typed)
        except (RuntimeError, TypeError) as exc:
            log.warning("the notification service refused %s: %s", method, exc)
            return None


def desktop_notifications() -> ActionNotifications | None:
    """The desktop's notification service with buttons, where Qt can reach it (D-Bus); None
    where it cannot (then offers are asked about in dialogs)."""
    try:
        return DBusNotifications()
    except ImportError:  # a Qt without D-Bus (Windows, macOS)
        return None


class OfferDialog(QDialog):
    """An offer made to us: who sends what, the first files, and Accept / Decline."""

    def __init__(self, offer: IncomingOffer, on_answer: Callable[[FolderId, bool], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.offer = offer
        self.setWindowTitle(tr("Files from {sender}").format(sender=shown(offer.from_text)))
        self.setMinimumWidth(440)
        self.question = QLabel(
            tr("{offer}.\nKey {key}…, from {address}. They go into your download folder.").format(
                offer=offer_text(offer), key=short_key(offer.from_key), address=offer.address))
        self.question.setTextFormat(Qt.TextFormat.PlainText)  # names come from the sender
        self.question.setWordWrap(True)
        self.files = QListWidget()
        for path, size in offer.first_entries:
            self.files.addItem(f"{shown(path)}    {human_size(size)}")
        more = offer.files - len(offer.first_entries)
        if more > 0:
            self.files.addItem(tr("… and %n more", "", more))
        buttons = QDialogButtonBox()
        self.accept_button = buttons.addButton(tr("Accept"),
                                               QDialogButtonBox.ButtonRole.AcceptRole)
        self.decline_button = buttons.addButton(tr("Decline"),
                                                QDialogButtonBox.ButtonRole.RejectRole)
        for button in (self.accept_button, self.decline_button):
            # it may pop up while one types elsewhere: a stray Enter must not answer it
            button.setAutoDefault(False)
            button.setDefault(False)
        self.accept_button.clicked.connect(lambda: self._answer(True))
        self.decline_button.clicked.connect(lambda: self._answer(False))
        layout = QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addWidget(self.files)
        layout.addWidget(buttons)
        self._on_answer = on_answer

    def _answer(self, accepted: bool) -> None:
        self._on_answer(self.offer.offer, accepted)
        self.close()


class OfferPrompt(QObject):
    """Asks about each waiting offer once (see the module); ``notifications`` None: dialogs
    only. ``parent`` is the window the dialogs belong to."""

    def __init__(self, service: Service, notifications: ActionNotifications | None,
                 parent: QWidget | None = None) -> None:
        super().__init__()
        self.service = service
        self.notifications = notifications
        self.parent_widget = parent
        self.tasks = BackgroundTasks(service.report_error)
        #: Open dialogs, by offer.
        self.dialogs: dict[FolderId, OfferDialog] = {}
        self._asked: dict[FolderId, IncomingOffer] = {}
        #: Notification ids, by offer, and offers by notification id.
        self._notes: dict[FolderId, int] = {}
        self._offer_of: dict[int, FolderId] = {}
        if notifications is not None:
            notifications.set_handler(self.action_invoked)

    def update_status(self, status: ServiceStatus) -> None:
        """Ask about new waiting offers; take away what asks about offers that wait no more."""
        waiting = {o.offer: o for o in status.incoming if o.state is IncomingState.PENDING}
        for offer_id, offer in waiting.items():
            if offer_id not in self._asked:
                self._asked[offer_id] = offer
                self.tasks.run(self._ask(offer))
        for offer_id in [o for o in self._asked if o not in waiting]:
            del self._asked[offer_id]
            self._forget(offer_id)

    def show_dialog(self, offer: IncomingOffer) -> OfferDialog:
        """Show (or raise) the dialog of ``offer``."""
        dialog = self.dialogs.get(offer.offer)
        if dialog is None:
            dialog = OfferDialog(offer, self.answer, self.parent_widget)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.finished.connect(lambda _r, o=offer.offer: self.dialogs.pop(o, None))
            self.dialogs[offer.offer] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def answer(self, offer: FolderId, accepted: bool) -> None:
        """Accept or decline ``offer``; a late answer (it waits no more) is said, not raised."""
        try:
            if accepted:
                self.service.offers.accept(offer)
            else:
                self.service.offers.decline(offer)
        except ServiceError as exc:
            self.service.report_error(report_of(exc))

    def action_invoked(self, notification_id: int, key: str) -> None:
        """A button of one of our notifications (or the notification itself) was clicked."""
        offer_id = self._offer_of.get(notification_id)
        if offer_id is None:
            return  # someone else's notification, or one of an offer over already
        if key in (ACCEPT, DECLINE):
            self.answer(offer_id, key == ACCEPT)
        elif key == OPEN and offer_id in self._asked:
            self.show_dialog(self._asked[offer_id])

    async def _ask(self, offer: IncomingOffer) -> None:
        notifications = self.notifications
        if notifications is not None and await notifications.has_actions():
            summary = tr("{sender} wants to send you %n file(s)", "", offer.files).format(
                sender=shown(offer.from_text))
            names = ", ".join(shown(p) for p, _size in offer.first_entries[:3])
            more = "…" if offer.files > 3 else ""
            body = f"{shown(offer.label)} ({human_size(offer.bytes)}): {names}{more}"
            notification_id = await notifications.notify(
                summary, body, ((ACCEPT, tr("Accept")), (DECLINE, tr("Decline")),
                                (OPEN, tr("Show files"))))
            if notification_id:
                if offer.offer not in self._asked:  # it ended while the notification went up
                    await notifications.close(notification_id)
                    return
                self._notes[offer.offer] = notification_id
                self._offer_of[notification_id] = offer.offer
                return
        if offer.offer in self._asked:
            self.show_dialog(offer)

    def close(self) -> None:
        """Take every question away (the app quits; the engine declines what still waits)."""
        for offer_id in list(self._asked):
            del self._asked[offer_id]
            self._forget(offer_id)

    def _forget(self, offer_id: FolderId) -> None:
        notification_id = self._notes.pop(offer_id, None)
        if notification_id is not None:
            self._offer_of.pop(notification_id, None)
            if self.notifications is not None:
                self.tasks.run(self.notifications.close(notification_id))
        dialog = self.dialogs.pop(offer_id, None)
        if dialog is not None:
            dialog.close()
