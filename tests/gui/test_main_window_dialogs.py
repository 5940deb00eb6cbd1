"""The main window's own dialogs and menu, as the user gets them: none runs a nested event loop.

A folder chooser, a yes/no question and the network table's context menu each open and return
at once (window-modal dialogs through ``open()``, the menu through ``popup()``); the answer
arrives later as a signal. Driven here with pytest-qt on a real ``Service`` that is never
started (no packets).
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from mfsync.config import load_config
from mfsync.crypto.keys import Identity
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import Service
from mfsync.gui.main_window import MainWindow
from waiting import wait_for


@pytest.fixture
def service(tmp_path: Path) -> Service:
    config_path = tmp_path / "home" / ".mfsync" / "config.json"
    options = NodeOptions(identity=Identity.generate(), discovery=False)
    return Service(options, load_config(config_path, explicit=False), config_path=config_path)


@pytest.fixture
def window(qtbot: Any, service: Service) -> MainWindow:
    window = MainWindow(service, tray_available=True)
    qtbot.addWidget(window)
    window.show()
    return window


def visible(window: QWidget, kind: type[Any]) -> Any:
    """The one visible dialog of ``kind`` the window opened; it must be window-modal."""
    found = [d for d in window.findChildren(kind) if d.isVisible()]
    assert len(found) == 1, found
    assert found[0].windowModality() == Qt.WindowModality.WindowModal
    return found[0]


async def test_add_folder_asks_without_blocking(window: MainWindow, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    added: list[tuple[Path, str]] = []

    async def add_folder(folder: Path, mode: str) -> None:
        added.append((folder, mode))

    monkeypatch.setattr(window.service, "add_folder", add_folder)
    folder = tmp_path / "Photos"
    folder.mkdir()
    window.add_folder_button.click()
    chooser = visible(window, QFileDialog)  # the click has returned, the chooser is open
    assert chooser.fileMode() == QFileDialog.FileMode.Directory
    assert chooser.windowTitle() == "Choose a folder to share"
    assert added == []
    chooser.selectFile(str(folder))  # as if typed in its name field
    chooser.accept()
    await wait_for(lambda: added, what="the folder to be added")
    assert added == [(folder, "share")]

    window.add_folder_button.click()
    visible(window, QFileDialog).reject()  # cancelled: nothing more is added
    await wait_for(lambda: window.tasks.pending == 0, what="the tasks to end")
    assert len(added) == 1


@pytest.mark.parametrize(("button", "answered"), [
    (QMessageBox.StandardButton.Yes, ["yes"]),
    (QMessageBox.StandardButton.No, []),
])
async def test_the_question_answers_through_a_callback(
        window: MainWindow, button: QMessageBox.StandardButton, answered: list[str]) -> None:
    answers: list[str] = []
    window.folders_page.context.confirm("Sync with everyone?", "Sure?",
                                        lambda: answers.append("yes"))
    box = visible(window, QMessageBox)
    assert box.windowTitle() == "Sync with everyone?"
    assert box.standardButtons() == (QMessageBox.StandardButton.Yes
                                     | QMessageBox.StandardButton.No)
    assert answers == []  # asked, not answered: the call did not wait
    box.button(button).click()
    assert answers == answered
    assert not box.isVisible()


async def test_context_menu_pops_up_without_blocking(window: MainWindow) -> None:
    view = window.network_view
    view.customContextMenuRequested.emit(QPoint(5, 5))
    menu = window.network_menu()
    assert menu.isVisible()  # shown, and the signal handler has returned
    assert [a.text() for a in menu.actions()] == ["Download", "Download to…"]
    menu.hide()
    # the same menu serves the next click: no new menu per right click
    view.customContextMenuRequested.emit(QPoint(5, 5))
    assert window.network_menu() is menu and menu.isVisible()
    menu.hide()
