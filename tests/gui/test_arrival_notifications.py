"""Download notifications name the folder the files arrived in: a synced folder's label, the
download folder, grouped by folder when several; with snapshots, and with a real synced folder
on loopback."""

from __future__ import annotations

import math
from pathlib import Path

from harness import RecordingSink, Rig

from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.engine.service import ServiceStatus
from mfsync.engine.status import NodeStatus
from mfsync.engine.transfer_status import TransferSnapshot, TransfersStatus, TransferState
from mfsync.folder_config import FolderConfig
from mfsync.gui.bridge import DOWNLOAD_FOLDER_NAME, arrival_folder, derive_events
from mfsync.gui.i18n import tr
from mfsync.gui.notify import Notifier
from mfsync.protocol.folder_id import FolderId
from waiting import wait_for

PHOTOS = FolderConfig(Path("/srv/photos"), id=FolderId.new(), label="Photos")
NESTED = FolderConfig(Path("/srv/photos/raw"), id=FolderId.new(), label="Raw")
DOWNLOADS = Path("/home/u/Downloads/mfsync")


def _done(root: Path, path: str) -> TransferSnapshot:
    return TransferSnapshot(path, 5, 5, 5, TransferState.DONE, key=(root, path),
                            target=root / path)


def _status(*transfers: TransferSnapshot) -> ServiceStatus:
    return ServiceStatus(node=NodeStatus(), transfers=TransfersStatus(transfers),
                         folders=(PHOTOS, NESTED), own_key=bytes(32),
                         trusted_keys=frozenset(), key_names=())


def _texts(*transfers: TransferSnapshot) -> list[str]:
    sink = RecordingSink()
    notifier = Notifier(sink)
    derive_events(_status(), _status(*transfers), notifier, lambda: DOWNLOADS)
    notifier.flush(math.inf)
    return [text for _title, text, _kind, _target in sink.shown]


def test_the_folder_is_the_innermost_shared_one_else_the_download_folder() -> None:
    status = _status()
    assert arrival_folder(status, _done(PHOTOS.path, "a/b.jpg")) == "Photos"
    assert arrival_folder(status, _done(NESTED.path, "c.raw")) == "Raw"
    assert arrival_folder(status, _done(DOWNLOADS, "d.txt"), lambda: DOWNLOADS) == (
        tr(DOWNLOAD_FOLDER_NAME))
    assert arrival_folder(status, _done(Path("/tmp/chosen"), "e.txt"), lambda: DOWNLOADS) == (
        "chosen")


def test_one_file_and_many_name_their_folder() -> None:
    assert _texts(_done(PHOTOS.path, "beach.jpg")) == [
        "beach.jpg arrived in Photos from another host"]
    assert _texts(*(_done(PHOTOS.path, f"{n}.jpg") for n in range(3))) == [
        "3 files arrived in Photos from another host"]
    assert _texts(_done(DOWNLOADS, "report.pdf")) == [
        "report.pdf arrived in the download folder from another host"]


def test_files_of_several_folders_are_grouped_by_folder() -> None:
    two = [_done(PHOTOS.path, "1.jpg"), _done(NESTED.path, "1.raw"), _done(PHOTOS.path, "2.jpg")]
    assert _texts(*two) == ["3 files arrived in Photos (2) and Raw (1) from another host"]
    four = [*two, _done(DOWNLOADS, "x.txt"), _done(Path("/tmp/chosen"), "y.txt")]
    assert _texts(*four) == [
        "5 files arrived in Photos (2), Raw (1) and 2 more folders from another host"]


def test_a_notifier_told_no_folder_says_what_it_said_before() -> None:
    sink = RecordingSink()
    notifier = Notifier(sink)
    notifier.downloaded("r.pdf", DOWNLOADS / "r.pdf", "desk")
    notifier.flush(math.inf)
    assert sink.shown[0][1] == "r.pdf from desk"


async def test_files_synced_into_a_folder_are_said_to_arrive_in_it(rig: Rig,
                                                                    tmp_path: Path) -> None:
    shared = tmp_path / "anna"
    shared.mkdir()
    for n in range(2):
        (shared / f"pic{n}.jpg").write_bytes(bytes([n]) * 4000)
    photos = tmp_path / "Photos"
    photos.mkdir()
    app = await rig.start_app()
    await app.service.add_folder(photos, FolderMode.SYNC)  # the default folder's (first synced)
    await rig.node(share_dir=shared, name="laptop-anna", identity=Identity.generate())
    for n in range(2):
        await wait_for(lambda n=n: (photos / f"pic{n}.jpg").exists(), what=f"pic{n}.jpg")
    await wait_for(lambda: "download" in rig.sink.kinds(), what="the download notification")
    texts = [text for _title, text, kind, _target in rig.sink.shown if kind == "download"]
    assert texts == ["2 files arrived in Photos from laptop-anna"], texts
    await rig.close()  # the folder keeps syncing: stop it inside the test (see Rig.close)
