"""The frozen onedir bundle (``dist/mfsync``), run as a user runs it, before anything ships.

Every process is a real executable of the bundle under a temporary HOME whose config pins it
to loopback (discovery on 127.0.0.1 with TTL 0, on a UDP port of the test's own): ``_run`` and
``_start`` refuse to start anything without that config. Checked: the bundle holds the
resources and Qt's SVG plugins; the version, the key, a share/fetch/get round trip on
loopback; the desktop app starting offscreen, handing a second start to the first, and
quitting cleanly on SIGTERM. Waits are generous and nothing is timed: a slow machine must
not fail these tests, only a broken bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import layout
import mfsync
from loopback_ports import free_tcp_port, free_udp_port, write_loopback_config
from mfsync.gui.i18n import LANGUAGES

# the first test also waits for the bundle to be built
pytestmark = pytest.mark.timeout(1800)

#: Upper bound for a short command, and for a long-running one to get ready or to stop.
RUN_TIMEOUT = 120.0
#: How long the desktop app must stay up after it started.
STAYS_UP = 3.0
#: How long fetch and get listen for the sharer (get stops early once it knows every name).
WINDOW = "10"
GET_WINDOW = "120"

SHARING_RE = re.compile(r"^Sharing (\d+) files from ")
FILES = {
    "one.bin": os.urandom(300 * 1024),
    "two.txt": b"hello from the frozen sharer\n" * 40,
    "sub/three.bin": os.urandom(1024 * 1024 + 7),
}


def _exe(bundle: Path, name: str) -> Path:
    return bundle / (f"{name}.exe" if sys.platform == "win32" else name)


def _assert_loopback(env: dict[str, str]) -> None:
    """No packet may leave the machine: refuse to run without a loopback-only config."""
    config = json.loads((Path(env["HOME"]) / ".mfsync" / "config.json").read_text("utf-8"))
    assert config["interfaces"] == ["127.0.0.1"] and config["ttl"] == 0, config


def _run(command: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    _assert_loopback(env)
    return subprocess.run([str(part) for part in command], env=env, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, check=False)


def _start(command: list[str | Path], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    _assert_loopback(env)
    with log.open("wb") as out:
        return subprocess.Popen([str(part) for part in command], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def _wait(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def _loopback_home(env: dict[str, str], home: Path, udp_port: int) -> dict[str, str]:
    """``env`` with HOME (and its XDG folders) at ``home``, pinned to loopback on ``udp_port``."""
    home.mkdir(parents=True, exist_ok=True)
    write_loopback_config(home, udp_port, free_tcp_port())
    return {**env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache")}


@pytest.fixture
def home_env(temp_home: dict[str, str]) -> Iterator[dict[str, str]]:
    """``temp_home`` with its loopback config written."""
    yield _loopback_home(temp_home, Path(temp_home["HOME"]), free_udp_port())


def _sha256_tree(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def _text(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


# -- what is in the bundle -------------------------------------------------------------------------

def test_bundle_holds_both_executables_the_resources_and_the_svg_plugins(bundle: Path) -> None:
    assert _exe(bundle, layout.CLI_NAME).is_file()
    assert _exe(bundle, layout.GUI_NAME).is_file()
    internal = bundle / "_internal"
    assert [p.name for p in bundle.iterdir() if p.is_dir()] == ["_internal"]  # one, shared
    resources = internal / "mfsync" / "resources"
    for name in ("mfsync", "tray-idle", "tray-transferring", "tray-paused", "tray-error"):
        assert (resources / "icons" / f"{name}.svg").is_file(), name
    assert (resources / "linux" / "mfsync-autostart.desktop").is_file()
    assert (resources / "macos" / "net.mfsync.gui.plist").is_file()
    assert (internal / "mfsync" / "protocol" / "PROTOCOL.md").is_file()
    # the app's translations, and Qt's own for its standard buttons in those languages
    for language in LANGUAGES:
        assert (resources / "i18n" / f"mfsync_{language}.qm").is_file(), language
    assert list(internal.rglob("translations/qtbase_de.qm")), "no Qt translation for German"
    assert not list(internal.rglob("translations/qtbase_fr.qm")), "unused Qt translations"
    # the icons are SVG: without these Qt draws nothing (icons.py falls back, but should not)
    assert list(internal.rglob("imageformats/*qsvg*")), "no Qt SVG image format plugin"
    assert list(internal.rglob("iconengines/*qsvgicon*")), "no Qt SVG icon engine plugin"
    assert list(internal.rglob("platforms/*qoffscreen*")), "no Qt offscreen platform plugin"


# -- the command line ----------------------------------------------------------------------------

def test_frozen_cli_prints_the_version(bundle: Path, home_env: dict[str, str]) -> None:
    done = _run([_exe(bundle, layout.CLI_NAME), "--version"], home_env)
    assert done.returncode == 0, done
    assert done.stdout.strip() == f"mfsync {mfsync.__version__}", done


def test_frozen_cli_creates_and_prints_the_key_under_home(
    bundle: Path, home_env: dict[str, str]
) -> None:
    key_file = Path(home_env["HOME"]) / ".mfsync" / "key.bin"
    assert not key_file.exists()
    done = _run([_exe(bundle, layout.CLI_NAME), "--public-key"], home_env)
    assert done.returncode == 0, done
    assert re.fullmatch(r"[0-9A-Fa-f]{64}", done.stdout.strip()), done
    assert key_file.is_file()
    again = _run([_exe(bundle, layout.CLI_NAME), "--public-key"], home_env)
    assert again.stdout == done.stdout, again  # the same identity, read back


def test_frozen_share_fetch_and_get_on_loopback(
    bundle: Path, temp_home: dict[str, str], tmp_path: Path
) -> None:
    udp_port = free_udp_port()  # both homes on the same private discovery port
    sharer = _loopback_home(temp_home, tmp_path / "home-sharer", udp_port)
    getter = _loopback_home(temp_home, tmp_path / "home-getter", udp_port)
    source = tmp_path / "share"
    for rel, content in FILES.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(content)
    cli = _exe(bundle, layout.CLI_NAME)
    log = tmp_path / "share.log"
    share = _start([cli, "share", source], sharer, log)
    try:
        _wait(lambda: share.poll() is not None or SHARING_RE.search(_text(log)),
              "the sharer to say it is sharing")
        assert share.poll() is None, _text(log)
        assert f"Sharing {len(FILES)} files" in _text(log), _text(log)

        # get by name: stops as soon as every name is known, so the window is only a limit
        dest = tmp_path / "dest"
        got = _run([cli, "get", *FILES, dest, "--window", GET_WINDOW], getter)
        assert got.returncode == 0, got
        assert _sha256_tree(dest) == _sha256_tree(source), got

        fetched = _run([cli, "fetch", "--window", WINDOW], getter)
        assert fetched.returncode == 0, fetched
        assert set(fetched.stdout.split()) == set(FILES), fetched
        assert share.poll() is None, _text(log)
    finally:
        share.send_signal(signal.SIGTERM)
        try:
            code = share.wait(timeout=RUN_TIMEOUT)
        finally:
            _stop(share)
    assert code == 143, f"share exited with {code} on SIGTERM:\n{_text(log)}"


# -- the desktop app -----------------------------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="a windowed exe has no stdout on Windows")
def test_frozen_gui_prints_the_version(bundle: Path, home_env: dict[str, str]) -> None:
    done = _run([_exe(bundle, layout.GUI_NAME), "--version"], home_env)
    assert done.returncode == 0, done
    assert done.stdout.strip() == f"mfsync-gui {mfsync.__version__}", done


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a POSIX signal")
def test_frozen_gui_runs_hands_a_second_start_over_and_quits_on_sigterm(
    bundle: Path, home_env: dict[str, str], tmp_path: Path
) -> None:
    gui = _exe(bundle, layout.GUI_NAME)
    log = tmp_path / "gui.log"
    app = _start([gui, "--hidden", "-v"], home_env, log)
    try:
        # discovery starts after the single-instance server listens: then a second start can
        # find this one
        _wait(lambda: app.poll() is not None or "discovery on" in _text(log),
              "the app to start its discovery")
        assert app.poll() is None, f"mfsync-gui exited with {app.returncode}:\n{_text(log)}"
        assert "via lo (127.0.0.1)" in _text(log), _text(log)
        time.sleep(STAYS_UP)
        assert app.poll() is None, f"mfsync-gui exited with {app.returncode}:\n{_text(log)}"

        second = _run([gui], home_env)
        assert second.returncode == 0, second
        assert "already running" in second.stdout, second
        assert app.poll() is None, f"mfsync-gui exited with {app.returncode}:\n{_text(log)}"

        app.send_signal(signal.SIGTERM)
        try:
            code = app.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"mfsync-gui did not quit on SIGTERM:\n{_text(log)}")
        assert code == 0, f"mfsync-gui exited with {code} on SIGTERM:\n{_text(log)}"
    finally:
        _stop(app)
    # the frozen app found its SVG icon engine (icons.py says so when it has to draw them)
    assert "no SVG icon engine" not in _text(log), _text(log)
    assert "Traceback" not in _text(log), _text(log)
