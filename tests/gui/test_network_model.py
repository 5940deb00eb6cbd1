"""The Network tab's table: each file named as people name it, grouped by folder, and a path in
two folders is two rows (a download names its folder)."""

import gc

from PySide6.QtWidgets import QApplication

from mfsync.engine.service import ServiceStatus
from mfsync.engine.status import HostRef, NodeStatus, RemoteFile, RemoteFolder
from mfsync.engine.transfer_status import TransfersStatus
from mfsync.gui.models import NetworkModel
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

NOTES = FolderId.parse("k3x9-pq2m")
HOST = HostRef(b"h" * 32, "10.0.0.2", 8000)
CID = b"c" * 32


def _status(files: tuple[RemoteFile, ...], folders: tuple[RemoteFolder, ...]) -> ServiceStatus:
    node = NodeStatus(files=files, remote_folders=folders)
    return ServiceStatus(node=node, transfers=TransfersStatus(), folders=(), own_key=b"k" * 32,
                         trusted_keys=frozenset(), key_names=())


def test_a_path_in_two_folders_is_two_rows_named_by_folder(qapp: QApplication) -> None:
    files = (RemoteFile("a.txt", 1, 0, CID, (HOST,)),
             RemoteFile("a.txt", 1, 0, CID, (HOST,), folder=NOTES),
             RemoteFile("z.txt", 1, 0, CID, (HOST,), folder=NOTES))
    folders = (RemoteFolder(DEFAULT_FOLDER, "default", (HOST,), 1, 1, False),
               RemoteFolder(NOTES, "Notes", (HOST,), 2, 2, True))
    model = NetworkModel(lambda _path: None, lambda: 0)
    model.update(_status(files, folders))
    assert model.rowCount() == 3
    rows = {(model.remote_folder(r), model.remote_path(r)): model.data(model.index(r, 0))
            for r in range(3)}
    assert rows == {(DEFAULT_FOLDER, "a.txt"): "a.txt", (NOTES, "a.txt"): "Notes:a.txt",
                    (NOTES, "z.txt"): "Notes:z.txt"}
    # A second folder with the label: the names turn to ids at once.
    other = FolderId.parse("ab12-cd34")
    folders += (RemoteFolder(other, "Notes", (HOST,), 0, 0, False),)
    model.update(_status(files, folders))
    assert {model.data(model.index(r, 0)) for r in range(3)} == {
        "a.txt", "k3x9-pq2m:a.txt", "k3x9-pq2m:z.txt"}
    # Gone here, not in a later test's garbage collection (which crashed Qt there).
    del model
    gc.collect()
