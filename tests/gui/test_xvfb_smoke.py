"""The real ``mfsync-gui`` process on a real X display with a tray host, as a user starts it.

Xvfb gives an X server without a screen, trayer a system tray on it. The app runs with a
temporary HOME whose config pins discovery to 127.0.0.1 with TTL 0 on a port of the test's own
(see ``harness.write_loopback_config``). Checked: it starts hidden in the tray (so Qt found the
tray), a second start shows the first one's window and exits, and SIGTERM quits with exit code 0.

Without Xvfb, trayer or xwininfo the test is skipped -- unless ``MFSYNC_REQUIRE_E2E=1`` (as CI
sets), where it fails instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import XDisplay, gui_command, missing_x_tools

from loopback_ports import free_tcp_port, free_udp_port, write_loopback_config
from waiting import wait_for_blocking

REQUIRE_ENV = "MFSYNC_REQUIRE_E2E"
#: Every wait is generous: a slow CI machine must not fail the test, only a broken app.
START_TIMEOUT = 60.0
#: How long the app must stay up after it started.
STAYS_UP = 3.0


@pytest.fixture
def display(tmp_path: Path) -> Iterator[XDisplay]:
    """Xvfb with trayer on it; skipped (or failed, under CI) where they are not installed."""
    missing = missing_x_tools("Xvfb", "trayer", "xwininfo")
    if missing:
        message = f"needs {', '.join(missing)}: run scripts/system-deps.sh as root"
        if os.environ.get(REQUIRE_ENV, "").strip() == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(message)
    logs = tmp_path / "logs"
    logs.mkdir()
    with XDisplay(log_dir=logs) as x:
        x.start_tray(timeout=START_TIMEOUT)
        yield x


@pytest.fixture
def gui_env(tmp_path: Path, display: XDisplay) -> Iterator[dict[str, str]]:
    """The environment of a user on that display, with a HOME pinned to loopback."""
    home = tmp_path / "home"
    home.mkdir()
    write_loopback_config(home, free_udp_port(), free_tcp_port())
    # short and private: the single-instance socket goes here, and socket paths are limited
    with tempfile.TemporaryDirectory(prefix="mfsync-run-") as runtime:
        os.chmod(runtime, 0o700)
        env = display.env()
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_DATA_HOME=str(home / ".local" / "share"),
                   XDG_CACHE_HOME=str(home / ".cache"), XDG_RUNTIME_DIR=runtime)
        env.pop("XDG_DOWNLOAD_DIR", None)
        yield env


def _main_windows(display: XDisplay) -> list:
    """Top-level windows titled "mfsync" that are big enough to be the main window."""
    return [w for w in display.windows()
            if w.depth == 1 and w.name == "mfsync" and w.width >= 200 and w.height >= 200]


def _visible_main_window(display: XDisplay):
    return next((w for w in _main_windows(display) if display.viewable(w)), None)


def test_real_app_lives_in_the_tray_shows_on_a_second_start_and_quits_on_sigterm(
        display: XDisplay, gui_env: dict[str, str], tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "mfsync-gui.log"
    with log_path.open("wb") as log:
        app = subprocess.Popen([*gui_command(), "--hidden", "-v"], env=gui_env,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        def app_log() -> str:
            return log_path.read_text(errors="replace")

        def our_icon():
            return next((w for w in display.tray_icons() if "mfsync" in (w.name, *w.wm_class)),
                        None)

        # the icon is embedded in trayer's panel: Qt saw the tray (isSystemTrayAvailable)
        wait_for_blocking(lambda: app.poll() is not None or our_icon(), START_TIMEOUT,
                     "the tray icon in trayer's panel")
        assert app.poll() is None, f"mfsync-gui exited with {app.returncode}:\n{app_log()}"
        icon = our_icon()
        assert icon is not None and icon.width <= 64 and icon.height <= 64, icon
        time.sleep(STAYS_UP)
        assert app.poll() is None, f"mfsync-gui exited with {app.returncode}:\n{app_log()}"
        # started hidden with a tray: no window (without a tray it would show one)
        assert _visible_main_window(display) is None, "--hidden showed a window despite the tray"

        second = subprocess.run([*gui_command()], env=gui_env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=START_TIMEOUT)
        assert second.returncode == 0, second
        assert "already running" in second.stdout, second
        window = wait_for_blocking(lambda: _visible_main_window(display), START_TIMEOUT,
                              "the first instance to show its window")
        assert window.width >= 400 and window.height >= 300, window
        assert app.poll() is None, f"mfsync-gui exited with {app.returncode}:\n{app_log()}"

        app.send_signal(signal.SIGTERM)
        try:
            code = app.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"mfsync-gui did not quit on SIGTERM:\n{app_log()}")
        assert code == 0, f"mfsync-gui exited with {code} on SIGTERM:\n{app_log()}"
        wait_for_blocking(lambda: our_icon() is None, START_TIMEOUT, "the tray icon to go away")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=30)
