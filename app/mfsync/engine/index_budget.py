"""One budget for the memory that every peer's index takes together.

Per-peer caps (``MAX_REMOTE_INDEX``, ``MAX_REMOTE_INDEX_BYTES``) bound one index, not their sum:
a host with a few endpoints (or 1,024 of them) could each send an index of a million files, and
one such index alone took 800 MB. So every index is charged, chunk by chunk as it arrives and
before its entries are kept, against ``REMOTE_INDEX_BUDGET`` bytes shared by all peers. What a
peer is charged is an estimate of what its entries cost us in memory (``entry_cost``,
``version_cost``), not their wire size: Python objects take several times the bytes of the
encoding.

When a charge would pass the budget, the peers holding the most are dropped first, until it
fits; if the peer being charged is itself the largest, it is the one dropped. So an honest host
with an ordinary index is not pushed out by a host sending a huge one: the huge one is always
the largest. A peer whose index alone would pass the budget is refused, whatever the others
hold. (What no budget can tell apart: many hostile endpoints, each below an honest host's size,
whose sum fills the budget; a trust list keeps them out, see SECURITY.md.)
"""

import sys
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "ENTRY_OVERHEAD",
    "REMOTE_INDEX_BUDGET",
    "VERSION_ITEM_COST",
    "Charge",
    "IndexBudget",
    "entry_cost",
    "version_cost",
]

#: What one remote entry costs in memory besides its path (CPython 3.11, 64-bit, measured): the
#: ``RemoteFile`` (or, while the index arrives, the tuple) kept for it, about 100 bytes; its
#: content id and numbers, about 130; its slots in the peer's table and the status's merged list;
#: and what the consumers of the status build from it (``fetch``'s set of names shown, the
#: downloader's map of paths), about 200. Rounded up.
ENTRY_OVERHEAD = 448
#: What one item (key and counter) of a version vector costs in memory: a tuple, the 32-byte key
#: and the counter, about 165 bytes (40 on the wire). Charged once per distinct vector in a
#: chunk: most files of an index share a few vectors, and those are kept once.
VERSION_ITEM_COST = 168
#: The memory all remote indexes may take together (as estimated here). 128 MiB holds about
#: 250,000 entries of ordinary names: two peers with the 100,000-file share of
#: ``benchmarks/big_share.py`` (51 MB each, estimated), or one with that share beside many
#: small ones. And it keeps a process that fetches (about 40 MB with its imports, before any
#: index) under 200 MB whatever peers send: under the index bomb of issue 13 (three endpoints
#: with a million entries each) a victim peaked at about 140 MB, and about 145 MB with a hostile
#: index that filled the budget and was taken whole (its table, the status and ``fetch``'s set).
REMOTE_INDEX_BUDGET = 128 * 1024 * 1024

K = TypeVar("K", bound=Hashable)


def entry_cost(path: str) -> int:
    """The estimated memory of one remote entry named ``path`` (its version vector aside)."""
    return ENTRY_OVERHEAD + sys.getsizeof(path)


def version_cost(items: int) -> int:
    """The estimated memory of a version vector of ``items`` items."""
    return VERSION_ITEM_COST * items


@dataclass(frozen=True, slots=True)
class Charge(Generic[K]):
    """What a charge did: whether the charged owner may keep its entries, and whom it pushed
    out. ``alone``: refused because its index alone passes the budget (else, refused because
    it was the largest when the budget was passed)."""

    accepted: bool
    evicted: tuple[K, ...] = ()
    alone: bool = False


class IndexBudget(Generic[K]):
    """Estimated bytes held per owner (a peer), against one limit for all of them."""

    def __init__(self, limit: int = REMOTE_INDEX_BUDGET) -> None:
        self.limit = limit
        self._held: dict[K, int] = {}
        self._total = 0

    @property
    def total(self) -> int:
        """Bytes charged to every owner together."""
        return self._total

    def held(self, owner: K) -> int:
        """Bytes charged to ``owner``."""
        return self._held.get(owner, 0)

    def charge(self, owner: K, amount: int) -> Charge[K]:
        """Charge ``amount`` more bytes to ``owner``, dropping the largest owners while the total
        would pass the limit. If ``owner`` itself must go (it is the largest, or its index alone
        passes the limit), everything it held is released and ``accepted`` is False; owners in
        ``evicted`` have been released, and their entries must be discarded by the caller."""
        wanted = self.held(owner) + amount
        if wanted > self.limit:
            self.release(owner)
            return Charge(accepted=False, alone=True)
        evicted: list[K] = []
        while self._total + amount > self.limit:
            largest = max((o for o in self._held if o != owner), key=self._held.__getitem__,
                          default=None)
            if largest is None or self._held[largest] <= wanted:
                # The owner being charged is the largest (ties go against it: what is already
                # held stays).
                self.release(owner)
                return Charge(accepted=False, evicted=tuple(evicted))
            self.release(largest)
            evicted.append(largest)
        self._held[owner] = wanted
        self._total += amount
        return Charge(accepted=True, evicted=tuple(evicted))

    def reduce(self, owner: K, amount: int) -> None:
        """Take back ``amount`` of what ``owner`` holds (part of its index was let go: the
        previous index once a new one replaced it, or a new one that failed half way)."""
        held = self._held.get(owner, 0)
        amount = min(amount, held)
        if held - amount:
            self._held[owner] = held - amount
        else:
            self._held.pop(owner, None)
        self._total -= amount

    def release(self, owner: K) -> int:
        """Forget everything charged to ``owner`` (its index was dropped or replaced); the
        bytes released."""
        amount = self._held.pop(owner, 0)
        self._total -= amount
        return amount
