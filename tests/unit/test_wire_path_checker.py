"""``WirePathChecker`` (protocol/names.py) accepts exactly what ``check_wire_path`` accepts,
whatever it checked before: it only remembers verdicts on folders."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.protocol.names import InvalidName, WirePathChecker, check_wire_path

_parts = st.sampled_from(["a", "b", "dir", "..", ".", "", "CON", "x.", "e\u0301", "\u00e9",
                          "ok.txt", "a\x01", "q?", "\u65e5", " "])
_paths = st.lists(_parts, min_size=1, max_size=4).map("/".join) | st.text(max_size=12)


def _verdict(check: object, path: str) -> bool:
    try:
        check(path)  # type: ignore[operator]
    except InvalidName:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.lists(_paths, min_size=1, max_size=12))
def test_the_checker_agrees_with_the_plain_check(paths: list[str]) -> None:
    checker = WirePathChecker()
    for path in paths:
        assert _verdict(checker.check, path) == _verdict(check_wire_path, path), path


def test_a_long_path_is_refused_however_good_its_folder() -> None:
    checker = WirePathChecker()
    checker.check("d/x")
    long = "d/" + "/".join(["n" * 200] * 30)
    assert not _verdict(checker.check, long)
