"""The main window: shared folders, the network's files, transfers and hosts, and a status bar.

Every action goes to the ``Service``; the window only renders snapshots (through the models)
and turns clicks into service calls. Slow actions (adding a folder scans it) run as tasks on the
qasync loop, so the window never waits for them.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QMouseEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mfsync.crypto.keys import format_key, short_key
from mfsync.engine.status import PeerState
from mfsync.engine.transfer_status import TransferState
from mfsync.gui.models import (
    PROGRESS_ROLE,
    SORT_ROLE,
    FoldersModel,
    HostsModel,
    KeyedTableModel,
    NetworkModel,
    TransfersModel,
)
from mfsync.service import FolderMode, Service, ServiceError, ServiceStatus

__all__ = ["MainWindow"]

log = logging.getLogger("mfsync.gui")

FolderChooser = Callable[[str], Path | None]
#: Asks a yes/no question (title, text); True for yes.
Confirm = Callable[[str, str], bool]
UrlOpener = Callable[[QUrl], object]


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


class ClickableLabel(QLabel):
    """A label that emits ``clicked``."""

    clicked = Signal()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        """Emit ``clicked`` on a left click."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


#: Padding around a cell's text, in pixels, when a column is sized from a sample value.
CELL_PADDING = 20


def _table(model: KeyedTableModel, *, filterable: bool = False,
           samples: tuple[str, ...] = ()) -> tuple[QTableView, QSortFilterProxyModel]:
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(0 if filterable else -1)
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    header = view.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setStretchLastSection(False)
    # The first column takes the room left; the others start wide enough for a typical value
    # (``samples``, from the second column on) and their title. Sized once, not to contents:
    # measuring thousands of rows on every update would stall the window.
    for column, sample in enumerate(samples, start=1):
        if sample:
            title = str(model.headerData(column, Qt.Orientation.Horizontal))
            view.setColumnWidth(column, CELL_PADDING + max(
                view.fontMetrics().horizontalAdvance(sample),
                header.fontMetrics().horizontalAdvance(title) + CELL_PADDING))
    return view, proxy


