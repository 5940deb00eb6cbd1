"""The trust list's rules (``engine/trust.py``): who may talk to us, and refusals recorded once."""

from __future__ import annotations

from mfsync.engine.trust import MAX_REFUSALS, TrustList

A, B, C = b"a" * 32, b"b" * 32, b"c" * 32


def _trust(keys: frozenset[bytes] = frozenset(), names: dict[bytes, str] | None = None
           ) -> tuple[TrustList, list[None]]:
    changes: list[None] = []
    return TrustList(keys, names or {}, lambda: changes.append(None)), changes


def test_an_empty_list_trusts_everyone_but_lists_nobody() -> None:
    trust, _ = _trust()
    assert trust.is_trusted(A) and trust.authorize_client(A)
    assert not trust.is_listed(A) and not trust.is_listed(None)


def test_only_listed_keys_get_in() -> None:
    trust, changes = _trust(frozenset({A}), {A: "alice"})
    assert trust.authorize_client(A) and trust.is_listed(A)
    assert not trust.is_trusted(B) and not trust.authorize_client(B)
    assert trust.name_of(A) == "alice" and trust.name_of(B) == ""
    # Authorizing records nothing: the server reports the refusal once it knows the address.
    assert not trust.refusals and not changes


def test_a_refusal_is_recorded_once_per_key_and_direction() -> None:
    trust, changes = _trust(frozenset({A}))
    for _ in range(3):  # a host retrying
        trust.refused(B, "192.0.2.1", "bee", inbound=True)
    trust.refused(B, "192.0.2.1", "bee", inbound=False)
    assert [(r.key, r.inbound, r.seq) for r in trust.refusals] == [(B, True, 1), (B, False, 2)]
    assert len(changes) == 2
    # Let in (it was trusted meanwhile, say): a later refusal is news again.
    trust.accepted(B, inbound=True)
    trust.refused(B, "192.0.2.1", "bee", inbound=True)
    assert len(trust.refusals) == 3


def test_a_new_list_makes_refusals_news_again_and_keeps_names_unless_given() -> None:
    trust, _ = _trust(frozenset({A}), {A: "alice"})
    trust.refused(B, "192.0.2.1", "", inbound=True)
    trust.replace(frozenset({C}))
    assert trust.keys == {C} and trust.names == {A: "alice"}
    assert not trust.is_trusted(A)
    trust.refused(B, "192.0.2.1", "", inbound=True)
    assert [r.seq for r in trust.refusals] == [1, 2]
    trust.replace(frozenset({C}), {C: "carol"})
    assert trust.names == {C: "carol"}


def test_the_latest_refusals_are_kept() -> None:
    trust, _ = _trust(frozenset({A}))
    for n in range(MAX_REFUSALS + 5):
        trust.refused(n.to_bytes(32, "big"), "192.0.2.1", "", inbound=True)
    seqs = [r.seq for r in trust.refusals]
    assert seqs == list(range(6, MAX_REFUSALS + 6))
