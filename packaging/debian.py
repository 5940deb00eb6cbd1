"""The Debian package: ``dist/mfsync_VERSION_ARCH.deb`` from the onedir bundle.

How it works: ``build_deb`` stages the installed tree under ``build/packaging/deb/root``,
writes ``DEBIAN/control`` and ``DEBIAN/md5sums`` beside it, and hands the tree to
``dpkg-deb --root-owner-group --build`` (every file owned by root without running as root).
What the package installs:

- ``/opt/mfsync``: the bundle as PyInstaller made it (its executables find ``_internal`` next
  to their real path, so links to them work);
- ``/usr/bin/mfsync``, ``/usr/bin/mfsync-gui``: relative links into ``/opt/mfsync``;
- the menu entry, the AppStream metadata and the hicolor icons, under the application id;
- "Send with mfsync…" and "Share with mfsync" for Dolphin (service menus) and Nemo (actions),
  and for Thunar and Nautilus to copy from ``/usr/share/doc/mfsync/file-managers``;
- the systemd user units ``mfsync.service`` (``mfsync daemon``) and ``mfsync-sync@.service``
  (``mfsync sync DIR``) in ``/usr/lib/systemd/user``, enabled by nobody until a user asks;
- ``/usr/share/doc/mfsync``: ``copyright`` and ``README.firewall`` (``mfsync.net.firewall``).

There are no maintainer scripts: dpkg's file triggers (hicolor-icon-theme, desktop-file-utils,
shared-mime-info) refresh the icon cache and the menu database when files land in their
folders, and purge removes every file the package lists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import layout
import render_icons
from mfsync.gui.platform_check import desktop_packages

__all__ = [
    "DEPENDS",
    "FILE_MANAGER_ENTRIES",
    "MAINTAINER",
    "RECOMMENDS",
    "USER_UNITS",
    "build_deb",
    "control",
    "copyright_text",
    "file_manager_entry",
    "glibc_requirement",
    "homepage",
    "menu_entry",
    "metainfo",
    "release_date",
    "stage",
    "user_unit",
]

#: Where the package puts the bundle.
PREFIX = Path("opt/mfsync")
#: The system libraries that Qt in the bundle may load (PyInstaller bundles neither the
#: OpenGL/EGL drivers' front ends nor every xcb helper of Qt's X11 plugin): the list the app
#: checks before it starts Qt (``mfsync.gui.platform_check.LIBRARIES``), which
#: scripts/desktop-deps.sh installs too. libc6 is added by ``glibc_requirement``.
DEPENDS = tuple(desktop_packages())
#: The systemd user units (templates in resources/linux), installed where every user's
#: systemd finds them: ``systemctl --user enable --now mfsync``.
USER_UNITS = ("mfsync.service", "mfsync-sync@.service")
USER_UNIT_DIR = Path("usr/lib/systemd/user")
#: The file managers' entries (templates in resources/linux) and where the package installs
#: them: Dolphin's service menus and Nemo's actions where those look system-wide; Thunar's
#: custom actions and the Nautilus scripts (per user only) as documentation to copy from.
FILE_MANAGER_ENTRIES = {
    "net.mfsync.mfsync-send.servicemenu.desktop":
        "usr/share/kio/servicemenus/net.mfsync.mfsync-send.desktop",
    "net.mfsync.mfsync-share.servicemenu.desktop":
        "usr/share/kio/servicemenus/net.mfsync.mfsync-share.desktop",
    "mfsync-send.nemo_action": "usr/share/nemo/actions/mfsync-send.nemo_action",
    "mfsync-share.nemo_action": "usr/share/nemo/actions/mfsync-share.nemo_action",
    "thunar-uca.xml": "usr/share/doc/mfsync/file-managers/thunar-uca.xml",
    "nautilus-send.sh": "usr/share/doc/mfsync/file-managers/Send with mfsync…",
    "nautilus-share.sh": "usr/share/doc/mfsync/file-managers/Share with mfsync",
}
#: Qt's Wayland plugin needs these; without them Qt falls back to X11 (XWayland).
RECOMMENDS = ("libwayland-client0", "libwayland-cursor0", "libwayland-egl1")
MAINTAINER = "The mfsync developers <maintainers@mfsync.net>"
SUMMARY = "share and synchronise files with computers on the local network"
DESCRIPTION = """\
mfsync shares files between computers on the same network without anyone
typing an address. Hosts find each other by UDP multicast, prove who they
are with X25519 keys, and talk over an end-to-end encrypted channel.
.
This package holds the mfsync command and the desktop app mfsync-gui (a
window and a tray icon), self-contained in /opt/mfsync. The ports to allow
through a firewall are in /usr/share/doc/mfsync/README.firewall."""

_LINUX = layout.RESOURCES / "linux"
_GLIBC_RE = re.compile(rb"GLIBC_(\d+)\.(\d+)(?:\.\d+)?\x00")


def build_deb(bundle: Path = layout.BUNDLE) -> Path:
    """Build ``dist/mfsync_VERSION_ARCH.deb`` from the onedir ``bundle``; its path."""
    if not (bundle / layout.CLI_NAME).is_file() or not (bundle / layout.GUI_NAME).is_file():
        raise FileNotFoundError(f"{bundle} is not a bundle with {layout.CLI_NAME} and "
                                f"{layout.GUI_NAME}: run `build.py bundle` first")
    name = f"mfsync_{layout.version()}_{layout.deb_arch()}"
    root = layout.BUILD / "deb" / name
    stage(bundle, root)
    out = layout.DIST / f"{name}.deb"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(root)  # a second copy of the bundle, no longer needed
    return out


def stage(bundle: Path, root: Path) -> None:
    """Lay out the package's files under ``root`` (emptied first), ``DEBIAN/`` included."""
    if root.exists():
        shutil.rmtree(root)
    app_id = layout.app_id()
    # symlinks stay links: the bundle links some Qt libraries into _internal
    shutil.copytree(bundle, root / PREFIX, symlinks=True)
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    for command in (layout.CLI_NAME, layout.GUI_NAME):
        (bin_dir / command).symlink_to(Path("..", "..", PREFIX, command))
    share = root / "usr" / "share"
    _write(share / "applications" / f"{app_id}.desktop", menu_entry())
    _write(share / "metainfo" / f"{app_id}.metainfo.xml", metainfo())
    for unit in USER_UNITS:
        _write(root / USER_UNIT_DIR / unit, user_unit(unit))
    for template, target in FILE_MANAGER_ENTRIES.items():
        _write(root / target, file_manager_entry(template))
        if template.endswith(".sh"):
            (root / target).chmod(0o755)  # (a script, to copy as it is)
    render_icons.render_icons(layout.ICONS)
    shutil.copytree(layout.ICONS / "hicolor", share / "icons" / "hicolor")
    doc = share / "doc" / "mfsync"
    _write(doc / "copyright", copyright_text())
    _write(doc / "README.firewall", _firewall_note())
    _normalise_modes(root)
    md5sums, installed_kib = _md5sums_and_size(root)
    _write(root / "DEBIAN" / "md5sums", md5sums)
    _write(root / "DEBIAN" / "control", control(installed_kib, glibc_requirement(bundle)))
    _normalise_modes(root / "DEBIAN")


