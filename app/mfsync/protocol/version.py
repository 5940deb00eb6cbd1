"""Version vectors, as Syncthing uses them: ``{host key: counter}`` per file.

A host that changes a file bumps its own counter. Comparing two vectors says whether one
version descends from the other (then the newer one wins everywhere) or whether they were made
independently (a conflict). The type is small, immutable and the only place that knows the rules.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ADOPT_LIMIT",
    "EMPTY_VERSION",
    "MAX_COUNTER",
    "MAX_VERSION_ENTRIES",
    "Order",
    "VersionVector",
]

#: A vector naming more hosts than this is refused on the wire.
MAX_VERSION_ENTRIES = 256
#: Counters above this are refused on the wire, so a bump can never overflow the u64 field.
MAX_COUNTER = 2**62
#: A version with a counter above this is not taken over from another host: each local change
#: bumps a counter past the highest one, and with this margin no host's bumps can ever reach
#: MAX_COUNTER (which would make every peer refuse our index). Only a hostile host sends such
#: counters; its offer is ignored.
ADOPT_LIMIT = MAX_COUNTER - 2**32


class Order(enum.Enum):
    """How two versions relate."""

    EQUAL = "equal"
    NEWER = "newer"  #: self descends from other
    OLDER = "older"  #: other descends from self
    CONCURRENT = "concurrent"  #: neither: a conflict


@dataclass(frozen=True, slots=True)
class VersionVector:
    """An immutable version vector; counters of zero are not stored."""

    counters: tuple[tuple[bytes, int], ...] = ()

    @classmethod
    def of(cls, items: Mapping[bytes, int] | Iterable[tuple[bytes, int]]) -> "VersionVector":
        """Build a canonical vector (sorted by key, zero counters dropped)."""
        pairs = items.items() if isinstance(items, Mapping) else items
        merged: dict[bytes, int] = {}
        for key, counter in pairs:
            if counter < 0:
                raise ValueError("version counters are never negative")
            merged[key] = max(merged.get(key, 0), counter)
        return cls(tuple(sorted((k, c) for k, c in merged.items() if c)))

    def as_dict(self) -> dict[bytes, int]:
        """The counters as a dict."""
        return dict(self.counters)

    def get(self, key: bytes) -> int:
        """The counter of ``key`` (0 when absent)."""
        return self.as_dict().get(key, 0)

    def bump(self, key: bytes) -> "VersionVector":
        """This version changed by ``key``: its counter becomes one more than any counter here,
        so that a change always sorts after everything it has seen."""
        top = max((c for _, c in self.counters), default=0)
        counters = self.as_dict()
        counters[key] = top + 1
        return VersionVector.of(counters)

    def merge(self, other: "VersionVector") -> "VersionVector":
        """The element-wise maximum: a version that descends from both."""
        return VersionVector.of(list(self.counters) + list(other.counters))

    def compare(self, other: "VersionVector") -> Order:
        """How ``self`` relates to ``other``."""
        mine, theirs = self.as_dict(), other.as_dict()
        greater = any(c > theirs.get(k, 0) for k, c in mine.items())
        lesser = any(c > mine.get(k, 0) for k, c in theirs.items())
        if greater and lesser:
            return Order.CONCURRENT
        if greater:
            return Order.NEWER
        if lesser:
            return Order.OLDER
        return Order.EQUAL

    def worn_out(self) -> bool:
        """Whether a counter is above ``ADOPT_LIMIT`` (see there)."""
        return any(counter > ADOPT_LIMIT for _, counter in self.counters)

    def last_writer(self) -> bytes | None:
        """The key with the highest counter (ties: the highest key): who made this version."""
        if not self.counters:
            return None
        return max(self.counters, key=lambda kc: (kc[1], kc[0]))[0]


#: The version of a file nobody has changed yet.
EMPTY_VERSION = VersionVector()
