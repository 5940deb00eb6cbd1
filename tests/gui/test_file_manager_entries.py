"""The file managers' "Send with mfsync…" and "Share with mfsync", run as each file manager would.

Dolphin's service menus and Nemo's actions are checked by a parser here (desktop-file-validate
does not know them). Then every entry's command line (those two, the menu entry's "Open with",
the Nautilus scripts, Thunar's custom actions, Windows' "Send to") is expanded the way its file
manager expands it, for paths with spaces, and run with the real ``mfsync-gui`` while the app
runs in this process under the same temporary HOME: each start must hand its paths to the
running app (``DesktopApp.carry_out``), which then asks for a host for a send, or shares the
folder.
"""

from __future__ import annotations

import asyncio
import configparser
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Rig

from mfsync import APP_ID
from mfsync.gui.app import DesktopApp
from mfsync.gui.app_requests import SEND, SHARE, AppRequest
from mfsync.gui.send_files import HostPickerDialog
from mfsync.gui.single_instance import SingleInstance, instance_name
from waiting import wait_for

LINUX = Path(__file__).resolve().parents[2] / "resources" / "linux"
GUI = Path(sys.executable).with_name("mfsync-gui")
RUN_TIMEOUT = 60.0


def render(template: str, exec_word: str) -> str:
    return ((LINUX / template).read_text(encoding="utf-8")
            .replace("@EXEC@", exec_word).replace("@ICON@", APP_ID))


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign] # keys keep their case
    parser.read_string(text)
    return parser


# -- the files, parsed ------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "mime", "code"), [
    ("net.mfsync.mfsync-send.servicemenu.desktop", "application/octet-stream;inode/directory;",
     "--send %F"),
    ("net.mfsync.mfsync-share.servicemenu.desktop", "inode/directory;", "--share %f"),
])
def test_dolphin_service_menus_are_well_formed(template: str, mime: str, code: str) -> None:
    menu = ini(render(template, "mfsync-gui"))
    entry = menu["Desktop Entry"]
    assert entry["Type"] == "Service"
    assert entry["X-KDE-ServiceTypes"] == "KonqPopupMenu/Plugin"  # (KDE before 5.85)
    assert entry["MimeType"] == mime
    actions = [a for a in entry["Actions"].split(";") if a]
    assert actions and all(f"Desktop Action {a}" in menu for a in actions)
    for action in actions:
        section = menu[f"Desktop Action {action}"]
        assert section["Name"].endswith(("mfsync…", "mfsync")) and section["Icon"] == APP_ID
        assert section["Exec"] == f"mfsync-gui {code}"
        assert section["Name[de]"]


@pytest.mark.parametrize(("template", "selection", "extensions", "option"), [
    ("mfsync-send.nemo_action", "notnone", "any;", "--send"),
    ("mfsync-share.nemo_action", "s", "dir;", "--share"),
])
def test_nemo_actions_are_well_formed(template: str, selection: str, extensions: str,
                                      option: str) -> None:
    action = ini(render(template, "mfsync-gui"))["Nemo Action"]
    for key in ("Name", "Comment", "Exec", "Icon-Name", "Selection", "Extensions"):
        assert action[key], key
    assert action["Active"] == "true"
    assert action["Selection"] == selection and action["Extensions"] == extensions
    assert action["Exec"] == f"mfsync-gui {option} %F" and action["Quote"] == "double"
    assert action["Icon-Name"] == APP_ID


# -- each entry's command line, as its file manager runs it -------------------------------------


def desktop_exec(exec_line: str, paths: list[Path]) -> list[str]:
    """An Exec line as the Desktop Entry spec expands it: %F every path, one argument each;
    %f the first; %% a percent sign."""
    words: list[str] = []
    for word in shlex.split(exec_line):
        if word == "%F":
            words += [str(p) for p in paths]
        elif word == "%f":
            words.append(str(paths[0]))
        else:
            words.append(word.replace("%%", "%"))
    return words


def nemo_exec(exec_line: str, paths: list[Path]) -> list[str]:
    """A Nemo action's Exec with ``Quote=double``: %F becomes the paths, each in double
    quotes, and the line is split as GLib's g_shell_parse_argv splits it."""
    quoted = " ".join(f'"{p}"' for p in paths)
    return shlex.split(exec_line.replace("%F", quoted))


def thunar_command(command: str, paths: list[Path]) -> list[str]:
    """A Thunar custom action: %F the paths, %f the first, each quoted for the shell."""
    quoted = command.replace("%F", " ".join(shlex.quote(str(p)) for p in paths))
    return shlex.split(quoted.replace("%f", shlex.quote(str(paths[0]))))


@pytest.fixture
def selection(tmp_path: Path) -> Iterator[tuple[Path, list[Path]]]:
    """A folder with spaces in its name, holding two files and a folder to send or share."""
    where = tmp_path / "My files"
    where.mkdir()
    (where / "notes 2026.txt").write_text("notes\n", encoding="utf-8")
    (where / "b.bin").write_bytes(b"b" * 100)
    (where / "Holiday photos").mkdir()
    yield where, [where / "notes 2026.txt", where / "b.bin"]