def control(installed_size_kib: int, glibc: str) -> str:
    """``DEBIAN/control`` for a package of that installed size, needing glibc ``glibc``."""
    depends = ", ".join([f"libc6 (>= {glibc})", *DEPENDS])
    long_description = "\n".join(f" {line}" for line in DESCRIPTION.splitlines())
    return (f"Package: mfsync\n"
            f"Version: {layout.version()}\n"
            f"Architecture: {layout.deb_arch()}\n"
            f"Maintainer: {MAINTAINER}\n"
            f"Installed-Size: {installed_size_kib}\n"
            f"Depends: {depends}\n"
            f"Recommends: {', '.join(RECOMMENDS)}\n"
            f"Section: net\n"
            f"Priority: optional\n"
            f"Homepage: {homepage()}\n"
            f"Description: {SUMMARY}\n"
            f"{long_description}\n")


def menu_entry(exec_word: str = layout.GUI_NAME, icon: str | None = None) -> str:
    """The menu entry from its template: ``exec_word`` starts the app (found on PATH), ``icon``
    is a theme icon name (default: the application id)."""
    template = (_LINUX / f"{layout.app_id()}.desktop").read_text(encoding="utf-8")
    return template.replace("@EXEC@", exec_word).replace("@ICON@", icon or layout.app_id())


def file_manager_entry(name: str, exec_word: str = layout.GUI_NAME) -> str:
    """The file manager entry ``name`` from its template: ``exec_word`` starts the app (found
    on PATH), the icon is the theme's icon of the application id."""
    template = (_LINUX / name).read_text(encoding="utf-8")
    return template.replace("@EXEC@", exec_word).replace("@ICON@", layout.app_id())


def user_unit(name: str, command: str = f"/usr/bin/{layout.CLI_NAME}") -> str:
    """The systemd user unit ``name`` from its template, starting ``command`` (an absolute
    path without spaces or ``%``, as the package's is)."""
    return (_LINUX / name).read_text(encoding="utf-8").replace("@MFSYNC@", command)


