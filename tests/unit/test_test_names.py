"""The test tree's own rule: no two test modules share a basename.

The test folders are not packages (no ``__init__.py``), so pytest imports each test module by
its basename; two files of the same name in different folders make the whole run stop at
collection when they are collected together (as ``./test`` does), even though each folder
alone passes.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_basename_of_its_own() -> None:
    """Each ``test_*.py`` (and ``conftest``-free helper) name appears once in ``tests/``."""
    seen: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name in ("conftest.py", "__init__.py"):
            continue
        seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: where for name, where in seen.items() if len(where) > 1}
    assert not clashes, f"test modules share a basename: {clashes}"