class MainWindow(QMainWindow):
    """The window in front of the engine; closing it keeps mfsync in the tray where one exists."""

    #: The user asked to quit the application (menu or window close without a tray).
    quitRequested = Signal()  # noqa: N815 - Qt signal naming
    settingsRequested = Signal()  # noqa: N815
    #: The window was closed and mfsync keeps running in the tray.
    hiddenToTray = Signal()  # noqa: N815
    trustRequested = Signal(object)  # noqa: N815 - a key to verify, or None

    def __init__(self, service: Service, *, tray_available: bool,
                 choose_folder: FolderChooser | None = None,
                 open_url: UrlOpener | None = None, confirm: Confirm | None = None) -> None:
        super().__init__()
        self.service = service
        self.tray_available = tray_available
        self.choose_folder: FolderChooser = choose_folder or self._ask_folder
        self.open_url: UrlOpener = open_url or QDesktopServices.openUrl
        self.confirm: Confirm = confirm or self._ask_yes_no
        self._tasks: set[asyncio.Task[Any]] = set()
        self._status: ServiceStatus = service.status
        self.setWindowTitle("mfsync")
        self.setAcceptDrops(True)
        self.resize(900, 560)

        self.folders_model = FoldersModel()
        self.network_model = NetworkModel(service.local_content_id, service.local_version)
        self.transfers_model = TransfersModel()
        self.hosts_model = HostsModel()

        self.tabs = QTabWidget()
        self.tabs.addTab(self._folders_tab(), "Shared folders")
        self.tabs.addTab(self._network_tab(), "Network")
        self.tabs.addTab(self._transfers_tab(), "Transfers")
        self.tabs.addTab(self._hosts_tab(), "Hosts")
        self.no_tray_hint = QLabel(
            "No system tray was found on this desktop, so mfsync cannot keep running in the "
            "background: closing this window quits it. (On GNOME, the AppIndicator extension "
            "adds a tray.)")
        self.no_tray_hint.setWordWrap(True)
        self.no_tray_hint.setStyleSheet(
            "background: #fff8e1; color: #5d4037; padding: 6px; border: 1px solid #ffe082;")
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

    # -- tabs -----------------------------------------------------------------------------

    def _folders_tab(self) -> QWidget:
        self.folders_view, self.folders_proxy = _table(
            self.folders_model, samples=("share only", "99999", "up to date"))
        self.folders_view.doubleClicked.connect(lambda _i: self.open_selected_folder())
        self.folders_hint = QLabel(
            "Drop folders here from your file manager to share them, or press Add folder.")
        self.folders_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.folders_hint.setObjectName("dropHint")
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.clicked.connect(self.add_folder_dialog)
        self.remove_folder_button = QPushButton("Remove")
        self.remove_folder_button.clicked.connect(self.remove_selected_folder)
        self.sync_button = QPushButton("Sync this folder")
        self.sync_button.setToolTip(
            "Sync: share this folder and also fetch into it every file other hosts offer.\n"
            "Share only: others may fetch from it; nothing is written into it.")
        self.sync_button.clicked.connect(self.toggle_selected_mode)
        self.open_folder_button = QPushButton("Open")
        self.open_folder_button.clicked.connect(self.open_selected_folder)
        buttons = QHBoxLayout()
        for button in (self.add_folder_button, self.remove_folder_button, self.sync_button,
                       self.open_folder_button):
            buttons.addWidget(button)
        buttons.addStretch()
        self.folders_view.selectionModel().selectionChanged.connect(self._update_buttons)
        return self._page(self.folders_hint, self.folders_view, buttons)

    def _network_tab(self) -> QWidget:
        self.network_view, self.network_proxy = _table(
            self.network_model, filterable=True,
            samples=("999.9 MB", "desktop-anna, laptop-ben", "downloading"))
        self.network_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.network_view.doubleClicked.connect(lambda _i: self.download_selected())
        self.network_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.network_view.customContextMenuRequested.connect(self._network_menu)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the network's files")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.network_proxy.setFilterFixedString)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        self.download_to_button = QPushButton("Download to…")
        self.download_to_button.clicked.connect(self.download_selected_to)
        self.network_hint = QLabel("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.download_to_button)
        buttons.addStretch()
        buttons.addWidget(self.network_hint)
        return self._page(self.search, self.network_view, buttons)

    def _transfers_tab(self) -> QWidget:
        self.transfers_view, _ = _table(
            self.transfers_model,
            samples=("", "999.9 MB/s", "59 min 59 s", "desktop-anna", "downloading"))
        self.transfers_view.setItemDelegateForColumn(TransfersModel.PROGRESS_COLUMN,
                                                     ProgressDelegate(self.transfers_view))
        header = self.transfers_view.horizontalHeader()
        header.setSectionResizeMode(TransfersModel.PROGRESS_COLUMN, QHeaderView.ResizeMode.Fixed)
        self.transfers_view.setColumnWidth(TransfersModel.PROGRESS_COLUMN, 160)
        self.transfers_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.transfers_view.doubleClicked.connect(lambda _i: self.open_selected_transfer())
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(lambda: self._each_transfer(self.service.pause_transfer))
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(
            lambda: self._each_transfer(self.service.resume_transfer))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(
            lambda: self._each_transfer(self.service.cancel_transfer))
        self.open_transfer_button = QPushButton("Open")
        self.open_transfer_button.clicked.connect(self.open_selected_transfer)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self.service.clear_finished)
        self.pause_all_button = QPushButton("Pause all")
        self.pause_all_button.clicked.connect(self.toggle_pause)
        buttons = QHBoxLayout()
        for button in (self.pause_button, self.resume_button, self.cancel_button,
                       self.open_transfer_button):
            buttons.addWidget(button)
        buttons.addStretch()
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.pause_all_button)
        return self._page(None, self.transfers_view, buttons)

    def _hosts_tab(self) -> QWidget:
        self.hosts_view, _ = _table(
            self.hosts_model, samples=("192.168.100.100:65535", "0123456789AB",
                                       "trusted (not yet proven)", "59 min 59 s ago", "99999"))
        self.verify_button = QPushButton("Verify and trust…")
        self.verify_button.clicked.connect(self.verify_selected_host)
        self.trust_button = QPushButton("Trusted keys…")
        self.trust_button.clicked.connect(lambda: self.trustRequested.emit(None))
        self.trust_hint = QLabel("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.trust_button)
        buttons.addStretch()
        buttons.addWidget(self.trust_hint)
        return self._page(None, self.hosts_view, buttons)

    @staticmethod
    def _page(top: QWidget | None, view: QWidget, buttons: QHBoxLayout) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        if top is not None:
            layout.addWidget(top)
        layout.addWidget(view)
        layout.addLayout(buttons)
        return page

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.add_folder_action = QAction("&Add folder…", self)
        self.add_folder_action.triggered.connect(self.add_folder_dialog)
        settings = QAction("&Settings…", self)
        settings.triggered.connect(self.settingsRequested.emit)
        trust = QAction("&Trusted keys…", self)
        trust.triggered.connect(lambda: self.trustRequested.emit(None))
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut("Ctrl+Q")
        quit_action.triggered.connect(self.quitRequested.emit)
        for action in (self.add_folder_action, settings, trust):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        transfers = self.menuBar().addMenu("&Transfers")
        self.pause_action = QAction("&Pause all transfers", self)
        self.pause_action.triggered.connect(self.toggle_pause)
        transfers.addAction(self.pause_action)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.key_label = ClickableLabel()
        self.key_label.setToolTip("Your public key: click to copy it")
        self.key_label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.key_label.clicked.connect(self.copy_own_key)
        self.peers_label = QLabel()
        self.pause_label = ClickableLabel()
        self.pause_label.setToolTip("Click to pause or resume all transfers")
        self.pause_label.clicked.connect(self.toggle_pause)
        self.error_label = ClickableLabel()
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setToolTip("Click to dismiss")
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
        self.folders_hint.setVisible(not status.folders)
        online = [p for p in status.node.peers if p.state is PeerState.CONNECTED]
        self.key_label.setText(f"Key {short_key(status.own_key)}…")
        self.peers_label.setText(f"{len(online)} host{'s' if len(online) != 1 else ''} online")
        self.pause_label.setText(status.pause_reason.capitalize() if status.paused else "Active")
        pause_text = "Resume all" if status.paused else "Pause all"
        self.pause_all_button.setText(pause_text)
        self.pause_action.setText(f"&{pause_text} transfers")
        self.error_label.setText(status.errors[-1] if status.errors else "")
        self.network_hint.setText(
            f"{len(status.node.files)} files on {len(online)} hosts" if online else
            "No hosts found yet. Is mfsync running on another computer on this network?")
        self.trust_hint.setText(
            "Anyone on the network may fetch your files" if not status.trusted_keys else
            f"{len(status.trusted_keys)} trusted key(s); others are refused")
        self.tabs.setTabText(2, self._transfers_title(status))
        self._update_buttons()

    @staticmethod
    def _transfers_title(status: ServiceStatus) -> str:
        active = len(status.transfers.active)
        return f"Transfers ({active})" if active else "Transfers"

    def _update_buttons(self) -> None:
        folder = self._selected_folder()
        self.remove_folder_button.setEnabled(folder is not None)
        self.open_folder_button.setEnabled(folder is not None)
        self.sync_button.setEnabled(folder is not None)
        mode = next((f.mode for f in self._status.folders if f.path == folder), None)
        self.sync_button.setText("Share only" if mode == FolderMode.SYNC else "Sync this folder")

    # -- folders --------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        """Accept folders dragged from a file manager."""
        if self._dropped_folders(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        """Share every folder dropped on the window."""
        folders = self._dropped_folders(event.mimeData())
        if not folders:
            event.ignore()
            return
        event.acceptProposedAction()
        self.tabs.setCurrentIndex(0)
        for folder in folders:
            self.add_folder(folder)

    @staticmethod
    def _dropped_folders(mime: Any) -> list[Path]:
        if mime is None or not mime.hasUrls():
            return []
        return [Path(url.toLocalFile()) for url in mime.urls()
                if url.isLocalFile() and Path(url.toLocalFile()).is_dir()]

    def add_folder_dialog(self) -> None:
        """Ask for a folder, then share it."""
        folder = self.choose_folder("Choose a folder to share")
        if folder is not None:
            self.add_folder(folder)

    def add_folder(self, folder: Path, mode: str = FolderMode.SHARE) -> None:
        """Share ``folder`` (in the background: it is scanned first)."""
        self.statusBar().showMessage(f"Adding {folder}…", 3000)
        self.run(self.service.add_folder(folder, mode))

    def remove_selected_folder(self) -> None:
        """Stop sharing the selected folder."""
        folder = self._selected_folder()
        if folder is not None:
            self.run(self.service.remove_folder(folder))

    def toggle_selected_mode(self) -> None:
        """Switch the selected folder between sync and share only."""
        folder = self._selected_folder()
        mode = next((f.mode for f in self._status.folders if f.path == folder), None)
        if folder is None or mode is None:
            return
        new = FolderMode.SHARE if mode == FolderMode.SYNC else FolderMode.SYNC
        if new == FolderMode.SYNC and not self._status.trusted_keys and not self.confirm(
            "Sync with everyone?",
            f"No trusted keys are set, so any computer on this network can add files to "
            f"{folder}.\n\nSync it anyway? (Trusted keys… limits sync to hosts you know.)",
        ):
            return
        self.run(self.service.set_folder_mode(folder, new))

    def open_selected_folder(self) -> None:
        """Open the selected folder in the file manager."""
        folder = self._selected_folder()
        if folder is not None:
            self.open_url(QUrl.fromLocalFile(str(folder)))

    def _selected_folder(self) -> Path | None:
        keys = self._selected_keys(self.folders_view, self.folders_proxy)
        return keys[0] if keys else None

    # -- network --------------------------------------------------------------------------

    def selected_remote_paths(self) -> list[str]:
        """Network paths of the selected files (each once)."""
        paths: list[str] = []
        for key in self._selected_keys(self.network_view, self.network_proxy):
            assert isinstance(key, tuple)
            if key[0] not in paths:
                paths.append(key[0])
        return paths

    def download_selected(self, dest: Path | None = None) -> int:
        """Download the selected files (into ``dest``, else the download folder)."""
        paths = self.selected_remote_paths()
        if not paths:
            return 0
        try:
            queued = self.service.download(paths, dest)
        except ServiceError as exc:
            self.service.report_error(str(exc))
            return 0
        where = dest or self.service.download_folder
        self.statusBar().showMessage(f"Downloading {queued} file(s) to {where}", 5000)
        return queued

    def download_selected_to(self) -> None:
        """Ask for a folder, then download the selected files into it."""
        if not self.selected_remote_paths():
            return
        folder = self.choose_folder("Download to folder")
        if folder is not None:
            self.download_selected(folder)

    def _network_menu(self, position: QPoint) -> None:
        menu = self.network_menu()
        menu.exec(self.network_view.viewport().mapToGlobal(position))

    def network_menu(self) -> QMenu:
        """The context menu of the network table."""
        menu = QMenu(self)
        menu.addAction("Download", self.download_selected)
        menu.addAction("Download to…", self.download_selected_to)
        return menu

    # -- transfers ------------------------------------------------------------------------

    def selected_transfer_keys(self) -> list[tuple[Path, str]]:
        """Keys of the selected transfers."""
        return self._selected_keys(self.transfers_view, self.transfers_view.model())

    def _each_transfer(self, action: Callable[[tuple[Path, str]], None]) -> None:
        for key in self.selected_transfer_keys():
            try:
                action(key)
            except ServiceError as exc:
                self.service.report_error(str(exc))

    def open_selected_transfer(self) -> None:
        """Open a finished download (or the folder it goes to, while it runs)."""
        for key in self.selected_transfer_keys():
            snapshot = self.transfers_model.snapshot(key)
            if snapshot is None:
                continue
            target = snapshot.target
            path = target if snapshot.state is TransferState.DONE else target.parent
            self.open_url(QUrl.fromLocalFile(str(path)))

    def toggle_pause(self) -> None:
        """Pause every transfer, or resume them."""
        self.service.set_paused(not self._status.paused)

    # -- hosts ----------------------------------------------------------------------------

    def verify_selected_host(self) -> None:
        """Open the trust dialog on the selected host's verification code."""
        rows = self.hosts_view.selectionModel().selectedRows()
        key = None
        if rows:
            source = self.hosts_view.model().mapToSource(rows[0])  # type: ignore[attr-defined]
            key = self.hosts_model.peer_key(source.row(), self._status)
        self.trustRequested.emit(key)

    # -- misc -----------------------------------------------------------------------------

    def copy_own_key(self) -> None:
        """Put our public key on the clipboard."""
        QGuiApplication.clipboard().setText(format_key(self._status.own_key))
        self.statusBar().showMessage("Your public key is on the clipboard", 3000)

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
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled():
                return
            exc = finished.exception()
            if isinstance(exc, ServiceError):
                self.service.report_error(str(exc))
            elif exc is not None:
                log.error("action failed", exc_info=exc)
                self.service.report_error(f"unexpected error: {exc}")

        task.add_done_callback(done)
        return task

    def _ask_yes_no(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_folder(self, title: str) -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self, title, str(Path.home()))
        return Path(chosen) if chosen else None

    @staticmethod
    def _selected_keys(view: QTableView, proxy: Any) -> list[Any]:
        # Keys stay on the Python side: a tuple in a QVariant would cross into C++ and back.
        selection = view.selectionModel()
        if selection is None:
            return []
        source = proxy.sourceModel()
        return [source.key_at(proxy.mapToSource(index).row())
                for index in selection.selectedRows()]
