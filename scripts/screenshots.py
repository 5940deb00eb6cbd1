"""Screenshots of every screen of the desktop app, for the documentation.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

How it works: the script starts an X server without a screen (Xvfb) and a tray host (trayer) on
it, then runs the real ``DesktopApp`` in this process on that display, over a real engine, with
three headless hosts sharing made-up files beside it: laptop-anna and desktop-ben in the default
folder, and office-pc, which syncs a folder labelled "Photos" that the app does not have (the
app shows it as an invitation). It arranges each screen in turn (a tab, a dialog, the tray menu,
a notification), lets Qt paint it and saves the screen, or the window's part of it, with
ImageMagick's ``import``. Last, it ends trayer and starts a fresh app, which finds no tray and
says so in the window.

Nothing leaves the machine: every node (the app's and the headless ones) is built by
``tests/gui/harness.py``'s ``loopback_options`` -- discovery on 127.0.0.1 with TTL 0 on a UDP
port of this run's own, TCP on 127.0.0.1 only. HOME and the demo files live in a temporary folder
that is removed at the end. Downloads are slowed down in this process only (a few MB/s), so the
transfers show partial progress.

Needs the Debian packages of ``scripts/system-deps.sh`` (xvfb, trayer, x11-utils, imagemagick,
fonts-dejavu-core).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "gui"), str(ROOT / "tests")]

from harness import (  # noqa: E402 - the harness lives with the GUI tests
    FakeAutostart,
    FakePower,
    XDisplay,
    loopback_options,
    missing_x_tools,
)
from PySide6.QtCore import QPoint, QRect, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget  # noqa: E402

import mfsync.engine.receive  # noqa: E402
from loopback_ports import free_udp_port  # noqa: E402
from mfsync.audience import Audience  # noqa: E402
from mfsync.config import Config, load_config, save_config  # noqa: E402
from mfsync.engine.node import Node  # noqa: E402
from mfsync.engine.service import FolderMode, Service  # noqa: E402
from mfsync.engine.status import PeerState  # noqa: E402
from mfsync.engine.transfer_status import TransferState  # noqa: E402
from mfsync.folder_config import FolderConfig  # noqa: E402
from mfsync.gui.app import DesktopApp  # noqa: E402
from mfsync.gui.i18n import LANGUAGES, install_translators, tr  # noqa: E402
from mfsync.gui.icons import icon  # noqa: E402
from mfsync.protocol.folder_id import FolderId  # noqa: E402
from waiting import wait_for  # noqa: E402

log = logging.getLogger("mfsync.screenshots")

SCREEN = (1280, 800)
#: Where the main window sits on the screen (there is no window manager to place it).
WINDOW_POS = (90, 110)
#: The main window's size: a little taller than the app's default, so the Network tab shows
#: every demo file without a scroll bar.
WINDOW_SIZE = (900, 640)
#: The settings dialog's size: tall enough to show every setting without a scroll bar.
SETTINGS_SIZE = (560, 672)
#: Bytes per second each download gets here, so a screenshot catches transfers under way.
DOWNLOAD_RATE = 2_000_000
#: Let Qt paint (and X catch up) for this long before a screenshot.
SETTLE = 0.8
#: The desktop behind the windows (ImageMagick gradient colours, top to bottom).
BACKDROP = "#5d7b96-#34495e"
#: The demo user's home folder, inside the temporary folder.
HOME_NAME = "carla"

#: The demo files of the two headless hosts: path -> size (text for the shared recipe file).
ANNA_FILES: dict[str, int | str] = {
    "Photos/2024-08 Lisbon/IMG_2041.jpg": 3_412_000,
    "Photos/2024-08 Lisbon/IMG_2057.jpg": 2_896_000,
    "Photos/2024-08 Lisbon/IMG_2063.jpg": 3_105_000,
    "Documents/Taxes 2024/receipts.pdf": 482_000,
    "Documents/lease-agreement.pdf": 1_254_000,
    "Documents/recipes.md": "# Recipes\n\n## Pastéis de nata\n\n- 6 egg yolks\n" * 40,
    "Videos/lisbon-tram-28.mp4": 48_300_000,
}
BEN_FILES: dict[str, int | str] = {
    "Music/Nils Frahm - Says.flac": 36_200_000,
    "Music/Bonobo - Kerala.mp3": 11_800_000,
    "Documents/budget-2025.ods": 96_400,
    "Documents/recipes.md": ANNA_FILES["Documents/recipes.md"],
    "Projects/garden-shed/plans.pdf": 2_210_000,
    "Videos/birthday-party.mkv": 64_500_000,
}
#: The sync folder office-pc offers (labelled "Photos"), which the app is invited to join.
OFFICE_FILES: dict[str, int | str] = {
    "2023-12 Christmas/IMG_1187.jpg": 2_740_000,
    "2023-12 Christmas/IMG_1192.jpg": 3_015_000,
    "Scans/grandma-letters.pdf": 5_880_000,
}
#: What the app and anna-phone send (issue 16): a folder of photos, a video, two tickets.
SENT_FILES: dict[str, int | str] = {
    **{f"Lisbon 2024/IMG_{2100 + i}.jpg": 2_400_000 + 1000 * i for i in range(14)},
    "garden-shed.mp4": 38_000_000,
    "boarding-pass.pdf": 212_000,
    "itinerary.pdf": 96_000,
}
#: The app's own folders: one shared, one that will be synced.
OWN_FILES: dict[str, dict[str, int | str]] = {
    "Pictures": {"Camera/PXL_20240612_101512.jpg": 2_950_000,
                 "Camera/PXL_20240612_101544.jpg": 3_120_000,
                 "Screenshots/boarding-pass.png": 412_000,
                 "Wallpapers/alps.jpg": 5_400_000},
    "Notes": {"shopping.md": "- oat milk\n- coffee\n", "ideas.md": "# Ideas\n\n- garden shed\n",
              "travel/packing-list.md": "- passport\n- charger\n"},
}


def main(argv: list[str] | None = None) -> int:
    """Render the screenshots into ``--out``; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots",
                        help="folder for the PNG files (default: docs/screenshots)")
    parser.add_argument("--theme", choices=("light", "dark"), default="light",
                        help="draw as under a light desktop theme (Qt's default here) or a dark "
                             "one (Fusion with a dark palette, as a dark desktop gives Qt); "
                             "dark screenshots go to OUT/dark")
    parser.add_argument("--language", choices=sorted(LANGUAGES), default="en",
                        help="the app's language (other than English: into OUT/LANGUAGE)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the app's messages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("mfsync").setLevel(logging.INFO if args.verbose else logging.WARNING)
    log.setLevel(logging.INFO)
    missing = missing_x_tools("Xvfb", "trayer", "xwininfo", "import", "convert", "display")
    if missing:
        log.error("missing %s: run scripts/system-deps.sh as root", ", ".join(missing))
        return 1
    out: Path = (args.out.resolve() / ("dark" if args.theme == "dark" else "")
                 / ("" if args.language == "en" else args.language))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mfsync-demo-") as tmp, \
            XDisplay(SCREEN, log_dir=Path(tmp)) as display:
        _use_display(display, Path(tmp))
        _backdrop(display, Path(tmp))
        display.start_tray()
        app = QApplication(["mfsync"])
        app.setApplicationName("mfsync")
        app.setDesktopFileName("mfsync")
        app.setQuitOnLastWindowClosed(False)
        app.setWindowIcon(icon("mfsync"))
        install_translators(app, args.language)
        if args.theme == "dark":
            app.setStyle("Fusion")
            app.setPalette(_dark_palette())
        import qasync  # noqa: PLC0415 - needs the QApplication

        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            shots = loop.run_until_complete(Shooter(display, Path(tmp), out).run())
        app.shutdown()
    for path in shots:
        log.info("wrote %s", path)
    return 0


def _dark_palette() -> QPalette:
    """What a dark desktop theme (Breeze Dark, Adwaita dark) gives Qt, near enough."""
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, "#2a2e32"), (roles.WindowText, "#fcfcfc"),
                         (roles.Base, "#1b1e20"), (roles.AlternateBase, "#232629"),
                         (roles.Text, "#fcfcfc"), (roles.Button, "#31363b"),
                         (roles.ButtonText, "#fcfcfc"), (roles.Highlight, "#3daee9"),
                         (roles.HighlightedText, "#fcfcfc"), (roles.ToolTipBase, "#31363b"),
                         (roles.ToolTipText, "#fcfcfc"), (roles.PlaceholderText, "#a1a9b1"),
                         (roles.Link, "#1d99f3"), (roles.Mid, "#3b4045")):
        palette.setColor(role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6e7175"))
    return palette


def _use_display(display: XDisplay, tmp: Path) -> None:
    """Point this process at the display and a temporary HOME (before Qt starts)."""
    home = tmp / HOME_NAME
    runtime = tmp / "run"
    runtime.mkdir(mode=0o700)
    env = display.env()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_RUNTIME_DIR=str(runtime))
    env.pop("XDG_DOWNLOAD_DIR", None)
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)


