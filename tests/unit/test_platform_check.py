"""``gui.platform_check``: which Qt platform would start here, and what to say when none can.

The libraries are judged through an injected loader (the real one is the dynamic linker; the
process test ``tests/gui/test_first_start.py`` hides a real library), the X server's socket is
a real Unix socket.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopback_ports import listening_x_display
from mfsync.gui import platform_check
from mfsync.gui.platform_check import LIBRARIES, desktop_packages, platform_problem

NOT_FOUND = "{}: cannot open shared object file: No such file or directory"


def loader(*missing: str) -> platform_check.Loader:
    """A dynamic linker that finds everything but ``missing`` (sonames, or the X11 plugin as
    "plugin:SONAME": the plugin then names SONAME as what it lacks)."""
    plugin_lacks = [m.split(":", 1)[1] for m in missing if m.startswith("plugin:")]

    def load(soname: str) -> str | None:
        if soname.endswith("libqxcb.so"):
            return NOT_FOUND.format(plugin_lacks[0]) if plugin_lacks else None
        return NOT_FOUND.format(soname) if soname in missing else None

    return load


def problem(env: dict[str, str], *missing: str, reachable: bool = True) -> str | None:
    return platform_problem(env, platform="linux", load=loader(*missing),
                            display_reachable=lambda _display: reachable)


X11 = {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}
WAYLAND = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}


def test_an_x11_session_with_every_library_starts() -> None:
    assert problem(X11) is None


def test_a_missing_xcb_library_is_named_with_its_packages_everywhere() -> None:
    text = problem(X11, "libxcb-cursor.so.0")
    assert text is not None
    assert "libxcb-cursor.so.0" in text
    assert "sudo apt install libxcb-cursor0" in text
    assert "sudo dnf install xcb-util-cursor" in text
    assert "sudo pacman -S xcb-util-cursor" in text
    assert "\n" not in text  # one paragraph


def test_several_missing_libraries_are_all_named_each_package_once() -> None:
    text = problem(X11, "libxcb-shape.so.0", "libxcb-xkb.so.1", "libxcb-icccm.so.4")
    assert text is not None
    assert "libxcb-icccm.so.4, libxcb-shape.so.0, libxcb-xkb.so.1" in text
    assert "apt install libxcb-icccm4 libxcb-shape0 libxcb-xkb1;" in text
    assert "dnf install libxcb xcb-util-wm;" in text  # one package holds two of them


def test_a_library_the_table_does_not_know_is_found_by_loading_the_plugin() -> None:
    assert platform_check._plugin_lacks(lambda _soname: None) == {}
    text = problem(X11, "plugin:libxcb-newthing.so.7")
    if text is None:
        pytest.skip("PySide6 here has no libqxcb.so to load")
    assert "libxcb-newthing.so.7" in text


def test_a_wayland_session_needs_no_xcb_library() -> None:
    assert problem(WAYLAND, "libxcb-cursor.so.0") is None


def test_a_wayland_session_without_wayland_libraries_falls_back_to_x11() -> None:
    assert problem(WAYLAND, "libwayland-client.so.0") is None
    text = problem(WAYLAND, "libwayland-client.so.0", "libxcb-cursor.so.0")
    assert text is not None
    assert "libwayland-client.so.0" in text and "libxcb-cursor.so.0" in text


def test_a_platform_chosen_by_the_user_is_followed() -> None:
    assert problem({"QT_QPA_PLATFORM": "offscreen"}, *LIBRARIES) is None
    assert problem({**WAYLAND, "QT_QPA_PLATFORM": "xcb"}, "libxcb-cursor.so.0") is not None
    assert problem({**WAYLAND, "QT_QPA_PLATFORM": "wayland"}, "libxcb-cursor.so.0") is None
    assert problem({**X11, "QT_QPA_PLATFORM": "wayland"}) is not None  # no Wayland display


def test_no_display_at_all_says_so_and_names_the_headless_commands() -> None:
    text = problem({})
    assert text is not None
    assert "no graphical session" in text and "mfsync daemon" in text


def test_an_x_display_nobody_serves_is_named() -> None:
    text = problem({"DISPLAY": ":57"}, reachable=False)
    assert text is not None and "DISPLAY=:57" in text


def test_other_systems_are_not_judged() -> None:
    assert platform_problem({}, platform="win32", load=loader(*LIBRARIES)) is None
    assert platform_problem({}, platform="darwin", load=loader(*LIBRARIES)) is None


def test_the_debian_list_holds_every_library_s_package() -> None:
    packages = desktop_packages()
    assert packages == sorted(set(packages))
    assert {"libxcb-cursor0", "libgl1", "libxkbcommon-x11-0"} <= set(packages)


@pytest.fixture
def x_socket() -> Iterator[str]:
    with listening_x_display() as display:
        if display is None:
            pytest.skip("no free display number")
        yield display


def test_a_local_x_server_is_found_by_its_socket(x_socket: str) -> None:
    assert platform_check._x_display_reachable(x_socket)
    assert platform_check._x_display_reachable(x_socket + ".0")
    gone = f":{int(x_socket[1:]) + 1000}"
    assert not platform_check._x_display_reachable(gone)
    assert platform_check._x_display_reachable("otherhost:0")  # remote: taken on trust
