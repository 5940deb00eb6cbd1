"""No blocking disk work on the GUI thread: building the app, starting it, changing settings and
removing a folder open and close databases, write and sync files only in worker threads (issue
14, "every blocking call off the GUI thread")."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Rig
from PySide6.QtCore import Qt

import mfsync.config
import mfsync.gui.autostart
import mfsync.store.files
from mfsync.gui.autostart import XdgAutostart
from mfsync.gui.settings_dialog import SettingsDialog
from mfsync.store.index_db import IndexDB
from waiting import wait_for


class ThreadLog:
    """Which blocking calls ran, and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.current_thread().name))
            return real(*args, **kwargs)
        return recorded

    def names(self) -> set[str]:
        return {name for name, _ in self.calls}

    def on_the_gui_thread(self) -> list[str]:
        main = threading.main_thread().name
        return [name for name, thread in self.calls if thread == main]


@pytest.fixture
def blocking(monkeypatch: pytest.MonkeyPatch) -> ThreadLog:
    log = ThreadLog()
    monkeypatch.setattr(sqlite3, "connect", log.wrap("sqlite3.connect", sqlite3.connect))
    monkeypatch.setattr(os, "fsync", log.wrap("os.fsync", os.fsync))
    monkeypatch.setattr(IndexDB, "close", log.wrap("IndexDB.close", IndexDB.close))
    for module in (mfsync.store.files, mfsync.config, mfsync.gui.autostart):
        monkeypatch.setattr(module, "atomic_write",
                            log.wrap("atomic_write", mfsync.store.files.atomic_write))
    return log


async def test_the_app_leaves_blocking_disk_work_to_worker_threads(
        rig: Rig, tmp_path: Path, qtbot: Any, blocking: ThreadLog) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    rig.config_path.parent.mkdir(parents=True)
    rig.config_path.write_text(json.dumps({"folders": [{"path": str(folder), "mode": "share"}]}))
    rig.autostart = XdgAutostart(["mfsync-gui", "--hidden"], rig.home / ".config")  # type: ignore[assignment]
    app = await rig.start_app(state_dir=rig.home / "state")
    await wait_for(lambda: app.service.status.node.folders
                   and app.service.status.node.folders[0].files == 1,
                   what="the shared folder to be scanned")
    assert "sqlite3.connect" in blocking.names()
    assert blocking.on_the_gui_thread() == []  # building and starting the app

    dialog = SettingsDialog(app.service, app.autostart)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.editor("name").setText("study")
    dialog.editor("autostart").setChecked(True)
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    await wait_for(lambda: not dialog.isVisible(), what="the dialog to close")
    await app.service.saved()
    assert json.loads(rig.config_path.read_text())["name"] == "study"
    assert (rig.home / ".config" / "autostart").is_dir()

    await app.service.remove_folder(folder)  # (the Remove button of the folders page)
    await app.service.saved()

    # the check can fail: each kind of call was made, in some thread
    assert blocking.names() == {"sqlite3.connect", "os.fsync", "atomic_write", "IndexDB.close"}
    assert blocking.on_the_gui_thread() == []
