"""The per-user Linux installer (installer/linux): install twice, use it, uninstall, purge.

The installs run offline from the wheels ``build.py prepare`` fetched (``PIP_NO_INDEX``,
``PIP_FIND_LINKS``) into a temporary HOME. Nothing here starts the app's engine: the installed
``mfsync`` only prints its version and public key, so no packet leaves the machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import layout

INSTALL = layout.INSTALLER / "linux" / "install.sh"
UNINSTALL = layout.INSTALLER / "linux" / "uninstall.sh"


@pytest.fixture
def install_env(temp_home: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``temp_home`` plus what makes pip install offline from the prepared wheels."""
    if not any(layout.WHEELS.glob("mfsync-*.whl")):
        reason = (f"no wheels in {layout.WHEELS}: run `python packaging/build.py prepare` first "
                  "(./test does)")
        if os.environ.get("MFSYNC_REQUIRE_E2E") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    env = {key: value for key, value in temp_home.items() if not key.startswith("PIP_")}
    env.update(
        PIP_NO_INDEX="1", PIP_FIND_LINKS=str(layout.WHEELS),
        # pip's wheel cache is pip's, shared with everything else the user installs: off, so
        # that the tree after uninstalling shows only what the installer itself left
        PIP_NO_CACHE_DIR="1",
        # the interpreter the wheels were fetched for (binary wheels are per Python version)
        PYTHON=sys.executable,
        # pip runs `rustc --version` for its user agent: a rustup proxy on PATH writes its
        # settings into $RUSTUP_HOME, by default under the temporary HOME
        RUSTUP_HOME=str(tmp_path / "rustup"),
    )
    return env


