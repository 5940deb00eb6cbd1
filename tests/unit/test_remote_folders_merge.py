"""The network's offer is keyed by (folder, path): the merge of several peers' tables never
joins the same path of two folders, even with the same content."""

from mfsync.engine.remote_index import merge_tables
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.net.steps import to_end
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

NOTES = FolderId.parse("k3x9-pq2m")
A = HostRef(b"a" * 32, "10.0.0.1", 8000)
B = HostRef(b"b" * 32, "10.0.0.2", 8000)
CID = b"c" * 32


def test_the_same_content_in_two_folders_stays_two_entries() -> None:
    peer_a = (RemoteFile("a.txt", 1, 0, CID, (A,)),
              RemoteFile("a.txt", 1, 0, CID, (A,), folder=NOTES))
    peer_b = (RemoteFile("a.txt", 1, 0, CID, (B,), folder=NOTES),
              RemoteFile("b.txt", 1, 0, CID, (B,), folder=NOTES))
    merged = to_end(merge_tables([peer_a, peer_b]))
    assert [(f.folder, f.path, f.hosts) for f in merged] == [
        (DEFAULT_FOLDER, "a.txt", (A,)),
        (NOTES, "a.txt", (A, B)),  # the same folder's: one entry offered by both
        (NOTES, "b.txt", (B,)),
    ]
