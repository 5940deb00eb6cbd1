"""GUI tests run headless: Qt draws offscreen unless the environment chose a platform."""

import os

# before anything imports Qt: the platform plugin is picked when the QApplication is made
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import qasync
from harness import Rig
from PySide6.QtWidgets import QApplication

from loopback_ports import free_udp_port
from mfsync.gui.i18n import install_translators


def _app() -> QApplication:
    """The process's QApplication, speaking English as the app does on an English desktop
    (the English translation holds the plural forms: "1 file", "2 files")."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([])
        install_translators(app, "en")
    assert isinstance(app, QApplication)
    return app


@pytest.fixture(scope="session")
def qapp() -> QApplication:
    """pytest-qt's application fixture, made as ``_app`` makes it."""
    return _app()


def _qt_loop() -> asyncio.AbstractEventLoop:
    app = _app()
    # as in the app: closing the last window (a dialog, say) must not stop the loop
    app.setQuitOnLastWindowClosed(False)
    return qasync.QEventLoop(app)


@pytest.fixture(autouse=True)
def _collect_between_tests() -> Iterator[None]:
    """Collect the garbage of each test after its event loop has closed.

    Every async test here runs on a qasync loop of its own. Widgets, dialogs and services a test
    leaves in reference cycles were otherwise freed by the cyclic collector whenever it next ran:
    often in the middle of a later test, inside that test's loop, deleting Qt objects (and an
    old loop's timer object) while Qt dispatched timer events, which crashed the process now and
    then (a segfault in qasync's ``timerEvent`` or in "Garbage-collecting"). Collecting here,
    with no loop running, frees them where nothing can fire on them. (The app itself runs one
    loop for its whole life.)
    """
    yield
    gc.collect()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Async tests here run on a qasync loop, as the app does: Qt events and asyncio together."""
    return {"qasync": _qt_loop}


@pytest.fixture
async def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: QApplication
              ) -> AsyncIterator[Rig]:
    """The desktop app and headless nodes, under a temporary HOME, on loopback only."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    setup = Rig(home, free_udp_port())
    try:
        yield setup
    finally:
        await setup.close()