def _backdrop(display: XDisplay, tmp: Path) -> None:
    """A quiet gradient on the root window, for the screenshots of the whole screen."""
    width, height = SCREEN
    image = tmp / "backdrop.png"
    subprocess.run(["convert", "-size", f"{width}x{height}", f"gradient:{BACKDROP}", str(image)],
                   check=True, timeout=60, capture_output=True)
    # display sets the root window's background and exits (with status 1, even then)
    subprocess.run(["display", "-display", display.display, "-window", "root", str(image)],
                   check=False, timeout=60, capture_output=True)


def _throttle(rate: int) -> None:
    """Slow every download of this process to ``rate`` bytes per second."""
    original = mfsync.engine.receive.stream_range

    async def slow(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async for data in original(*args, **kwargs):
            yield data
            await asyncio.sleep(len(data.payload) / rate)

    mfsync.engine.receive.stream_range = slow  # type: ignore[assignment]


def _write_files(root: Path, files: dict[str, int | str]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
            continue
        with path.open("wb") as f:  # random bytes: every file has its own content
            left = content
            while left > 0:
                f.write(os.urandom(min(left, 1 << 20)))
                left -= 1 << 20


class Shooter:
    """Arranges the screens one after another and saves each."""

    def __init__(self, display: XDisplay, tmp: Path, out: Path) -> None:
        self.display = display
        self.tmp = tmp
        self.home = tmp / HOME_NAME
        self.out = out
        self.udp_port = free_udp_port()
        self.nodes: list[Node] = []
        self.services: list[Service] = []
        self.app: DesktopApp | None = None
        self.shots: list[Path] = []

    async def run(self) -> list[Path]:
        """Every screenshot; the files written."""
        try:
            await self._with_tray()
            await self._without_tray()
        finally:
            await self._stop()
        return self.shots

    # -- with a tray ------------------------------------------------------------------------

    async def _with_tray(self) -> None:
        _throttle(DOWNLOAD_RATE)
        data = self.tmp / "data"
        _write_files(data / "anna", ANNA_FILES)
        _write_files(data / "ben", BEN_FILES)
        _write_files(data / "office" / "Photos", OFFICE_FILES)
        for folder, files in OWN_FILES.items():
            _write_files(self.home / folder, files)
        app = await self._start_app({
            "name": "studio-carla", "downloadFolder": "~/Downloads/mfsync",
            "folders": [{"path": str(self.home / name), "mode": "share"} for name in OWN_FILES],
        })
        assert app.tray_available, "Qt sees no tray although trayer runs"
        anna = await self._node(data / "anna", "laptop-anna")
        ben = await self._node(data / "ben", "desktop-ben")
        office = await self._node(None, "office-pc", folders=(FolderConfig(
            data / "office" / "Photos", FolderMode.SYNC, FolderId.new(), "Photos"),))
        window = app.window
        assert window is not None
        offered = len(set(ANNA_FILES) | set(BEN_FILES)) + len(OFFICE_FILES)
        await wait_for(lambda: window.network_model.rowCount() == offered
                       and len(self._online()) == 3, 30, "the network's files")

        # office-pc's sync folder, which we do not have: an invitation, in the tray and above
        # the shared folders (the window shows that tab behind the notification)
        window.tabs.setCurrentIndex(0)
        await wait_for(lambda: bool(window.folders_page.invitations.rows), 30,
                       "the invitation to Photos")
        await wait_for(self._balloon, 15, "the invitation's notification")
        await self._shoot_screen("invitation-notification.png")
        self._close_balloons()

        window.tabs.setCurrentIndex(1)
        await self._shoot_window("main-network.png", window)

        # a few small downloads finish: their notification, then the recent list
        self._download(["Photos/2024-08 Lisbon/IMG_2041.jpg",
                        "Photos/2024-08 Lisbon/IMG_2057.jpg", "Documents/budget-2025.ods"])
        await wait_for(lambda: len(self._done()) == 3, 60, "the small downloads")
        await wait_for(self._balloon, 15, "the notification balloon")
        await self._shoot_screen("notification.png")
        self._close_balloons()
        assert app.notifier is not None
        app.notifier.enabled.update(dict.fromkeys(app.notifier.enabled, False))

        # big ones run (throttled); one is paused part-way, one waits in the queue
        self._download(["Videos/lisbon-tram-28.mp4", "Music/Nils Frahm - Says.flac",
                        "Videos/birthday-party.mkv", "Music/Bonobo - Kerala.mp3"])
        tram = "Videos/lisbon-tram-28.mp4"
        await wait_for(lambda: self._fraction(tram) >= 0.12, 60, "the video to get going")
        app.service.pause_transfer(self._key(tram))
        await asyncio.sleep(3)
        window.tabs.setCurrentIndex(2)
        await self._shoot_window("main-transfers.png", window)

        window.tabs.setCurrentIndex(3)
        window.hosts_view.selectRow(self._host_row("desktop-ben"))
        await self._shoot_window("main-hosts.png", window)

        # the tray menu over the transfers, with the recent downloads open
        window.tabs.setCurrentIndex(2)
        await self._settle()
        await self._shoot_tray_menu("tray-menu.png")

        # files sent to hosts, before any key is trusted: then anyone may send, and is asked
        await self._sending(app)

        # trust: anna and office-pc pasted (a host not trusted could not connect any more),
        # ben verified by his code
        dialog = app.open_trust(None)
        dialog.add_key(anna.identity.public_key, "laptop-anna")
        dialog.add_key(office.identity.public_key, "office-pc")
        verify = dialog.verify_key(ben.identity.public_key)
        await self._shoot_window("verify.png", verify)
        verify.accept()
        await self._shoot_window("trusted-keys.png", dialog)
        dialog.accept()

        settings = app.open_settings()
        settings.resize(*SETTINGS_SIZE)
        await self._shoot_window("settings.png", settings)
        settings.reject()

        # the folders: Notes synced (with the trusted keys, its default), Pictures kept to
        # laptop-anna; above them, office-pc's invitation to sync Photos
        notes = self.home / "Notes"
        await app.service.set_folder_mode(notes.resolve(), FolderMode.SYNC)
        app.service.set_folder_devices((self.home / "Pictures").resolve(),
                                       Audience.of_keys(frozenset({anna.identity.public_key})))
        window.tabs.setCurrentIndex(0)
        window.folders_view.selectRow(self._folder_row(notes))
        await wait_for(lambda: bool(window.folders_page.invitations.rows)
                       and self._folders_settled(), 30, "the invitation and the folders")
        await self._shoot_window("main-shared-folders.png", window)

        # Share with…: Notes about to be kept to anna's and ben's computers
        share = window.folders_page.share_selected_folder()
        assert share is not None
        share.only.setChecked(True)
        share.set_checked(frozenset({anna.identity.public_key, ben.identity.public_key}))
        await self._shoot_window("share-with.png", share)
        share.reject()
        await self._stop()

    async def _sending(self, app: DesktopApp) -> None:
        """Files sent to a host (issue 16): the host's menu, the outgoing rows, and an offer
        made to the app asked about in a dialog (Xvfb has no notification service)."""
        window = app.window
        assert window is not None
        kitchen = await self._service("kitchen-laptop")  # asks its user: the offer waits
        studio = await self._service("studio-dana", accept_from_anyone=True)
        await wait_for(lambda: len(self._online()) == 5, 30, "the hosts that take files")
        window.tabs.setCurrentIndex(3)
        window.hosts_view.selectRow(self._host_row("kitchen-laptop"))
        await self._settle()
        row = window.hosts_view.visualRect(window.hosts_view.model().index(
            self._host_row("kitchen-laptop"), 0))
        menu = window.hosts_page.show_menu(row.center())
        assert menu is not None
        await self._settle(menu.isVisible)
        self._save("send-menu.png", window.frameGeometry())
        menu.hide()
        sending = self.tmp / "data" / "sending"
        _write_files(sending, SENT_FILES)
        for name, to in (("Lisbon 2024", kitchen), ("garden-shed.mp4", studio)):
            window.hosts_page.send([sending / name], to.node.identity.public_key)
        anna = await self._service("anna-phone")
        own_key = app.service.node.identity.public_key
        await wait_for(lambda: any(p.name == "anna-phone" and p.state is PeerState.CONNECTED
                                   for p in app.service.status.node.peers)
                       and any(own_key in (p.key, p.announced_key)
                               for p in anna.status.node.peers), 30, "anna-phone")
        anna.offers.send([sending / "boarding-pass.pdf", sending / "itinerary.pdf"], own_key)
        await wait_for(lambda: any(o.bytes_sent > 0 and o.speed
                                   for o in app.service.status.outgoing), 60, "a send under way")
        window.tabs.setCurrentIndex(2)
        await self._shoot_window("transfers-send.png", window)
        prompt = app.offer_prompt
        assert prompt is not None
        dialog = await wait_for(lambda: next(iter(prompt.dialogs.values()), None), 30,
                                "the offer's dialog")
        dialog.move(WINDOW_POS[0] + 260, WINDOW_POS[1] + 140)
        await self._shoot_window("offer-dialog.png", dialog)
        dialog.close()

    async def _service(self, name: str, **config: Any) -> Service:
        """A headless host that takes offers (its accepted files go under the demo folder)."""
        service = Service(loopback_options(self.udp_port, name=name), Config(**config))
        service.offers.set_destination(self.tmp / "received" / name)
        self.services.append(service)
        await service.start()
        return service

    # -- without one ------------------------------------------------------------------------

    async def _without_tray(self) -> None:
        self.display.stop_tray()
        try:
            await wait_for(lambda: not QSystemTrayIcon.isSystemTrayAvailable(), 10,
                           "Qt to notice the tray is gone")
        except AssertionError:
            log.warning("Qt still sees a tray; telling the app there is none")
        self.home = self.tmp / "first-run"
        app = await self._start_app({}, tray_available=False
                                    if QSystemTrayIcon.isSystemTrayAvailable() else None)
        assert not app.tray_available
        assert app.window is not None
        await self._shoot_window("no-tray.png", app.window)

    # -- the app and the hosts --------------------------------------------------------------

    async def _start_app(self, settings: dict[str, Any], tray_available: bool | None = None
                         ) -> DesktopApp:
        config_path = self.home / ".mfsync" / "config.json"
        self.home.mkdir(parents=True, exist_ok=True)
        if settings:
            save_config(config_path, settings)
        config = load_config(config_path, explicit=False)
        service = Service(loopback_options(self.udp_port), config, config_path=config_path)
        self.app = DesktopApp(
            service, tray_available=tray_available, power_source=FakePower(),
            autostart=FakeAutostart(), open_url=_ignore_url, confirm=lambda _t, _x, yes: yes())
        await self.app.start()
        assert self.app.window is not None
        self.app.window.resize(*WINDOW_SIZE)
        self.app.window.move(*WINDOW_POS)
        await self._settle()
        return self.app

    async def _node(self, share: Path | None, name: str,
                    folders: tuple[FolderConfig, ...] = ()) -> Node:
        node = Node(loopback_options(self.udp_port, share_dir=share, name=name, folders=folders))
        self.nodes.append(node)
        await node.start()
        return node

    async def _stop(self) -> None:
        if self.app is not None:
            app, self.app = self.app, None
            await app.stop()
            # Qt objects go now, while the loop runs: left to the interpreter's exit, PySide
            # may free them in an order that crashes it
            if app.window is not None:
                app.window.close()
            parts = [app.window, app.tray.icon, app.tray.menu, app.tray] if app.tray else []
            for part in [*parts, app]:
                if part is not None:
                    part.deleteLater()
            await asyncio.sleep(0.3)
        while self.nodes:
            await self.nodes.pop().stop()
        while self.services:
            await self.services.pop().stop()

    def _online(self) -> list[Any]:
        assert self.app is not None
        return [p for p in self.app.service.status.node.peers if p.state is PeerState.CONNECTED]

    def _download(self, paths: list[str]) -> None:
        assert self.app is not None
        self.app.service.download(paths)

    def _transfers(self) -> list[Any]:
        assert self.app is not None
        return list(self.app.service.status.transfers.transfers)

    def _done(self) -> list[Any]:
        return [t for t in self._transfers() if t.state is TransferState.DONE]

    def _key(self, path: str) -> Any:
        return next(t.key for t in self._transfers() if t.path == path)

    def _fraction(self, path: str) -> float:
        transfer = next((t for t in self._transfers() if t.path == path), None)
        return transfer.done / transfer.size if transfer is not None and transfer.size else 0.0

    def _host_row(self, name: str) -> int:
        assert self.app is not None and self.app.window is not None
        view = self.app.window.hosts_view
        model = view.model()
        return next((r for r in range(model.rowCount()) if model.index(r, 0).data() == name), 0)

    def _folder_row(self, folder: Path) -> int:
        assert self.app is not None and self.app.window is not None
        model = self.app.window.folders_view.model()
        return next((r for r in range(model.rowCount())
                     if model.index(r, 0).data() == str(folder.resolve())), 0)

    def _folders_settled(self) -> bool:
        """Whether every shared folder is "up to date" (not scanning any more)."""
        assert self.app is not None and self.app.window is not None
        model = self.app.window.folders_view.model()
        column = next(c for c in range(model.columnCount())
                      if model.headerData(c, Qt.Orientation.Horizontal) == tr("State"))
        return all(model.index(r, column).data() == tr("up to date")
                   for r in range(model.rowCount()))

    # -- screens ----------------------------------------------------------------------------

    async def _shoot_window(self, name: str, widget: QWidget) -> None:
        """Save the part of the screen that ``widget`` (a window) covers."""
        widget.show()
        widget.raise_()
        await self._settle(lambda: widget.windowHandle() is not None
                           and widget.windowHandle().isExposed())
        self._save(name, widget.frameGeometry())

    async def _shoot_screen(self, name: str) -> None:
        await self._settle()
        self._save(name, None)

    async def _shoot_tray_menu(self, name: str) -> None:
        assert self.app is not None and self.app.tray is not None
        tray = self.app.tray
        tray.rebuild_menu()
        menu = tray.menu
        where = tray.icon.geometry()
        size = menu.sizeHint()
        menu.popup(QPoint(max(0, where.right() - size.width()), where.bottom() + 2))
        await self._settle(menu.isVisible)
        recent = next(a for a in menu.actions() if a.text() == tr("Recent downloads"))
        menu.setActiveAction(recent)
        submenu = recent.menu()
        await self._settle(lambda: submenu is not None and submenu.isVisible())
        self._save(name, None)
        menu.hide()

    async def _settle(self, ready: Callable[[], bool] | None = None) -> None:
        if ready is not None:
            await wait_for(ready, 15, "the screen to be ready")
        await asyncio.sleep(SETTLE)  # the loop runs Qt's events meanwhile

    def _save(self, name: str, rect: QRect | None) -> None:
        path = self.out / name
        area = None if rect is None else (rect.x(), rect.y(), rect.width(), rect.height())
        self.display.screenshot(path, area)
        self.shots.append(path)
        log.info("%s", name)

    @staticmethod
    def _balloons() -> list[QWidget]:
        return [w for w in QApplication.topLevelWidgets()
                if w.metaObject().className() == "QBalloonTip" and w.isVisible()]

    def _balloon(self) -> bool:
        return bool(self._balloons())

    def _close_balloons(self) -> None:
        for balloon in self._balloons():
            balloon.close()


def _ignore_url(url: QUrl) -> bool:
    log.info("would open %s", url.toLocalFile())
    return True


if __name__ == "__main__":
    sys.exit(main())
