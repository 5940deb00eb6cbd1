"""The settings dialog against a real ``Service`` (not started: no packets) and its config file."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLineEdit,
    QSpinBox,
)

from mfsync.config import SETTINGS, load_config, to_json_value
from mfsync.crypto.keys import Identity
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import Service
from mfsync.gui.autostart import autostart_for
from mfsync.gui.i18n import tr
from mfsync.gui.settings_dialog import GROUPS, RESTART_NOTE, SettingsDialog

SHOWN = [s for s in SETTINGS if s.kind != "internal"]


class FakeAutostart:
    """Records enable and disable; ``fail`` makes them raise as a read-only folder would."""

    location = "/nowhere/mfsync.desktop"

    def __init__(self, on: bool = False) -> None:
        self.on = on
        self.fail = False
        self.calls: list[str] = []

    def enabled(self) -> bool:
        return self.on

    def enable(self) -> None:
        self.calls.append("enable")
        if self.fail:
            raise PermissionError(13, "Permission denied")
        self.on = True

    def disable(self) -> None:
        self.calls.append("disable")
        if self.fail:
            raise PermissionError(13, "Permission denied")
        self.on = False


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".mfsync" / "config.json"


def make_service(config_path: Path) -> Service:
    # discovery off and never started: the dialog only reads the config and saves
    config = load_config(config_path, explicit=False)
    return Service(NodeOptions(identity=Identity.generate(), discovery=False), config,
                   config_path=config_path)


@pytest.fixture
def service(config_path: Path) -> Service:
    return make_service(config_path)


def open_dialog(qtbot: Any, service: Service, autostart: Any = None) -> SettingsDialog:
    dialog = SettingsDialog(service, autostart if autostart is not None else FakeAutostart())
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def press(qtbot: Any, dialog: SettingsDialog, which: QDialogButtonBox.StandardButton) -> None:
    qtbot.mouseClick(dialog.buttons.button(which), Qt.MouseButton.LeftButton)


def press_ok(qtbot: Any, dialog: SettingsDialog) -> None:
    press(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)


def click_check(qtbot: Any, box: QCheckBox) -> None:
    # on the box itself: the widget is wider than its indicator and text
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


async def saved(service: Service, config_path: Path) -> dict[str, Any]:
    await service.saved()  # the service writes the file in the background
    return json.loads(config_path.read_text(encoding="utf-8"))


async def test_one_editor_per_shown_setting_built_from_its_kind(
        qtbot: Any, service: Service) -> None:
    dialog = open_dialog(qtbot, service)
    shown = dialog.setting_keys()
    assert sorted(shown) == sorted(s.key for s in SHOWN)
    assert "trustedKeys" not in shown and "folders" not in shown
    # grouped as GROUPS says, in that order
    assert shown == [k for _, keys in GROUPS for k in keys if k in shown]
    for setting in SHOWN:
        editor = dialog.editor(setting.key)
        expected = {"bool": QCheckBox, "int": QSpinBox, "port": QSpinBox, "text": QLineEdit,
                    "path": QLineEdit, "list": QLineEdit}[setting.kind]
        assert isinstance(editor, expected), setting.key
        # the value shown is the saved (here: default) one
        assert dialog.value(setting.key) == to_json_value(
            setting.key, getattr(service.config, setting.attr)), setting.key
        if setting.key != "autostart":
            tip = (editor.parent().toolTip() if setting.kind == "path" else editor.toolTip())
            assert tip == setting.help, setting.key
        if setting.kind == "bool":
            assert editor.text() == setting.label
    assert dialog.editor("port").minimum() == 1 and dialog.editor("port").maximum() == 65535
    assert dialog.editor("concurrentDownloads").minimum() == 1
    assert dialog.editor("concurrentDownloads").maximum() == 16
    assert (dialog.editor("ttl").minimum(), dialog.editor("ttl").maximum()) == (0, 255)
    assert dialog.restart_note is not None and dialog.restart_note.text() == tr(RESTART_NOTE)
    assert dialog.changes() == {}


async def test_edit_every_kind_and_save(qtbot: Any, service: Service, config_path: Path,
                                  tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    dialog = open_dialog(qtbot, service)
    dialog.editor("name").clear()
    qtbot.keyClicks(dialog.editor("name"), "study")
    qtbot.keyClicks(dialog.editor("downloadFolder"), str(downloads))
    dialog.editor("concurrentDownloads").setValue(5)
    dialog.editor("port").setValue(4100)
    dialog.editor("multicastPort").setValue(4101)
    dialog.editor("ttl").setValue(3)
    click_check(qtbot, dialog.editor("notifyDownloads"))
    click_check(qtbot, dialog.editor("pauseOnBattery"))
    dialog.editor("multicastAddress").setText("239.1.2.3")
    qtbot.keyClicks(dialog.editor("interfaces"), "eth0, 127.0.0.1,")
    qtbot.keyClicks(dialog.editor("peers"), "desk:4000 ,[::1]:4001, laptop")

    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert not dialog.isVisible()
    data = await saved(service, config_path)
    assert data == {
        "name": "study",
        "downloadFolder": str(downloads),
        "concurrentDownloads": 5,
        "port": 4100,
        "multicastPort": 4101,
        "ttl": 3,
        "notifyDownloads": False,
        "pauseOnBattery": True,
        "multicastAddress": "239.1.2.3",
        "interfaces": ["eth0", "127.0.0.1"],
        "peers": ["desk:4000", "[::1]:4001", "laptop"],
    }
    loaded = load_config(config_path, explicit=True)
    assert loaded.concurrent_downloads == 5 and loaded.pause_on_battery
    assert loaded.peers == (("desk", 4000), ("::1", 4001), ("laptop", None))
    assert service.config == loaded

    # a second dialog shows what was saved, and saving it unchanged writes nothing new
    again = open_dialog(qtbot, service)
    assert again.value("peers") == ["desk:4000", "[::1]:4001", "laptop"]
    assert again.editor("interfaces").text() == "eth0, 127.0.0.1"
    assert again.changes() == {}
    before = config_path.stat().st_mtime_ns
    press_ok(qtbot, again)
    await service.saved()  # (a save would be written in the background)
    assert config_path.stat().st_mtime_ns == before


async def test_nothing_changed_writes_nothing(qtbot: Any, service: Service,
                                        config_path: Path) -> None:
    dialog = open_dialog(qtbot, service)
    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    await service.saved()  # (a save would be written in the background)
    assert not config_path.exists()


async def test_cancel_discards(qtbot: Any, service: Service, config_path: Path) -> None:
    dialog = open_dialog(qtbot, service)
    dialog.editor("name").setText("nope")
    press(qtbot, dialog, QDialogButtonBox.StandardButton.Cancel)
    assert dialog.result() == QDialog.DialogCode.Rejected
    await service.saved()  # (a save would be written in the background)
    assert not config_path.exists()


async def test_apply_saves_and_stays_open(qtbot: Any, service: Service, config_path: Path) -> None:
    dialog = open_dialog(qtbot, service)
    dialog.editor("ttl").setValue(2)
    press(qtbot, dialog, QDialogButtonBox.StandardButton.Apply)
    assert dialog.isVisible()
    assert await saved(service, config_path) == {"ttl": 2}
    assert dialog.changes() == {}


async def test_clearing_a_setting_saves_the_empty_value(qtbot: Any, config_path: Path) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text(json.dumps({"interfaces": ["eth0"], "name": "old", "other": 1}))
    service = make_service(config_path)
    dialog = open_dialog(qtbot, service)
    assert dialog.editor("interfaces").text() == "eth0"
    assert dialog.editor("name").text() == "old"
    dialog.editor("interfaces").clear()
    dialog.editor("name").clear()
    press_ok(qtbot, dialog)
    # unknown keys survive a save
    assert await saved(service, config_path) == {"interfaces": [], "name": "", "other": 1}


@pytest.mark.parametrize("case", [
    ("multicastAddress", "10.0.0.1", "is not a multicast address"),
    ("multicastAddress", "not an address", "is not an IPv4 address"),
    ("downloadFolder", "relative/folder", "is not an absolute path"),
    ("peers", "desk:99999", "bad port"),
])
async def test_invalid_value_is_shown_next_to_its_field_and_nothing_is_written(
        qtbot: Any, service: Service, config_path: Path, case: tuple[str, str, str]) -> None:
    key, text, message = case
    dialog = open_dialog(qtbot, service)
    original = dialog.editor(key).text()
    dialog.editor("name").setText("fine")
    dialog.editor(key).setText(text)
    press_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert message in dialog.field_error(key)
    assert dialog.field_error("name") == ""
    assert "nothing was saved" in dialog.error_text
    await service.saved()  # (a save would be written in the background)
    assert not config_path.exists()

    # fixing it clears the error and saves
    dialog.editor(key).setText(original)
    press_ok(qtbot, dialog)
    assert not dialog.isVisible()
    assert await saved(service, config_path) == {"name": "fine"}


async def test_save_error_from_the_config_layer_keeps_the_dialog_open(
        qtbot: Any, service: Service, config_path: Path) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text("{broken")  # the config layer refuses to replace a broken file
    dialog = open_dialog(qtbot, service)
    dialog.editor("ttl").setValue(4)
    press_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert "Cannot save the settings" in dialog.error_text
    assert "invalid JSON" in dialog.error_text
    await service.saved()  # (a save would be written in the background)
    assert config_path.read_text() == "{broken"


async def test_browse_fills_the_folder(qtbot: Any, service: Service, config_path: Path,
                                 tmp_path: Path) -> None:
    chosen = tmp_path / "picked"
    chosen.mkdir()
    dialog = open_dialog(qtbot, service)
    qtbot.mouseClick(dialog.browse_button("downloadFolder"), Qt.MouseButton.LeftButton)
    # the click returned with the chooser open (window-modal, no nested event loop)
    choosers = [c for c in dialog.findChildren(QFileDialog) if c.isVisible()]
    assert len(choosers) == 1
    chooser = choosers[0]
    assert chooser.windowModality() == Qt.WindowModality.WindowModal
    assert chooser.fileMode() == QFileDialog.FileMode.Directory
    # it starts from the default folder (or the nearest one that exists)
    assert Path(chooser.directory().absolutePath()) in (
        service.download_folder, *service.download_folder.parents)
    assert dialog.editor("downloadFolder").text() == ""
    chooser.selectFile(str(chosen))  # as if typed in its name field
    chooser.accept()
    assert dialog.editor("downloadFolder").text() == str(chosen)
    press_ok(qtbot, dialog)
    assert await saved(service, config_path) == {"downloadFolder": str(chosen)}
    assert service.download_folder == chosen


async def test_autostart_with_the_real_xdg_entry(qtbot: Any, service: Service, config_path: Path,
                                           tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    autostart = autostart_for("linux", home=home, command=["/opt/mfsync/bin/mfsync-gui"])
    desktop = home / ".config" / "autostart" / "mfsync.desktop"
    assert autostart.location == str(desktop)

    dialog = open_dialog(qtbot, service, autostart)
    check = dialog.editor("autostart")
    assert not check.isChecked()
    assert str(desktop) in check.toolTip()
    click_check(qtbot, check)
    assert not desktop.exists()  # only on OK
    press_ok(qtbot, dialog)
    assert dialog.busy and dialog.isVisible()  # the entry is written in a worker thread
    await dialog.settled()
    assert not dialog.isVisible()
    assert desktop.is_file()
    assert "/opt/mfsync/bin/mfsync-gui --hidden" in desktop.read_text(encoding="utf-8")
    assert autostart.enabled()
    assert (await saved(service, config_path))["autostart"] is True

    dialog = open_dialog(qtbot, service, autostart)
    assert dialog.editor("autostart").isChecked()
    click_check(qtbot, dialog.editor("autostart"))
    press_ok(qtbot, dialog)
    await dialog.settled()
    assert not desktop.exists()
    assert (await saved(service, config_path))["autostart"] is False


async def test_autostart_shows_the_real_state(qtbot: Any, service: Service,
                                        config_path: Path) -> None:
    # the entry was made outside the app: the check box says so and OK records it
    autostart = FakeAutostart(on=True)
    dialog = open_dialog(qtbot, service, autostart)
    assert dialog.editor("autostart").isChecked()
    press_ok(qtbot, dialog)
    assert autostart.calls == []
    assert await saved(service, config_path) == {"autostart": True}


async def test_autostart_failure_is_shown_and_nothing_saved(qtbot: Any, service: Service,
                                                      config_path: Path) -> None:
    autostart = FakeAutostart()
    autostart.fail = True
    dialog = open_dialog(qtbot, service, autostart)
    dialog.editor("ttl").setValue(5)
    click_check(qtbot, dialog.editor("autostart"))
    press_ok(qtbot, dialog)
    await dialog.settled()
    assert dialog.isVisible()
    assert autostart.calls == ["enable"]
    assert "Permission denied" in dialog.field_error("autostart")
    assert autostart.location in dialog.field_error("autostart")
    await service.saved()  # (a save would be written in the background)
    assert not config_path.exists()


async def test_autostart_is_undone_when_saving_fails(qtbot: Any, service: Service,
                                               config_path: Path) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text("{broken")
    autostart = FakeAutostart()
    dialog = open_dialog(qtbot, service, autostart)
    click_check(qtbot, dialog.editor("autostart"))
    press_ok(qtbot, dialog)
    await dialog.settled()
    assert dialog.isVisible()
    assert autostart.calls == ["enable", "disable"]
    assert not autostart.on
