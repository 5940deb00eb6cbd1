"""Every window can be used from the keyboard and read by a screen reader.

Walked here: the main window (each tab), the settings, the trusted keys, the host picker and
the verification dialog. Every widget one can operate (buttons, fields, lists and tables, check
boxes, combo and spin boxes) must take keyboard focus and have a name a screen reader can say:
its own text, a label that names it (``QLabel.setBuddy``), or an accessible name. The window's
keyboard shortcuts do what they say.
"""

from __future__ import annotations

from harness import Rig
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from mfsync.gui.main_window import FOLDERS_TAB, HOSTS_TAB, NETWORK_TAB, TRANSFERS_TAB
from mfsync.gui.send_files import HostPickerDialog
from mfsync.gui.verify_dialog import VerifyDialog
from waiting import wait_for

OPERABLE = (QAbstractButton, QLineEdit, QAbstractItemView, QComboBox, QAbstractSpinBox)


def unnamed(window: QWidget) -> list[str]:
    """The operable widgets of ``window`` that cannot take focus or have no name to say."""
    named_by_labels = {id(label.buddy()) for label in window.findChildren(QLabel)
                       if label.buddy() is not None}
    problems = []
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, OPERABLE) or widget.parent() is None:
            continue
        if (isinstance(widget.parent(), (QComboBox, QAbstractSpinBox, QAbstractItemView))
                or isinstance(widget, QHeaderView) or widget.objectName().startswith("qt_")
                or widget.isHidden() or widget.window() is not window):
            continue  # Qt's own parts (a box's line edit and list, a table's headers), hidden ones
        text = widget.text() if isinstance(widget, QAbstractButton) else ""
        name = widget.accessibleName()
        what = f"{type(widget).__name__} {widget.objectName()!r} {text!r}"
        if widget.focusPolicy() == Qt.FocusPolicy.NoFocus:
            problems.append(f"{what}: takes no focus")
        if not (text.replace("&", "").strip() or name.strip() or id(widget) in named_by_labels):
            problems.append(f"{what}: no name for a screen reader")
    return problems


async def test_main_window_tabs_are_named_and_reachable(rig: Rig) -> None:
    app = await rig.start_app()
    window = app.window
    assert window is not None
    assert unnamed(window) == []


async def test_dialogs_are_named_and_reachable(rig: Rig, qtbot: QtBot) -> None:
    app = await rig.start_app()
    dialogs = [app.open_settings(), app.open_trust(None),
               HostPickerDialog(app.service.status, "notes.txt", lambda _key: None,
                                app.window),
               VerifyDialog(app.service, b"\x01" * 32, name="laptop", parent=app.window)]
    for dialog in dialogs:
        assert unnamed(dialog) == [], type(dialog).__name__
        dialog.close()


async def test_the_window_s_keyboard_shortcuts(rig: Rig, qtbot: QtBot) -> None:
    app = await rig.start_app()
    window = app.window
    assert window is not None
    window.show()
    window.activateWindow()
    await wait_for(window.isActiveWindow, what="the active window")  # (shortcuts go there)
    for number, tab in ((2, NETWORK_TAB), (3, TRANSFERS_TAB), (4, HOSTS_TAB), (1, FOLDERS_TAB)):
        QTest.keyClick(window, Qt.Key(Qt.Key.Key_0 + number), Qt.KeyboardModifier.AltModifier)
        assert window.tabs.currentIndex() == tab, number
    QTest.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == NETWORK_TAB
    assert window.network_page.search.hasFocus()
