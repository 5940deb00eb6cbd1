"""The desktop integration files, checked by the freedesktop tools that distributions use.

The menu entry as the .deb fills it and the autostart entry as the app writes it go through
``desktop-file-validate``, the AppStream metadata through ``appstreamcli validate``
(scripts/system-deps.sh installs both tools; without them those tests skip). The icons are
drawn here, in this process's Qt, and checked pixel by pixel. No bundle needed: these run in
seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QImage, QImageReader
from PySide6.QtWidgets import QApplication

import debian
import layout
import mfsync
import render_icons
from mfsync.gui.autostart import XdgAutostart
from mfsync.net.discovery import DEFAULT_GROUP, DEFAULT_UDP_PORT
from mfsync.net.firewall import firewall_note
from mfsync.net.server import DEFAULT_TCP_PORT

APP_ID = mfsync.APP_ID


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/system-deps.sh installs it as root)")
    return path


def _validate_desktop(path: Path) -> None:
    """``desktop-file-validate`` must pass without a single error, warning or hint."""
    done = subprocess.run([_tool("desktop-file-validate"), str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), \
        f"{path}:\n{done.stdout}{done.stderr}\n{path.read_text('utf-8')}"


def _entries(path: Path) -> dict[str, str]:
    lines = path.read_text("utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]", lines[0]
    return dict(line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))


# -- menu and autostart entries ------------------------------------------------------------------


def test_menu_entry_as_the_deb_fills_it_is_valid(tmp_path: Path) -> None:
    path = tmp_path / f"{APP_ID}.desktop"
    path.write_text(debian.menu_entry(), encoding="utf-8")
    _validate_desktop(path)
    entries = _entries(path)
    assert entries["Exec"] == "mfsync-gui %F"  # "Open with": the paths are sent
    # offered for folders, never for files of any type: a file type no other program claims
    # (application/octet-stream) would open in mfsync on a double click
    assert entries["MimeType"] == "inode/directory;"
    assert entries["Icon"] == APP_ID
    assert entries["Type"] == "Application" and entries["Terminal"] == "false"
    assert "@" not in path.read_text("utf-8"), "a placeholder was left in"


@pytest.mark.parametrize("program", [
    "/usr/bin/mfsync-gui",
    "/home/ann/my apps/mfsync-gui",  # quoted
    "/opt/100% \"sure\"/$HOME/mfsync-gui",  # % doubled, quotes and $ escaped
])
def test_autostart_entry_that_the_app_writes_is_valid(tmp_path: Path, program: str) -> None:
    autostart = XdgAutostart([program], config_home=tmp_path / "config")
    autostart.enable()
    _validate_desktop(autostart.path)
    assert autostart.enabled()
    assert _entries(autostart.path)["Exec"].endswith(" --hidden")


# -- AppStream -----------------------------------------------------------------------------------


def test_metainfo_is_valid_and_filled(tmp_path: Path) -> None:
    # appstreamcli checks that the file name matches the component id
    path = tmp_path / f"{APP_ID}.metainfo.xml"
    path.write_text(debian.metainfo(date="2026-01-02"), encoding="utf-8")
    done = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", "--pedantic", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    root = ET.parse(path).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable[@type='desktop-id']") == f"{APP_ID}.desktop"
    assert root.findtext("project_license") == "MIT"
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert sorted(b.text or "" for b in root.iter("binary")) == ["mfsync", "mfsync-gui"]
    release = root.find("releases/release")
    assert release is not None
    assert (release.get("version"), release.get("date")) == (mfsync.__version__, "2026-01-02")
    assert root.findtext("url[@type='homepage']") == debian.homepage()


def test_release_date_follows_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767312000")  # 2026-01-02 00:00 UTC
    assert debian.release_date() == "2026-01-02"
    assert 'date="2026-01-02"' in debian.metainfo()


# -- icons ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def icons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The icons rendered once into a temporary folder, by this process's Qt."""
    # a QApplication, not the QGuiApplication render_icons would make: GUI tests in the same
    # run need one; offscreen, so that no display is needed
    if QCoreApplication.instance() is None:
        QApplication(["test_desktop_files", "-platform", "offscreen"])
    out = tmp_path_factory.mktemp("icons")
    render_icons.render_icons(out)
    return out


def _alpha(image: QImage) -> bytes:
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return bytes(rgba.constBits())[3::4]


def _rgba(image: QImage) -> bytes:
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return bytes(rgba.constBits())


@pytest.mark.parametrize("size", render_icons.HICOLOR_SIZES)
def test_hicolor_png_has_its_size_and_content(icons: Path, size: int) -> None:
    path = icons / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    image = QImage(str(path))
    assert not image.isNull(), path
    assert (image.width(), image.height()) == (size, size)
    assert image.hasAlphaChannel()
    alpha = _alpha(image)
    # the corners are transparent; the two folders cover about half of the square
    assert alpha[0] == 0 and alpha[-1] == 0
    assert sum(1 for a in alpha if a == 255) > size * size / 3
    assert alpha[size * size // 2 + size // 2] == 255, "nothing drawn in the middle"


def test_scalable_icon_is_the_source_svg(icons: Path) -> None:
    scalable = icons / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    assert scalable.read_bytes() == render_icons.SVG.read_bytes()
    # the installers copy the whole hicolor folder: nothing else may be in it
    assert {p.parent.parent.name for p in (icons / "hicolor").glob("*/apps/*")} == \
        {f"{s}x{s}" for s in render_icons.HICOLOR_SIZES} | {"scalable"}


@pytest.mark.parametrize(("name", "sizes"), [
    ("mfsync.ico", sorted(render_icons.ICO_SIZES)),
    ("mfsync.icns", [size for _kind, size in render_icons.ICNS_TYPES]),
])
def test_ico_and_icns_hold_every_size_as_drawn(icons: Path, name: str, sizes: list[int]) -> None:
    reader = QImageReader(str(icons / name))
    assert reader.imageCount() == len(sizes), reader.errorString()
    for index, size in enumerate(sizes):
        assert reader.jumpToImage(index)
        image = reader.read()
        assert (image.width(), image.height()) == (size, size), (name, index)
        # what Windows and macOS show is exactly what was drawn (bitmap rows bottom-up, BGRA)
        assert _rgba(image) == _rgba(render_icons.render(size)), (name, size)


def test_icons_are_the_same_every_time(icons: Path, tmp_path: Path) -> None:
    again = render_icons.render_icons(tmp_path)
    for path in again:
        assert path.read_bytes() == (icons / path.relative_to(tmp_path)).read_bytes(), path


# -- firewall note -------------------------------------------------------------------------------


def test_firewall_note_names_the_default_ports() -> None:
    note = firewall_note()
    assert layout.ports() == (DEFAULT_TCP_PORT, DEFAULT_UDP_PORT)
    assert f"TCP {DEFAULT_TCP_PORT}" in note and f"UDP {DEFAULT_UDP_PORT}" in note
    assert DEFAULT_GROUP in note
    assert f"to any port {DEFAULT_UDP_PORT}" in note and f"to any port {DEFAULT_TCP_PORT}" in note
    assert f"--add-port={DEFAULT_UDP_PORT}/udp --add-port={DEFAULT_TCP_PORT}/tcp" in note
    assert all(len(line) < 80 for line in note.splitlines()), "lines a terminal can show"


def test_firewall_note_follows_other_ports() -> None:
    note = firewall_note(tcp_port=9100, udp_port=31337)
    assert "TCP 9100" in note and "UDP 31337" in note and "31337/udp" in note
    assert str(DEFAULT_TCP_PORT) not in note and str(DEFAULT_UDP_PORT) not in note
