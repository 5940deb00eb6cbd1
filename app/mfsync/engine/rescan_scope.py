"""What a rescan of one shared root looks at: the paths its watcher named, or everything.

The folder watcher (watch/watcher.py) names the paths that changed and those of them that are
done (closed after writing, moved into place); ``LocalFolders`` queues a rescan per root with
that ``RescanScope`` (None: everything) and joins the scopes of rescans asked for before the
last one ran; ``ShareSet.rescan`` walks only those paths (store/folder_scan.py).
"""

from dataclasses import dataclass

__all__ = ["RescanScope"]


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
