"""The "Shared folders" page: the folders we share, and adding, removing and switching them,
and who sees each ("Share with…", ``share_with_dialog``).

Adding a folder scans it, which takes a while: every change runs as a background task on the
service, and the table follows the snapshots that result.
"""

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from mfsync.audience import Audience
from mfsync.engine.service import FolderMode, ServiceError, ServiceStatus
from mfsync.gui.i18n import tr
from mfsync.gui.invitations_panel import InvitationsPanel
from mfsync.gui.models import FoldersModel
from mfsync.gui.pages import WindowContext, button_row, make_table, page_layout, selected_keys
from mfsync.gui.share_with_dialog import ShareWithDialog

__all__ = ["FoldersPage", "dropped_folders"]


class FoldersPage(QWidget):
    """The table of shared folders and its buttons (add, remove, sync or share only, share
    with, open)."""

    def __init__(self, context: WindowContext, model: FoldersModel) -> None:
        super().__init__()
        self.context = context
        self.model = model
        self._status: ServiceStatus = context.service.status
        self.view, self.proxy = make_table(
            model, tr("Shared folders"),
            samples=("share only", "99999", "up to date", "Photos (k3x9-pq2m)",
                     "trusted keys (12)"))
        self.view.doubleClicked.connect(lambda _i: self.open_selected_folder())
        self.hint = QLabel(
            tr("Drop folders here from your file manager to share them, or press Add folder."))
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setObjectName("dropHint")
        self.add_button = QPushButton(tr("Add folder…"))
        self.add_button.clicked.connect(self.add_folder_dialog)
        self.remove_button = QPushButton(tr("Remove"))
        self.remove_button.clicked.connect(self.remove_selected_folder)
        self.sync_button = QPushButton(tr("Sync this folder"))
        self.sync_button.setToolTip(
            tr("Sync: share this folder and also fetch into it every file other hosts offer.\n"
            "Share only: others may fetch from it; nothing is written into it."))
        self.sync_button.clicked.connect(self.toggle_selected_mode)
        self.share_button = QPushButton(tr("Share with…"))
        self.share_button.setToolTip(
            tr("Choose which computers see this folder: they alone get its files, and only\n"
            "their changes are taken into it."))
        self.share_button.clicked.connect(self.share_selected_folder)
        self.open_button = QPushButton(tr("Open"))
        self.open_button.clicked.connect(self.open_selected_folder)
        #: The "Share with…" dialog open now, if any (tests and the screenshot script use it).
        self.share_dialog: ShareWithDialog | None = None
        self.view.selectionModel().selectionChanged.connect(self.update_buttons)
        #: Sync folders the network offers us (hidden while there are none).
        self.invitations = InvitationsPanel(context)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.invitations)
        top_layout.addWidget(self.hint)
        page_layout(self, top, self.view, button_row(
            self.add_button, self.remove_button, self.sync_button, self.share_button,
            self.open_button))

    def update_status(self, status: ServiceStatus) -> None:
        """Follow a new snapshot (the model is updated by the window)."""
        self._status = status
        self.hint.setVisible(not status.folders)
        self.invitations.update_status(status)
        self.update_buttons()

    def update_buttons(self) -> None:
        """Enable the buttons that apply to the selection; name the mode switch."""
        folder = self.selected_folder()
        for button in (self.remove_button, self.open_button, self.sync_button,
                       self.share_button):
            button.setEnabled(folder is not None)
        self.sync_button.setText(
            tr("Share only") if self._mode_of(folder) == FolderMode.SYNC
            else tr("Sync this folder"))

    def add_folder_dialog(self) -> None:
        """Ask for a folder, then share it."""
        self.context.choose_folder(tr("Choose a folder to share"), self.add_folder)

    def add_folder(self, folder: Path, mode: str = FolderMode.SHARE) -> None:
        """Share ``folder`` (in the background: it is scanned first)."""
        self.context.show_message(tr("Adding {folder}…").format(folder=folder), 3000)
        self.context.tasks.run(self.context.service.add_folder(folder, mode))

    def remove_selected_folder(self) -> None:
        """Stop sharing the selected folder."""
        folder = self.selected_folder()
        if folder is not None:
            self.context.tasks.run(self.context.service.remove_folder(folder))

    def toggle_selected_mode(self) -> None:
        """Switch the selected folder between sync and share only (syncing with no trusted
        keys asks first: anyone could then write into the folder)."""
        folder = self.selected_folder()
        mode = self._mode_of(folder)
        if folder is None or mode is None:
            return
        new = FolderMode.SHARE if mode == FolderMode.SYNC else FolderMode.SYNC

        def switch() -> None:
            self.context.tasks.run(self.context.service.set_folder_mode(folder, new))

        if new == FolderMode.SYNC and not self._status.trusted_keys:
            self.context.confirm(
                tr("Sync with everyone?"),
                tr("No trusted keys are set, so any computer on this network can add files to "
                   "{folder}.\n\nSync it anyway? (Trusted keys… limits sync to hosts you "
                   "know.)").format(folder=folder),
                switch)
        else:
            switch()

    def share_selected_folder(self) -> ShareWithDialog | None:
        """Open the "Share with…" dialog for the selected folder (non-blocking: OK sets the
        folder's devices, in force at every peer's next request)."""
        path = self.selected_folder()
        folder = next((f for f in self._status.folders if f.path == path), None)
        if folder is None:
            return None

        def chosen(devices: Audience | None) -> None:
            try:
                self.context.service.set_folder_devices(folder.path, devices)
            except ServiceError as error:
                self.context.service.report_error(str(error))

        dialog = ShareWithDialog(self._status, folder, chosen, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: setattr(self, "share_dialog", None))
        self.share_dialog = dialog
        dialog.open()
        return dialog

    def open_selected_folder(self) -> None:
        """Open the selected folder in the file manager."""
        folder = self.selected_folder()
        if folder is not None:
            self.context.open_url(QUrl.fromLocalFile(str(folder)))

    def selected_folder(self) -> Path | None:
        """The selected folder, if any."""
        keys = selected_keys(self.view, self.proxy)
        return keys[0] if keys else None

    def _mode_of(self, folder: Path | None) -> str | None:
        return next((f.mode for f in self._status.folders if f.path == folder), None)


def dropped_folders(mime: Any) -> list[Path]:
    """The local folders in a drag's MIME data (files and remote URLs are left out).

    This stats each path on the GUI thread: a drag must be accepted or refused while the
    pointer enters, and the paths come from a file manager that has just listed them, so the
    answer is in the kernel's cache, not on the disk.
    """
    if mime is None or not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls()
            if url.isLocalFile() and Path(url.toLocalFile()).is_dir()]
