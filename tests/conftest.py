"""Session-wide: the figures that the reliability suites report, printed at the end of the run.

A suite calls ``figures.record(suite, **numbers)`` (``tests/figures.py``); whatever was recorded
is printed in pytest's terminal summary, so that CI's log shows the cases tried, the faults
injected and the data lost, whether the tests passed or failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every suite's figures."""
    lines = figures.summary_lines()
    if lines:
        terminalreporter.section("reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
