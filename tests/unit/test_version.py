"""Tests for version vectors (mfsync.protocol.version)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.protocol.version import ADOPT_LIMIT, MAX_COUNTER, Order, VersionVector

A = b"A" * 32
B = b"B" * 32
C = b"C" * 32

FAST = settings(max_examples=200, deadline=None)

#: A few keys, so that generated vectors share hosts and every order shows up.
keys = st.sampled_from([A, B, C, b"D" * 32])
vectors = st.dictionaries(keys, st.integers(0, 6), max_size=4).map(VersionVector.of)

MIRROR = {
    Order.EQUAL: Order.EQUAL,
    Order.NEWER: Order.OLDER,
    Order.OLDER: Order.NEWER,
    Order.CONCURRENT: Order.CONCURRENT,
}


def vv(**counters: int) -> VersionVector:
    """``vv(A=1, B=2)``: a vector over the test keys, for readable examples."""
    return VersionVector.of({name.encode() * 32: c for name, c in counters.items()})


# -- of(): the canonical form ----------------------------------------------------------------


def test_of_sorts_by_key() -> None:
    assert VersionVector.of({C: 1, A: 2, B: 3}).counters == ((A, 2), (B, 3), (C, 1))


def test_of_drops_zero_counters() -> None:
    assert VersionVector.of({A: 0, B: 1}).counters == ((B, 1),)
    assert VersionVector.of({A: 0}) == VersionVector()


def test_of_takes_the_max_of_duplicate_keys() -> None:
    assert VersionVector.of([(A, 2), (B, 1), (A, 5), (A, 3)]).counters == ((A, 5), (B, 1))


def test_of_refuses_negative_counters() -> None:
    with pytest.raises(ValueError, match="negative"):
        VersionVector.of({A: -1})
    with pytest.raises(ValueError):
        VersionVector.of([(A, 1), (B, -5)])


def test_of_accepts_a_mapping_or_pairs_alike() -> None:
    assert VersionVector.of({B: 2, A: 1}) == VersionVector.of([(A, 1), (B, 2)])
    assert VersionVector.of(iter([(B, 2), (A, 1)])) == VersionVector.of({A: 1, B: 2})


@FAST
@given(st.lists(st.tuples(keys, st.integers(0, 6)), max_size=8), st.randoms())
def test_of_is_canonical(pairs: list[tuple[bytes, int]], rng: random.Random) -> None:
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    vector = VersionVector.of(pairs)
    assert vector == VersionVector.of(shuffled)  # order of input does not matter
    assert list(vector.counters) == sorted(vector.counters)
    assert all(c > 0 for _, c in vector.counters)
    assert len({k for k, _ in vector.counters}) == len(vector.counters)
    assert VersionVector.of(vector.counters) == vector


def test_as_dict_and_get() -> None:
    vector = vv(A=1, B=2)
    assert vector.as_dict() == {A: 1, B: 2}
    assert vector.get(B) == 2
    assert vector.get(C) == 0


# -- compare() -------------------------------------------------------------------------------


def test_compare_equal() -> None:
    assert vv(A=1, B=2).compare(vv(B=2, A=1)) is Order.EQUAL
    assert VersionVector().compare(VersionVector()) is Order.EQUAL
    assert VersionVector().compare(vv(A=0)) is Order.EQUAL


def test_compare_newer_and_older() -> None:
    assert vv(A=2).compare(vv(A=1)) is Order.NEWER
    assert vv(A=1, B=1).compare(vv(A=1)) is Order.NEWER
    assert vv(A=1).compare(vv(A=2)) is Order.OLDER
    assert vv(A=1).compare(vv(A=1, B=1)) is Order.OLDER


def test_compare_with_the_empty_vector() -> None:
    assert vv(A=1).compare(VersionVector()) is Order.NEWER
    assert VersionVector().compare(vv(A=1)) is Order.OLDER


def test_compare_concurrent() -> None:
    assert vv(A=1).compare(vv(B=1)) is Order.CONCURRENT
    assert vv(B=1).compare(vv(A=1)) is Order.CONCURRENT
    assert vv(A=2, B=1).compare(vv(A=1, B=2)) is Order.CONCURRENT


@FAST
@given(vectors, vectors)
def test_compare_is_mirrored(a: VersionVector, b: VersionVector) -> None:
    assert b.compare(a) is MIRROR[a.compare(b)]
    assert (a.compare(b) is Order.EQUAL) == (a == b)


@FAST
@given(vectors)
def test_compare_with_itself_is_equal(a: VersionVector) -> None:
    assert a.compare(a) is Order.EQUAL


# -- bump() ----------------------------------------------------------------------------------


def test_bump_goes_past_every_counter_seen() -> None:
    assert vv(A=5).bump(B) == vv(A=5, B=6)
    assert vv(A=5).bump(A) == vv(A=6)
    assert VersionVector().bump(A) == vv(A=1)


def test_concurrent_changes_bumped_from_the_same_version() -> None:
    base = vv(A=1)
    assert base.bump(A).compare(base.bump(B)) is Order.CONCURRENT


@FAST
@given(vectors, keys)
def test_bump_is_newer_than_the_original(a: VersionVector, key: bytes) -> None:
    bumped = a.bump(key)
    assert bumped.compare(a) is Order.NEWER
    assert a.compare(bumped) is Order.OLDER


@FAST
@given(vectors, vectors, keys)
def test_bump_after_merge_is_newer_than_both(
    a: VersionVector, b: VersionVector, key: bytes
) -> None:
    resolved = a.merge(b).bump(key)
    assert resolved.compare(a) is Order.NEWER
    assert resolved.compare(b) is Order.NEWER


# -- merge() ---------------------------------------------------------------------------------


def test_merge_example() -> None:
    assert vv(A=3, B=1).merge(vv(B=4, C=2)) == vv(A=3, B=4, C=2)
    assert vv(A=1).merge(VersionVector()) == vv(A=1)


@FAST
@given(vectors, vectors)
def test_merge_is_commutative(a: VersionVector, b: VersionVector) -> None:
    assert a.merge(b) == b.merge(a)


@FAST
@given(vectors, vectors, vectors)
def test_merge_is_associative(a: VersionVector, b: VersionVector, c: VersionVector) -> None:
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@FAST
@given(vectors)
def test_merge_is_idempotent(a: VersionVector) -> None:
    assert a.merge(a) == a


@FAST
@given(vectors, vectors)
def test_merge_descends_from_both(a: VersionVector, b: VersionVector) -> None:
    merged = a.merge(b)
    assert merged.compare(a) in (Order.NEWER, Order.EQUAL)
    assert merged.compare(b) in (Order.NEWER, Order.EQUAL)
    # The least such vector: each counter is one of the inputs' counters.
    for key, counter in merged.counters:
        assert counter == max(a.get(key), b.get(key))


# -- last_writer() ---------------------------------------------------------------------------


def test_last_writer_is_the_highest_counter() -> None:
    assert vv(A=3, B=7, C=5).last_writer() == B


def test_last_writer_tie_goes_to_the_highest_key() -> None:
    assert vv(A=4, C=4, B=2).last_writer() == C


def test_last_writer_of_the_empty_vector_is_none() -> None:
    assert VersionVector().last_writer() is None


@FAST
@given(vectors, keys)
def test_last_writer_is_who_bumped(a: VersionVector, key: bytes) -> None:
    assert a.bump(key).last_writer() == key


def test_versions_above_the_adopt_limit_are_worn_out_and_bumps_below_it_fit_the_wire() -> None:
    key = b"k" * 32
    assert not VersionVector.of({key: ADOPT_LIMIT}).worn_out()
    assert VersionVector.of({key: ADOPT_LIMIT + 1}).worn_out()
    bumped = VersionVector.of({key: ADOPT_LIMIT}).bump(b"m" * 32)
    assert max(c for _, c in bumped.counters) <= MAX_COUNTER
