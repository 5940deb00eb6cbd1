"""Figures the reliability suites report (cases tried, faults injected, data lost), collected for
the end-of-run summary (see ``tests/conftest.py``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

_FIGURES: dict[str, dict[str, Any]] = defaultdict(dict)


def record(suite: str, **numbers: Any) -> None:
    """Add to ``suite``'s figures: numbers add up across calls, anything else is replaced."""
    target = _FIGURES[suite]
    for name, value in numbers.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and name in target:
            target[name] += value
        else:
            target[name] = value


def get(suite: str) -> dict[str, Any]:
    """What ``suite`` recorded so far."""
    return dict(_FIGURES.get(suite, {}))


def summary_lines() -> list[str]:
    """One line per suite: ``suite: name=value, ...``."""
    return [f"{suite}: " + ", ".join(f"{k}={v}" for k, v in numbers.items())
            for suite, numbers in sorted(_FIGURES.items())]
