"""The desktop app with a real engine: a GUI node and headless nodes exchange files on loopback."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from harness import Rig
from PySide6.QtCore import QItemSelectionModel, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from mfsync.crypto.keys import Identity, format_key
from mfsync.engine.service import FolderMode, PauseReason
from mfsync.engine.status import PeerState
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.gui.models import FileState
from mfsync.gui.tray import TrayState, tray_state
from waiting import wait_for


def _drop(widget, paths: list[Path]) -> bool:
    """Drag ``paths`` over the window and drop them; whether the window accepted the drag.

    The handlers are called directly: QApplication delivers a Drop only to the target of a
    drag that its drag manager started, and no real drag can start offscreen.
    """
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter.setAccepted(False)
    widget.dragEnterEvent(enter)
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(drop)
    return enter.isAccepted()


def _select_rows(view, rows: list[int]) -> None:
    view.clearSelection()
    model = view.model()
    for row in rows:
        view.selectionModel().select(
            model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)


async def _config(rig: Rig) -> dict:
    assert rig.app is not None
    await rig.app.service.saved()  # the service writes the file in the background
    return json.loads(rig.config_path.read_text())


async def test_dropped_folder_is_shared_and_a_headless_peer_downloads_it(rig: Rig, tmp_path):
    folder = tmp_path / "Photos"
    folder.mkdir()
    (folder / "beach.jpg").write_bytes(os.urandom(300_000))
    (folder / "notes.txt").write_text("hello")
    app = await rig.start_app()
    peer = await rig.node(wants=True)
    assert _drop(app.window, [folder])
    await wait_for(lambda: app.service.status.folders, what="the folder to be added")
    [added] = app.service.status.folders
    assert not added.id.is_default  # a dropped folder is a folder of its own
    assert (await _config(rig))["folders"] == [{"path": str(folder.resolve()), "mode": "share",
                                                "id": str(added.id), "label": "Photos"}]
    await wait_for(lambda: {f.path for f in peer.status.files} >= {"beach.jpg", "notes.txt"},
                   what="the peer to see the dropped folder's files")
    await wait_for(lambda: app.window.folders_model.rowCount() == 1
                   and app.window.folders_model.data(app.window.folders_model.index(0, 2)) == "2",
                   what="the folder row with its file count")
    assert app.window.folders_model.data(app.window.folders_model.index(0, 4)) == (
        f"Photos ({added.id})")  # the label, with the id beside it
    dest = tmp_path / "peer-got"
    dest.mkdir()
    downloader = Downloader(peer)
    downloader.add(DownloadJob("beach.jpg", dest, folder=added.id))  # (the folder it is in)
    await downloader.join()
    await downloader.stop()
    assert (dest / "beach.jpg").read_bytes() == (folder / "beach.jpg").read_bytes()


async def test_a_drop_of_files_rather_than_folders_is_ignored(rig: Rig, tmp_path):
    loose = tmp_path / "loose.txt"
    loose.write_text("x")
    app = await rig.start_app()
    assert not _drop(app.window, [loose])
    assert app.service.status.folders == ()


async def test_network_files_download_by_button_with_one_batched_notification(rig: Rig, tmp_path):
    shared = tmp_path / "anna"
    shared.mkdir()
    for n in range(3):
        (shared / f"doc{n}.txt").write_text(f"document {n}\n" * 1000)
    downloads = tmp_path / "Downloads"
    rig.config_path.parent.mkdir(parents=True)
    rig.config_path.write_text(json.dumps({"downloadFolder": str(downloads)}))
    await rig.node(share_dir=shared, name="laptop-anna")
    app = await rig.start_app()
    window = app.window
    await wait_for(lambda: window.network_model.rowCount() == 3, what="three network files")
    window.tabs.setCurrentIndex(1)
    window.search.setText("doc1")
    assert window.network_proxy.rowCount() == 1
    window.search.setText("")
    _select_rows(window.network_view, [0, 1, 2])
    window.download_button.click()
    for n in range(3):
        await wait_for(lambda n=n: (downloads / f"doc{n}.txt").exists(), what=f"doc{n}.txt")
    assert (downloads / "doc2.txt").read_text() == (shared / "doc2.txt").read_text()
    await wait_for(lambda: "download" in rig.sink.kinds(), what="the download notification")
    downloads_shown = [s for s in rig.sink.shown if s[2] == "download"]
    assert len(downloads_shown) == 1, downloads_shown
    assert "3 files" in downloads_shown[0][1] and "laptop-anna" in downloads_shown[0][1]
    # the tray lists them as recent, and a click on one opens its folder
    app.tray.rebuild_menu()
    recent = next(a for a in app.tray.menu.actions() if a.text() == "Recent downloads").menu()
    names = [a.text() for a in recent.actions()]
    assert sorted(names) == ["doc0.txt", "doc1.txt", "doc2.txt"]
    recent.actions()[0].trigger()
    assert rig.opened[-1] == str(downloads)


async def test_download_to_a_chosen_folder_and_file_states(rig: Rig, tmp_path):
    shared = tmp_path / "other"
    shared.mkdir()
    (shared / "a.bin").write_bytes(b"a" * 5000)
    (shared / "b.bin").write_bytes(b"b" * 5000)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "b.bin").write_bytes(b"different")
    await rig.node(share_dir=shared)
    app = await rig.start_app()
    await app.service.add_folder(mine)
    window = app.window
    await wait_for(lambda: window.network_model.rowCount() == 2, what="two network files")
    await wait_for(lambda: window.network_page.hint.text() == "2 files on 1 host",
                   what="the count of files and hosts, in good English")

    def state(name: str) -> str:
        model = window.network_model
        row = next(r for r in range(model.rowCount()) if model.remote_path(r) == name)
        return model.data(model.index(row, 3))

    assert state("a.bin") == FileState.REMOTE
    assert state("b.bin") == FileState.CONFLICT
    chosen = tmp_path / "chosen"
    rig.chosen.append(chosen)
    row = next(r for r in range(window.network_proxy.rowCount())
               if window.network_proxy.index(r, 0).data() == "a.bin")
    _select_rows(window.network_view, [row])
    window.download_to_button.click()
    await wait_for(lambda: (chosen / "a.bin").exists(), what="a.bin in the chosen folder")
    # arrived in a folder we do not share: no longer "remote"
    await wait_for(lambda: state("a.bin") == FileState.DOWNLOADED, what="a.bin downloaded")
    assert state("b.bin") == FileState.CONFLICT
    # the context menu offers the same two ways
    texts = [a.text() for a in window.network_menu().actions()]
    assert texts == ["Download", "Download to…"]


async def test_transfers_pause_resume_and_cancel(rig: Rig, tmp_path):
    shared = tmp_path / "big"
    shared.mkdir()
    (shared / "one.bin").write_bytes(os.urandom(2_000_000))
    (shared / "two.bin").write_bytes(os.urandom(2_000_000))
    await rig.node(share_dir=shared)
    app = await rig.start_app()
    window = app.window
    service = app.service
    await wait_for(lambda: len(service.status.node.files) == 2, what="the network files")
    window.pause_all_button.click()
    assert service.status.pause_reason == PauseReason.USER
    assert tray_state(service.status) == TrayState.PAUSED
    dest = tmp_path / "dest"
    assert service.download(["one.bin", "two.bin"], dest) == 2
    await wait_for(lambda: [t.state for t in service.status.transfers.transfers]
                   == [TransferState.PAUSED] * 2, what="two paused transfers")
    model = window.transfers_model
    await wait_for(lambda: model.rowCount() == 2, what="two transfer rows")
    view = window.transfers_view
    rows = {view.model().index(r, 0).data(): r for r in range(view.model().rowCount())}
    # cancel one while paused: it never arrives and leaves no partial behind
    _select_rows(view, [rows["two.bin"]])
    window.cancel_button.click()
    await wait_for(lambda: any(t.state is TransferState.CANCELLED
                               for t in service.status.transfers.transfers), what="cancelled")
    # resume everything: the other one completes, verified
    window.pause_all_button.click()
    assert not service.status.paused
    await wait_for(lambda: (dest / "one.bin").exists(), what="one.bin")
    assert (dest / "one.bin").read_bytes() == (shared / "one.bin").read_bytes()
    assert not (dest / "two.bin").exists()
    assert not [p for p in dest.iterdir() if p.name.endswith(".mfsync-part")]
    await wait_for(lambda: window.transfers_model.data(window.transfers_model.index(
        window.transfers_model.row_of((dest.resolve(), "one.bin")),
        window.transfers_model.PROGRESS_COLUMN)) == "100%",
        what="the progress column at 100%")
    _select_rows(view, [rows["one.bin"]])
    window.open_transfer_button.click()
    assert rig.opened[-1] == str(dest.resolve() / "one.bin")
    await wait_for(lambda: all(t.state in (TransferState.DONE, TransferState.CANCELLED)
                               for t in service.status.transfers.transfers), what="both finished")
    await asyncio.sleep(0.2)  # the worker lets go of the finished job
    window.clear_button.click()
    await wait_for(lambda: window.transfers_model.rowCount() == 0, what="an empty list")


async def test_untrusted_host_is_refused_and_notified(rig: Rig, tmp_path):
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "secret.txt").write_text("s")
    app = await rig.start_app()
    await app.service.add_folder(folder)
    friend = Identity.generate()
    # File → Trusted keys…: paste the friend's key with a name, OK
    app.window.trustRequested.emit(None)
    dialog = app.dialog
    dialog.key_edit.setText(format_key(friend.public_key))
    dialog.name_edit.setText("friend")
    dialog.add_button.click()
    dialog.accept()
    saved = await _config(rig)
    assert saved["trustedKeys"] == [format_key(friend.public_key)]
    stranger = await rig.node(wants=True)
    await wait_for(lambda: any(p.state is PeerState.REFUSED for p in stranger.status.peers),
                   what="the stranger to be refused")
    assert not stranger.status.files
    await wait_for(lambda: "refused" in rig.sink.kinds(), what="a refusal notification")
    # trusting the stranger lets it in, at once
    app.service.set_trust(frozenset({friend.public_key, stranger.identity.public_key}), {})
    await wait_for(lambda: {f.path for f in stranger.status.files} == {"secret.txt"},
                   timeout=20, what="the stranger to see the file once trusted")


async def test_tray_menu_and_icon_states(rig: Rig, tmp_path):
    app = await rig.start_app()
    tray = app.tray
    tray.rebuild_menu()
    texts = [a.text() for a in tray.menu.actions() if a.text()]
    assert texts == ["Open mfsync", "Pause transfers", "Send files…", "Recent downloads",
                     "Quit mfsync"]
    assert tray.state == TrayState.IDLE
    app.window.hide()
    tray.menu.actions()[0].trigger()
    assert app.window.isVisible()
    tray.menu.actions()[1].trigger()
    await wait_for(lambda: tray.state == TrayState.PAUSED, what="the paused icon")
    tray.rebuild_menu()
    assert tray.menu.actions()[1].text() == "Resume transfers"
    tray.menu.actions()[1].trigger()
    await wait_for(lambda: tray.state == TrayState.IDLE, what="the idle icon")
    app.service.report_error("disk full")
    await wait_for(lambda: tray.state == TrayState.ERROR, what="the error icon")
    assert app.window.error_label.text() == "disk full"
    app.window.error_label.clicked.emit()
    await wait_for(lambda: tray.state == TrayState.IDLE, what="the error to be dismissed")
    quit_action = next(a for a in tray.menu.actions() if a.text() == "Quit mfsync")
    quit_action.trigger()
    assert app._quit.is_set()


async def test_closing_hides_to_tray_or_quits_without_one(rig: Rig):
    app = await rig.start_app(tray=True)
    app.window.close()
    assert not app.window.isVisible()
    assert not app._quit.is_set()
    await rig.close()
    rig.app = None
    app2 = await rig.start_app(tray=False)
    assert app2.window.no_tray_hint.isVisibleTo(app2.window)
    app2.window.close()
    assert app2._quit.is_set()


async def test_hidden_start(rig: Rig):
    app = await rig.start_app(hidden=True, tray=True)
    assert not app.window.isVisible()
    app.on_message(b"mfsync-gui 1 show\n")  # what a second start sends
    assert app.window.isVisible()
    await rig.close()
    rig.app = None
    app2 = await rig.start_app(hidden=True, tray=False)
    assert app2.window.isVisible(), "without a tray, --hidden must still show the window"


async def test_pause_on_battery(rig: Rig):
    rig.config_path.parent.mkdir(parents=True)
    rig.config_path.write_text(json.dumps({"pauseOnBattery": True}))
    app = await rig.start_app()
    rig.power.on_battery = True
    app.power.poll()
    await wait_for(lambda: app.service.status.pause_reason == PauseReason.BATTERY,
                   what="paused on battery")
    assert app.service.node.discovery is not None
    rig.power.on_battery = False
    app.power.poll()
    await wait_for(lambda: not app.service.status.paused, what="resumed on mains")
    # paused by hand stays paused when the power changes
    app.service.set_paused(True)
    rig.power.on_battery = True
    app.power.poll()
    rig.power.on_battery = False
    app.power.poll()
    assert app.service.status.pause_reason == PauseReason.USER


async def test_status_bar_copies_key_and_counts_hosts(rig: Rig, tmp_path):
    shared = tmp_path / "s"
    shared.mkdir()
    await rig.node(share_dir=shared)
    app = await rig.start_app()
    await wait_for(lambda: app.window.peers_label.text() == "1 host online", what="one host")
    app.window.key_label.clicked.emit()
    assert QApplication.clipboard().text() == format_key(app.service.status.own_key)
    await wait_for(lambda: app.window.hosts_model.rowCount() == 1, what="the hosts table")
    row = [app.window.hosts_model.data(app.window.hosts_model.index(0, c)) for c in range(6)]
    assert row[3] == "anyone may connect" and row[5] == "0" and row[4] == "now"


async def test_sync_folder_mode_switch(rig: Rig, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    app = await rig.start_app()
    window = app.window
    await app.service.add_folder(a)
    await app.service.add_folder(b)
    await wait_for(lambda: window.folders_model.rowCount() == 2, what="two folders")
    _select_rows(window.folders_view, [0])
    rig.answers.append(False)  # "anyone could add files: sync anyway?" no
    window.sync_button.click()
    assert rig.questions == ["Sync with everyone?"]
    assert app.service.status.folders[0].mode == FolderMode.SHARE
    window.sync_button.click()  # yes (the default answer)
    await wait_for(lambda: app.service.status.folders[0].mode == FolderMode.SYNC, what="sync")
    assert (await _config(rig))["folders"][0]["mode"] == "sync"
    # any number of folders may sync, each with its own syncer
    _select_rows(window.folders_view, [1])
    window.sync_button.click()
    await wait_for(lambda: app.service.status.folders[1].mode == FolderMode.SYNC,
                   what="the second folder syncs too")
    assert not app.service.status.errors and len(app.service.transfers.syncers) == 2
    _select_rows(window.folders_view, [0])
    window.open_folder_button.click()
    assert rig.opened[-1] == str(a.resolve())
    window.remove_folder_button.click()
    await wait_for(lambda: len(app.service.status.folders) == 1, what="the folder removed")
    assert [f["path"] for f in (await _config(rig))["folders"]] == [str(b.resolve())]


async def test_settings_from_the_menu_apply_to_notifications_and_autostart(rig: Rig):
    app = await rig.start_app()
    app.window.settingsRequested.emit()
    dialog = app.dialog
    dialog.editor("notifyDownloads").setChecked(False)
    dialog.editor("autostart").setChecked(True)
    dialog.accept()
    await dialog.settled()  # the autostart entry is switched in a worker thread, then saved
    assert (await _config(rig))["notifyDownloads"] is False
    assert rig.autostart.on
    assert app.notifier.enabled["download"] is False
    assert app.notifier.enabled["failure"] is True


async def test_first_start_gives_an_old_configs_folders_ids_and_shows_them(rig: Rig, tmp_path):
    """A config.json of mfsync 0.3 (folders without ids): the app saves the ids it gave them
    once, the synced folder as the default folder, and the table shows label and id."""
    photos, notes = tmp_path / "Photos", tmp_path / "Notes"
    photos.mkdir()
    notes.mkdir()
    rig.config_path.parent.mkdir(parents=True, exist_ok=True)
    rig.config_path.write_text(json.dumps({"name": "desk", "folders": [
        {"path": str(photos), "mode": "share", "colour": "blue"},
        {"path": str(notes), "mode": "sync"}]}))
    rig.config_path.chmod(0o600)
    app = await rig.start_app(state_dir=tmp_path / "state")
    saved = await _config(rig)
    ids = [str(f.id) for f in app.service.status.folders]
    assert ids[1] == "0000-0000" and ids[0] != ids[1]
    assert saved == {"name": "desk", "folders": [
        {"path": str(photos), "mode": "share", "id": ids[0], "label": "Photos", "colour": "blue"},
        {"path": str(notes), "mode": "sync", "id": "0000-0000", "label": "Notes"}]}
    model = app.window.folders_model
    await wait_for(lambda: model.rowCount() == 2, what="two folders")
    shown = {model.data(model.index(row, 4)) for row in range(2)}
    assert shown == {f"Photos ({ids[0]})", "Notes (0000-0000)"}
