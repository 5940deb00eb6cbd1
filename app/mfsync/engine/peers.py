"""The peer table: every endpoint (address, TCP port) we know of, with room kept for real hosts.

An announcement is only a claim: anyone on the LAN can send thousands a second, with random
keys and ports and, with raw sockets, any source address. So the table tells two kinds of
entries apart:

- proven: a host that completed a handshake at this endpoint (it holds the key it proved),
  and the peers the user named or that we remembered from earlier runs (``static``);
- unproven: an endpoint we only heard of.

Unproven entries have a room of their own (``MAX_UNPROVEN``), and no address may hold more than
``MAX_ENDPOINTS_PER_ADDRESS`` endpoints. A new endpoint that needs room takes it from an
unproven entry: the least recently heard one of its own address when its address is full,
otherwise the least recently heard one of the address that holds the most unproven entries.
So a flood of claims from a few addresses only ever replaces its own entries, a host that
announces a single endpoint keeps its place, and a proven host never loses its place to a claim
(proven hosts leave the table only when they stop announcing, see ``peer_directory``). An entry
whose index is being fetched is not evicted (the fetches are capped, see
``index_fetches.MAX_FETCHES``).

The same counts order the fetches that wait for a slot (``fetch_order``): proven hosts first,
then unproven endpoints of addresses that claim the fewest endpoints, the most recently heard
first.

An entry turns proven by itself (``is_proven`` looks at it); the table notices when it next
looks at the entry, which is all its bookkeeping needs.
"""

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mfsync.engine.status import PeerState
from mfsync.protocol.folder_messages import FolderFlags, FolderInfo

__all__ = [
    "MAX_ENDPOINTS_PER_ADDRESS",
    "MAX_PEERS",
    "MAX_UNPROVEN",
    "Endpoint",
    "Peer",
    "PeerEntry",
    "PeerTable",
    "is_proven",
    "polled_folders",
]

#: Entries in all (proven and unproven), so that the table cannot grow without end.
MAX_PEERS = 1024
#: Of those, at most this many unproven: a LAN with more hosts than that appearing within one
#: fetch of each other is rare, and an unproven entry that loses its place is back at its
#: host's next announcement (a beat, 5 s by default).
MAX_UNPROVEN = 256
#: Endpoints one address may hold: an mfsync host announces one endpoint per instance, and
#: sixteen instances on one machine is more than anyone runs. (As the server's
#: MAX_CONNECTIONS_PER_ADDRESS: one address cannot take the whole table either.)
MAX_ENDPOINTS_PER_ADDRESS = 16

Endpoint = tuple[str, int]


class PeerEntry(Protocol):
    """What the table needs to know of an entry."""

    address: str
    static: bool
    key: bytes | None
    fetching: bool
    last_seen: float


E = TypeVar("E", bound=PeerEntry)


@dataclass(eq=False)
class Peer:
    """One endpoint we know of: what it announced, what we learnt of it, where its index fetch
    stands. (Compared by identity: two entries are never the same peer.)"""

    address: str
    port: int
    static: bool = False
    remembered: bool = False  #: only from known_hosts: not worth showing until it answers
    #: Added only for an offer we accepted (``PeerDirectory.add_temporary``): never remembered.
    temporary: bool = False
    name: str = ""
    announced_key: bytes | None = None
    instance_id: bytes | None = None
    announced_generation: int | None = None
    #: The folders it listed to us at its last fetch, in its order (empty until then).
    folders: tuple[FolderInfo, ...] = ()
    #: When to ask its folder list again though it announced nothing new (a folder it lists
    #: without ANNOUNCED: see ``index_fetches.FOLDER_POLL``); None: no need.
    next_folder_poll: float | None = None
    beat_ms: int = 0
    last_seen: float = 0.0
    next_poll: float = 0.0
    key: bytes | None = None  #: proven in a handshake; None until then
    state: PeerState = PeerState.ANNOUNCED
    error: str = ""
    dirty: bool = True  #: its index is to be fetched (again)
    fetching: bool = False

    @property
    def endpoint(self) -> Endpoint:
        """Its address and TCP port, the table's key."""
        return (self.address, self.port)


def polled_folders(folders: Iterable[FolderInfo]) -> bool:
    """Whether any of ``folders`` is listed without ANNOUNCED: its changes do not move the
    host's announced generation, so only asking the list again tells of them."""
    return any(not folder.flags & FolderFlags.ANNOUNCED for folder in folders)


def is_proven(entry: PeerEntry) -> bool:
    """Whether ``entry`` is a host that proved its key here (or one the user named)."""
    return entry.static or entry.key is not None