def run(command: Sequence[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``command`` with ``env``; its output is in the assertion message when it fails."""
    return subprocess.run([str(part) for part in command], env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """``done``'s stdout, after checking that it succeeded."""
    assert done.returncode == 0, f"{done.args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def tree(root: Path) -> set[str]:
    """Every path under ``root``, relative, folders with a trailing ``/`` (links not followed)."""
    found = set()
    for folder, dirs, files in os.walk(root):
        base = Path(folder).relative_to(root)
        found.update(f"{base / name}/" for name in dirs)
        found.update(str(base / name) for name in files)
    return found


def desktop_entries(path: Path) -> dict[str, str]:
    """The keys of a desktop file's ``[Desktop Entry]`` group."""
    entries: dict[str, str] = {}
    group = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            group = line.strip()
        elif group == "[Desktop Entry]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value.strip()
    return entries


def test_install_use_uninstall_purge(install_env: dict[str, str]) -> None:
    home = Path(install_env["HOME"])
    data = home / ".local" / "share"
    manifest = data / "mfsync" / "installed-files"
    bin_dir = home / ".local" / "bin"
    before = tree(home)

    first = ok(run([INSTALL], install_env))
    listed = manifest.read_text(encoding="utf-8")
    installed = tree(home)
    second = ok(run([INSTALL], install_env))
    # idempotent: the same files, the same manifest, and the second run reports no change
    assert manifest.read_text(encoding="utf-8") == listed
    assert tree(home) == installed
    assert f"created {bin_dir / 'mfsync'}" in first
    assert "created" not in second and "updated" not in second, second
    tcp, udp = layout.ports()
    for out in (first, second):
        assert f"TCP port {tcp}" in out and f"UDP port {udp}" in out, out
        assert f"{bin_dir} is not on your PATH" in out, out

    # the manifest lists what was made, all of it under HOME
    kinds = dict(reversed(line.split(" ", 1)) for line in listed.splitlines())
    app_id = layout.app_id()
    menu_entry = data / "applications" / f"{app_id}.desktop"
    assert kinds[str(bin_dir / "mfsync")] == kinds[str(bin_dir / "mfsync-gui")] == "link"
    assert kinds[str(menu_entry)] == "file"
    assert kinds[str(data / "icons/hicolor/scalable/apps" / f"{app_id}.svg")] == "file"
    assert kinds[str(data / "mfsync" / "venv")] == "venv"
    for unit in ("mfsync.service", "mfsync-sync@.service"):
        assert kinds[str(data / "systemd" / "user" / unit)] == "file"
    exec_start = next(line for line in (data / "systemd/user/mfsync.service").read_text(
        encoding="utf-8").splitlines() if line.startswith("ExecStart="))
    assert exec_start == f"ExecStart={data / 'mfsync/venv/bin/mfsync'} daemon"
    assert all(Path(path).is_relative_to(home) for path in kinds), listed

    # the installed commands work (under the temporary HOME: a new identity in ~/.mfsync)
    assert ok(run([bin_dir / "mfsync", "--version"], install_env)).strip() == \
        f"mfsync {layout.version()}"
    key = ok(run([bin_dir / "mfsync", "--public-key"], install_env)).strip()
    assert len(key) == 64 and int(key, 16) >= 0
    identity = {path: (home / path).read_bytes() for path in tree(home)
                if path.startswith(".mfsync/") and not path.endswith("/")}
    assert identity, "mfsync --public-key wrote no identity into ~/.mfsync"

    # the menu entry starts the installed app and shows the installed icon
    entries = desktop_entries(menu_entry)
    program = Path(shlex.split(entries["Exec"])[0])
    assert program.is_absolute() and program.is_file() and os.access(program, os.X_OK), entries
    assert program.name == "mfsync-gui"
    assert entries["Icon"] == app_id
    validator = shutil.which("desktop-file-validate")
    if validator:
        assert ok(run([validator, menu_entry], install_env)).strip() == ""

    # the app's own "start at login" entry, as its settings switch writes it
    venv_python = data / "mfsync" / "venv" / "bin" / "python"
    ok(run([venv_python, "-c",
            "from mfsync.gui.autostart import autostart_for; autostart_for().enable()"],
           install_env))
    autostart = home / ".config" / "autostart" / "mfsync.desktop"
    assert autostart.is_file()

    out = ok(run([UNINSTALL], install_env))
    assert str(home / ".mfsync") in out and "--purge" in out, out
    assert not autostart.exists()
    after = tree(home)
    assert before <= after, f"removed what was there before: {before - after}"
    # left: the user's data, and the autostart folder the app made (not the installer's)
    assert {path for path in after - before if not path.startswith(".mfsync/")} == \
        {".config/", ".config/autostart/"}
    assert {path: (home / path).read_bytes() for path in identity} == identity

    ok(run([UNINSTALL, "--purge"], install_env))
    assert tree(home) == before | {".config/", ".config/autostart/"}


def test_upgrade_refreshes_and_drops_what_is_no_longer_installed(
        install_env: dict[str, str]) -> None:
    home = Path(install_env["HOME"])
    data = home / ".local" / "share"
    manifest = data / "mfsync" / "installed-files"
    ok(run([INSTALL], install_env))
    listed = manifest.read_text(encoding="utf-8")
    # as if an older version had installed an icon in a size this one no longer draws
    # (none is drawn at 40x40) and a different menu entry
    old_icon = data / "icons" / "hicolor" / "40x40" / "apps" / f"{layout.app_id()}.png"
    old_icon.parent.mkdir(parents=True, exist_ok=True)
    old_icon.write_bytes(b"old")
    manifest.write_text(listed + f"file {old_icon}\n", encoding="utf-8")
    menu_entry = data / "applications" / f"{layout.app_id()}.desktop"
    fresh = menu_entry.read_text(encoding="utf-8")
    menu_entry.write_text("[Desktop Entry]\nName=old\n", encoding="utf-8")

    out = ok(run([INSTALL], install_env))
    assert f"updated {menu_entry}" in out and f"removed {old_icon}" in out, out
    assert menu_entry.read_text(encoding="utf-8") == fresh
    assert not old_icon.exists()
    assert manifest.read_text(encoding="utf-8") == listed
    ok(run([UNINSTALL, "--purge"], install_env))


def test_a_foreign_command_is_never_replaced(temp_home: dict[str, str]) -> None:
    env = {**temp_home, "PYTHON": sys.executable}
    home = Path(env["HOME"])
    foreign = home / ".local" / "bin" / "mfsync"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("#!/bin/sh\necho mine\n", encoding="utf-8")
    foreign.chmod(0o755)
    before = tree(home)

    done = run([INSTALL], env)
    assert done.returncode != 0
    assert str(foreign) in done.stderr and "not made by this installer" in done.stderr, \
        done.stderr
    # refused before changing anything: no venv, no manifest, the user's command untouched
    assert tree(home) == before
    assert foreign.read_text(encoding="utf-8") == "#!/bin/sh\necho mine\n"