def metainfo(version: str | None = None, date: str | None = None) -> str:
    """The AppStream metadata from its template, with the release ``version`` (default
    mfsync's) of ``date`` (YYYY-MM-DD, default ``release_date()``)."""
    template = (_LINUX / f"{layout.app_id()}.metainfo.xml").read_text(encoding="utf-8")
    return (template.replace("@VERSION@", version or layout.version())
            .replace("@DATE@", date or release_date()))


def homepage() -> str:
    """The project's home page, from the AppStream template (its one source)."""
    path = _LINUX / f"{layout.app_id()}.metainfo.xml"
    # our own file from the checkout, not untrusted input
    url = ET.parse(path).find("url[@type='homepage']")  # noqa: S314
    if url is None or not url.text:
        raise ValueError(f"no <url type='homepage'> in {path}")
    return url.text.strip()


def release_date() -> str:
    """The release date (YYYY-MM-DD): ``SOURCE_DATE_EPOCH`` if set (reproducible builds), else
    the date of the checkout's last commit, else today; in UTC."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        try:
            done = subprocess.run(["git", "-C", str(layout.ROOT), "log", "-1", "--format=%ct"],
                                  capture_output=True, text=True, check=True, timeout=30)
            epoch = done.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            epoch = None
    moment = (dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch
              else dt.datetime.now(dt.UTC))
    return moment.date().isoformat()


def glibc_requirement(bundle: Path) -> str:
    """The newest glibc symbol version that an ELF file of ``bundle`` asks for (what the
    dynamic loader checks), or, if none names one, the glibc of this machine."""
    newest: tuple[int, int] | None = None
    for path in bundle.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
            data = handle.read()
        for match in _GLIBC_RE.finditer(data):
            found = (int(match[1]), int(match[2]))
            newest = found if newest is None else max(newest, found)
    if newest is not None:
        return f"{newest[0]}.{newest[1]}"
    here = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    if not here:
        raise RuntimeError("this machine's C library is not glibc")
    return here.split()[-1]


def copyright_text() -> str:
    """``/usr/share/doc/mfsync/copyright`` in Debian's machine-readable format."""
    license_text = (layout.ROOT / "LICENSE").read_text(encoding="utf-8")
    # the license text after its title, as a field's continuation lines
    body = license_text.split("\n", 1)[1].strip("\n")
    return (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: mfsync\n"
        f"Source: {homepage()}\n"
        "\n"
        "Files: *\n"
        + _copyright_line(body) +
        "License: Expat\n"
        "\n"
        f"Files: {PREFIX}/_internal/*\n"
        "Copyright: the authors of Python, Qt, PySide6 and the libraries mfsync uses\n"
        "License: other\n"
        " The Python interpreter, Qt 6, PySide6, the Python libraries that mfsync uses and\n"
        " the shared libraries they load, each under its own license: the Python Software\n"
        " Foundation License for Python, the GNU LGPL version 3 for Qt and PySide6\n"
        " (/usr/share/common-licenses/LGPL-3), permissive licenses for the others. License\n"
        " texts that a library ships are in its *.dist-info folder.\n"
        "\n"
        "License: Expat\n"
        + _continuation(body)
    )


# -- helpers -------------------------------------------------------------------------------------


def _copyright_line(body: str) -> str:
    holder = next(line for line in body.splitlines() if line.startswith("Copyright"))
    return "Copyright: " + holder.removeprefix("Copyright").removeprefix(" (c)").strip() + "\n"


def _continuation(text: str) -> str:
    """``text`` as a control field's continuation lines (a blank line becomes `` .``)."""
    return "".join(f" {line}\n" if line.strip() else " .\n" for line in text.splitlines())


def _firewall_note() -> str:
    tcp, udp = layout.ports()  # also puts the checkout's mfsync on sys.path
    from mfsync.net.firewall import firewall_note  # noqa: PLC0415

    return str(firewall_note(tcp, udp))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _normalise_modes(root: Path) -> None:
    """0755 for folders and executables, 0644 for every other file: what the package installs
    does not depend on the builder's umask."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_dir() or path.stat().st_mode & 0o111:
            path.chmod(0o755)
        else:
            path.chmod(0o644)


def _md5sums_and_size(root: Path) -> tuple[str, int]:
    """``DEBIAN/md5sums`` and the Installed-Size in KiB (each file rounded up to a KiB, one
    for every folder and link, as dpkg-gencontrol counts)."""
    lines = []
    kib = 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == "DEBIAN":
            continue
        if path.is_symlink() or path.is_dir():
            kib += 1
            continue
        digest = hashlib.md5()  # noqa: S324 - dpkg's md5sums format, not a security check
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {relative.as_posix()}\n")
        kib += (path.stat().st_size + 1023) // 1024
    return "".join(lines), kib
