"""``mfsync-gui``: the desktop app, a QApplication on a qasync loop over the same engine as the CLI.

How it works: ``run`` (called by ``mfsync.gui.launch.main``, the ``mfsync-gui`` command, once
the platform check passed) makes sure only one instance runs (a second start asks the first to
show its window and exits), creates the QApplication and a qasync event loop, and runs
``DesktopApp.run`` on it. ``DesktopApp`` starts the ``Service`` (the engine), then the window,
the tray icon, notifications and the power monitor, and wires their signals to the service.
Quit stops the engine cleanly before the loop ends. Everything the machine may lack (a tray, a
notification daemon, a battery, an autostart mechanism) is injected, so tests can check what
would be shown or written.
"""

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, QUrl
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from mfsync import APP_ID, __version__
from mfsync.config import ConfigError
from mfsync.crypto.keys import IdentityError, parse_key
from mfsync.display import EscapingFormatter
from mfsync.engine.service import Service, StartError, StartFailure, app_service
from mfsync.gui.app_requests import SHARE, SHOW, AppRequest, request_from_args, request_from_message
from mfsync.gui.autostart import Autostart, autostart_for
from mfsync.gui.bridge import EngineBridge
from mfsync.gui.dialogs import FilesChooser, ask_files
from mfsync.gui.gui_settings import GuiSettings, gui_settings_path
from mfsync.gui.i18n import install_translators, tr
from mfsync.gui.icons import icon
from mfsync.gui.language_choice import LanguageChoice
from mfsync.gui.main_window import FOLDERS_TAB, Confirm, FolderChooser, MainWindow
from mfsync.gui.notify import NotificationSink, Notifier, enabled_from_config
from mfsync.gui.offer_prompt import ActionNotifications, OfferPrompt, desktop_notifications
from mfsync.gui.power import PowerMonitor, PowerSource, psutil_source
from mfsync.gui.send_files import HostPickerDialog, send_files
from mfsync.gui.settings_dialog import SettingsDialog
from mfsync.gui.single_instance import SingleInstance, instance_name
from mfsync.gui.tray import Tray, TrayNotificationSink
from mfsync.gui.trust_dialog import TrustDialog
from mfsync.memory import keep_large_buffers, tune_collector
from mfsync.store import locations

__all__ = ["DesktopApp", "run"]

log = logging.getLogger("mfsync.gui")

#: The power source is asked this often (a change of power is not urgent).
POWER_POLL_MS = 30_000
#: Batched notifications are checked this often.
NOTIFY_POLL_MS = 500