async def test_every_entry_hands_its_paths_to_the_running_app(
        rig: Rig, selection: tuple[Path, list[Path]], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    if not GUI.exists():
        pytest.skip(f"no {GUI}: the tests run from the project's venv")
    where, files = selection
    folder = where / "Holiday photos"
    app = await rig.start_app()
    received: list[AppRequest] = []
    carry_out = DesktopApp.carry_out

    def spy(self: DesktopApp, request: AppRequest) -> None:
        received.append(request)
        carry_out(self, request)

    monkeypatch.setattr(DesktopApp, "carry_out", spy)
    single = SingleInstance(instance_name(rig.config_path.parent))
    assert single.listen(app.on_message)
    gui = str(GUI)
    nautilus = {}
    for template in ("nautilus-send.sh", "nautilus-share.sh"):
        script = tmp_path / template
        script.write_text(render(template, shlex.quote(gui)), encoding="utf-8")
        script.chmod(0o755)
        nautilus[template] = str(script)
    thunar = ini_actions(render("thunar-uca.xml", gui))
    menu_entry = ini(render(f"{APP_ID}.desktop", gui))["Desktop Entry"]["Exec"]
    dolphin_send = ini(render("net.mfsync.mfsync-send.servicemenu.desktop", gui))
    dolphin_share = ini(render("net.mfsync.mfsync-share.servicemenu.desktop", gui))
    nemo_send = ini(render("mfsync-send.nemo_action", gui))["Nemo Action"]["Exec"]
    nemo_share = ini(render("mfsync-share.nemo_action", gui))["Nemo Action"]["Exec"]
    # (name, command line, working folder, what the app must receive)
    starts = [
        ("Open with (menu entry)", desktop_exec(menu_entry, files), None, (SEND, files)),
        ("Dolphin: Send", desktop_exec(dolphin_send["Desktop Action send"]["Exec"], files),
         None, (SEND, files)),
        ("Dolphin: Share", desktop_exec(dolphin_share["Desktop Action share"]["Exec"],
                                        [folder]), None, (SHARE, [folder])),
        ("Nemo: Send", nemo_exec(nemo_send, files), None, (SEND, files)),
        ("Nemo: Share", nemo_exec(nemo_share, [folder]), None, (SHARE, [folder])),
        ("Nautilus: Send", [nautilus["nautilus-send.sh"], *(p.name for p in files)], where,
         (SEND, files)),
        ("Nautilus: Share", [nautilus["nautilus-share.sh"], folder.name], where,
         (SHARE, [folder])),
        ("Thunar: Send", thunar_command(thunar["net-mfsync-send"], files), None, (SEND, files)),
        ("Thunar: Share", thunar_command(thunar["net-mfsync-share"], [folder]), None,
         (SHARE, [folder])),
        ("Windows Send to", [gui, "--send", *(str(p) for p in files)], None, (SEND, files)),
    ]
    try:
        for name, command, cwd, (kind, paths) in starts:
            before = len(received)
            done = await _run(command, cwd)
            assert done.returncode == 0, (name, command, done.stdout, done.stderr)
            assert "already running" in done.stdout, (name, done.stdout, done.stderr)
            await wait_for(lambda b=before: len(received) > b, what=f"{name}'s request")
            assert received[-1] == AppRequest(kind, tuple(paths)), name
            if kind == SEND:
                await wait_for(lambda: isinstance(app.dialog, HostPickerDialog),
                               what=f"{name}'s host picker")
                assert isinstance(app.dialog, HostPickerDialog), name
                app.dialog.close()
                app.dialog = None
        # and what a share asks for happened: the folder is shared
        await wait_for(lambda: any(f.path == folder.resolve() or f.path == folder
                                   for f in app.service.status.folders),
                       what="the shared folder")
    finally:
        single.close()


def ini_actions(xml: str) -> dict[str, str]:
    """Thunar's uca.xml: each action's unique id and command."""
    root = ET.fromstring(xml)
    return {action.findtext("unique-id", ""): action.findtext("command", "")
            for action in root.iter("action")}


async def _run(command: list[str], cwd: Path | None) -> subprocess.CompletedProcess[str]:
    """Run a start of the app without blocking the loop the running app needs to answer."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return await asyncio.to_thread(subprocess.run, command, cwd=cwd, env=env,
                                   capture_output=True, text=True, timeout=RUN_TIMEOUT,
                                   check=False)


async def test_paths_that_are_gone_or_not_folders_are_named_not_acted_on(
        rig: Rig, selection: tuple[Path, list[Path]]) -> None:
    where, files = selection
    app = await rig.start_app()
    window = app.window
    assert window is not None
    app.carry_out(AppRequest(SHARE, (files[0],)))  # a file is no folder to share
    await wait_for(lambda: window.statusBar().currentMessage() != "", what="the message")
    assert window.statusBar().currentMessage() == f"Not a folder: {files[0]}"
    assert app.service.status.folders == ()
    gone = where / "deleted meanwhile.txt"
    app.carry_out(AppRequest(SEND, (gone, files[1])))
    await wait_for(lambda: isinstance(app.dialog, HostPickerDialog), what="the host picker")
    assert window.statusBar().currentMessage() == f"Not found: {gone}"
    assert isinstance(app.dialog, HostPickerDialog)  # for the one still there
    app.dialog.close()


async def test_messages_that_are_no_request_are_ignored(rig: Rig) -> None:
    app = await rig.start_app()
    received: list[AppRequest] = []
    app.carry_out = received.append  # type: ignore[method-assign]
    for line in (b"mfsync-gui 1 share relative/dir", b"mfsync-gui 1 delete /home",
                 b"mfsync-gui 1 send", b"mfsync-gui 1 share /a /b", b"GET / HTTP/1.1",
                 b"mfsync-gui 2 show"):
        app.on_message(line)
    assert received == []
    app.on_message(b"mfsync-gui 1 share /tmp/My%20folder")
    assert received == [AppRequest(SHARE, (Path("/tmp/My folder"),))]
