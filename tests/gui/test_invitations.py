"""Invitations in the app: a host offers a sync folder we do not have; the window shows a row
and the tray a notification; *Sync it here…* syncs it into the folder chosen, *Download once*
fetches its files once, *Ignore* keeps it ignored across a restart. Real nodes on loopback."""

from __future__ import annotations

import json
from pathlib import Path

from harness import _KEEP_ALIVE, Rig

from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.folder_config import FolderConfig
from mfsync.gui.invitations_panel import InvitationsPanel
from mfsync.protocol.folder_id import FolderId
from waiting import wait_for

PHOTOS = FolderId.parse("k3x9-pq2m")
FILES = {"beach.jpg": b"b" * 5000, "sub/hill.jpg": b"h" * 3000}


def _office(tmp_path: Path) -> Path:
    root = tmp_path / "office-photos"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


async def _offer(rig: Rig, tmp_path: Path, *, sync: bool = True) -> None:
    mode = FolderMode.SYNC if sync else FolderMode.SHARE
    await rig.node(name="office-pc", identity=Identity.generate(), folders=(
        FolderConfig(_office(tmp_path), mode, PHOTOS, "Photos"),))


def _panel(rig: Rig) -> InvitationsPanel:
    assert rig.app is not None and rig.app.window is not None
    return rig.app.window.folders_page.invitations


async def test_an_invitation_accepted_into_a_chosen_folder_syncs(rig: Rig,
                                                                 tmp_path: Path) -> None:
    app = await rig.start_app()
    await _offer(rig, tmp_path)
    panel = _panel(rig)
    await wait_for(lambda: len(panel.rows) == 1, 15.0, what="the invitation's row")
    row = panel.rows[0]
    assert row.label.text().startswith("office-pc shares 'Photos (k3x9-pq2m)' to sync: 2 files")
    assert panel.isVisibleTo(app.window)
    await wait_for(lambda: "invitation" in rig.sink.kinds(), what="the notification")
    (title, _text, _kind, _target), = [s for s in rig.sink.shown if s[2] == "invitation"]
    assert title == "office-pc shares 'Photos'"

    row.sync_button.click()
    dialog = panel.dialog
    assert dialog is not None
    assert dialog.path_edit.text() == str(rig.home / "Photos")  # the suggestion
    chosen = tmp_path / "elsewhere" / "My photos"  # not there yet: created
    rig.chosen.append(chosen)
    dialog.choose_button.click()  # the folder dialog (the rig answers it)
    assert dialog.path_edit.text() == str(chosen)
    dialog.path_edit.setText("")
    dialog.accept_path()  # nothing typed: refused, the dialog stays
    assert dialog.message.text() and dialog.isVisible()
    dialog.path_edit.setText(str(chosen))
    dialog.sync_button.click()
    for name, data in FILES.items():
        await wait_for(lambda name=name: (chosen / name).exists(), 20.0, what=name)
        assert (chosen / name).read_bytes() == data
    status = app.service.status
    (joined,) = [f for f in status.folders if f.id == PHOTOS]
    assert (joined.path, joined.mode, joined.label) == (chosen.resolve(), FolderMode.SYNC,
                                                       "Photos")
    await wait_for(lambda: not panel.rows and not app.service.status.invitations,
                   what="the invitation gone")
    assert not panel.isVisibleTo(app.window)
    await app.service.saved()
    saved = json.loads(rig.config_path.read_text())["folders"]
    assert [(f["id"], f["mode"]) for f in saved] == [("k3x9-pq2m", "sync")]
    await rig.close()  # the folder keeps syncing: stop it inside the test (see Rig.close)


async def test_an_ignored_invitation_stays_ignored_across_a_restart(rig: Rig,
                                                                    tmp_path: Path) -> None:
    app = await rig.start_app()
    await _offer(rig, tmp_path)
    panel = _panel(rig)
    await wait_for(lambda: len(panel.rows) == 1, 15.0, what="the invitation's row")
    panel.rows[0].ignore_button.click()
    await wait_for(lambda: not panel.rows, what="the row gone")
    await app.service.saved()
    assert json.loads(rig.config_path.read_text())["ignoredFolders"] == ["k3x9-pq2m"]

    await app.stop()
    _KEEP_ALIVE.append(app)  # (see Rig.close)
    shown_before = len(rig.sink.shown)
    app = await rig.start_app()
    # The folder is offered again (so the check below can fail), and yet no invitation.
    await wait_for(lambda: any(f.id == PHOTOS for f in app.service.status.node.remote_folders),
                   15.0, what="the folder offered to the restarted app")
    assert app.service.status.invitations == ()
    assert _panel(rig).rows == [] and not _panel(rig).isVisibleTo(app.window)
    assert app.notifier is not None
    app.notifier.flush(float("inf"))
    assert [s for s in rig.sink.shown[shown_before:] if s[2] == "invitation"] == []


async def test_download_once_fetches_the_files_and_keeps_the_invitation(
        rig: Rig, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    rig.config_path.parent.mkdir(parents=True, exist_ok=True)
    rig.config_path.write_text(json.dumps({"downloadFolder": str(downloads)}))
    rig.config_path.chmod(0o600)
    app = await rig.start_app()
    await _offer(rig, tmp_path)
    panel = _panel(rig)
    await wait_for(lambda: len(panel.rows) == 1, 15.0, what="the invitation's row")
    await wait_for(lambda: len([f for f in app.service.node_status.files
                                if f.folder == PHOTOS]) == 2, what="the folder's index")
    panel.rows[0].download_button.click()
    for name, data in FILES.items():
        target = downloads / "Photos" / name
        await wait_for(target.exists, 20.0, what=str(target))
        assert target.read_bytes() == data
    assert [i.folder for i in app.service.status.invitations] == [PHOTOS]
    assert all(f.id != PHOTOS for f in app.service.status.folders)  # not synced
    await rig.close()


async def test_a_share_only_folder_is_no_invitation(rig: Rig, tmp_path: Path) -> None:
    app = await rig.start_app()
    await _offer(rig, tmp_path, sync=False)
    await wait_for(lambda: any(f.id == PHOTOS for f in app.service.status.node.remote_folders),
                   15.0, what="the folder listed")
    assert app.service.status.invitations == () and _panel(rig).rows == []
