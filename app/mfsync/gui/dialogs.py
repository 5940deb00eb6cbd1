"""Questions and file choosers that never run a nested event loop.

``QMessageBox.question``, ``QFileDialog.getExistingDirectory`` and their kin spin an event loop
of their own until the user answers. Under qasync the engine's asyncio loop *is* the GUI
thread's Qt loop, so a nested loop runs engine callbacks from inside a Qt slot that has not
returned yet, and a dialog left open holds that slot (and whatever awaited it) for as long as
the user takes. Here every dialog is opened with ``open()`` instead: window-modal, it returns at
once, and the answer arrives later as a signal, handed to a callback. A cancelled dialog calls
nothing. Each function returns the dialog, which deletes itself when closed.
"""

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QWidget,
)

from mfsync.gui.theme import ERROR, Tone, text_style

__all__ = [
    "Confirm",
    "FilesChooser",
    "FolderChooser",
    "UrlOpener",
    "ask_files",
    "ask_folder",
    "ask_open_file",
    "ask_save_file",
    "ask_yes_no",
    "message_line",
    "ok_apply_cancel",
]


#: Asks for a folder (the dialog's title), then calls back with the folder chosen; a cancel
#: calls nothing. Returns at once.
FolderChooser = Callable[[str, Callable[[Path], object]], object]
#: Asks for files (the dialog's title), then calls back with the files chosen; a cancel calls
#: nothing. Returns at once.
FilesChooser = Callable[[str, Callable[[list[Path]], object]], object]
#: Asks a yes/no question (title, text), then calls back if the answer is yes. Returns at once.
Confirm = Callable[[str, str, Callable[[], None]], object]
#: Opens a file or folder in the desktop's file manager or viewer.
UrlOpener = Callable[[QUrl], object]


def ask_yes_no(parent: QWidget, title: str, text: str,
               on_yes: Callable[[], None]) -> QMessageBox:
    """Ask ``text`` with Yes and No buttons (as ``QMessageBox.question`` does); ``on_yes`` runs
    when Yes is clicked."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def clicked(button: QAbstractButton) -> None:
        if box.standardButton(button) == QMessageBox.StandardButton.Yes:
            on_yes()

    box.buttonClicked.connect(clicked)
    box.open()
    return box


def ask_folder(parent: QWidget, title: str, start: Path,
               on_chosen: Callable[[Path], object]) -> QFileDialog:
    """Ask for an existing folder, starting in ``start`` (as ``getExistingDirectory`` does)."""
    dialog = _file_dialog(parent, title, str(start), on_chosen)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly)
    dialog.open()
    return dialog


def ask_files(parent: QWidget | None, title: str,
              on_chosen: Callable[[list[Path]], object]) -> QFileDialog:
    """Ask for one or more existing files (as ``getOpenFileNames`` does), from the home
    folder."""
    dialog = QFileDialog(parent, title, str(Path.home()))
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
    dialog.filesSelected.connect(
        lambda names: on_chosen([Path(n) for n in names]) if names else None)
    dialog.open()
    return dialog


def ask_open_file(parent: QWidget, title: str, name_filter: str,
                  on_chosen: Callable[[Path], object]) -> QFileDialog:
    """Ask for an existing file to read (as ``getOpenFileName`` does)."""
    dialog = _file_dialog(parent, title, "", on_chosen)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setNameFilter(name_filter)
    dialog.open()
    return dialog


def ask_save_file(parent: QWidget, title: str, suggested: str, name_filter: str,
                  on_chosen: Callable[[Path], object]) -> QFileDialog:
    """Ask for a file to write, suggesting the name ``suggested`` (as ``getSaveFileName`` does,
    asking before it replaces an existing file)."""
    dialog = _file_dialog(parent, title, "", on_chosen)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setNameFilter(name_filter)
    dialog.selectFile(suggested)
    dialog.open()
    return dialog


def message_line(tone: Tone = ERROR) -> QLabel:
    """A dialog's error (or warning) line: plain text (messages quote names that came from
    the network or the disk, never markup), wrapped, hidden until there is something to say;
    in ``tone`` for the desktop's theme."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setStyleSheet(text_style(tone))
    label.setWordWrap(True)
    label.hide()
    return label


def ok_apply_cancel(dialog: QDialog, apply: Callable[[], object]) -> QDialogButtonBox:
    """The OK, Apply and Cancel buttons of a dialog that edits settings: OK calls the dialog's
    ``accept``, Cancel its ``reject``, Apply calls ``apply`` (the dialog stays open)."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Apply
                               | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(apply)
    return buttons


def _file_dialog(parent: QWidget, title: str, start: str,
                 on_chosen: Callable[[Path], object]) -> QFileDialog:
    dialog = QFileDialog(parent, title, start)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.fileSelected.connect(lambda name: on_chosen(Path(name)) if name else None)
    return dialog
