"""Table models for the main window, fed from ``ServiceStatus`` snapshots.

How it works: each model turns a snapshot into rows keyed by something stable (a folder's path,
a file's path and content, a transfer's target, a host's endpoint). ``KeyedTableModel.set_rows``
then changes the model in place and moves persistent indexes along by key, so a selection or the
current row survives the updates that arrive several times a second during transfers. The
network's files can number tens of thousands and rarely change while those updates arrive, so
``NetworkModel`` rebuilds only the rows whose inputs changed (see there).
"""

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from mfsync.crypto.keys import format_key, short_key
from mfsync.display import shown
from mfsync.engine.folder_names import FolderId, FolderNames
from mfsync.engine.service import FolderMode, ServiceStatus
from mfsync.engine.status import PeerState, RemoteFile
from mfsync.engine.transfer_status import TransferState
from mfsync.gui.audience_text import describe_audience
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.report_texts import render
from mfsync.gui.state_texts import state_text

#: Transfer states in which the network table shows a file as being downloaded.
_DOWNLOADING_STATES = frozenset({TransferState.QUEUED, TransferState.VERIFYING,
                                 TransferState.DOWNLOADING, TransferState.WAITING,
                                 TransferState.PAUSED})
#: Transfer states in which the file is here (as long as the transfer is remembered).
_FETCHED_STATES = frozenset({TransferState.DONE, TransferState.SKIPPED})
_DOWNLOADING, _DOWNLOADED = "downloading", "downloaded"
#: The paths of the transfers the network table shows, each with one of those two words.
_Transfers = frozenset[tuple[str, str]]

__all__ = [
    "PROGRESS_ROLE",
    "FileState",
    "FoldersModel",
    "HostsModel",
    "KeyedTableModel",
    "NetworkModel",
    "folder_name",
    "human_duration",
    "human_size",
]

#: A fraction from 0 to 1 for the progress column (None: no bar).
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2
#: A value to sort by, where the text does not sort well (sizes, times).
SORT_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex


