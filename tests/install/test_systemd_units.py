"""The systemd user units (resources/linux/*.service): valid for systemd, and their commands run.

``systemd-analyze verify --user`` checks each unit as the package and the per-user installer
render it (pointing at this venv's ``mfsync``; the template as an instance for a real folder),
and says nothing. Then each unit's command line, as systemd would run it (specifiers
expanded), runs under a temporary HOME whose config pins discovery to 127.0.0.1 with TTL 0:
it serves, a SIGTERM stops it within the 2 s the README promises, and its exit code is one the
unit counts as success. Without ``systemd-analyze`` the first test is skipped (it fails under
``MFSYNC_REQUIRE_E2E=1``, as in CI, where scripts/system-deps.sh installs it).
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import debian
from loopback_ports import free_tcp_port, free_udp_port, write_loopback_config

REQUIRE_ENV = "MFSYNC_REQUIRE_E2E"
MFSYNC = Path(sys.executable).with_name("mfsync")
#: The clean stop the README promises after SIGTERM.
STOP_WITHIN = 2.0
START_TIMEOUT = 60.0


def rendered(unit: str, folder: Path) -> tuple[str, str]:
    """The unit's file name as systemd would load it (a template as the instance for
    ``folder``) and its text as the package renders it, starting this venv's mfsync."""
    text = debian.user_unit(unit, str(MFSYNC))
    if unit.endswith("@.service"):
        instance = subprocess.run(["systemd-escape", "--path", str(folder)],
                                  capture_output=True, text=True, check=True).stdout.strip()
        unit = unit.replace("@.service", f"@{instance}.service")
    return unit, text


def service_keys(text: str) -> dict[str, str]:
    """The ``[Service]`` section's keys (systemd's unit files read as INI)."""
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign] # keys keep their case
    unit.read_string(text)
    return dict(unit["Service"])


def command_line(text: str, folder: Path) -> list[str]:
    """``ExecStart`` as systemd runs it: split into words first, then in each word %f is the
    instance's path (one word, spaces and all) and %% a percent sign."""
    words = shlex.split(service_keys(text)["ExecStart"])
    return [word.replace("%f", str(folder)).replace("%%", "%") for word in words]


@pytest.mark.parametrize("unit", debian.USER_UNITS)
def test_systemd_analyze_verify_finds_nothing_to_say(unit: str, tmp_path: Path,
                                                     temp_home: dict[str, str]) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None or shutil.which("systemd-escape") is None:
        why = "needs systemd-analyze (the systemd package): scripts/system-deps.sh"
        if os.environ.get(REQUIRE_ENV, "").strip() == "1":
            pytest.fail(f"{why} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(why)
    folder = tmp_path / "Shared folder"
    folder.mkdir()
    name, text = rendered(unit, folder)
    units = tmp_path / "units"
    units.mkdir()
    (units / name).write_text(text, encoding="utf-8")
    done = subprocess.run([analyze, "verify", "--user", str(units / name)], env=temp_home,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr


@pytest.mark.parametrize("unit", debian.USER_UNITS)
def test_the_units_command_runs_and_stops_cleanly_on_sigterm(unit: str, tmp_path: Path,
                                                              temp_home: dict[str, str]) -> None:
    if not MFSYNC.exists():
        pytest.skip(f"no {MFSYNC}: the tests run from the project's venv")
    home = Path(temp_home["HOME"])
    folder = tmp_path / "Shared folder"
    folder.mkdir()
    (folder / "note.txt").write_text("hello\n", encoding="utf-8")
    tcp = free_tcp_port()
    write_loopback_config(home, free_udp_port(), tcp,
                          folders=[{"path": str(folder), "mode": "sync"}])
    _, text = rendered(unit, folder)
    command = command_line(text, folder)
    assert command[0] == str(MFSYNC)
    success = {int(code) for code in service_keys(text)["SuccessExitStatus"].split()} | {0}
    process = subprocess.Popen(command, env=temp_home, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(tcp):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "it never listened on its TCP port"
            time.sleep(0.05)
        time.sleep(0.5)  # (discovery and the folder's first scan under way)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in success, (process.returncode, output)
    assert took <= STOP_WITHIN, f"stopped {took:.2f} s after SIGTERM\n{output}"
    assert "Traceback" not in output, output


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0
