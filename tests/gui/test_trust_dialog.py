"""The trust dialog against a real ``Service`` (not started: no packets) and its config file."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import dataclasses
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from harness import RecordingSink
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog

import mfsync.gui.bridge
from mfsync.config import Config, load_config
from mfsync.crypto.keys import Identity, format_key, short_key
from mfsync.crypto.verify import verification_code
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import Service, ServiceStatus
from mfsync.engine.status import NodeStatus, PeerSnapshot, PeerState
from mfsync.gui import trust_files
from mfsync.gui.bridge import EngineBridge
from mfsync.gui.i18n import tr
from mfsync.gui.notify import Notifier
from mfsync.gui.trust_dialog import (
    OPEN_MODE_TEXT,
    REMOVED_LAST_WARNING,
    TrustDialog,
    read_trust_file,
)
from waiting import wait_for


def new_key() -> bytes:
    return Identity.generate().public_key


def make_service(config_path: Path) -> Service:
    # discovery off and never started: the dialog only reads status and saves
    config = load_config(config_path, explicit=False)
    options = NodeOptions(identity=Identity.generate(), discovery=False)
    return Service(options, config, config_path=config_path)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".mfsync" / "config.json"


@pytest.fixture
def service(config_path: Path) -> Service:
    return make_service(config_path)


def open_dialog(qtbot: Any, service: Service) -> TrustDialog:
    dialog = TrustDialog(service)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


async def saved(service: Service, config_path: Path) -> dict[str, Any]:
    await service.saved()  # the service writes the file in the background
    return json.loads(config_path.read_text(encoding="utf-8"))


def press_ok(qtbot: Any, dialog: QDialog) -> None:
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)


def with_peers(monkeypatch: pytest.MonkeyPatch, service: Service,
               *peers: PeerSnapshot) -> ServiceStatus:
    """Make the service report ``peers`` as seen on the network."""
    snapshot = dataclasses.replace(service.status, node=NodeStatus(peers=peers))
    monkeypatch.setattr(Service, "status", property(lambda _self: snapshot))
    return snapshot


def peer(name: str, address: str, *, key: bytes | None, announced: bytes | None) -> PeerSnapshot:
    return PeerSnapshot(address=address, port=4000, name=name, announced_key=announced, key=key,
                        state=PeerState.CONNECTED if key else PeerState.ANNOUNCED,
                        files=None, trusted=False)


async def test_starts_open_and_shows_own_key(qtbot: Any, service: Service) -> None:
    dialog = open_dialog(qtbot, service)
    assert dialog.mode_label.text() == tr(OPEN_MODE_TEXT)
    assert dialog.table.rowCount() == 0
    assert dialog.own_key_label.text() == format_key(service.status.own_key)
    assert not dialog.remove_button.isEnabled()


async def test_paste_valid_key_saves_it(qtbot: Any, service: Service, config_path: Path) -> None:
    key = new_key()
    dialog = open_dialog(qtbot, service)
    # any case and surrounding blanks are accepted, as the parser allows
    qtbot.keyClicks(dialog.key_edit, f"  {format_key(key).lower()} ")
    qtbot.keyClicks(dialog.name_edit, "laptop")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert dialog.table.rowCount() == 1
    assert dialog.key_edit.text() == ""
    assert dialog.add_error_label.isHidden()
    assert dialog.mode_label.text() == "Only this 1 host may connect, both ways"
    await service.saved()  # (a save would be written in the background)
    assert not config_path.exists()  # nothing is saved before OK

    press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert not dialog.isVisible()
    data = await saved(service, config_path)
    assert data["trustedKeys"] == [format_key(key)]
    assert data["keyNames"] == {format_key(key): "laptop"}
    assert load_config(config_path, explicit=True).trusted_keys == {key}
    assert service.config.trusted_keys == {key}


async def test_enter_in_the_key_field_adds_and_keeps_the_dialog_open(
        qtbot: Any, service: Service) -> None:
    dialog = open_dialog(qtbot, service)
    dialog.key_edit.setFocus()
    qtbot.keyClicks(dialog.key_edit, format_key(new_key()))
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)
    assert dialog.table.rowCount() == 1
    assert dialog.isVisible()


async def test_malformed_key_shows_the_parser_message_and_adds_nothing(
        qtbot: Any, service: Service, config_path: Path) -> None:
    dialog = open_dialog(qtbot, service)
    qtbot.keyClicks(dialog.key_edit, "ABCDEF")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert not dialog.add_error_label.isHidden()
    assert "64 hex characters, got 6" in dialog.add_error_label.text()
    assert dialog.table.rowCount() == 0

    dialog.key_edit.setText("Z" * 64)
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert "hex characters only" in dialog.add_error_label.text()
    assert dialog.table.rowCount() == 0
    assert dialog.key_edit.text() == "Z" * 64  # kept, so the user can fix it

    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel),
                     Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Rejected
    await service.saved()  # (a save would be written in the background)
    assert not config_path.exists()


async def test_duplicate_key_is_reported(qtbot: Any, service: Service) -> None:
    key = new_key()
    dialog = open_dialog(qtbot, service)
    assert dialog.add_key(key)
    dialog.key_edit.setText(format_key(key))
    assert not dialog.add_pasted()
    assert "on the list already" in dialog.add_error_label.text()
    assert dialog.table.rowCount() == 1


async def test_cancel_discards_edits(qtbot: Any, service: Service, config_path: Path) -> None:
    key = new_key()
    service.set_trust(frozenset({key}), {key: "desk"})
    await service.saved()
    before = config_path.read_text(encoding="utf-8")
    dialog = open_dialog(qtbot, service)
    dialog.add_key(new_key(), "other")
    dialog.table.selectRow(0)
    dialog.remove_selected()
    dialog.reject()
    await service.saved()
    assert config_path.read_text(encoding="utf-8") == before
    assert service.config.trusted_keys == {key}


async def test_rename_in_place_and_remove(qtbot: Any, service: Service, config_path: Path) -> None:
    first, second = sorted([new_key(), new_key()])
    service.set_trust(frozenset({first, second}), {first: "one"})
    dialog = open_dialog(qtbot, service)
    assert dialog.table.rowCount() == 2
    assert dialog.mode_label.text() == "Only these 2 hosts may connect, both ways"
    assert dialog.table.item(0, 0).text() == "one"

    dialog.table.item(1, 0).setText("two")
    dialog.table.selectRow(0)
    assert dialog.remove_button.isEnabled()
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.trusted_keys() == [second]
    assert dialog.warning_label.isHidden()

    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Apply),
                     Qt.MouseButton.LeftButton)
    assert dialog.isVisible()  # Apply saves and stays open
    data = await saved(service, config_path)
    assert data["trustedKeys"] == [format_key(second)]
    # the removed key keeps its name, in case it comes back
    assert data["keyNames"] == {format_key(first): "one", format_key(second): "two"}

    dialog.table.selectRow(0)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert dialog.table.rowCount() == 0
    assert not dialog.warning_label.isHidden()
    assert dialog.warning_label.text() == tr(REMOVED_LAST_WARNING)
    assert dialog.mode_label.text() == tr(OPEN_MODE_TEXT)
    press_ok(qtbot, dialog)
    assert (await saved(service, config_path))["trustedKeys"] == []
    assert service.config.trusted_keys == frozenset()


async def test_export_import_round_trip(qtbot: Any, service: Service, tmp_path: Path) -> None:
    a, b = new_key(), new_key()
    dialog = open_dialog(qtbot, service)
    dialog.add_key(a, "alpha")
    dialog.add_key(b)
    exported = tmp_path / "trust.json"
    assert await dialog.export_to(exported)
    data = json.loads(exported.read_text(encoding="utf-8"))
    assert data == {"trustedKeys": [format_key(a), format_key(b)],
                    "keyNames": {format_key(a): "alpha"}}

    other_path = tmp_path / "other" / "config.json"
    other = make_service(other_path)
    c = new_key()
    other.set_trust(frozenset({c}), {c: "gamma"})
    importer = open_dialog(qtbot, other)
    assert await importer.import_from(exported) == 2
    assert importer.last_error == ""
    assert importer.error_label.isHidden()
    # importing again merges: nothing new
    assert await importer.import_from(exported) == 0
    press_ok(qtbot, importer)
    written = await saved(other, other_path)
    assert sorted(written["trustedKeys"]) == sorted(format_key(k) for k in (a, b, c))
    assert written["keyNames"] == {format_key(a): "alpha", format_key(c): "gamma"}


async def test_import_keeps_names_typed_here(qtbot: Any, service: Service, tmp_path: Path) -> None:
    key = new_key()
    file = tmp_path / "trust.json"
    file.write_text(json.dumps({"trustedKeys": [format_key(key)],
                                "keyNames": {format_key(key): "theirs"}}))
    dialog = open_dialog(qtbot, service)
    dialog.add_key(key, "mine")
    assert await dialog.import_from(file) == 0
    assert dialog.key_names() == {key: "mine"}


async def test_import_bare_list(qtbot: Any, service: Service, config_path: Path,
                          tmp_path: Path) -> None:
    keys = [new_key(), new_key()]
    file = tmp_path / "keys.json"
    file.write_text(json.dumps([format_key(k).lower() for k in keys]))
    dialog = open_dialog(qtbot, service)
    assert await dialog.import_from(file) == 2
    press_ok(qtbot, dialog)
    assert sorted((await saved(service, config_path))["trustedKeys"]) == sorted(
        format_key(k) for k in keys)


@pytest.mark.parametrize(("content", "message"), [
    ('{"trustedKeys": ["%s", "nothex", 7]}', "key 2: a public key is 64 hex characters"),
    ('{"trustedKeys": ["%s", "nothex", 7]}', "key 3 is not a string"),
    ('{"trustedKeys": ["%s"], "keyNames": {"bad": "x"}}', "name for 'bad'"),
    ('{"trustedKeys": "%s"}', '"trustedKeys" must be a list'),
    ('{"keys": ["%s"]}', 'expected a list of keys or an object with "trustedKeys"'),
    ('["%s",', "invalid JSON at line 1"),
])
async def test_import_errors_are_shown_and_nothing_is_imported(
        qtbot: Any, service: Service, tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content.replace("%s", format_key(new_key())))
    dialog = open_dialog(qtbot, service)
    assert await dialog.import_from(file) is None
    assert message in dialog.last_error
    assert not dialog.error_label.isHidden()
    assert dialog.error_label.text() == dialog.last_error
    assert dialog.table.rowCount() == 0


async def test_import_missing_file(qtbot: Any, service: Service, tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, service)
    assert await dialog.import_from(tmp_path / "nope.json") is None
    assert "Cannot read" in dialog.last_error


async def test_export_error_is_shown(qtbot: Any, service: Service, tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, service)
    assert not await dialog.export_to(tmp_path / "missing-dir" / "x.json")
    assert "Cannot write" in dialog.last_error


def open_file_dialog(dialog: QDialog) -> QFileDialog:
    """The file chooser the dialog opened: window-modal, not run in a loop of its own."""
    choosers = [c for c in dialog.findChildren(QFileDialog) if c.isVisible()]
    assert len(choosers) == 1, choosers
    chooser = choosers[0]
    assert chooser.windowModality() == Qt.WindowModality.WindowModal
    return chooser


async def test_import_and_export_buttons_use_the_file_chooser(
        qtbot: Any, service: Service, tmp_path: Path) -> None:
    target = tmp_path / "chosen.json"
    key = new_key()
    dialog = open_dialog(qtbot, service)
    dialog.add_key(key)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    # the click returned with the chooser still open: no nested event loop ran
    chooser = open_file_dialog(dialog)
    assert chooser.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    assert chooser.windowTitle() == "Export trusted keys"
    chooser.selectFile(str(target))
    chooser.accept()
    await wait_for(lambda: target.exists(), what="the exported file")
    assert read_trust_file(target) == ([key], {})
    assert dialog.last_error == ""

    # a cancelled chooser does nothing
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    open_file_dialog(dialog).reject()
    dialog.table.selectRow(0)
    dialog.remove_selected()
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    chooser = open_file_dialog(dialog)
    assert chooser.fileMode() == QFileDialog.FileMode.ExistingFile
    chooser.selectFile(str(target))
    chooser.accept()
    await wait_for(lambda: dialog.trusted_keys() == [key], what="the imported key")


async def test_file_work_runs_off_the_gui_thread(qtbot: Any, service: Service, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real_read, real_write = trust_files.read_trust_file, trust_files.write_trust_file

    def read(path: Path) -> Any:
        threads.append(threading.get_ident())
        return real_read(path)

    def write(path: Path, keys: Any, names: Any) -> None:
        threads.append(threading.get_ident())
        real_write(path, keys, names)

    monkeypatch.setattr(trust_files, "read_trust_file", read)
    monkeypatch.setattr(trust_files, "write_trust_file", write)
    dialog = open_dialog(qtbot, service)
    dialog.add_key(new_key())
    assert await dialog.export_to(tmp_path / "t.json")
    assert await dialog.import_from(tmp_path / "t.json") == 0
    assert len(threads) == 2
    assert threading.get_ident() not in threads


async def test_verify_a_host_seen_on_the_network(qtbot: Any, service: Service, config_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    proven, announced_only, already = new_key(), new_key(), new_key()
    service.set_trust(frozenset({already}), {})
    own = service.status.own_key
    with_peers(
        monkeypatch, service,
        peer("desk", "192.0.2.10", key=proven, announced=proven),
        peer("phone", "192.0.2.11", key=None, announced=announced_only),
        peer("trusted", "192.0.2.12", key=already, announced=already),
        peer("desk", "192.0.2.13", key=proven, announced=proven),  # a second endpoint
        peer("nobody", "192.0.2.14", key=None, announced=None),
        peer("me", "192.0.2.15", key=own, announced=own),
    )
    dialog = open_dialog(qtbot, service)
    items = [dialog.peer_combo.itemText(i) for i in range(dialog.peer_combo.count())]
    assert len(items) == 2
    assert "desk" in items[0] and "192.0.2.10" in items[0] and short_key(proven) in items[0]
    assert "phone" in items[1] and "announced only" in items[1]
    assert dialog.verify_button.isEnabled()

    dialog.peer_combo.setCurrentIndex(1)
    qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    verify = dialog.verify_dialog
    assert verify is not None and verify.isVisible()
    assert verify.code_label.text() == verification_code(own, announced_only)
    assert "not yet proven" in verify.key_label.text()
    text = verify.instruction_label.text()
    assert "phone's screen" in text and format_key(own) in text
    assert "Trust only if they match." in text
    qtbot.mouseClick(verify.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.verify_dialog is None
    assert announced_only not in dialog.trusted_keys()

    dialog.peer_combo.setCurrentIndex(0)
    qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    verify = dialog.verify_dialog
    assert verify is not None
    assert verify.code_label.text() == verification_code(own, proven)
    assert "not yet proven" not in verify.key_label.text()
    qtbot.mouseClick(verify.match_button, Qt.MouseButton.LeftButton)
    assert not verify.isVisible()
    assert dialog.key_names() == {proven: "desk"}
    # the host is trusted now, so only the other one is left to pick
    assert dialog.peer_combo.count() == 1
    assert "phone" in dialog.peer_combo.itemText(0)

    press_ok(qtbot, dialog)
    data = await saved(service, config_path)
    assert sorted(data["trustedKeys"]) == sorted(format_key(k) for k in (proven, already))
    assert data["keyNames"] == {format_key(proven): "desk"}


async def test_hosts_list_follows_the_status_while_open(
        qtbot: Any, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    current = [service.status]
    monkeypatch.setattr(Service, "status", property(lambda _self: current[0]))
    # the bridge is the GUI's one subscriber to the service: the dialog follows its signal
    bridge = EngineBridge(service, Notifier(RecordingSink()))
    dialog = TrustDialog(service, status_changed=bridge.statusChanged)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.verify_button.isEnabled()

    key = new_key()
    current[0] = dataclasses.replace(current[0], node=NodeStatus(
        peers=(peer("desk", "192.0.2.10", key=key, announced=key),)))
    service.report_error("something changed")  # any change publishes a new status
    await asyncio.sleep(0.05)
    assert dialog.verify_button.isEnabled()
    assert "desk" in dialog.peer_combo.itemText(0)

    dialog.reject()  # closed: it stops listening
    current[0] = dataclasses.replace(current[0], node=NodeStatus())
    service.report_error("again")
    await asyncio.sleep(0.05)
    assert "desk" in dialog.peer_combo.itemText(0)
    bridge.close()


def test_only_the_bridge_subscribes_to_the_service() -> None:
    # every other GUI module gets snapshots from the bridge's statusChanged signal
    gui = Path(mfsync.gui.bridge.__file__).parent
    subscribers = sorted(p.name for p in gui.glob("*.py")
                         if re.search(r"\.subscribe\(", p.read_text(encoding="utf-8")))
    assert subscribers == ["bridge.py"]


async def test_no_hosts_to_pick(qtbot: Any, service: Service) -> None:
    dialog = open_dialog(qtbot, service)
    assert not dialog.verify_button.isEnabled()
    assert "No untrusted hosts" in dialog.peer_combo.itemText(0)


async def test_verify_key_from_elsewhere(qtbot: Any, service: Service,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen, unseen = new_key(), new_key()
    with_peers(monkeypatch, service, peer("desk", "192.0.2.10", key=seen, announced=seen))
    dialog = open_dialog(qtbot, service)
    verify = dialog.verify_key(seen)
    assert "desk" in verify.key_label.text()
    verify.accept()
    verify = dialog.verify_key(unseen)
    assert verify.code_label.text() == verification_code(service.status.own_key, unseen)
    verify.accept()
    assert set(dialog.trusted_keys()) == {seen, unseen}


async def test_announced_name_is_not_markup(qtbot: Any, service: Service,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    with_peers(monkeypatch, service, peer("<b>x</b>", "192.0.2.10", key=key, announced=key))
    dialog = open_dialog(qtbot, service)
    verify = dialog.start_verification(service.status.node.peers[0])
    assert verify.key_label.textFormat() == Qt.TextFormat.PlainText
    assert "&lt;b&gt;x&lt;/b&gt;'s screen" in verify.instruction_label.text()


async def test_copy_own_key(qtbot: Any, service: Service) -> None:
    dialog = open_dialog(qtbot, service)
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == format_key(service.status.own_key)


async def test_save_error_keeps_the_dialog_open(qtbot: Any, service: Service,
                                          config_path: Path) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text("{broken")  # the config layer refuses to replace a broken file
    dialog = open_dialog(qtbot, service)
    dialog.add_key(new_key())
    press_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert "Cannot save the trust list" in dialog.last_error
    assert "invalid JSON" in dialog.error_label.text()
    await service.saved()  # (a save would be written in the background)
    assert config_path.read_text() == "{broken"


async def test_starts_from_the_saved_list_not_command_line_keys(
        qtbot: Any, config_path: Path) -> None:
    # keys given on the command line are applied by the service but never written to the file
    saved_key, cli_key = new_key(), new_key()
    options = NodeOptions(identity=Identity.generate(), discovery=False,
                          trusted_keys=frozenset({cli_key}))
    service = Service(options, Config(trusted_keys=frozenset({saved_key})),
                      config_path=config_path)
    dialog = open_dialog(qtbot, service)
    assert dialog.trusted_keys() == [saved_key]
    press_ok(qtbot, dialog)
    assert (await saved(service, config_path))["trustedKeys"] == [format_key(saved_key)]