def human_size(size: float) -> str:
    """``1.5 MB`` and the like (powers of 1000, as file managers show)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns


def human_duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass(frozen=True, slots=True)
class Row:
    """One table row: its key, the texts of its cells, and optional per-cell extras."""

    key: Hashable
    cells: tuple[str, ...]
    sort: tuple[Any, ...] = ()
    progress: float | None = None
    tooltip: str = ""


class KeyedTableModel(QAbstractTableModel):
    """A read-only table whose rows are replaced wholesale but tracked by key."""

    HEADERS: tuple[str, ...] = ()
    #: The column whose cell carries ``PROGRESS_ROLE``.
    PROGRESS_COLUMN = -1

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[Row] = []

    # -- Qt interface -------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        """Rows under the (invisible) root."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        """One column per header."""
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt API
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return tr(self.HEADERS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A cell's text, key, progress, sort value or tooltip."""
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return shown(row.cells[column])  # names from peers: escaped, never raw
        if role == PROGRESS_ROLE and column == self.PROGRESS_COLUMN:
            return row.progress
        if role == SORT_ROLE:
            return row.sort[column] if column < len(row.sort) else row.cells[column].lower()
        if role == Qt.ItemDataRole.ToolTipRole and row.tooltip:
            return "\n".join(shown(line) for line in row.tooltip.split("\n"))
        return None

    # -- updates --------------------------------------------------------------------------

    def key_at(self, row: int) -> Hashable:
        """The key of row ``row``."""
        return self._rows[row].key

    def keys(self) -> list[Hashable]:
        """Every row's key, in order."""
        return [r.key for r in self._rows]

    def row_of(self, key: Hashable) -> int:
        """The row holding ``key``, or -1."""
        for number, row in enumerate(self._rows):
            if row.key == key:
                return number
        return -1

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Replace the rows; unchanged keys keep their selection and current index."""
        old_keys = [r.key for r in self._rows]
        new_keys = [r.key for r in rows]
        if old_keys == new_keys:
            changed = [n for n, (a, b) in enumerate(zip(self._rows, rows, strict=True))
                       if a is not b and a != b]
            self._rows = list(rows)
            if changed:
                self.dataChanged.emit(self.index(min(changed), 0),
                                      self.index(max(changed), self.columnCount() - 1))
            return
        self.layoutAboutToBeChanged.emit()
        position = {key: n for n, key in enumerate(new_keys)}
        persistent = self.persistentIndexList()
        moved = []
        for index in persistent:
            key = old_keys[index.row()] if index.row() < len(old_keys) else None
            new_row = position.get(key, -1) if key is not None else -1
            moved.append(self.index(new_row, index.column()) if new_row >= 0 else QModelIndex())
        self._rows = list(rows)
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def replace_rows(self, changes: dict[int, Row]) -> None:
        """Put ``changes`` (row number: new row, with the same key) in place; one
        ``dataChanged`` per row, so that a proxy looks at those rows only."""
        last = self.columnCount() - 1
        for number, row in sorted(changes.items()):
            assert row.key == self._rows[number].key
            if row == self._rows[number]:
                continue
            self._rows[number] = row
            self.dataChanged.emit(self.index(number, 0), self.index(number, last))

    def update(self, status: ServiceStatus) -> None:
        """Rebuild the rows from a snapshot."""
        raise NotImplementedError


class FoldersModel(KeyedTableModel):
    """The shared folders: path, mode, files, state, the label with the id beside it (two
    folders of one label are told apart by their ids) and who may see it (its devices)."""

    HEADERS = (QT_TR_NOOP("Folder"), QT_TR_NOOP("Mode"), QT_TR_NOOP("Files"),
               QT_TR_NOOP("State"), QT_TR_NOOP("Label and id"), QT_TR_NOOP("Devices"))

    def update(self, status: ServiceStatus) -> None:
        """Rows from the configured folders and what the node reports of each."""
        live = {f.path: f for f in status.node.folders}
        rows = []
        for folder in status.folders:
            info = live.get(folder.path)
            busy = status.busy_reason(folder.path)
            if busy:
                state, files = tr("busy: {reason}").format(reason=render(busy)), ""
            elif info is None:
                state, files = tr("starting"), ""
            elif info.error:
                state, files = tr("error: {error}").format(error=info.error), str(info.files)
            else:
                state = tr("scanning") if info.scanning else tr("up to date")
                files = str(info.files)
            mode = tr("sync") if folder.mode == FolderMode.SYNC else tr("share only")
            named = folder_name(folder.label, str(folder.id))
            devices = describe_audience(folder.devices, status)
            rows.append(Row(folder.path, (str(folder.path), mode, files, state, named, devices),
                            sort=(str(folder.path).lower(), mode, int(files or 0), state,
                                  named.lower(), devices.lower()),
                            tooltip=tr("{path}\n{name}\nShared with {devices}").format(
                                path=folder.path, name=named, devices=devices)))
        self.set_rows(rows)


def folder_name(label: str, folder_id: str) -> str:
    """A folder as people see it: its label with its id beside it, ``Photos (k3x9-pq2m)``."""
    return f"{label} ({folder_id})"


class FileState:
    """Where a file on the network stands relative to us."""

    REMOTE = "remote"
    LOCAL = "local"
    DOWNLOADING = "downloading"
    #: Fetched here into a folder we do not share (the download folder, or a chosen one).
    DOWNLOADED = "downloaded"
    CONFLICT = "conflict"


class NetworkModel(KeyedTableModel):
    """Every file the network offers: name, size, hosts, state.

    A file is named as people name it (``mfsync.engine.folder_names``: its path in the default
    folder, ``LABEL:path`` in another), and sorted by that name, so each folder's files stand
    together; the hosts that offer it are a column of their own.

    A row depends on the file (``status.node.files``), on whether a transfer of its path is
    under way, on what our folders hold (``local_content_id``) and on the names of its hosts.
    Snapshots come several times a second during a transfer, nearly always with the same files,
    so ``update`` compares those inputs with the previous snapshot's: with nothing changed it
    does nothing, when only transfers started or ended it rebuilds the rows of their paths, and
    otherwise it rebuilds the table but reuses every row whose file and state are unchanged.
    ``local_version`` must change whenever ``local_content_id`` may answer differently; without
    it every update asks ``local_content_id`` about every file again.
    """

    HEADERS = (QT_TR_NOOP("Name"), QT_TR_NOOP("Size"), QT_TR_NOOP("Hosts"), QT_TR_NOOP("State"))

    def __init__(self, local_content_id: Callable[[str], bytes | None],
                 local_version: Callable[[], Hashable] | None = None) -> None:
        super().__init__()
        self._local = local_content_id
        self._local_version = local_version
        # What the current rows were built from; _files is None before the first update.
        self._files: tuple[RemoteFile, ...] | None = None
        self._active: _Transfers = frozenset()
        self._labels: Hashable = None
        self._local_seen: Hashable = None
        # Beside self._rows, the file and state each row shows; the number of the row of each
        # key and the numbers of the rows of each path (one per distinct content). Flat lists
        # and ints: with many files, objects per row would make every garbage collection longer.
        self._remotes: list[RemoteFile] = []
        self._states: list[str] = []
        self._numbers: dict[Hashable, int] = {}
        self._path_rows: dict[str, int | tuple[int, ...]] = {}
        self._folder_names = FolderNames(())

    def update(self, status: ServiceStatus) -> None:
        """Rows from the network's files, with each one's state here."""
        active = frozenset((t.path, _DOWNLOADING if t.state in _DOWNLOADING_STATES else
                            _DOWNLOADED) for t in status.transfers.transfers
                           if t.state in _DOWNLOADING_STATES or t.state in _FETCHED_STATES)
        names = {p.key: p.name for p in status.node.peers if p.key is not None}
        folder_names = FolderNames.of(status.node)
        labels = (status.key_names, tuple(sorted(names.items())),
                  tuple((f.id, f.label) for f in status.node.remote_folders))
        local = self._local_version() if self._local_version is not None else None
        files = status.node.files
        if (self._files is not None and local is not None and local == self._local_seen
                and labels == self._labels and (files is self._files or files == self._files)):
            self._files = files  # equal: the next snapshot is likely to hold this very tuple
            if active != self._active:
                self._patch(active)
            return
        self._folder_names = folder_names
        self._rebuild(files, active, labels=labels, names=names,
                      configured=dict(status.key_names), local=local)

    def _rebuild(self, files: tuple[RemoteFile, ...], active: _Transfers, *,
                 labels: Hashable, names: dict[bytes, str], configured: dict[bytes, str],
                 local: Hashable) -> None:
        previous = self._numbers if labels == self._labels else {}
        old_rows, old_remotes, old_states = self._rows, self._remotes, self._states
        numbers: dict[Hashable, int] = {}
        path_rows: dict[str, int | tuple[int, ...]] = {}
        rows: list[Row] = []
        states: list[str] = []
        for number, remote in enumerate(files):
            key = (remote.path, remote.content_id, remote.folder)
            state = self._state(remote, active)
            old = previous.get(key)
            if (old is not None and old_states[old] == state
                    and (old_remotes[old] is remote or old_remotes[old] == remote)):
                row = old_rows[old]
            else:
                hosts = ", ".join(sorted({configured.get(h.key) or names.get(h.key, "")
                                          or h.address for h in remote.hosts}))
                row = self._row(remote, state, hosts)
            numbers[key] = number
            same_path = path_rows.get(remote.path)
            path_rows[remote.path] = number if same_path is None else (
                (same_path, number) if isinstance(same_path, int) else (*same_path, number))
            rows.append(row)
            states.append(state)
        self._files, self._active, self._labels, self._local_seen = files, active, labels, local
        self._remotes, self._states = list(files), states
        self._numbers, self._path_rows = numbers, path_rows
        self.set_rows(rows)

    def _patch(self, active: _Transfers) -> None:
        """Only the paths being (or done being) downloaded changed: rebuild their rows."""
        changed = {path for path, _ in active ^ self._active}
        self._active = active
        changes: dict[int, Row] = {}
        for path in changed:
            numbers = self._path_rows.get(path, ())
            for number in (numbers,) if isinstance(numbers, int) else numbers:
                remote = self._remotes[number]
                state = self._state(remote, active)
                if state != self._states[number]:
                    self._states[number] = state
                    changes[number] = self._row(remote, state, self._rows[number].cells[2])
        self.replace_rows(changes)

    def _row(self, remote: RemoteFile, state: str, hosts: str) -> Row:
        name = self._folder_names.name_of(remote)
        folder = ("" if remote.folder.is_default else tr("folder {label} ({id})").format(
            label=self._folder_names.label(remote.folder), id=remote.folder) + "\n")
        return Row(
            (remote.path, remote.content_id, remote.folder),
            (name, human_size(remote.size), hosts, state_text(state)),
            sort=(name.lower(), remote.size, hosts, state),
            tooltip=tr("{name}\n{folder}{size} bytes\ncontent {content}").format(
                name=name, folder=folder, size=f"{remote.size:,}",
                content=remote.content_id.hex()[:16]),
        )

    def _state(self, remote: RemoteFile, active: _Transfers) -> str:
        if (remote.path, _DOWNLOADING) in active:
            return FileState.DOWNLOADING
        local = self._local(remote.path)
        if local is None:
            return (FileState.DOWNLOADED if (remote.path, _DOWNLOADED) in active
                    else FileState.REMOTE)
        return FileState.LOCAL if local == remote.content_id else FileState.CONFLICT

    def remote_path(self, row: int) -> str:
        """The network path of row ``row`` (in its folder: ``remote_folder``)."""
        key = self.key_at(row)
        assert isinstance(key, tuple)
        return str(key[0])

    def remote_folder(self, row: int) -> FolderId:
        """The network's folder that holds row ``row``'s file."""
        key = self.key_at(row)
        assert isinstance(key, tuple) and isinstance(key[2], FolderId)
        return key[2]


class HostsModel(KeyedTableModel):
    """Hosts seen: name, address, short key, trust, last seen, files offered."""

    HEADERS = (QT_TR_NOOP("Name"), QT_TR_NOOP("Address"), QT_TR_NOOP("Key"),
               QT_TR_NOOP("Trust"), QT_TR_NOOP("Last seen"), QT_TR_NOOP("Files"))

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._seen: dict[Hashable, float] = {}

    def update(self, status: ServiceStatus) -> None:
        """Rows from the peers in the snapshot."""
        now = self._clock()
        rows = []
        anyone = not status.trusted_keys
        for peer in status.node.peers:
            endpoint = (peer.address, peer.port)
            key = peer.key or peer.announced_key
            if (peer.state in (PeerState.CONNECTED, PeerState.ANNOUNCED)
                    or endpoint not in self._seen):
                self._seen[endpoint] = now
            name = (status.name_of(key) if key else "") or peer.name or peer.address
            if key is None:
                trust = tr("unknown")
            elif peer.state is PeerState.REFUSED:
                trust = tr("refuses us")
            elif key in status.trusted_keys:
                trust = tr("trusted") if peer.key else tr("trusted (not yet proven)")
            else:
                trust = tr("anyone may connect") if anyone else tr("untrusted")
            ago = now - self._seen[endpoint]
            seen = tr("now") if ago < 5 else tr("{duration} ago").format(
                duration=human_duration(ago))
            files = "" if peer.files is None else str(peer.files)
            tooltip = (f"{format_key(key)}\n" if key else "") + (
                state_text(peer.state.value) + (f": {peer.error}" if peer.error else ""))
            rows.append(Row(
                endpoint,
                (name, f"{peer.address}:{peer.port}", short_key(key) if key else "", trust, seen,
                 files),
                sort=(name.lower(), f"{peer.address}:{peer.port:05d}",
                      short_key(key) if key else "",
                      trust, -self._seen[endpoint], peer.files or 0),
                tooltip=tooltip,
            ))
        self.set_rows(rows)

    def peer_key(self, row: int, status: ServiceStatus) -> bytes | None:
        """The (proven, else announced) key of row ``row``'s host."""
        endpoint = self.key_at(row)
        for peer in status.node.peers:
            if (peer.address, peer.port) == endpoint:
                return peer.key or peer.announced_key
        return None
