"""The .deb: what it declares, what it holds, and a real install, run and purge on this machine.

The staging tests use a fake bundle and run anywhere with dpkg. The install test needs root and
apt-get (CI runs as root in a throwaway machine): it installs ``dist/mfsync_*.deb`` with apt,
offline (every Depends is installed by scripts/system-deps.sh beforehand), runs the installed
commands under a temporary HOME pinned to loopback, and purges the package again in a
``finally``, even when a check fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

import debian
import layout
import mfsync
from loopback_ports import free_tcp_port, free_udp_port, write_loopback_config
from mfsync.net.firewall import firewall_note

# the first test that needs the package also waits for the bundle and the .deb to be built
pytestmark = pytest.mark.timeout(1800)

APP_ID = mfsync.APP_ID
RUN_TIMEOUT = 120.0
APT_TIMEOUT = 600.0
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
#: Files besides the bundle, by their installed path.
EXTRA_FILES = {
    f"/usr/share/applications/{APP_ID}.desktop",
    f"/usr/share/metainfo/{APP_ID}.metainfo.xml",
    f"/usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
    "/usr/share/doc/mfsync/copyright",
    "/usr/share/doc/mfsync/README.firewall",
    *(f"/usr/lib/systemd/user/{unit}" for unit in debian.USER_UNITS),
    *(f"/{target}" for target in debian.FILE_MANAGER_ENTRIES.values()),
    *(f"/usr/share/icons/hicolor/{s}x{s}/apps/{APP_ID}.png" for s in (16, 22, 24, 32, 48, 64,
                                                                      128, 256, 512)),
}
LINKS = {"/usr/bin/mfsync": "../../opt/mfsync/mfsync",
         "/usr/bin/mfsync-gui": "../../opt/mfsync/mfsync-gui"}


def _run(command: list[str], timeout: float = RUN_TIMEOUT,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def _check(command: list[str], timeout: float = RUN_TIMEOUT,
           env: dict[str, str] | None = None) -> str:
    done = _run(command, timeout, env)
    assert done.returncode == 0, f"{shlex.join(command)}: {done.returncode}\n" \
                                 f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _fields(deb: Path) -> dict[str, str]:
    """The control fields (continuation lines joined)."""
    fields: dict[str, str] = {}
    key = ""
    for line in _check(["dpkg-deb", "--field", str(deb)]).splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _contents(deb: Path) -> dict[str, tuple[str, str]]:
    """Each entry of the data archive: installed path to (mode string, link target or "")."""
    entries = {}
    for line in _check(["dpkg-deb", "--contents", str(deb)]).splitlines():
        mode, owner, _size, _date, _time, rest = line.split(maxsplit=5)
        assert owner == "root/root", line
        name, _, target = rest.partition(" -> ")
        path = "/" + name.removeprefix("./").rstrip("/")
        entries[path if path != "/" else "/"] = (mode, target)
    return entries


def _bundle_files(bundle: Path) -> set[str]:
    return {f"/opt/mfsync/{p.relative_to(bundle).as_posix()}" for p in bundle.rglob("*")
            if p.is_symlink() or not p.is_dir()}


# -- staging, with a fake bundle -----------------------------------------------------------------


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    """Two shell scripts that print a version, a data file and a link, as in a real bundle."""
    bundle = tmp_path / "bundle"
    (bundle / "_internal" / "lib").mkdir(parents=True)
    for name in ("mfsync", "mfsync-gui"):
        (bundle / name).write_text(f"#!/bin/sh\necho '{name} {mfsync.__version__}'\n")
        (bundle / name).chmod(0o700)  # a tight umask: the package must still say 0755
    (bundle / "_internal" / "lib" / "data.txt").write_text("data\n")
    (bundle / "_internal" / "lib" / "data.txt").chmod(0o600)
    (bundle / "_internal" / "data.txt").symlink_to("lib/data.txt")
    return bundle


def test_stage_lays_out_the_tree(fake_bundle: Path, tmp_path: Path) -> None:
    # staging draws the icons with Qt in this process: a QApplication, not the QGuiApplication
    # render_icons would make, because GUI tests in the same run need one
    if QCoreApplication.instance() is None:
        QApplication(["test_deb", "-platform", "offscreen"])
    root = tmp_path / "root"
    debian.stage(fake_bundle, root)
    files = {"/" + p.relative_to(root).as_posix() for p in root.rglob("*")
             if (p.is_symlink() or not p.is_dir()) and p.relative_to(root).parts[0] != "DEBIAN"}
    assert files == _bundle_files(fake_bundle) | EXTRA_FILES | set(LINKS)
    for link, target in LINKS.items():
        path = root / link.lstrip("/")
        assert os.readlink(path) == target and path.resolve().is_file()
    assert os.readlink(root / "opt/mfsync/_internal/data.txt") == "lib/data.txt"
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            mode = stat.S_IMODE(path.stat().st_mode)
            executable = path.is_dir() or path.name in (
                "mfsync", "mfsync-gui", "Send with mfsync…", "Share with mfsync")  # (scripts)
            assert mode == (0o755 if executable else 0o644), (path, oct(mode))
    # md5sums names every regular file once, with its digest
    sums = dict(reversed(line.split("  ", 1))
                for line in (root / "DEBIAN/md5sums").read_text().splitlines())
    regular = {p for p in files if p not in LINKS and p != "/opt/mfsync/_internal/data.txt"}
    assert set(sums) == {p.lstrip("/") for p in regular}
    for name, digest in sums.items():
        assert hashlib.md5((root / name).read_bytes()).hexdigest() == digest, name
    control = (root / "DEBIAN/control").read_text()
    assert f"\nVersion: {mfsync.__version__}\n" in control
    # shell scripts name no glibc version: the requirement is this machine's glibc
    glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "").split()[-1]
    assert f"Depends: libc6 (>= {glibc}), " in control
    assert (root / "usr/share/doc/mfsync/README.firewall").read_text() == firewall_note()


def test_glibc_requirement_is_the_newest_version_asked_for(tmp_path: Path) -> None:
    (tmp_path / "lib.so").write_bytes(b"\x7fELF..GLIBC_2.2.5\x00GLIBC_2.34\x00GLIBC_2.4\x00")
    (tmp_path / "other.so").write_bytes(b"\x7fELF..GLIBC_2.17\x00GLIBCXX_3.4.30\x00")
    # not an ELF file: a text that mentions a version does not count
    (tmp_path / "notes.txt").write_bytes(b"GLIBC_2.99\x00")
    assert debian.glibc_requirement(tmp_path) == "2.34"


# -- the built package ---------------------------------------------------------------------------


def test_control_fields(deb_file: Path, bundle: Path) -> None:
    assert deb_file.name == f"mfsync_{mfsync.__version__}_{layout.deb_arch()}.deb"
    fields = _fields(deb_file)
    assert fields["Package"] == "mfsync"
    assert fields["Version"] == mfsync.__version__
    assert fields["Architecture"] == layout.deb_arch()
    assert (fields["Section"], fields["Priority"]) == ("net", "optional")
    assert fields["Homepage"] == debian.homepage()
    assert re.fullmatch(r".+ <[^@\s]+@[^@\s]+>", fields["Maintainer"]), fields["Maintainer"]
    depends = [d.strip() for d in fields["Depends"].split(",")]
    assert depends[0] == f"libc6 (>= {debian.glibc_requirement(bundle)})"
    assert depends[1:] == list(debian.DEPENDS)
    assert fields["Recommends"] == ", ".join(debian.RECOMMENDS)
    bundle_kib = sum(p.stat().st_size for p in bundle.rglob("*")
                     if p.is_file() and not p.is_symlink()) // 1024
    assert bundle_kib < int(fields["Installed-Size"]) < bundle_kib * 1.1 + 1024
    assert fields["Description"].startswith("share and synchronise files")


def test_contents(deb_file: Path, bundle: Path) -> None:
    entries = _contents(deb_file)
    files = {path for path, (mode, _target) in entries.items() if not mode.startswith("d")}
    assert files == _bundle_files(bundle) | EXTRA_FILES | set(LINKS)
    for link, target in LINKS.items():
        assert entries[link] == ("lrwxrwxrwx", target)
    for path, (mode, _target) in entries.items():
        assert mode in ("drwxr-xr-x", "-rwxr-xr-x", "-rw-r--r--", "lrwxrwxrwx"), (path, mode)
    assert entries["/opt/mfsync/mfsync"][0] == "-rwxr-xr-x"
    assert entries["/opt/mfsync/mfsync-gui"][0] == "-rwxr-xr-x"


def test_files_are_what_the_sources_make(deb_file: Path, tmp_path: Path) -> None:
    _check(["dpkg-deb", "--extract", str(deb_file), str(tmp_path)], timeout=600)
    doc = tmp_path / "usr/share/doc/mfsync"
    assert (doc / "README.firewall").read_text("utf-8") == firewall_note()
    assert "License: Expat" in (doc / "copyright").read_text("utf-8")
    desktop = tmp_path / f"usr/share/applications/{APP_ID}.desktop"
    assert desktop.read_text("utf-8") == debian.menu_entry()
    for template, target in debian.FILE_MANAGER_ENTRIES.items():
        text = (tmp_path / target).read_text("utf-8")
        assert text == debian.file_manager_entry(template) and "mfsync-gui --s" in text
        assert "@EXEC@" not in text and "@ICON@" not in text
    for unit in debian.USER_UNITS:
        text = (tmp_path / "usr/lib/systemd/user" / unit).read_text("utf-8")
        assert text == debian.user_unit(unit) and "ExecStart=/usr/bin/mfsync " in text
    metainfo = tmp_path / f"usr/share/metainfo/{APP_ID}.metainfo.xml"
    assert f'<release version="{mfsync.__version__}" date="' in metainfo.read_text("utf-8")
    if shutil.which("desktop-file-validate"):
        assert not _check(["desktop-file-validate", str(desktop)]).strip()
    if shutil.which("appstreamcli"):
        _check(["appstreamcli", "validate", "--no-net", "--pedantic", str(metainfo)])


# -- install, run, purge -------------------------------------------------------------------------


def _installed() -> bool:
    done = _run(["dpkg-query", "--show", "--showformat=${Status}", "mfsync"])
    return done.returncode == 0 and "installed" in done.stdout.split()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"),
                    reason="installing a .deb needs root and apt-get")
def test_install_run_and_purge(deb_file: Path, temp_home: dict[str, str]) -> None:
    assert not _installed(), "mfsync is installed already: `apt-get purge mfsync` first"
    listed = _contents(deb_file)
    files = {path for path, (mode, _target) in listed.items() if not mode.startswith("d")}
    # apt installs a local file when its argument is a path; --no-install-recommends: the
    # Wayland libraries it recommends are not among what system-deps.sh installs, and this
    # test must not download anything
    apt = ["apt-get", "--no-install-recommends", "--yes"]
    plan = _check([*apt, "install", "--simulate", str(deb_file)], APT_TIMEOUT, env=APT_ENV)
    installs = [line.split()[1] for line in plan.splitlines() if line.startswith("Inst ")]
    assert installs == ["mfsync"], f"apt would install more (run scripts/system-deps.sh):\n{plan}"
    try:
        _check([*apt, "install", str(deb_file)], APT_TIMEOUT, env=APT_ENV)
        assert _installed()
        for path in files:
            assert os.path.lexists(path), path

        write_loopback_config(Path(temp_home["HOME"]), free_udp_port(), free_tcp_port())
        env = {**temp_home, "PATH": "/usr/bin:/bin"}
        version = _check(["/usr/bin/mfsync", "--version"], env=env).strip()
        assert version == f"mfsync {mfsync.__version__}"
        key = _check(["mfsync", "--public-key"], env=env).strip()
        assert re.fullmatch(r"[0-9A-Fa-f]{64}", key), key

        desktop = Path(f"/usr/share/applications/{APP_ID}.desktop")
        exec_line = next(line for line in desktop.read_text("utf-8").splitlines()
                         if line.startswith("Exec="))
        program = shlex.split(exec_line.removeprefix("Exec="))[0]
        # what the menu starts, found as the desktop finds it: on a login session's PATH
        found = shutil.which(program, path="/usr/local/bin:/usr/bin:/bin")
        assert found == "/usr/bin/mfsync-gui", found
        assert Path(found).resolve() == Path("/opt/mfsync/mfsync-gui")
        assert os.access(found, os.X_OK)
    finally:
        purge = _run([*apt, "purge", "mfsync"], APT_TIMEOUT, APT_ENV)
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not _installed()
    left = sorted(path for path in files if os.path.lexists(path))
    assert not left, f"purge left {len(left)} files: {left[:20]}"
    assert not Path("/opt/mfsync").exists() and not Path("/usr/share/doc/mfsync").exists()
