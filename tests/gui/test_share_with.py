"""Who sees a folder, in the desktop app: the Devices column, the "Share with…" dialog, and the
issue's test (a real service, a real peer connection on loopback: dropping the peer's key cuts
the folder off that very connection)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from harness import Rig
from PySide6.QtCore import QItemSelectionModel, Qt

from mfsync.audience import EVERYONE, TRUSTED, Audience
from mfsync.crypto.keys import Identity, format_key, short_key
from mfsync.engine.service import ServiceStatus
from mfsync.engine.status import NodeStatus, PeerSnapshot, PeerState
from mfsync.engine.transfer_status import TransfersStatus
from mfsync.folder_config import FolderConfig
from mfsync.gui.audience_text import candidate_hosts, describe_audience
from mfsync.gui.i18n import tr
from mfsync.gui.models import FoldersModel
from mfsync.gui.share_with_dialog import NOBODY_CHECKED, ShareWithDialog
from mfsync.net.channel import PeerRefused, SecureChannel, open_channel
from mfsync.net.client import request_folders, request_index, stream_range
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import ErrorCode, Hello
from waiting import wait_for

OWN, LAPTOP, OFFICE, SEEN, STRAY = (Identity.generate().public_key for _ in range(5))
PHOTOS = FolderId.parse("k3x9-pq2m")
DEVICES_COLUMN = FoldersModel.HEADERS.index("Devices")


def _status(folders: tuple[FolderConfig, ...] = (), *,
            trusted: frozenset[bytes] = frozenset({LAPTOP, OFFICE})) -> ServiceStatus:
    seen = PeerSnapshot("127.0.0.1", 8000, "kitchen-pc", SEEN, SEEN, PeerState.CONNECTED, 3,
                        SEEN in trusted)
    return ServiceStatus(node=NodeStatus(peers=(seen,)), transfers=TransfersStatus(),
                         folders=folders, own_key=OWN, trusted_keys=trusted,
                         key_names=((LAPTOP, "laptop"), (OFFICE, "office-pc")))


def _folder(devices: Audience | None) -> FolderConfig:
    return FolderConfig(Path("/srv/photos"), id=PHOTOS, label="Photos", devices=devices)


def test_an_audience_is_said_in_a_few_words() -> None:
    status = _status()
    assert describe_audience(EVERYONE, status) == "everyone"
    assert describe_audience(TRUSTED, status) == "trusted keys (2)"
    assert describe_audience(None, status) == "trusted keys (2)"  # the trust list's default
    assert describe_audience(None, _status(trusted=frozenset())) == "everyone"
    # configured names, else the announced one, else the short key; sorted by name
    assert describe_audience(Audience.of_keys(frozenset({OFFICE, LAPTOP})), status) == (
        "laptop, office-pc")
    assert describe_audience(Audience.of_keys(frozenset({SEEN})), status) == "kitchen-pc"
    assert describe_audience(Audience.of_keys(frozenset({STRAY})), status) == short_key(STRAY)
    many = Audience.of_keys(frozenset({OFFICE, LAPTOP, SEEN, STRAY, OWN}))
    assert describe_audience(many, status).endswith(" and 2 more")
    assert describe_audience(Audience.of_keys(frozenset()), status) == "nobody else"


def test_the_folders_table_has_a_devices_column() -> None:
    model = FoldersModel()
    folders = tuple(FolderConfig(Path(f"/srv/{n}"), id=FolderId.new(), label=n, devices=d)
                    for n, d in (("a", None), ("b", EVERYONE),
                                 ("c", Audience.of_keys(frozenset({LAPTOP, OFFICE})))))
    model.update(_status(folders))
    assert model.headerData(DEVICES_COLUMN, Qt.Orientation.Horizontal) == "Devices"
    cells = [model.data(model.index(row, DEVICES_COLUMN)) for row in range(3)]
    assert cells == ["trusted keys (2)", "everyone", "laptop, office-pc"]
    tooltip = model.data(model.index(2, 0), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.endswith("Shared with laptop, office-pc")


def test_the_hosts_offered_are_the_trusted_and_the_seen_never_our_own() -> None:
    status = _status()
    offered = candidate_hosts(status, Audience.of_keys(frozenset({STRAY, OWN})))
    assert [c.label for c in offered] == ["kitchen-pc", "laptop", "office-pc", short_key(STRAY)]
    assert [(c.trusted, c.seen) for c in offered] == [
        (False, True), (True, False), (True, False), (False, False)]


def _dialog(qtbot: Any, devices: Audience | None,
            chosen: list[Audience | None]) -> ShareWithDialog:
    dialog = ShareWithDialog(_status(), _folder(devices), chosen.append)
    qtbot.addWidget(dialog)
    return dialog


def test_the_dialog_starts_from_the_current_devices(qtbot: Any) -> None:
    chosen: list[Audience | None] = []
    dialog = _dialog(qtbot, Audience.of_keys(frozenset({OFFICE})), chosen)
    assert dialog.only.isChecked() and dialog.hosts.isEnabled()
    assert dialog.checked_keys() == {OFFICE}
    assert "Both ways" in dialog.hint.text()
    dialog.everyone.setChecked(True)
    assert not dialog.hosts.isEnabled() and "Every computer" in dialog.hint.text()
    dialog.accept()
    assert chosen == [EVERYONE]
    default = _dialog(qtbot, None, chosen)
    assert default.trusted.isChecked()  # the default with a trust list
    default.accept()  # the same as its default: it keeps naming no devices, nothing is set
    assert chosen == [EVERYONE]


def test_only_these_with_nothing_checked_is_refused(qtbot: Any) -> None:
    chosen: list[Audience | None] = []
    dialog = _dialog(qtbot, EVERYONE, chosen)
    dialog.show()
    dialog.only.setChecked(True)
    dialog.set_checked(frozenset())
    dialog.ok_button.click()
    assert chosen == [] and dialog.isVisible()
    assert dialog.error.isVisibleTo(dialog) and dialog.error.text() == tr(NOBODY_CHECKED)
    dialog.set_checked(frozenset({SEEN, LAPTOP}))
    assert not dialog.error.isVisibleTo(dialog)  # checking a host clears the refusal
    dialog.ok_button.click()
    assert chosen == [Audience.of_keys(frozenset({SEEN, LAPTOP}))] and not dialog.isVisible()


# -- the test: a real service, a real connection -------------------------------------

FRIEND, OTHER = Identity.generate(), Identity.generate()


async def _open(port: int, identity: Identity) -> SecureChannel:
    return await open_channel("127.0.0.1", port, identity, hello=Hello(name="client"),
                              authorize=lambda _key: True, timeout=5)


async def _refused(call: Any) -> ErrorCode:
    with pytest.raises(PeerRefused) as refused:
        await call
    return refused.value.code


async def _get(channel: SecureChannel, folder: FolderId, content_id: bytes) -> None:
    async for _ in stream_range(channel, "beach.jpg", content_id, 0, 5, folder=folder):
        pass


async def test_share_with_changes_who_sees_the_folder_at_once(rig: Rig, tmp_path: Path) -> None:
    folder = tmp_path / "Photos"
    folder.mkdir()
    (folder / "beach.jpg").write_bytes(b"waves" * 100)
    rig.config_path.parent.mkdir(parents=True)
    rig.config_path.write_text(json.dumps({
        "trustedKeys": [format_key(FRIEND.public_key), format_key(OTHER.public_key)],
        "keyNames": {format_key(FRIEND.public_key): "laptop",
                     format_key(OTHER.public_key): "office-pc"}}))
    app = await rig.start_app()
    added = await app.service.add_folder(folder)
    page = app.window.folders_page
    await wait_for(lambda: app.window.folders_model.rowCount() == 1, what="the folder's row")
    model = app.window.folders_model
    assert model.data(model.index(0, DEVICES_COLUMN)) == "trusted keys (2)"
    assert not page.share_button.isEnabled()  # nothing selected yet
    assert app.service.node.server is not None
    friend = await _open(app.service.node.server.port, FRIEND)
    try:
        assert added.id in {f.id for f in (await request_folders(friend)).folders}
        _, entries = await request_index(friend, folder=added.id)
        assert [e.path for e in entries] == ["beach.jpg"]
        content_id = entries[0].content_id

        page.view.selectionModel().select(
            page.proxy.index(0, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
        assert page.share_button.isEnabled()
        page.share_button.click()
        dialog = page.share_dialog
        assert dialog is not None and dialog.isVisible()
        labels = [dialog.hosts.item(r).text() for r in range(dialog.hosts.count())]
        assert [label.split(" (")[0] for label in labels] == ["laptop", "office-pc"]
        dialog.only.setChecked(True)
        dialog.set_checked(frozenset({OTHER.public_key}))  # the friend loses access
        dialog.ok_button.click()
        assert page.share_dialog is None

        # The same open connection: the folder is no longer listed, nor served.
        assert added.id not in {f.id for f in (await request_folders(friend)).folders}
        assert await _refused(request_index(friend, folder=added.id)) == (
            ErrorCode.NO_SUCH_FOLDER)
        assert await _refused(_get(friend, added.id, content_id)) == ErrorCode.NO_SUCH_FOLDER
    finally:
        await friend.close()
    [shared] = app.service.status.folders
    assert shared.devices == Audience.of_keys(frozenset({OTHER.public_key}))
    await wait_for(lambda: model.data(model.index(0, DEVICES_COLUMN)) == "office-pc",
                   what="the Devices column to follow")
    await app.service.saved()
    saved = json.loads(rig.config_path.read_text())["folders"]
    assert [f.get("devices") for f in saved] == [[format_key(OTHER.public_key)]]
    other = await _open(app.service.node.server.port, OTHER)
    try:  # the one kept sees it still
        _, entries = await request_index(other, folder=added.id)
        assert [e.path for e in entries] == ["beach.jpg"]
    finally:
        await other.close()
