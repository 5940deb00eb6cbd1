"""The peer table's eviction policy (``engine/peers.py``) and the beat cap it relies on."""

from __future__ import annotations

from dataclasses import dataclass

from mfsync.engine.peers import PeerTable
from mfsync.engine.service import BATTERY_BEAT_FACTOR
from mfsync.net.discovery import DEFAULT_BEAT, MAX_BEAT


@dataclass
class Entry:
    """The fields of a peer the table looks at."""

    address: str
    port: int
    static: bool = False
    key: bytes | None = None
    fetching: bool = False
    last_seen: float = 0.0


def _admit(table: PeerTable[Entry], address: str, port: int, when: float = 0.0) -> Entry | None:
    entry = table.admit((address, port), lambda: Entry(address, port, last_seen=when))
    if entry is not None:
        entry.last_seen = when
    return entry


def test_a_flood_from_one_address_only_replaces_its_own_entries() -> None:
    table: PeerTable[Entry] = PeerTable(max_unproven=8, per_address=4)
    real = _admit(table, "10.0.0.2", 8000)
    for port in range(1000):
        assert _admit(table, "10.0.0.66", 9000 + port) is not None
    assert table.endpoints_at("10.0.0.66") == 4
    assert ("10.0.0.66", 9999) in table and ("10.0.0.66", 9000) not in table  # newest kept
    assert table.get(("10.0.0.2", 8000)) is real
    assert table.evicted == 996


def test_a_flood_from_many_addresses_evicts_the_fullest_address_first() -> None:
    table: PeerTable[Entry] = PeerTable(max_unproven=16, per_address=4)
    _admit(table, "10.0.0.2", 8000)
    for n in range(2000):  # eight addresses (more than the room needs), new ports all along
        _admit(table, f"10.0.1.{n % 8}", 9000 + n)
    assert table.unproven == 16
    assert ("10.0.0.2", 8000) in table  # the host with one endpoint kept its place
    # and a new host still gets in, at once
    assert _admit(table, "10.0.0.3", 8000) is not None
    assert ("10.0.0.2", 8000) in table


def test_proven_hosts_are_never_evicted_by_claims() -> None:
    table: PeerTable[Entry] = PeerTable(max_peers=10, max_unproven=4, per_address=16)
    for n in range(6):
        entry = _admit(table, "10.0.0.2", 8000 + n)
        assert entry is not None
        entry.key = b"k" * 32  # a completed handshake
    for n in range(500):
        _admit(table, f"10.0.9.{n % 200}", 9000 + n)
    assert all(("10.0.0.2", 8000 + n) in table for n in range(6))
    assert len(table) <= 10
    assert table.unproven == 4


def test_a_table_full_of_proven_hosts_and_fetches_refuses_claims() -> None:
    table: PeerTable[Entry] = PeerTable(max_peers=3, max_unproven=3, per_address=16)
    a = _admit(table, "10.0.0.2", 1)
    b = _admit(table, "10.0.0.3", 1)
    c = _admit(table, "10.0.0.4", 1)
    assert a is not None and b is not None and c is not None
    a.static = True
    b.key = b"k" * 32
    c.fetching = True  # not evicted under its fetch
    assert _admit(table, "10.0.0.5", 1) is None
    c.fetching = False
    assert _admit(table, "10.0.0.5", 1) is not None
    assert ("10.0.0.4", 1) not in table


def test_an_address_full_of_endpoints_evicts_its_least_recently_heard() -> None:
    table: PeerTable[Entry] = PeerTable(per_address=3)
    for port in (1, 2, 3):
        _admit(table, "10.0.0.7", port)
    table.heard(("10.0.0.7", 1))  # heard again: now the most recent
    _admit(table, "10.0.0.7", 4)
    assert sorted(p for _, p in table) == [1, 3, 4]


def test_deleting_entries_keeps_the_counts() -> None:
    table: PeerTable[Entry] = PeerTable(max_unproven=2, per_address=2)
    _admit(table, "10.0.0.7", 1)
    _admit(table, "10.0.0.7", 2)
    del table[("10.0.0.7", 1)]
    table[("10.0.0.8", 1)] = Entry("10.0.0.8", 1, static=True)
    assert table.endpoints_at("10.0.0.7") == 1
    assert table.unproven == 1
    assert _admit(table, "10.0.0.9", 1) is not None
    assert table.unproven == 2
    assert ("10.0.0.8", 1) in table


def test_fetch_order_puts_proven_first_then_lone_recent_claims() -> None:
    table: PeerTable[Entry] = PeerTable()
    crowd = [_admit(table, "10.0.0.66", p, when=float(p)) for p in range(5)]
    lone = _admit(table, "10.0.0.2", 8000, when=1.0)
    proven = _admit(table, "10.0.0.3", 8000, when=0.0)
    assert proven is not None
    proven.key = b"k" * 32
    order = table.fetch_order(table.values())
    assert order[0] is proven
    assert order[1] is lone
    assert order[2:] == list(reversed(crowd))  # the most recently heard first


def test_the_beat_mfsync_sends_on_battery_is_within_the_cap() -> None:
    assert DEFAULT_BEAT * BATTERY_BEAT_FACTOR <= MAX_BEAT
