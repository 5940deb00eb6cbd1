"""A first start that works or explains: the real ``mfsync-gui`` where Qt cannot start.

Qt aborts the process (SIGABRT) when its X11 platform plugin lacks a library or finds no X
server; ``mfsync-gui`` checks first and exits with code 2 and one paragraph saying what to do
(``gui.platform_check``). Here the real command runs with a temporary HOME: once with a
DISPLAY no server answers, once with ``libxcb-cursor.so.0`` hidden (a ``/dev/null`` bound over
it in a mount namespace of the test's own, which ends with the process; needs root and
``unshare``, skipped otherwise unless ``MFSYNC_REQUIRE_E2E=1``, as CI sets, fails instead).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import gui_command

from loopback_ports import listening_x_display

REQUIRE_ENV = "MFSYNC_REQUIRE_E2E"
TIMEOUT = 60.0
EXIT_CANNOT_START = 2


def _env(tmp_path: Path, display: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE",
                          "XDG_RUNTIME_DIR")}
    env.update(HOME=str(tmp_path), DISPLAY=display)
    return env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)


@pytest.fixture
def x_display() -> Iterator[str]:
    """A local X display whose socket accepts connections; no X server answers on it, which
    does not matter: the app must stop before Qt would talk to it."""
    with listening_x_display() as display:
        if display is None:
            pytest.skip("no free display number")
        yield display


def _library_path(soname: str) -> Path | None:
    """Where the dynamic linker finds ``soname`` (from its cache), the symlink resolved."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True,
                                 timeout=TIMEOUT).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in listing.splitlines():
        name, _, where = line.strip().partition(" => ")
        if name.split(" ", 1)[0] == soname and where:
            return Path(where).resolve()
    return None


def _need(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get(REQUIRE_ENV, "").strip() == "1":
        pytest.fail(f"{why} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(why)


def test_no_x_server_exits_with_the_explanation_not_an_abort(tmp_path: Path) -> None:
    result = _run(gui_command(), _env(tmp_path, ":899"))  # (nobody serves display 899)
    assert result.returncode == EXIT_CANNOT_START, result.stderr
    assert result.returncode != -signal.SIGABRT
    assert "no X server answers at DISPLAY=:899" in result.stderr
    assert "mfsync daemon" in result.stderr
    assert "qt.qpa" not in result.stderr  # Qt never started


def test_a_missing_xcb_cursor_library_exits_2_naming_its_packages(tmp_path: Path,
                                                                   x_display: str) -> None:
    _need(hasattr(os, "geteuid") and os.geteuid() == 0, "hiding a library needs root")
    unshare = shutil.which("unshare")
    _need(unshare is not None, "needs unshare (util-linux)")
    library = _library_path("libxcb-cursor.so.0")
    _need(library is not None, "libxcb-cursor.so.0 is not installed: scripts/system-deps.sh")
    assert unshare is not None and library is not None
    hide_and_run = 'mount --bind /dev/null "$1" && shift && exec "$@"'
    command = [unshare, "--mount", "--propagation", "private", "--", "sh", "-c", hide_and_run,
               "sh", str(library), *gui_command()]
    result = _run(command, _env(tmp_path, x_display))
    assert result.returncode == EXIT_CANNOT_START, result.stderr
    text = " ".join(result.stderr.split())
    assert "needs libxcb-cursor.so.0, which this system lacks" in text
    assert "sudo apt install libxcb-cursor0" in text
    assert "sudo dnf install xcb-util-cursor" in text
    assert "sudo pacman -S xcb-util-cursor" in text
    assert not (tmp_path / ".mfsync").exists()  # it stopped before anything was set up
    # Outside the namespace the library is untouched.
    assert library.stat().st_size > 0
