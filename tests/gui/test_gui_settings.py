"""The window's size and tab are remembered between starts, in the app's own settings file."""

from __future__ import annotations

import json

from harness import _KEEP_ALIVE, Rig
from PySide6.QtCore import QSize

from mfsync.gui.gui_settings import gui_settings_path
from mfsync.gui.main_window import HOSTS_TAB, NETWORK_TAB


async def test_size_and_tab_come_back_at_the_next_start(rig: Rig) -> None:
    first = await rig.start_app()
    assert first.window is not None
    first.window.resize(720, 470)
    first.window.tabs.setCurrentIndex(HOSTS_TAB)
    await first.stop()
    _KEEP_ALIVE.append(first)
    state = gui_settings_path(rig.config_path)
    assert state.is_file() and "geometry" in state.read_text(encoding="utf-8")
    # the shared config file has none of it
    if rig.config_path.exists():
        config = json.loads(rig.config_path.read_text(encoding="utf-8"))
        assert not any("geometry" in key.lower() or key.lower() == "tab" for key in config)

    second = await rig.start_app()
    assert second.window is not None
    assert second.window.tabs.currentIndex() == HOSTS_TAB
    assert second.window.size() == QSize(720, 470)
    # a tab chosen now is saved at once (a crash later must not lose it)
    second.window.tabs.setCurrentIndex(NETWORK_TAB)
    assert "tab=1" in state.read_text(encoding="utf-8")


async def test_a_damaged_state_file_opens_the_default_window(rig: Rig) -> None:
    state = gui_settings_path(rig.config_path)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"[window]\ngeometry=@ByteArray(garbage)\ntab=99\n\x00\xff")
    app = await rig.start_app()
    assert app.window is not None
    assert app.window.tabs.currentIndex() == 0
    assert app.window.size() == QSize(900, 560)
