"""What a rescan of one shared root looks at: the paths its watcher named, or everything.

The folder watcher (watch/watcher.py) names the paths that changed and those of them that are
done (closed after writing, moved into place); ``LocalFolders`` queues a rescan per root with
that ``RescanScope`` (None: everything) and joins the scopes of rescans asked for before the
last one ran; ``ShareSet.rescan`` walks only those paths (store/folder_scan.py).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["RescanQueue", "RescanScope"]

Root = TypeVar("Root")


@dataclass(frozen=True, slots=True)
class RescanScope:
    """What a rescan of one root looks at: the relative disk paths the watcher named (a folder:
    all below it; ``""``: everything), and those of them nothing is writing any more."""

    paths: frozenset[str]
    done: frozenset[str] = frozenset()

    @staticmethod
    def join(first: "RescanScope | None", second: "RescanScope | None") -> "RescanScope | None":
        """What two rescans asked for look at together (None: everything); ``second`` is the
        later: a path it names as still being written is no longer done."""
        if first is None or second is None:
            return None
        done = (first.done - (second.paths - second.done)) | second.done
        return RescanScope(first.paths | second.paths, done)


class RescanQueue(Generic[Root]):
    """The roots to rescan next, each with what to look at (None: everything)."""

    def __init__(self) -> None:
        self._wanted: dict[Root, RescanScope | None] = {}

    def __bool__(self) -> bool:
        return bool(self._wanted)

    def add(self, roots: Iterable[Root], scope: RescanScope | None) -> None:
        """Rescan ``roots``, looking at ``scope``, joined with what they were asked for."""
        for root in roots:
            self._wanted[root] = (RescanScope.join(self._wanted[root], scope)
                                  if root in self._wanted else scope)

    def discard(self, root: Root) -> None:
        """Forget ``root`` (no longer shared)."""
        self._wanted.pop(root, None)

    def take(self, order: Iterable[Root]) -> dict[Root, RescanScope | None]:
        """What is wanted, in ``order`` (roots not in it are dropped), and empty the queue."""
        wanted = {root: self._wanted[root] for root in order if root in self._wanted}
        self._wanted.clear()
        return wanted
