"""What the sync policy saw at its last runs, so that a run looks again only at what changed.

A sync folder's policy runs after every change of the network's files and of our own, and a
folder filling up changes after every file that lands. Looking at all N names each time made
a folder of N files cost N looks at N names. ``PolicyMemo`` keeps two things between runs:

- the network's offer of the folder grouped by name, kept while the node's file list is the
  same object (most runs follow a download of ours, not a change of the network) and the
  hosts it held are admitted as before;
- the names for which the policy decided there was nothing to fetch, with the offers and our
  copy it decided on. Our file and index row are compared by identity: the share set replaces
  them whenever they change, so an unchanged identity means an unchanged copy (a replaced but
  equal one only costs another look).

A run does not even look at a settled name when nothing can have changed for it: the offer is
the very grouping of the last run, and the share set's change log (the one index deltas are
built from) does not name it since the generation the last run started at. So a run over a
folder of 100,000 settled names looks at the few that are not settled and the few that changed
(it took a quarter of a second to go through all of them, after every batch that landed).
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from mfsync.engine.folder_sources import FolderSources
from mfsync.engine.status import RemoteFile
from mfsync.store.index_db import FileRecord
from mfsync.store.local_file import LocalFile
from mfsync.store.shareset import ShareSet

__all__ = ["PolicyMemo"]


@dataclass(frozen=True, slots=True)
class _Settled:
    """A name the policy found nothing to do for: the offers it saw and our copy then."""

    offers: list[RemoteFile]
    ours: LocalFile | None
    record: FileRecord | None


@dataclass(frozen=True, slots=True)
class _Grouped:
    """The folder's files by name (``by_path``), built from ``files`` (a node status's,
    compared by identity) with the audience's answers in ``admitted``."""

    files: tuple[RemoteFile, ...]
    admitted: dict[bytes, bool]
    by_path: dict[str, list[RemoteFile]]


class PolicyMemo:
    """The sync policy's memory between runs (see the module's docstring)."""

    def __init__(self, sources: FolderSources) -> None:
        self._sources = sources
        self._grouped: _Grouped | None = None
        self._settled: dict[str, _Settled] = {}
        #: The grouping the last complete run looked at, and our share set's generation when
        #: it began (None: the last run stopped early, or failed); the same of this run.
        self._looked: tuple[dict[str, list[RemoteFile]], int] | None = None
        self._started: tuple[dict[str, list[RemoteFile]], int] | None = None

    def by_path(self, files: tuple[RemoteFile, ...]) -> dict[str, list[RemoteFile]]:
        """The offers of the folder's files in ``files`` by name, from the hosts it admits
        (the audience asked once per host)."""
        grouped = self._grouped
        if grouped is not None and grouped.files is files and all(
                self._sources.admits(key) is answer for key, answer in grouped.admitted.items()):
            return grouped.by_path
        admitted: dict[bytes, bool] = {}
        by_path: dict[str, list[RemoteFile]] = {}
        for remote in files:
            taken = self._sources.take(remote, admitted)
            if taken is not None and taken.hosts:
                offers = by_path.get(taken.path)
                if offers is None:  # (a list of one made whole: 24 bytes less than appended)
                    by_path[taken.path] = [taken]
                else:
                    offers.append(taken)
        self._grouped = _Grouped(files, admitted, by_path)
        return by_path

    def to_look_at(self, by_path: dict[str, list[RemoteFile]], share: ShareSet
                   ) -> Iterable[str]:
        """The names of ``by_path`` (in its order) a run looks at: every one after the offer
        changed (and the settled names no longer offered are forgotten) or after a run that
        did not look at all it was given (``completed`` was not called), else those not
        settled and those ``share`` changed since the last run began."""
        looked, self._looked = self._looked, None  # (until this run is complete)
        self._started = (by_path, share.generation)
        delta = None
        if looked is not None and looked[0] is by_path:
            delta = share.changes_since(looked[1])
        if delta is None:
            self.keep_only(by_path.keys())
            return by_path
        changed = delta[0] | delta[1]
        settled = self._settled
        return [path for path in by_path if path not in settled or path in changed]

    def completed(self) -> None:
        """The run looked at every name ``to_look_at`` gave it: the next may look at less."""
        self._looked = self._started

    def keep_only(self, names: Collection[str]) -> None:
        """Forget the names no longer offered."""
        for gone in self._settled.keys() - names:
            del self._settled[gone]

    def settled(self, path: str, offers: list[RemoteFile], ours: LocalFile | None,
                record: FileRecord | None) -> bool:
        """Whether the policy found nothing to do for ``path`` with these very offers and
        this copy of ours."""
        seen = self._settled.get(path)
        if seen is None:
            return False
        if seen.ours is ours and seen.record is record and seen.offers == offers:
            return True
        del self._settled[path]  # (so that a run that skips settled names looks at it)
        return False

    def settle(self, path: str, offers: list[RemoteFile], ours: LocalFile | None,
               record: FileRecord | None) -> None:
        """Remember that there is nothing to do for ``path`` until its offers or our copy
        change."""
        self._settled[path] = _Settled(offers, ours, record)