class PeerTable(MutableMapping[Endpoint, E]):
    """Entries by endpoint, bounded, evicting unproven entries before proven ones."""

    def __init__(self, *, max_peers: int = MAX_PEERS, max_unproven: int = MAX_UNPROVEN,
                 per_address: int = MAX_ENDPOINTS_PER_ADDRESS) -> None:
        self._entries: dict[Endpoint, E] = {}
        self._max_peers = max_peers
        self._max_unproven = max_unproven
        self._per_address_max = per_address
        #: Endpoints per address, proven or not.
        self._per_address: dict[str, int] = {}
        #: Unproven endpoints by address, least recently heard first (entries found proven
        #: meanwhile are taken out when next looked at).
        self._unproven: dict[str, OrderedDict[Endpoint, None]] = {}
        self._unproven_count = 0
        #: Addresses by how many unproven endpoints they hold, and the highest such count.
        self._by_count: dict[int, dict[str, None]] = {}
        self._top = 0
        #: Entries forgotten to make room (for the status, tests and logs).
        self.evicted = 0

    # -- the mapping ------------------------------------------------------------------------

    def __getitem__(self, endpoint: Endpoint) -> E:
        return self._entries[endpoint]

    def __setitem__(self, endpoint: Endpoint, entry: E) -> None:
        if endpoint in self._entries:
            del self[endpoint]
        self._entries[endpoint] = entry
        self._per_address[endpoint[0]] = self._per_address.get(endpoint[0], 0) + 1
        if not is_proven(entry):
            self._add_unproven(endpoint)

    def __delitem__(self, endpoint: Endpoint) -> None:
        del self._entries[endpoint]
        address = endpoint[0]
        left = self._per_address.pop(address) - 1
        if left:
            self._per_address[address] = left
        self._remove_unproven(endpoint)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> Iterable[E]:  # type: ignore[override]  # a plain view: fast
        """The entries (a view of the underlying dict)."""
        return self._entries.values()

    def items(self) -> Iterable[tuple[Endpoint, E]]:  # type: ignore[override]
        """(endpoint, entry) pairs (a view of the underlying dict)."""
        return self._entries.items()

    # -- announcements ----------------------------------------------------------------------

    @property
    def unproven(self) -> int:
        """How many entries are (as far as the table knows) unproven."""
        return self._unproven_count

    def endpoints_at(self, address: str) -> int:
        """How many endpoints ``address`` holds."""
        return self._per_address.get(address, 0)

    def admit(self, endpoint: Endpoint, make: Callable[[], E]) -> E | None:
        """The entry of a newly heard ``endpoint``: its own if it has one, else ``make()``'s,
        for which room is made by evicting an unproven entry if need be. None when there is no
        room to make (every candidate is proven or being fetched)."""
        entry = self._entries.get(endpoint)
        if entry is not None:
            self.heard(endpoint)
            return entry
        address = endpoint[0]
        if self.endpoints_at(address) >= self._per_address_max and not self._evict_from(address):
            return None
        if self._full() and not self._evict_fairly():
            return None
        entry = make()
        self[endpoint] = entry
        return entry

    def heard(self, endpoint: Endpoint) -> None:
        """``endpoint`` announced itself again: it is the last of its address to be evicted."""
        heard = self._unproven.get(endpoint[0])
        if heard is not None and endpoint in heard:
            heard.move_to_end(endpoint)

    def fetch_order(self, entries: Iterable[E]) -> list[E]:
        """``entries`` in the order their index fetches should start when slots are few:
        proven hosts first, then unproven endpoints of the addresses that claim the fewest
        endpoints, the most recently heard first."""
        return sorted(entries, key=lambda e: (
            not is_proven(e), self.endpoints_at(e.address) if not is_proven(e) else 0,
            -e.last_seen))

    # -- bookkeeping --------------------------------------------------------------------------

    def _add_unproven(self, endpoint: Endpoint) -> None:
        heard = self._unproven.setdefault(endpoint[0], OrderedDict())
        heard[endpoint] = None
        self._unproven_count += 1
        self._recount(endpoint[0], len(heard) - 1, len(heard))

    def _remove_unproven(self, endpoint: Endpoint) -> None:
        address = endpoint[0]
        heard = self._unproven.get(address)
        if heard is None or endpoint not in heard:
            return
        del heard[endpoint]
        self._unproven_count -= 1
        self._recount(address, len(heard) + 1, len(heard))
        if not heard:
            del self._unproven[address]

    def _recount(self, address: str, old: int, new: int) -> None:
        if old:
            bucket = self._by_count[old]
            del bucket[address]
            if not bucket:
                del self._by_count[old]
        if new:
            self._by_count.setdefault(new, {})[address] = None
        self._top = max(self._top, new)
        while self._top and self._top not in self._by_count:
            self._top -= 1

    def _evict_from(self, address: str) -> bool:
        """Evict the least recently heard unproven entry of ``address``; whether there was
        one that could go."""
        heard = self._unproven.get(address)
        if heard is None:
            return False
        for endpoint in list(heard):
            entry = self._entries[endpoint]
            if is_proven(entry):
                self._remove_unproven(endpoint)  # proven meanwhile: never evicted
            elif not entry.fetching:
                del self[endpoint]
                self.evicted += 1
                return True
        return False

    def _full(self) -> bool:
        return self._unproven_count >= self._max_unproven or len(self) >= self._max_peers

    def _evict_fairly(self) -> bool:
        """Evict from the address with the most unproven entries; whether there is room now
        (entries found proven on the way may have made it)."""
        count = self._top
        while count:
            for address in list(self._by_count.get(count, ())):
                if self._evict_from(address) or not self._full():
                    return True
            count -= 1
        return not self._full()
