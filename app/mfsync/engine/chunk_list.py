"""The shared work list of a file fetched from several hosts at once: chunks out, results in.

A file's missing blocks (the runs ``store.partial.missing_runs`` finds) are handed out in
**chunks** of consecutive blocks, one at a time, to whichever worker (one per host) asks next:
a fast host comes back sooner and so takes more of them. A chunk is at most ``chunk_blocks``
blocks, and smaller near the end (about the blocks left shared by twice the workers), so that
the last chunks are short and no host holds the file's tail for long.

- **done**: a chunk's every block is verified and written; it is never handed out again.
- **failed**: the worker could not finish it (its host failed, or was told to stop): the chunk
  goes back at the front of the list for another worker (its verified blocks are asked again:
  at most one chunk; the blocks are the same, so writing them twice is harmless).
- **slow**: a worker whose host is marked slow (``engine.sources``' slow rule) gets no new
  chunk while a worker that is not slow is in the list.
- **endgame**: once nothing is left to hand out, a worker that is not slow may take a chunk
  another worker still holds (at most two holders each, the chunk of a slow worker first, then
  the one handed out earliest); the first to finish it wins (``done`` names the losers, whose
  requests the caller stops).

It does no I/O and never waits: the caller (``engine.swarm_fetch``) does both.
"""

import itertools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["MAX_HOLDERS", "Chunk", "ChunkList"]

#: What the list knows a worker by (the fetcher uses its host).
W = TypeVar("W", bound=Hashable)

#: Workers that may hold one chunk at once: its first holder and, in the endgame, one more.
MAX_HOLDERS = 2


@dataclass(eq=False)
class Chunk(Generic[W]):
    """Blocks ``first`` to ``last`` (inclusive) of the file; one object per chunk, whoever
    holds it."""

    first: int
    last: int
    #: Order in which chunks were first handed out (the endgame duplicates the oldest first).
    order: int = 0
    holders: set[W] = field(default_factory=set)
    done: bool = False

    @property
    def blocks(self) -> int:
        """How many blocks it covers."""
        return self.last - self.first + 1


class ChunkList(Generic[W]):
    """The chunks of one file still to fetch (see the module's docstring). Workers are any
    hashable (the fetcher uses the hosts); ``join`` one before it ``take``s."""

    def __init__(self, runs: Iterable[tuple[int, int]], chunk_blocks: int) -> None:
        #: Runs of blocks not handed out (or handed back), first to last, in file order
        #: except for chunks that came back (they go first: they are the oldest work).
        self._pending: list[tuple[int, int]] = []
        for first, last in runs:
            if last < first:
                continue
            start = first
            if self._pending and self._pending[-1][1] + 1 == first:
                start = self._pending.pop()[0]  # (runs that touch are one: chunks may span them)
            self._pending.append((start, last))
        self._chunk_blocks = max(1, chunk_blocks)
        self._out: list[Chunk[W]] = []  #: chunks handed out and not done
        self._workers: dict[W, bool] = {}  #: worker -> slow
        self._orders = itertools.count()
        self.blocks_left = sum(b - a + 1 for a, b in self._pending)  #: not yet done

    @property
    def finished(self) -> bool:
        """Whether every block is done."""
        return self.blocks_left == 0

    @property
    def pending(self) -> bool:
        """Whether some blocks are neither done nor held by anyone."""
        return bool(self._pending)

    @property
    def workers(self) -> int:
        """Workers in the list now."""
        return len(self._workers)

    def join(self, worker: W) -> None:
        """``worker`` takes part from now on (not slow)."""
        self._workers.setdefault(worker, False)

    def leave(self, worker: W) -> None:
        """``worker`` stops: whatever it holds goes back (``failed``)."""
        for chunk in [c for c in self._out if worker in c.holders]:
            self.failed(chunk, worker)
        self._workers.pop(worker, None)

    def set_slow(self, worker: W, slow: bool) -> None:
        """``worker``'s host is (no longer) marked slow."""
        if worker in self._workers:
            self._workers[worker] = slow

    def benched(self, worker: W) -> bool:
        """Whether ``worker`` gets no new chunk: it is slow and another worker is not."""
        return self._workers.get(worker, False) and not all(self._workers.values())

    def take(self, worker: W) -> Chunk[W] | None:
        """The next chunk for ``worker``, or None: nothing to hand out now (the list may be
        finished, or every chunk held; one may come back), or the worker is ``benched``."""
        if worker not in self._workers or self.benched(worker):
            return None
        if self._pending:
            return self._cut(worker)
        if self._workers[worker]:
            return None  # a slow worker never races another for a chunk
        candidates = [c for c in self._out
                      if worker not in c.holders and len(c.holders) < MAX_HOLDERS]
        if not candidates:
            return None
        chunk = min(candidates, key=lambda c: (not any(self._workers.get(h, False)
                                                       for h in c.holders), c.order))
        chunk.holders.add(worker)
        return chunk

    def done(self, chunk: Chunk[W], worker: W) -> frozenset[W]:
        """``worker`` verified every block of ``chunk``: the other workers holding it, whose
        requests for it the caller stops (empty when it was already done by another)."""
        chunk.holders.discard(worker)
        if chunk.done:
            return frozenset()
        chunk.done = True
        self._out.remove(chunk)
        self.blocks_left -= chunk.blocks
        losers = frozenset(chunk.holders)
        chunk.holders.clear()
        return losers

    def failed(self, chunk: Chunk[W], worker: W) -> None:
        """``worker`` did not finish ``chunk``: unless it is done or still held by another,
        it goes back first in the list."""
        chunk.holders.discard(worker)
        if chunk.done or chunk.holders:
            return
        self._out.remove(chunk)
        self._pending.insert(0, (chunk.first, chunk.last))

    def holding_any(self) -> bool:
        """Whether some worker holds a chunk (one may come back)."""
        return bool(self._out)

    def holding(self, worker: W) -> list[Chunk[W]]:
        """The chunks ``worker`` holds now."""
        return [c for c in self._out if worker in c.holders]

    def _cut(self, worker: W) -> Chunk[W]:
        first, last = self._pending[0]
        pending_blocks = sum(b - a + 1 for a, b in self._pending)
        # Near the end, smaller chunks: about what is left shared by twice the workers.
        share = -(-pending_blocks // (2 * max(1, len(self._workers))))
        size = max(1, min(self._chunk_blocks, share, last - first + 1))
        if first + size - 1 >= last:
            self._pending.pop(0)
        else:
            self._pending[0] = (first + size, last)
        chunk = Chunk(first, first + size - 1, next(self._orders), {worker})
        self._out.append(chunk)
        return chunk
