"""The "Share with…" dialog: who may see one shared folder (its devices, an ``Audience``).

The choice is Everyone, Trusted computers, or Only these: a checkable list of the trusted keys,
the hosts seen on the network and the keys the folder names already (``candidate_hosts``). The
list works both ways: only the hosts it admits get the folder's files, and only their changes
are taken into it. "Only these" with nothing checked is refused (the folder would be seen by
nobody; stop sharing it instead): the dialog says so and stays open. OK hands the audience
chosen to a callback (the folders page calls ``Service.set_folder_devices``, in force at every
peer's next request); a folder that named no devices keeps naming none if the choice is what
its default means anyway, so that it keeps following the trust list.
"""

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from mfsync.audience import EVERYONE, TRUSTED, Audience, AudienceKind
from mfsync.crypto.keys import format_key, short_key
from mfsync.engine.service import ServiceStatus
from mfsync.folder_config import FolderConfig
from mfsync.gui.audience_text import candidate_hosts, describe_audience
from mfsync.gui.dialogs import message_line
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.models import folder_name

__all__ = ["HINTS", "NOBODY_CHECKED", "ShareWithDialog"]

#: What each choice means, shown under the choices.
HINTS = {
    AudienceKind.EVERYONE: QT_TR_NOOP("Every computer that may connect to you sees this "
                                      "folder."),
    AudienceKind.TRUSTED: QT_TR_NOOP("The computers of your trusted keys see this folder, as "
                                     "the list stands when they ask (a key you trust later sees "
                                     "it too)."),
    AudienceKind.KEYS: QT_TR_NOOP("Only the computers checked in the list see this folder."),
}
#: Said under every choice: the list works both ways.
BOTH_WAYS = QT_TR_NOOP("Both ways: only these computers get its files, and only their changes "
                       "are taken into it. A change applies at once, to connections already "
                       "open too.")
#: Said when there is no trust list and "Trusted computers" is chosen.
NO_TRUSTED_KEYS = QT_TR_NOOP("You have no trusted keys yet: no other computer would see this "
                             "folder.")
#: The refusal of "Only these" with nothing checked.
NOBODY_CHECKED = QT_TR_NOOP("Check at least one computer, or choose another option (to keep "
                            "the folder to this computer, stop sharing it).")
#: Said of a checked host whose key is not trusted while a trust list is set.
NOT_TRUSTED_NOTE = QT_TR_NOOP("not trusted: cannot connect while you have trusted keys")

ROLE_KEY = Qt.ItemDataRole.UserRole + 1


class ShareWithDialog(QDialog):
    """Choose who sees ``folder``; OK calls ``on_chosen`` with the new devices (an
    ``Audience``, or None for the default of the trust list) unless nothing changed."""

    def __init__(self, status: ServiceStatus, folder: FolderConfig,
                 on_chosen: Callable[[Audience | None], object],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.folder = folder
        self.on_chosen = on_chosen
        self.setWindowTitle(tr("Share {label} with…").format(label=folder.label))
        self.setMinimumWidth(520)
        current = folder.devices or Audience.default_for(status.trusted_keys)

        self.current_label = QLabel(
            tr("{folder} is shared with {audience}.").format(
                folder=folder_name(folder.label, str(folder.id)),
                audience=describe_audience(folder.devices, status)))
        self.current_label.setTextFormat(Qt.TextFormat.PlainText)  # names come from peers
        self.current_label.setWordWrap(True)
        self.everyone = QRadioButton(tr("&Everyone"))
        self.trusted = QRadioButton(tr("&Trusted computers ({count})").format(
            count=len(status.trusted_keys)))
        self.only = QRadioButton(tr("&Only these:"))
        self.choices = QButtonGroup(self)
        for button in (self.everyone, self.trusted, self.only):
            self.choices.addButton(button)
        self.hosts = QListWidget()
        self._fill_hosts(current)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.error = message_line()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)

        layout = QVBoxLayout(self)
        for widget in (self.current_label, self.everyone, self.trusted, self.only, self.hosts,
                       self.hint, self.error, buttons):
            layout.addWidget(widget)
        {AudienceKind.EVERYONE: self.everyone, AudienceKind.TRUSTED: self.trusted,
         AudienceKind.KEYS: self.only}[current.kind].setChecked(True)
        self.choices.buttonToggled.connect(lambda _b, _on: self._follow_choice())
        self.hosts.itemChanged.connect(lambda _item: self.error.hide())
        self._follow_choice()

    def _fill_hosts(self, current: Audience) -> None:
        listed = current.keys if current.kind is AudienceKind.KEYS else frozenset()
        for candidate in candidate_hosts(self.status, current):
            where = []
            if candidate.trusted:
                where.append(tr("trusted"))
            elif self.status.trusted_keys:
                where.append(tr(NOT_TRUSTED_NOTE))
            if candidate.seen:
                where.append(tr("seen on the network"))
            item = QListWidgetItem(
                f"{candidate.label} ({short_key(candidate.key)}…)  —  {', '.join(where)}")
            item.setData(ROLE_KEY, candidate.key)
            item.setToolTip(format_key(candidate.key))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if candidate.key in listed
                               else Qt.CheckState.Unchecked)
            self.hosts.addItem(item)

    def _follow_choice(self) -> None:
        kind = self.chosen_kind()
        self.hosts.setEnabled(kind is AudienceKind.KEYS)
        hint = f"{tr(HINTS[kind])} {tr(BOTH_WAYS)}"
        if kind is AudienceKind.TRUSTED and not self.status.trusted_keys:
            hint = f"{tr(NO_TRUSTED_KEYS)} {hint}"
        self.hint.setText(hint)
        self.error.hide()

    def chosen_kind(self) -> AudienceKind:
        """The kind of audience chosen."""
        if self.everyone.isChecked():
            return AudienceKind.EVERYONE
        return AudienceKind.TRUSTED if self.trusted.isChecked() else AudienceKind.KEYS

    def checked_keys(self) -> frozenset[bytes]:
        """The keys checked in the list."""
        items = (self.hosts.item(row) for row in range(self.hosts.count()))
        return frozenset(bytes(item.data(ROLE_KEY)) for item in items
                         if item.checkState() == Qt.CheckState.Checked)

    def set_checked(self, keys: frozenset[bytes]) -> None:
        """Check exactly ``keys`` in the list (for tests and scripts)."""
        for row in range(self.hosts.count()):
            item = self.hosts.item(row)
            item.setCheckState(Qt.CheckState.Checked if bytes(item.data(ROLE_KEY)) in keys
                               else Qt.CheckState.Unchecked)

    def chosen(self) -> Audience | None:
        """The devices chosen: an ``Audience``, or None where the folder names none and the
        choice is what its default means; raises ``ValueError`` for "Only these" with nothing
        checked."""
        kind = self.chosen_kind()
        if kind is AudienceKind.KEYS:
            keys = self.checked_keys()
            if not keys:
                raise ValueError(tr(NOBODY_CHECKED))
            audience = Audience.of_keys(keys)
        else:
            audience = EVERYONE if kind is AudienceKind.EVERYONE else TRUSTED
        if self.folder.devices is None and audience == Audience.default_for(
                self.status.trusted_keys):
            return None
        return audience

    def accept(self) -> None:
        """Hand the choice on and close; "Only these" with nothing checked is refused."""
        try:
            audience = self.chosen()
        except ValueError as refused:
            self.error.setText(str(refused))
            self.error.show()
            return
        if audience != self.folder.devices:
            self.on_chosen(audience)
        super().accept()
