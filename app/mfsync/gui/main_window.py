"""The main window: four pages (shared folders, network, transfers, hosts), menus, a status bar.

Every action goes to the ``Service``; the window only renders snapshots (through the models and
the pages' ``update_status``) and turns clicks into service calls. Each page lives in a module
of its own (``folders_page``, ``network_page``, ``transfers_page``, ``hosts_page``) and reaches
the window through a ``WindowContext``. Slow actions run as background tasks on the qasync loop
and questions are asked with non-blocking dialogs (``mfsync.gui.dialogs``), so the window never
waits, and never runs a nested event loop under the engine.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QMouseEvent,
    QShortcut,
)
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QTabWidget, QVBoxLayout, QWidget

from mfsync.crypto.keys import format_key, short_key
from mfsync.engine.service import Service, ServiceStatus
from mfsync.engine.status import PeerState
from mfsync.gui.background import BackgroundTasks
from mfsync.gui.dialogs import (
    Confirm,
    FilesChooser,
    FolderChooser,
    UrlOpener,
    ask_files,
    ask_folder,
    ask_yes_no,
)
from mfsync.gui.folders_page import FoldersPage, dropped_folders
from mfsync.gui.hosts_page import HostsPage
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.models import FoldersModel, HostsModel, NetworkModel
from mfsync.gui.network_page import NetworkPage
from mfsync.gui.pages import WindowContext
from mfsync.gui.report_texts import render
from mfsync.gui.state_texts import state_text
from mfsync.gui.theme import ERROR, banner_style, text_style
from mfsync.gui.transfers_model import TransfersModel
from mfsync.gui.transfers_page import TransfersPage

__all__ = ["ClickableLabel", "Confirm", "FolderChooser", "MainWindow", "UrlOpener"]

log = logging.getLogger("mfsync.gui")

FOLDERS_TAB, NETWORK_TAB, TRANSFERS_TAB, HOSTS_TAB = range(4)
NO_TRAY_TEXT = QT_TR_NOOP(
    "No system tray was found on this desktop, so mfsync cannot keep running in the "
    "background: closing this window quits it. (On GNOME, the AppIndicator extension adds a "
    "tray.)")


class ClickableLabel(QLabel):
    """A label that emits ``clicked``."""

    clicked = Signal()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        """Emit ``clicked`` on a left click."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class MainWindow(QMainWindow):
    """The window in front of the engine; closing it keeps mfsync in the tray where one exists.

    ``choose_folder``, ``choose_files``, ``open_url`` and ``confirm`` default to the desktop's
    dialogs and file manager; tests pass their own.
    """

    #: The user asked to quit the application (menu or window close without a tray).
    quitRequested = Signal()  # noqa: N815 - Qt signal naming
    settingsRequested = Signal()  # noqa: N815
    #: The window was closed and mfsync keeps running in the tray.
    hiddenToTray = Signal()  # noqa: N815
    trustRequested = Signal(object)  # noqa: N815 - a key to verify, or None

    def __init__(self, service: Service, *, tray_available: bool,
                 choose_folder: FolderChooser | None = None,
                 open_url: UrlOpener | None = None, confirm: Confirm | None = None,
                 choose_files: FilesChooser | None = None) -> None:
        super().__init__()
        self.service = service
        self.tray_available = tray_available
        self.tasks = BackgroundTasks(service.report_error)
        self._status: ServiceStatus = service.status
        self.setWindowTitle("mfsync")
        self.setAcceptDrops(True)
        self.resize(900, 560)
        context = WindowContext(
            service=service, tasks=self.tasks,
            show_message=lambda text, ms: self.statusBar().showMessage(text, ms),
            choose_folder=choose_folder or self._ask_folder,
            confirm=confirm or self._ask_yes_no,
            choose_files=choose_files or (lambda title, chosen: ask_files(self, title, chosen)),
            open_url=open_url or QDesktopServices.openUrl)

        self.folders_model = FoldersModel()
        self.network_model = NetworkModel(service.local_content_id, service.local_version)
        self.transfers_model = TransfersModel()
        self.hosts_model = HostsModel()
        self.folders_page = FoldersPage(context, self.folders_model)
        self.network_page = NetworkPage(context, self.network_model)
        self.transfers_page = TransfersPage(context, self.transfers_model)
        self.hosts_page = HostsPage(context, self.hosts_model)
        self.hosts_page.trustRequested.connect(self.trustRequested)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.folders_page, tr("Shared folders"))
        self.tabs.addTab(self.network_page, tr("Network"))
        self.tabs.addTab(self.transfers_page, tr("Transfers"))
        self.tabs.addTab(self.hosts_page, tr("Hosts"))
        self._name_page_widgets()
        self.no_tray_hint = QLabel(tr(NO_TRAY_TEXT))
        self.no_tray_hint.setWordWrap(True)
        self.no_tray_hint.setStyleSheet(banner_style())
        self.no_tray_hint.hide()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.no_tray_hint)
        layout.addWidget(self.tabs)
        self.setCentralWidget(central)
        self._build_menus()
        self._build_status_bar()
        self.update_status(service.status)

    def _name_page_widgets(self) -> None:
        # The pages own their widgets; these names on the window are the ones tests, the
        # screenshot script and older callers use.
        folders, network, transfers = self.folders_page, self.network_page, self.transfers_page
        self.folders_view, self.folders_proxy = folders.view, folders.proxy
        self.folders_hint = folders.hint
        self.add_folder_button = folders.add_button
        self.remove_folder_button = folders.remove_button
        self.sync_button, self.open_folder_button = folders.sync_button, folders.open_button
        self.network_view, self.network_proxy = network.view, network.proxy
        self.search, self.network_hint = network.search, network.hint
        self.download_button = network.download_button
        self.download_to_button = network.download_to_button
        self.transfers_view = transfers.view
        self.pause_button, self.resume_button = transfers.pause_button, transfers.resume_button
        self.cancel_button, self.clear_button = transfers.cancel_button, transfers.clear_button
        self.open_transfer_button = transfers.open_button
        self.pause_all_button = transfers.pause_all_button
        self.hosts_view, self.trust_hint = self.hosts_page.view, self.hosts_page.hint
        self.verify_button, self.trust_button = (self.hosts_page.verify_button,
                                                 self.hosts_page.trust_button)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(tr("&File"))
        self.add_folder_action = QAction(tr("&Add folder…"), self)
        self.add_folder_action.triggered.connect(self.folders_page.add_folder_dialog)
        settings = QAction(tr("&Settings…"), self)
        settings.setShortcut(QKeySequence.StandardKey.Preferences)
        settings.triggered.connect(self.settingsRequested.emit)
        trust = QAction(tr("&Trusted keys…"), self)
        trust.triggered.connect(lambda: self.trustRequested.emit(None))
        quit_action = QAction(tr("&Quit"), self)
        quit_action.setShortcut("Ctrl+Q")
        quit_action.triggered.connect(self.quitRequested.emit)
        copy_key = QAction(tr("&Copy my public key"), self)
        copy_key.setShortcut("Ctrl+Shift+C")  # (the status bar's key is a mouse target)
        copy_key.triggered.connect(self.copy_own_key)
        for action in (self.add_folder_action, settings, trust, copy_key):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        transfers = self.menuBar().addMenu(tr("&Transfers"))
        self.pause_action = QAction(tr("&Pause all transfers"), self)
        self.pause_action.triggered.connect(self.toggle_pause)
        transfers.addAction(self.pause_action)
        # The keyboard's way around: Alt+1..4 for the tabs (as browsers and KDE apps do),
        # the desktop's Find key for the search field, its Close key to close the window.
        for number, tab in enumerate((FOLDERS_TAB, NETWORK_TAB, TRANSFERS_TAB, HOSTS_TAB), 1):
            QShortcut(QKeySequence(f"Alt+{number}"), self,
                      lambda tab=tab: self.tabs.setCurrentIndex(tab))
        QShortcut(QKeySequence.StandardKey.Find, self, self._find)
        QShortcut(QKeySequence.StandardKey.Close, self, self.close)

    def _find(self) -> None:
        self.tabs.setCurrentIndex(NETWORK_TAB)
        self.network_page.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.network_page.search.selectAll()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.key_label = ClickableLabel()
        self.key_label.setToolTip(tr("Your public key: click to copy it"))
        self.key_label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.key_label.clicked.connect(self.copy_own_key)
        self.peers_label = QLabel()
        self.pause_label = ClickableLabel()
        self.pause_label.setToolTip(tr("Click to pause or resume all transfers"))
        self.pause_label.clicked.connect(self.toggle_pause)
        self.error_label = ClickableLabel()
        self.error_label.setStyleSheet(text_style(ERROR))
        self.error_label.setToolTip(tr("Click to dismiss"))
        self.error_label.clicked.connect(self.service.clear_errors)
        bar.addWidget(self.key_label)
        bar.addWidget(self.peers_label)
        bar.addWidget(self.pause_label)
        bar.addWidget(self.error_label, 1)

    # -- rendering ------------------------------------------------------------------------

    def update_status(self, status: ServiceStatus) -> None:
        """Render a new snapshot."""
        self._status = status
        for model in (self.folders_model, self.network_model, self.transfers_model,
                      self.hosts_model):
            model.update(status)
        for page in (self.folders_page, self.network_page, self.transfers_page,
                     self.hosts_page):
            page.update_status(status)
        online = [p for p in status.node.peers if p.state is PeerState.CONNECTED]
        self.key_label.setText(tr("Key {key}…").format(key=short_key(status.own_key)))
        self.peers_label.setText(tr("%n host(s) online", "", len(online)))
        self.pause_label.setText(state_text(status.pause_reason).capitalize() if status.paused
                                 else tr("Active"))
        self.pause_action.setText(tr("&Resume all transfers") if status.paused
                                  else tr("&Pause all transfers"))
        self.error_label.setText(render(status.errors[-1]) if status.errors else "")
        self.tabs.setTabText(TRANSFERS_TAB, TransfersPage.title(status))

    # -- drag and drop --------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        """Accept folders dragged from a file manager."""
        if dropped_folders(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        """Share every folder dropped on the window."""
        folders = dropped_folders(event.mimeData())
        if not folders:
            event.ignore()
            return
        event.acceptProposedAction()
        self.tabs.setCurrentIndex(FOLDERS_TAB)
        for folder in folders:
            self.folders_page.add_folder(folder)

    # -- window-wide actions --------------------------------------------------------------

    def network_menu(self) -> QMenu:
        """The context menu of the network table."""
        return self.network_page.menu

    def toggle_pause(self) -> None:
        """Pause every transfer, or resume them (the menu, the status bar, the tray)."""
        self.transfers_page.toggle_pause()

    def copy_own_key(self) -> None:
        """Put our public key on the clipboard."""
        QGuiApplication.clipboard().setText(format_key(self._status.own_key))
        self.statusBar().showMessage(tr("Your public key is on the clipboard"), 3000)

    def show_no_tray_hint(self) -> None:
        """Say, in the window, why closing it quits (no tray to keep running in)."""
        self.no_tray_hint.show()

    def show_and_raise(self) -> None:
        """Bring the window to the front (tray click, a second start)."""
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Hide to the tray where one exists; without a tray, closing quits."""
        if self.tray_available:
            event.ignore()
            self.hide()
            self.hiddenToTray.emit()
        else:
            event.accept()
            self.quitRequested.emit()

    def run(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a service coroutine in the background; its error goes to the status bar."""
        return self.tasks.run(coro)

    def _ask_yes_no(self, title: str, text: str, on_yes: Callable[[], None]) -> None:
        ask_yes_no(self, title, text, on_yes)

    def _ask_folder(self, title: str, on_chosen: Callable[[Path], object]) -> None:
        ask_folder(self, title, Path.home(), on_chosen)
