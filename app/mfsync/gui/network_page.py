"""The "Network" page: the files other hosts offer, a search field, and downloading them."""

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel, QLineEdit, QMenu, QPushButton, QWidget

from mfsync.engine.folder_names import FolderId
from mfsync.engine.service import ServiceError, ServiceStatus
from mfsync.engine.status import PeerState
from mfsync.gui.i18n import tr
from mfsync.gui.models import NetworkModel
from mfsync.gui.pages import WindowContext, button_row, make_table, page_layout, selected_keys
from mfsync.gui.report_texts import report_of

__all__ = ["NetworkPage"]


class NetworkPage(QWidget):
    """The network's files (filtered by the search field), with Download and Download to…."""

    def __init__(self, context: WindowContext, model: NetworkModel) -> None:
        super().__init__()
        self.context = context
        self.model = model
        self.view, self.proxy = make_table(
            model, tr("Files on the network"),
            filterable=True, samples=("999.9 MB", "desktop-anna, laptop-ben", "downloading"))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.doubleClicked.connect(lambda _i: self.download_selected())
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._show_menu)
        self.search = QLineEdit()
        self.search.setPlaceholderText(tr("Search the network's files"))
        self.search.setAccessibleName(tr("Search the network's files"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.download_button = QPushButton(tr("Download"))
        # (a lambda: clicked and triggered pass ``checked``, which would land in ``dest``)
        self.download_button.clicked.connect(lambda: self.download_selected())  # noqa: PLW0108
        self.download_to_button = QPushButton(tr("Download to…"))
        self.download_to_button.clicked.connect(self.download_selected_to)
        self.hint = QLabel("")
        # One menu, kept: it is shown with popup(), which returns at once (exec() would run a
        # nested event loop under the engine's), so it must outlive the click that showed it.
        self.menu = QMenu(self)
        self.menu.addAction(tr("Download"), lambda: self.download_selected())  # noqa: PLW0108
        self.menu.addAction(tr("Download to…"), self.download_selected_to)
        page_layout(self, self.search, self.view, button_row(
            self.download_button, self.download_to_button, self.hint, stretch_at=2))

    def update_status(self, status: ServiceStatus) -> None:
        """Follow a new snapshot: the line that counts files and hosts."""
        online = sum(1 for p in status.node.peers if p.state is PeerState.CONNECTED)
        self.hint.setText(
            tr("{files} on {hosts}").format(files=tr("%n file(s)", "", len(status.node.files)),
                                            hosts=tr("%n host(s)", "", online)) if online else
            tr("No hosts found yet. Is mfsync running on another computer on this network?"))

    def selected_remote_paths(self) -> list[str]:
        """Network paths of the selected files (each once, whatever their folder)."""
        return list(dict.fromkeys(path for _, path in self.selected_remote_files()))

    def selected_remote_files(self) -> list[tuple[FolderId, str]]:
        """The selected files as (the network's folder, path), each once."""
        files: list[tuple[FolderId, str]] = []
        for key in selected_keys(self.view, self.proxy):
            assert isinstance(key, tuple) and isinstance(key[2], FolderId)
            if (key[2], key[0]) not in files:
                files.append((key[2], key[0]))
        return files

    def download_selected(self, dest: Path | None = None) -> int:
        """Download the selected files (into ``dest``, else the download folder)."""
        by_folder: dict[FolderId, list[str]] = {}
        for folder, path in self.selected_remote_files():
            by_folder.setdefault(folder, []).append(path)
        if not by_folder:
            return 0
        service = self.context.service
        queued = 0
        try:
            for folder, paths in by_folder.items():
                queued += (service.download(paths, dest) if folder.is_default
                           else service.download(paths, dest, folder))
        except ServiceError as exc:
            service.report_error(report_of(exc))
            return queued
        where = dest or service.download_folder
        self.context.show_message(
            tr("Downloading %n file(s) to {folder}", "", queued).format(folder=where), 5000)
        return queued

    def download_selected_to(self) -> None:
        """Ask for a folder, then download the selected files into it."""
        if self.selected_remote_paths():
            self.context.choose_folder(tr("Download to folder"), self.download_selected)

    def _show_menu(self, position: QPoint) -> None:
        self.menu.popup(self.view.viewport().mapToGlobal(position))
