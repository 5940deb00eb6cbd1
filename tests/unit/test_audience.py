"""Audience: who may see a folder, its JSON form and its rule."""

import pytest

from mfsync.audience import EVERYONE, TRUSTED, Audience, AudienceKind
from mfsync.crypto.keys import format_key

A, B, C = (bytes([n]) * 32 for n in (1, 2, 3))


def test_admits_follows_the_kind() -> None:
    trusted = frozenset({A})
    assert EVERYONE.admits(C, trusted) and EVERYONE.admits(C, frozenset())
    assert TRUSTED.admits(A, trusted)
    assert not TRUSTED.admits(B, trusted)
    assert not TRUSTED.admits(A, frozenset())  # no trust list: a "trusted" folder admits none
    chosen = Audience.of_keys(frozenset({B}))
    assert chosen.admits(B, trusted)
    assert not chosen.admits(A, trusted)  # trusted globally, but not chosen for this folder
    assert not Audience.of_keys(frozenset()).admits(A, trusted)


def test_default_follows_the_trust_list() -> None:
    assert Audience.default_for(frozenset()) == EVERYONE
    assert Audience.default_for(frozenset({A})) == TRUSTED


@pytest.mark.parametrize("audience", [EVERYONE, TRUSTED, Audience.of_keys(frozenset({A, B})),
                                      Audience.of_keys(frozenset())])
def test_json_round_trip(audience: Audience) -> None:
    assert Audience.from_json(audience.to_json()) == audience


def test_json_forms() -> None:
    assert EVERYONE.to_json() == "everyone"
    assert TRUSTED.to_json() == "trusted"
    assert Audience.of_keys(frozenset({B, A})).to_json() == [format_key(A), format_key(B)]
    assert Audience.from_json([format_key(A).lower()]) == Audience.of_keys(frozenset({A}))


@pytest.mark.parametrize(("value", "match"), [
    ("all", "must be"), (None, "must be"), (3, "must be"), ({"keys": []}, "must be"),
    ([1], "list of key strings"), (["AB"], "64 hex"), (["Z" * 64], "hex characters"),
])
def test_json_refuses_what_is_not_an_audience(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Audience.from_json(value)


def test_an_audience_means_one_thing() -> None:
    with pytest.raises(ValueError, match="lists no keys"):
        Audience(AudienceKind.EVERYONE, frozenset({A}))
    with pytest.raises(ValueError, match="32 bytes"):
        Audience.of_keys(frozenset({b"short"}))
    with pytest.raises(ValueError):
        Audience("nobody")  # type: ignore[arg-type]
    assert Audience("trusted") == TRUSTED  # type: ignore[arg-type]  # the JSON word works
