"""Reading what the hostile scripts print: a ``READY``-style line, and the final ``RESULT``.

Every script in ``hostile*.py`` prints lines a test waits for (``READY``, ``HELD``, ...) and ends
with one ``RESULT {json}`` line. These two helpers are the one way the tests read them, failing
the test (with what the script printed) when the line never comes.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

__all__ = ["script_result", "wait_line"]


def script_result(proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, Any]:
    """Wait for a script to end and return its ``RESULT`` (failing the test without one)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # ours, by its Popen handle
        out, err = proc.communicate()
        pytest.fail(f"script did not finish within {timeout} s\n{out}\n{err}")
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    pytest.fail(f"script ended without a result ({proc.returncode})\n{out}\n{err}")


def wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 30.0) -> str:
    """Read the script's stdout up to the first line starting with ``prefix``; that line."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and proc.poll() is not None:
            break
    err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    pytest.fail(f"no {prefix!r} line from the script ({proc.poll()}): {err}")