class DesktopApp(QObject):
    """The running desktop app: engine, window, tray, notifications and power handling."""

    def __init__(
        self, service: Service, *, hidden: bool = False, tray_available: bool | None = None,
        sink: NotificationSink | None = None, power_source: PowerSource | None = None,
        autostart: Autostart | None = None, open_url: Callable[[QUrl], object] | None = None,
        choose_folder: FolderChooser | None = None, confirm: Confirm | None = None,
        choose_files: FilesChooser | None = None,
        offer_notifications: ActionNotifications | None = None,
        gui_settings: GuiSettings | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.hidden = hidden
        self.tray_available = (QSystemTrayIcon.isSystemTrayAvailable()
                               if tray_available is None else tray_available)
        self.autostart = autostart or autostart_for()
        self._open_url = open_url
        self._choose_folder = choose_folder
        self._confirm = confirm
        self._choose_files = choose_files
        #: Where offers of files are asked about (None: the desktop's, found at start).
        self._offer_notifications = offer_notifications
        #: The app's own settings (language, the window's size, place and tab), kept between
        #: starts (None: nowhere).
        self._gui_settings = gui_settings
        self._sink = sink
        self._power_source = power_source or psutil_source
        self._quit = asyncio.Event()
        self.window: MainWindow | None = None
        self.tray: Tray | None = None
        self.notifier: Notifier | None = None
        self.bridge: EngineBridge | None = None
        self.power: PowerMonitor | None = None
        self.offer_prompt: OfferPrompt | None = None
        self.dialog: Any = None
        self._timers: list[QTimer] = []
        self._told_about_tray = False

    async def start(self) -> None:
        """Start the engine, then show the user interface."""
        await self.service.start()
        self.window = MainWindow(self.service, tray_available=self.tray_available,
                                 choose_folder=self._choose_folder, open_url=self._open_url,
                                 confirm=self._confirm, choose_files=self._choose_files)
        self.window.setWindowIcon(icon("mfsync"))
        if self._gui_settings is not None:
            self._gui_settings.restore(self.window, self.window.tabs)
            self.window.tabs.currentChanged.connect(lambda _index: self._save_window())
        self.tray = Tray(open_url=self._open_url)
        sink = self._sink or TrayNotificationSink(self.tray, self.show_window)
        self.notifier = Notifier(sink)
        self._apply_notification_settings()
        self.bridge = EngineBridge(self.service, self.notifier)
        self.bridge.statusChanged.connect(self.window.update_status)
        self.bridge.statusChanged.connect(self.tray.update_status)
        self.bridge.downloadFinished.connect(self.tray.add_recent)
        self.offer_prompt = OfferPrompt(
            self.service, self._offer_notifications or desktop_notifications(), self.window)
        self.bridge.statusChanged.connect(self.offer_prompt.update_status)
        self.window.transfers_page.offers_panel.dialogRequested.connect(
            self.offer_prompt.show_dialog)
        self.offer_prompt.update_status(self.service.status)
        self.window.quitRequested.connect(self.quit)
        self.window.hiddenToTray.connect(self._hidden_to_tray)
        self.window.settingsRequested.connect(self.open_settings)
        self.window.trustRequested.connect(self.open_trust)
        self.tray.openRequested.connect(self.show_window)
        self.tray.pauseToggled.connect(self.window.toggle_pause)
        self.tray.sendRequested.connect(self.send_files_dialog)
        self.tray.quitRequested.connect(self.quit)
        self.power = PowerMonitor(self._power_source, self.service.set_on_battery)
        self._every(NOTIFY_POLL_MS, self.notifier.flush)
        self._every(POWER_POLL_MS, self.power.poll)
        self.power.poll()
        if self.tray_available:
            self.tray.show()
        else:
            self.window.show_no_tray_hint()
        if not self.hidden or not self.tray_available:
            self.show_window()

    async def run(self, request: AppRequest | None = None) -> int:
        """Start, carry out ``request`` (what this start was asked for), run until Quit, stop
        the engine; the exit code."""
        await self.start()
        if request is not None and request.command != SHOW:
            self.carry_out(request)
        await self._quit.wait()
        await self.stop()
        return 0

    async def stop(self) -> None:
        """Close the user interface and stop the engine."""
        for timer in self._timers:
            timer.stop()
        if self.bridge is not None:
            self.bridge.close()
        if self.offer_prompt is not None:
            self.offer_prompt.close()
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self._save_window()
            self.window.tray_available = False  # a close now must not hide to the tray
            self.window.hide()
        await self.service.stop()

    def quit(self) -> None:
        """Quit the application (after the engine has stopped)."""
        self._quit.set()

    def show_window(self) -> None:
        """Show and raise the main window."""
        if self.window is not None:
            self.window.show_and_raise()

    def _save_window(self) -> None:
        if self._gui_settings is not None and self.window is not None:
            self._gui_settings.save(self.window, self.window.tabs)

    def _hidden_to_tray(self) -> None:
        self._save_window()
        if self._told_about_tray or self.tray is None:
            return
        self._told_about_tray = True
        self.tray.icon.showMessage(
            tr("mfsync is still running"),
            tr("It keeps sharing from the tray. Quit it from the tray icon's menu."),
            QSystemTrayIcon.MessageIcon.Information, 5000)

    def on_message(self, message: bytes) -> None:
        """Another start of ``mfsync-gui`` asked for something (``gui.app_requests``)."""
        request = request_from_message(message)
        if request is None:
            log.warning("ignored a message to the app that is not a request: %r",
                        message[:200])
            return
        log.info("another start of mfsync-gui asks: %s %d path(s)", request.command,
                 len(request.paths))
        self.carry_out(request)

    def carry_out(self, request: AppRequest) -> None:
        """Show the window; then send the request's paths (asking for the host) or share its
        folder. Paths that are gone are named in the status bar. (The paths are looked at in
        a worker thread: nothing a Qt slot runs waits on a disk, and a file manager may hand
        over thousands, or paths on a slow mount.)"""
        self.show_window()
        window = self.window
        if window is None or request.command == SHOW:
            return
        window.tasks.run_blocking(request.existing,
                                  lambda found: self._act_on(request, *found))

    def _act_on(self, request: AppRequest, paths: list[Path], gone: list[Path]) -> None:
        window = self.window
        if window is None:
            return
        if gone:
            names = ", ".join(str(p) for p in gone)
            self._tell((tr("Not a folder: {paths}") if request.command == SHARE
                        else tr("Not found: {paths}")).format(paths=names), 8000)
        if not paths:
            return
        if request.command == SHARE:
            window.tabs.setCurrentIndex(FOLDERS_TAB)
            window.folders_page.add_folder(paths[0])
            return
        self._ask_host_for(paths)

    def open_settings(self) -> SettingsDialog:
        """Open the settings dialog (not modal: the engine keeps running under it)."""
        language = (LanguageChoice(self._gui_settings) if self._gui_settings is not None
                    else None)
        dialog = SettingsDialog(self.service, self.autostart, self.window, language=language)
        dialog.accepted.connect(self._apply_notification_settings)
        dialog.show()
        self.dialog = dialog
        return dialog

    def send_files_dialog(self) -> None:
        """*Send files…* of the tray: ask for the files, then the host, then send them."""
        window = self.window
        if window is None:
            return

        if self._choose_files is not None:
            self._choose_files(tr("Files to send"), self._ask_host_for)
        else:
            ask_files(None, tr("Files to send"), self._ask_host_for)

    def _ask_host_for(self, paths: list[Path]) -> None:
        """The host picker for ``paths``; the host chosen gets them offered."""
        what = paths[0].name if len(paths) == 1 else tr("%n item(s)", "", len(paths))
        self.dialog = HostPickerDialog(
            self.service.status, what,
            lambda key: send_files(self.service, paths, key, self._tell), self.window)
        self.dialog.show()

    def _tell(self, text: str, milliseconds: int) -> None:
        """Say ``text`` where the user looks: the window when it shows, else the tray."""
        if self.window is not None and self.window.isVisible():
            self.window.statusBar().showMessage(text, milliseconds)
        elif self.tray is not None:
            self.tray.icon.showMessage("mfsync", text, QSystemTrayIcon.MessageIcon.Information,
                                       milliseconds)

    def open_trust(self, key: bytes | None = None) -> TrustDialog:
        """Open the trusted-keys dialog, at the verification of ``key`` when given."""
        dialog = TrustDialog(self.service, self.window,
                             status_changed=self.bridge.statusChanged if self.bridge else None)
        if key is not None:
            dialog.verify_key(key)
        dialog.show()
        self.dialog = dialog
        return dialog

    def _apply_notification_settings(self) -> None:
        if self.notifier is not None:
            self.notifier.enabled.update(enabled_from_config(self.service.config))

    def _every(self, interval_ms: int, callback: Callable[[], object]) -> None:
        timer = QTimer(self)
        timer.setInterval(interval_ms)
        timer.timeout.connect(callback)
        timer.start()
        self._timers.append(timer)


def _fail(message: str) -> int:
    sys.stderr.write(f"mfsync-gui: error: {message}\n")
    if QApplication.instance() is not None:
        QMessageBox.critical(None, "mfsync", message)
    return 2


def _quit_on_signals(loop: asyncio.AbstractEventLoop, desktop: DesktopApp) -> None:
    """SIGTERM (logout, ``kill``, a service manager) and SIGINT (Ctrl+C) quit as the menu does:
    the engine stops before the loop ends, so the exit is clean and the exit code 0."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, desktop.quit)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows has no such handlers
            log.debug("cannot handle signal %s on this loop", signum)


def run(args: argparse.Namespace) -> int:
    """Run the desktop app with the options ``mfsync.gui.launch`` parsed; the exit code."""
    keep_large_buffers()
    tune_collector()
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("mfsync-gui: %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.WARNING if not args.verbose else logging.INFO if args.verbose == 1
        else logging.DEBUG, handlers=[handler])
    config_path = Path(args.config).expanduser() if args.config else locations.config_path()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("mfsync")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)  # matches the menu entry, net.mfsync.mfsync.desktop
    app.setQuitOnLastWindowClosed(False)  # the tray keeps the app alive; Quit ends it
    app.setWindowIcon(icon("mfsync"))
    gui_settings = GuiSettings(gui_settings_path(config_path))
    install_translators(app, gui_settings.language)
    single = SingleInstance(instance_name(config_path.parent))
    request = request_from_args(args)
    if single.try_send(request.message()):
        print("mfsync-gui is already running: it was asked to "
              + ("show its window." if request.command == SHOW else
                 f"{request.command} {len(request.paths)} path(s)."))
        return 0
    try:
        extra = frozenset(parse_key(k) for value in args.trusted_keys
                          for k in value.split(",") if k.strip())
        key_path = Path(args.key_file).expanduser() if args.key_file else locations.key_path()
        service = app_service(config_path, explicit=args.config is not None, key_path=key_path,
                              trusted_keys=extra, wait_when_busy=True)
    except (ConfigError, IdentityError, ValueError) as exc:
        return _fail(str(exc))
    desktop = DesktopApp(service, hidden=args.hidden, gui_settings=gui_settings)
    single.listen(desktop.on_message)
    import qasync  # noqa: PLC0415 - only the app needs it, and it needs the QApplication

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    _quit_on_signals(loop, desktop)
    try:
        with loop:
            code: int = loop.run_until_complete(desktop.run(request))
            return code
    except StartError as exc:
        if exc.failure is StartFailure.PORT_IN_USE:
            return _fail(tr("{error}; choose another port in Settings").format(error=exc))
        return _fail(str(exc))
    finally:
        single.close()

