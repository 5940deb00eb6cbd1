"""Invitations in the window: "office-pc shares 'Photos'", with *Sync it here…*, *Download once*
and *Ignore*, above the table of shared folders.

The engine decides what is an invitation (``engine.invitations``: a sync folder some host
offers that we neither have nor ignored, rate-limited per host); this panel renders
``ServiceStatus.invitations`` and calls ``Service.invitations``. *Sync it here…* asks for the
local folder in ``SyncHereDialog``, which suggests one under the home folder
(``suggested_folder``) and lets the user type or choose another; the folder is created if it
does not exist. Every name shown comes from a peer: labels are plain text, never markup.
"""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mfsync.crypto.keys import short_key
from mfsync.engine.invitations import Invitation, suggested_folder
from mfsync.engine.service import ServiceError, ServiceStatus
from mfsync.gui.dialogs import message_line
from mfsync.gui.i18n import tr
from mfsync.gui.models import folder_name, human_size
from mfsync.gui.pages import WindowContext
from mfsync.gui.report_texts import render, report_of

__all__ = ["InvitationRow", "InvitationsPanel", "SyncHereDialog", "invitation_host",
           "invitation_text"]


def invitation_host(invitation: Invitation, status: ServiceStatus) -> str:
    """The host that offers a folder, for people: by the name we gave its key, else the name
    it announces, else its short key."""
    return (status.name_of(invitation.host_key) or invitation.host
            or (short_key(invitation.host_key) if invitation.host_key else "a host"))


def invitation_text(invitation: Invitation, status: ServiceStatus) -> str:
    """``office-pc shares 'Photos (k3x9-pq2m)' to sync: 120 files, 1.2 GB``."""
    host = invitation_host(invitation, status)
    if invitation.hosts > 1:
        host = tr("{host} and %n more", "", invitation.hosts - 1).format(host=host)
    return tr("{hosts} shares '{folder}' to sync: {files}, {size}").format(
        hosts=host, folder=folder_name(invitation.label, str(invitation.folder)),
        files=tr("%n file(s)", "", invitation.files), size=human_size(invitation.size))


class SyncHereDialog(QDialog):
    """Asks where to sync an offered folder: a path (suggested under the home folder), a
    Choose… button, and Sync; Sync calls ``on_chosen`` with the path."""

    def __init__(self, context: WindowContext, invitation: Invitation,
                 on_chosen: Callable[[Path], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.on_chosen = on_chosen
        self.setWindowTitle(tr("Sync {label} here").format(label=invitation.label))
        self.setMinimumWidth(480)
        question = QLabel(tr("Sync '{folder}' into this folder (created if it does not "
                             "exist):").format(
            folder=folder_name(invitation.label, str(invitation.folder))))
        question.setTextFormat(Qt.TextFormat.PlainText)
        question.setWordWrap(True)
        self.path_edit = QLineEdit(str(suggested_folder(
            Path.home(), invitation.label, invitation.folder)))
        self.choose_button = choose = QPushButton(tr("Choose…"))
        choose.clicked.connect(lambda: self.context.choose_folder(
            tr("Where to sync {label}").format(label=invitation.label), self._chosen_folder))
        self.message = message_line()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.sync_button = buttons.addButton(tr("Sync"), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept_path)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.path_edit)
        row.addWidget(choose)
        layout = QVBoxLayout(self)
        layout.addWidget(question)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def accept_path(self) -> None:
        """Sync into the folder typed (an absolute path, ``~`` allowed), else say why not."""
        text = self.path_edit.text().strip()
        path = Path(text).expanduser() if text else None
        if path is None or not path.is_absolute():
            self.message.setText(tr("Type a full folder path, such as ~/Photos, or press Choose…"))
            self.message.show()
            return
        self.on_chosen(path)
        self.accept()

    def _chosen_folder(self, folder: Path) -> None:
        self.path_edit.setText(str(folder))


class InvitationRow(QFrame):
    """One invitation: what is offered, and the three answers."""

    def __init__(self, panel: "InvitationsPanel", invitation: Invitation,
                 status: ServiceStatus) -> None:
        super().__init__()
        self.invitation = invitation
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel(invitation_text(invitation, status))
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # the label and name come from a peer
        self.label.setWordWrap(True)
        self.sync_button = QPushButton(tr("Sync it here…"))
        self.sync_button.clicked.connect(lambda: panel.sync_here(invitation))
        self.download_button = QPushButton(tr("Download once"))
        self.download_button.setToolTip(tr("Download its files into your download folder once, "
                                        "without syncing it"))
        self.download_button.clicked.connect(lambda: panel.download_once(invitation))
        self.ignore_button = QPushButton(tr("Ignore"))
        self.ignore_button.setToolTip(tr("Do not offer this folder again"))
        self.ignore_button.clicked.connect(lambda: panel.ignore(invitation))
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        for button in (self.sync_button, self.download_button, self.ignore_button):
            layout.addWidget(button)


class InvitationsPanel(QWidget):
    """The rows of the current invitations; hidden while there are none."""

    def __init__(self, context: WindowContext) -> None:
        super().__init__()
        self.context = context
        self.rows: list[InvitationRow] = []
        self.dialog: SyncHereDialog | None = None
        self._shown: tuple[Invitation, ...] = ()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.hide()

    def update_status(self, status: ServiceStatus) -> None:
        """Show the invitations of ``status`` (rebuilt only when they changed)."""
        if status.invitations == self._shown:
            return
        self._shown = status.invitations
        for row in self.rows:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.rows = [InvitationRow(self, i, status) for i in status.invitations]
        for row in self.rows:
            self._layout.addWidget(row)
        self.setVisible(bool(self.rows))

    def sync_here(self, invitation: Invitation) -> SyncHereDialog:
        """Ask where to sync ``invitation``'s folder, then sync it there."""
        def chosen(path: Path) -> None:
            self.context.show_message(tr("Syncing {label} into {path}…").format(
                label=invitation.label, path=path), 5000)
            self.context.tasks.run(self._accept(invitation, path))

        self.dialog = SyncHereDialog(self.context, invitation, chosen, self)
        self.dialog.open()
        return self.dialog

    def download_once(self, invitation: Invitation) -> None:
        """Download the folder's files once into the download folder."""
        service = self.context.service
        try:
            assert service.invitations is not None  # (the app's service has them)
            count, into = service.invitations.download_once(invitation.folder,
                                                            service.download_folder)
        except ServiceError as exc:
            self.context.show_message(render(report_of(exc)), 8000)
            return
        self.context.show_message(
            tr("Downloading %n file(s) of {label} into {folder}", "", count).format(
                label=invitation.label, folder=into), 5000)

    def ignore(self, invitation: Invitation) -> None:
        """Never offer this folder again."""
        try:
            assert self.context.service.invitations is not None
            self.context.service.invitations.ignore(invitation.folder)
        except ServiceError as exc:
            self.context.show_message(render(report_of(exc)), 8000)

    async def _accept(self, invitation: Invitation, path: Path) -> None:
        assert self.context.service.invitations is not None
        await self.context.service.invitations.accept(invitation.folder, path)
