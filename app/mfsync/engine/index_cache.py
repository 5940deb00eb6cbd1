"""The answers to index requests: encoded once per folder and generation, and deltas.

How it works: the file server asks ``IndexAnswers.chunks(view, since)`` for the chunks that
answer a peer's ``IndexRequest`` (PROTOCOL.md 3.3, 3.4), once it has checked that the peer may
see the folder. A folder's whole index is the same for every peer that may see it, so it is
built and encoded once and kept until what the folder offers changes: the cache key is the
folder's id and generation (which moves with every scan, download, audience change and trust
change that concerns it, local_folders.py) and each of its roots with that root's generation.
A peer that may not see a folder never reaches the cache (the server answers NO_SUCH_FOLDER
first), so no entry can leak a folder to a peer outside its audience.

A request with a since generation G is answered with a delta when the server can: G is a
generation of this folder that this process served (``_served``, so a generation of an earlier
run of the host is never taken for one of this run), the folder has the same roots and the same
count of other changes (audience, trust) as then, and each root can tell what changed since its
generation of then (``ShareSet.changes_since``). The delta names every path added or changed
since G with its entry as the folder offers it now (the earliest root that has it), and every
path that left the folder since G. Anything else is answered with the whole index. The last few
deltas are kept too: in a swarm many peers ask from the same generation.
"""

from collections import OrderedDict
from collections.abc import Iterable

from mfsync.engine.folder_view import FolderOffers, LocalFolderView, ServedRoot
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import IndexChunk, IndexEntry, chunk_index
from mfsync.store.shareset import ShareSet

__all__ = ["MAX_CACHED_DELTAS", "MAX_SERVED_GENERATIONS", "IndexAnswers"]

#: Generations remembered per folder as ones a delta can start from (the oldest go first).
MAX_SERVED_GENERATIONS = 256
#: Deltas kept, all folders together (the least recently used go first).
MAX_CACHED_DELTAS = 64
#: Folders whose whole index is kept encoded (they come and go: offers are folders too).
_MAX_CACHED_FOLDERS = 256

#: A folder's roots with their generations: what its index was taken from.
_Roots = tuple[tuple[ServedRoot, int], ...]


def _roots(view: LocalFolderView) -> _Roots:
    return tuple((share, share.generation) for share in view.shares)


def _bumps(generation: int, roots: _Roots) -> int:
    """The folder's count of changes besides its roots' (its generation is their sum)."""
    return generation - sum(root_generation for _, root_generation in roots)


class IndexAnswers:
    """The chunks answering index requests, from ``offers`` (what each folder offers)."""

    def __init__(self, offers: FolderOffers) -> None:
        self._offers = offers
        #: folder -> (generation, roots, encoded chunks of its whole index).
        self._whole: OrderedDict[FolderId, tuple[int, _Roots, list[IndexChunk]]] = (
            OrderedDict())
        #: folder -> generation served -> the roots it was taken from.
        self._served: dict[FolderId, OrderedDict[int, _Roots]] = {}
        #: (folder, since, generation, roots) -> encoded chunks of that delta.
        self._deltas: OrderedDict[tuple[FolderId, int, int, _Roots], list[IndexChunk]] = (
            OrderedDict())

    def chunks(self, view: LocalFolderView, since: int = 0) -> list[IndexChunk]:
        """The chunks answering a request for ``view``'s index from generation ``since``
        (0: the whole index): a delta when one can be told, else the whole index."""
        roots = _roots(view)
        answer = self._delta(view, since, roots) if since else None
        if answer is None:
            answer = self._whole_index(view, roots)
        self._remember(view.id, view.generation, roots)
        return answer

    def _whole_index(self, view: LocalFolderView, roots: _Roots) -> list[IndexChunk]:
        cached = self._whole.get(view.id)
        if cached is not None and cached[0] == view.generation and cached[1] == roots:
            self._whole.move_to_end(view.id)
            return cached[2]
        answer = _encoded(chunk_index(self._offers.entries(view), view.generation))
        self._whole[view.id] = (view.generation, roots, answer)
        self._whole.move_to_end(view.id)
        if len(self._whole) > _MAX_CACHED_FOLDERS:
            self._whole.popitem(last=False)
        return answer

    def _delta(self, view: LocalFolderView, since: int, roots: _Roots) -> list[IndexChunk] | None:
        served = self._served.get(view.id)
        then = served.get(since) if served is not None else None
        if (then is None or len(then) != len(roots)
                or any(a is not b for (a, _), (b, _) in zip(then, roots, strict=True))
                or _bumps(since, then) != _bumps(view.generation, roots)):
            return None
        key = (view.id, since, view.generation, roots)
        cached = self._deltas.get(key)
        if cached is not None:
            self._deltas.move_to_end(key)
            return cached
        touched: set[str] = set()
        for (share, generation), _ in zip(then, roots, strict=True):
            changes = share.changes_since(generation) if isinstance(share, ShareSet) else None
            if changes is None:
                return None
            touched |= changes[0] | changes[1]
        entries: list[IndexEntry] = []
        removed: list[str] = []
        for path in sorted(touched):
            found = self._offers.find(view, path)
            if found is None:
                removed.append(path)
            else:
                entries.append(found[1].to_entry())
        answer = _encoded(chunk_index(entries, view.generation, removed=removed))
        self._deltas[key] = answer
        if len(self._deltas) > MAX_CACHED_DELTAS:
            self._deltas.popitem(last=False)
        return answer

    def _remember(self, folder: FolderId, generation: int, roots: _Roots) -> None:
        """``generation`` of ``folder`` was served: a peer may ask from it later."""
        served = self._served.get(folder)
        if served is None:
            if len(self._served) >= _MAX_CACHED_FOLDERS:
                self._served.pop(next(iter(self._served)))
            served = self._served[folder] = OrderedDict()
        served[generation] = roots
        served.move_to_end(generation)
        if len(served) > MAX_SERVED_GENERATIONS:
            served.popitem(last=False)


def _encoded(chunks: Iterable[IndexChunk]) -> list[IndexChunk]:
    """The chunks, each carrying its encoded body."""
    return [chunk.with_wire_body() for chunk in chunks]
