"""Tests for mfsync.protocol.names.check_wire_path: which names may cross the wire."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.protocol.names import (
    MAX_COMPONENT_BYTES,
    MAX_PATH_BYTES,
    InvalidName,
    check_wire_path,
)

FAST = settings(max_examples=200, deadline=None)

ACCEPTED = [
    "a",
    "file.txt",
    "dir/sub/file.txt",
    ".bashrc",
    ".config/app/settings.json",
    "a..b",
    "..a",
    "Grüße/Ünïcödé.txt",
    unicodedata.normalize("NFC", "cafe\u0301.txt"),  # "café.txt", precomposed
    "日本語/ファイル.pdf",
    "emoji-\U0001f600.png",
    "CONSOLE",  # only the exact device names are reserved
    "con-fig",
    "COM10",
    "LPT",
    "a b/c d",
    "x" * MAX_COMPONENT_BYTES,
    "é" * (MAX_COMPONENT_BYTES // 2),
    "/".join(["d" * 200] * 20),  # 4019 bytes
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_names_are_returned_unchanged(name: str) -> None:
    assert check_wire_path(name) == name


REFUSED = {
    "": "empty",
    "/abs": "absolute",
    "/": "absolute",
    "a/../b": "'..'",
    "..": "'..'",
    "../x": "'..'",
    ".": "'.'",
    "./a": "'.'",
    "a//b": "''",
    "dir/": "''",
    "a\x00b": "control",
    "a\x01": "control",
    "a\x7f": "control",
    "tab\there": "control",
    "line\nbreak": "control",
    "c1\x85": "control",
    "a\\b": "not allowed",
    "C:foo": "not allowed",
    "c:/x": "not allowed",
    "what?": "not allowed",
    "a*b": "not allowed",
    'say"hi"': "not allowed",
    "a<b>": "not allowed",
    "pipe|x": "not allowed",
    "CON": "reserved",
    "con.txt": "reserved",
    "LPT1": "reserved",
    "COM9.log": "reserved",
    "aux": "reserved",
    "Nul.tar.gz": "reserved",
    "prn": "reserved",
    "COM¹": "reserved",
    "CONIN$": "reserved",
    "dir/CON/file": "reserved",
    "dir/aux.c": "reserved",
    "trailing.": "dot or space",
    "trailing ": "dot or space",
    "a../b": "dot or space",
    "dir./f": "dot or space",
    "cafe\u0301.txt": "NFC",
    "\u212b": "NFC",  # ANGSTROM SIGN normalises to Å
    "a\ud800b": "UTF-8",
    "x/\udcff": "UTF-8",
    "x" * (MAX_COMPONENT_BYTES + 1): "longer than 255",
    "é" * 128: "longer than 255",
    "/".join(["d" * 200] * 21): "longer than 4096",
    "a/" * 2048 + "a": "longer than 4096",
}


@pytest.mark.parametrize(("name", "reason"), list(REFUSED.items()), ids=repr)
def test_refused_names_raise_invalid_name_with_a_message(name: str, reason: str) -> None:
    with pytest.raises(InvalidName) as info:
        check_wire_path(name)
    message = str(info.value)
    assert message
    assert reason in message


def test_invalid_name_is_a_value_error() -> None:
    assert issubclass(InvalidName, ValueError)


def test_path_length_limit_is_exact() -> None:
    exact = "/".join(["d" * 255] * 15 + ["d" * 254, "x"])  # 4096 bytes
    assert len(exact.encode()) == MAX_PATH_BYTES
    assert check_wire_path(exact) == exact
    with pytest.raises(InvalidName, match="longer than 4096"):
        check_wire_path(exact + "x")


@FAST
@given(st.text(max_size=40))
def test_any_text_is_either_accepted_unchanged_or_refused(name: str) -> None:
    try:
        result = check_wire_path(name)
    except InvalidName as exc:
        assert str(exc)
        return
    assert result == name
    # What is accepted is safe to join under a folder on any OS.
    assert not name.startswith("/")
    assert unicodedata.normalize("NFC", name) == name
    parts = name.split("/")
    assert all(p not in ("", ".", "..") for p in parts)
    assert not any(c in name for c in "\\:\x00")
    name.encode("utf-8")  # no lone surrogates


@FAST
@given(st.lists(st.text(alphabet="abcXYZ09-_. ", min_size=1, max_size=12), min_size=1,
                max_size=6))
def test_simple_components(parts: list[str]) -> None:
    name = "/".join(parts)
    bad = any(p in (".", "..") or p[-1] in ". " for p in parts)
    if bad:
        with pytest.raises(InvalidName):
            check_wire_path(name)
    else:
        assert check_wire_path(name) == name


# Every code point of the first planes that a component can hold on its own, the surrogates
# around them, and the last one: the one regex search that finds a bad character must agree
# with the rules, character by character.
_CHARACTERS = [*range(0x0, 0x2200), *range(0xD700, 0xE100), 0xFEFF, 0xFFFD, 0x10FFFF]


@pytest.mark.parametrize("start", range(0, len(_CHARACTERS), 2048))
def test_every_character_is_judged_by_the_rule_that_covers_it(start: int) -> None:
    for code in _CHARACTERS[start : start + 2048]:
        ch = chr(code)
        if ch == "/":
            continue  # the separator, not part of a component
        if code < 0x20 or 0x7F <= code < 0xA0:
            expected: str | None = "control"
        elif 0xD800 <= code <= 0xDFFF:
            expected = "UTF-8"
        elif ch in '\\<>:"|?*':
            expected = "not allowed"
        else:
            expected = None
        name = f"x{ch}x"
        try:
            check_wire_path(name)
        except InvalidName as exc:
            # A character that no rule forbids can still leave a name that NFC changes.
            assert (expected or "NFC") in str(exc), (hex(code), str(exc))
        else:
            assert expected is None, hex(code)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a*b\x01", "not allowed"),  # the first offending character decides
        ("a\x01b*", "control"),
        ("ok/a\ud800:", "UTF-8"),
        ("a:/\x02", "not allowed"),  # and the first component with one
        ("\x7f/:", "control"),
    ],
)
def test_the_first_bad_character_names_the_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidName, match=reason):
        check_wire_path(name)
