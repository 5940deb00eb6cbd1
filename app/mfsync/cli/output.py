"""How the command line prints files and hosts: plain, ``--long`` and ``--json``."""

import json

from mfsync.crypto.keys import format_key
from mfsync.display import shown
from mfsync.engine.folder_names import FolderNames
from mfsync.engine.status import PeerSnapshot, PeerState, RemoteFile
from mfsync.protocol.endpoints import format_host_port

__all__ = ["host_line", "json_line", "long_line", "plain_line"]


#: Names for files when no folder list is at hand: a named folder's files as ``ID:path``.
_NO_LABELS = FolderNames(())


def long_line(f: RemoteFile, names: FolderNames = _NO_LABELS) -> str:
    """``SIZE  HOSTS  CONTENT-ID(12)  FOLDER-ID  NAME`` (NAME as :func:`plain_line`)."""
    return (f"{f.size:>12}  {len(f.hosts):>5}  {f.content_id.hex()[:12]}  {f.folder}  "
            f"{shown(names.name_of(f))}")


def plain_line(f: RemoteFile, names: FolderNames = _NO_LABELS) -> str:
    """The file's name as ``fetch`` prints it: its path in the default folder, ``LABEL:path``
    or ``ID:path`` in another (see :mod:`mfsync.engine.folder_names`), escaped (see
    :mod:`mfsync.display`)."""
    return shown(names.name_of(f))


def json_line(f: RemoteFile, names: FolderNames = _NO_LABELS) -> str:
    """One JSON object: name, path (in its folder), folder (id), folderLabel, size,
    content_id (hex), hosts (their public keys)."""
    return json.dumps(
        {
            "name": names.name_of(f),
            "path": f.path,
            "folder": str(f.folder),
            "folderLabel": names.label(f.folder),
            "size": f.size,
            "content_id": f.content_id.hex(),
            "hosts": sorted({format_key(h.key) for h in f.hosts}),
        },
        ensure_ascii=False,
    )


_NOTES = {
    PeerState.ANNOUNCED: "not verified yet",
    PeerState.REFUSED: "refused us",
    PeerState.UNREACHABLE: "unreachable",
    PeerState.UNTRUSTED: "",
    PeerState.CONNECTED: "",
}


def host_line(peer: PeerSnapshot, name: str) -> str:
    """``KEY  ADDRESS:PORT  NAME  FILES  trusted|untrusted  [NOTE]``.

    KEY is the key the host proved in a handshake; a key only announced (never proven) is
    marked with a trailing ``?``.
    """
    if peer.key is not None:
        key = format_key(peer.key)
    elif peer.announced_key is not None:
        key = format_key(peer.announced_key) + "?"
    else:
        key = "?" * 64
    files = "-" if peer.files is None else str(peer.files)
    trust = "trusted" if peer.trusted else "untrusted"
    note = _NOTES[peer.state]
    if peer.state is PeerState.UNREACHABLE and peer.error:
        note = f"unreachable: {shown(peer.error)}"
    where = format_host_port(peer.address, peer.port)
    line = f"{key}  {where}  {shown(name) or '-'}  {files}  {trust}"
    return f"{line}  ({note})" if note else line
