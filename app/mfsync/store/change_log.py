"""What changed in which generation of a share set: what a delta since a generation holds.

A share set counts its generations in memory; they start again with the process (as its
instance id does, PROTOCOL.md 1.2, 1.4), so this log is kept in memory too. It remembers, per
path, the generation it last changed in (paths unchanged since the first scan are not listed:
they changed in the first generation, the oldest a delta can start from) and, per path that
left the set, the generation it left in. Removals are forgotten past ``MAX_REMOVALS``: the
oldest generation a delta can start from then moves up to the current one.
"""

from collections.abc import Iterable

__all__ = ["MAX_REMOVALS", "ChangeLog"]

#: Paths that left the set remembered at most (a folder where files come and go).
MAX_REMOVALS = 100_000


class ChangeLog:
    """The generation each path of a share set last changed or left in."""

    def __init__(self) -> None:
        self._changed_at: dict[str, int] = {}
        self._removed_at: dict[str, int] = {}
        #: The oldest generation a delta can start from (0: none yet).
        self._floor = 0

    def note(self, generation: int, changed: Iterable[str], gone: Iterable[str]) -> None:
        """``changed`` were added or changed, ``gone`` left, in ``generation``; the first
        generation noted is where deltas can start from."""
        if not self._floor:
            self._floor = generation
            return
        for path in changed:
            self._changed_at[path] = generation
            self._removed_at.pop(path, None)
        for path in gone:
            self._removed_at[path] = generation
            self._changed_at.pop(path, None)
        if len(self._removed_at) > MAX_REMOVALS:
            self._removed_at.clear()
            self._floor = generation

    def since(self, generation: int, current: int) -> tuple[set[str], set[str]] | None:
        """The paths added or changed, and those that left, after ``generation`` (``current``
        being the set's generation now); None when that cannot be told (older than what is
        remembered, or newer than the set)."""
        if not self._floor or not self._floor <= generation <= current:
            return None
        changed = {path for path, at in self._changed_at.items() if at > generation}
        gone = {path for path, at in self._removed_at.items() if at > generation}
        return changed, gone
