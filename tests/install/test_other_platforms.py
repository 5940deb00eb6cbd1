"""What can be checked here of the installers that are built elsewhere (Windows, macOS), and the
shell scripts of every installer.

The Inno Setup script is read, not compiled: its [Files] must name what the Linux build of the
bundle holds (``X.exe`` there is ``X`` here), its Run value must be the one the app writes, its
firewall rules must go with the uninstaller, and nothing that mfsync defines may be repeated in
it. The macOS settings are text checks of the PyInstaller spec and the LaunchAgent template.
"""

from __future__ import annotations

import plistlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import inno
import layout
import mfsync
from mfsync.gui.autostart import (
    HIDDEN_ARG,
    LAUNCH_AGENT_LABEL,
    RUN_KEY,
    RUN_VALUE,
    WindowsRunAutostart,
)
from mfsync.gui.launch import parser
from mfsync.net.discovery import DEFAULT_UDP_PORT
from mfsync.net.server import DEFAULT_TCP_PORT

ISS = layout.INSTALLER / "windows" / "mfsync.iss"
#: Where the Windows installer puts the app by default ({autopf}\mfsync on 64-bit Windows).
PROGRAM_FOLDER = r"C:\Program Files\mfsync"
#: The defines mfsync.iss needs from packaging/inno.py (MyIcon is optional).
REQUIRED = ("MyAppVersion", "MyAppId", "MyTcpPort", "MyUdpPort", "MyBundleDir", "MyOutputDir")

# -- reading the Inno Setup script -----------------------------------------------------------------


def script_defines(text: str) -> dict[str, str]:
    """The script's own ``#define Name "value"`` lines."""
    return dict(re.findall(r'^#define\s+(\w+)\s+"([^"]*)"', text, re.M))


def expand(text: str, defines: dict[str, str]) -> str:
    """``text`` with every ``{#Name}`` replaced; an unknown name fails the test."""
    def value(match: re.Match[str]) -> str:
        assert match.group(1) in defines, f"{{#{match.group(1)}}} is defined nowhere"
        return defines[match.group(1)]

    return re.sub(r"\{#(\w+)\}", value, text)


def sections(text: str) -> dict[str, list[str]]:
    """The entry lines of each section (comments, blank and preprocessor lines left out)."""
    found: dict[str, list[str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if re.fullmatch(r"\[\w+\]", line):
            current = line[1:-1]
            found.setdefault(current, [])
        elif line and not line.startswith((";", "#")) and current:
            found[current].append(line)
    return found


def parameters(line: str) -> dict[str, str]:
    """An entry line, ``Name: value; Name: "a ""quoted"" value"``, as a dict (Inno Setup's
    syntax: a double quote inside quotes is doubled)."""
    found: dict[str, str] = {}
    rest = line
    while rest.strip():
        name, _, rest = rest.partition(":")
        rest = rest.lstrip()
        if rest.startswith('"'):
            end = 1
            while True:
                end = rest.index('"', end)
                if rest[end + 1:end + 2] != '"':
                    break
                end += 2
            value, rest = rest[1:end].replace('""', '"'), rest[end + 1:]
            rest = rest.partition(";")[2]
        else:
            value, _, rest = rest.partition(";")
        found[name.strip()] = value.strip()
    return found


def entries(section: str, defines: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The entries of one section of mfsync.iss, with ``defines`` (default: inno's) expanded."""
    text = ISS.read_text(encoding="utf-8")
    values = {**script_defines(text), **(defines if defines is not None else inno.values())}
    return [parameters(expand(line, values)) for line in sections(text).get(section, [])]


def netsh_rule(parameters_text: str) -> tuple[str, dict[str, str]]:
    """``advfirewall firewall add rule name="x" dir=in ...`` as ("add", {"name": "x", ...})."""
    words = shlex.split(parameters_text)
    assert words[:2] == ["advfirewall", "firewall"] and words[3] == "rule", parameters_text
    return words[2], dict(word.split("=", 1) for word in words[4:])


def flags(entry: dict[str, str]) -> set[str]:
    return set(entry.get("Flags", "").split())


# -- the defines -----------------------------------------------------------------------------------


def test_inno_defines_come_from_mfsync_and_layout() -> None:
    values = inno.values()
    assert values["MyAppVersion"] == mfsync.__version__
    assert values["MyAppId"] == mfsync.APP_ID
    assert values["MyTcpPort"] == str(DEFAULT_TCP_PORT)
    assert values["MyUdpPort"] == str(DEFAULT_UDP_PORT)
    assert values["MyBundleDir"] == str(layout.BUNDLE)
    assert values["MyOutputDir"] == str(layout.DIST)
    assert set(REQUIRED) <= set(values) <= {*REQUIRED, "MyIcon"}
    assert inno.defines() == [f"/D{name}={value}" for name, value in values.items()]
    # what build.ps1 reads
    done = subprocess.run([sys.executable, str(layout.PACKAGING / "build.py"), "inno-defines"],
                          capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == " ".join(inno.defines())


def test_iss_repeats_nothing_that_mfsync_defines() -> None:
    text = ISS.read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(";"))
    for value in (mfsync.__version__, mfsync.APP_ID, str(DEFAULT_TCP_PORT),
                  str(DEFAULT_UDP_PORT)):
        assert not re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", code), \
            f"{value} is hard-coded in {ISS.name}: take it from a define (packaging/inno.py)"
    # each required define is checked before use: ISCC without it stops with a message
    for name in REQUIRED:
        assert re.search(rf"^#ifndef {name}\s*\n\s*#error .+\n#endif", text, re.M), name
    # every {#Name} is defined by the script or by inno.py (MyIcon only inside #ifdef MyIcon)
    known = {*script_defines(text), *inno.values(), "MyIcon"}
    assert set(re.findall(r"\{#(\w+)\}", text)) <= known
    assert re.search(r"^#ifdef MyIcon\n[^#]*\{#MyIcon\}[^#]*#endif", text, re.M)
    # a fixed AppId (a GUID) identifies the installation across versions ([Setup] is read as
    # text: it holds Name=value lines, not entries)
    assert re.search(r"^AppId=\{\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}$", text, re.M)
    assert re.search(r"^AppVersion=\{#MyAppVersion\}$", text, re.M)
    assert re.search(r"^DefaultDirName=\{autopf\}\\\{#MyAppName\}$", text, re.M)


# -- what is installed -----------------------------------------------------------------------------


def test_every_file_named_exists_in_the_bundle(bundle: Path) -> None:
    covered = set()
    files = entries("Files", {**inno.values(), "MyBundleDir": "BUNDLE"})
    assert files
    for entry in files:
        parts = entry["Source"].split("\\")
        assert parts[0] == "BUNDLE", f"{entry['Source']} is not from the bundle"
        # the Linux build has no .exe suffixes
        relative = [part.removesuffix(".exe") for part in parts[1:]]
        if relative[-1] == "*":
            folder = bundle.joinpath(*relative[:-1])
            assert folder.is_dir(), folder
            assert {"recursesubdirs", "createallsubdirs"} <= flags(entry), entry
            assert entry["DestDir"] == "{app}\\" + "\\".join(parts[1:-1]), entry
        else:
            assert bundle.joinpath(*relative).is_file(), relative
            assert entry["DestDir"] == "{app}", entry
        covered.add(relative[0])
    # ... and nothing of the bundle is left out
    assert {path.name for path in bundle.iterdir()} == covered


def test_start_menu_entry_starts_the_gui_and_send_to_sends() -> None:
    icons = entries("Icons")
    assert [entry["Filename"] for entry in icons] == ["{app}\\mfsync-gui.exe"] * 2
    assert icons[0]["Name"] == "{autoprograms}\\mfsync"
    assert "Parameters" not in icons[0]
    # Explorer's Send to appends the selected paths: mfsync-gui --send PATH...
    assert icons[1]["Name"] == "{usersendto}\\mfsync"
    assert icons[1]["Parameters"] == "--send"
    assert parser().parse_args([icons[1]["Parameters"], "C:\\a b.txt"]).send == ["C:\\a b.txt"]


def test_autostart_task_writes_what_the_app_writes() -> None:
    values = [entry for entry in entries("Registry") if entry.get("ValueName") == RUN_VALUE]
    assert len(values) == 1
    entry = values[0]
    assert entry["Root"] == "HKCU" and entry["Subkey"] == RUN_KEY
    assert entry["ValueType"] == "string" and entry["Tasks"] == "autostart"
    assert "uninsdeletevalue" in flags(entry)
    gui = PROGRAM_FOLDER + "\\mfsync-gui.exe"
    app = WindowsRunAutostart([gui], registry=NoRegistry())
    assert entry["ValueData"].replace("{app}", PROGRAM_FOLDER) == app.value
    assert app.value == f'"{gui}" {HIDDEN_ARG}'
    # the uninstaller also removes the value when the app's own switch wrote it
    code = ISS.read_text(encoding="utf-8").partition("[Code]")[2]
    assert f"RegDeleteValue(HKCU, '{RUN_KEY}', '{RUN_VALUE}')" in code


def test_uninstaller_deletes_the_firewall_rules_it_adds() -> None:
    tcp, udp = str(DEFAULT_TCP_PORT), str(DEFAULT_UDP_PORT)
    added = []
    for entry in entries("Run"):
        if entry["Filename"] != "{sys}\\netsh.exe":
            continue
        verb, rule = netsh_rule(entry["Parameters"])
        assert entry["Tasks"] == "firewall" and "runhidden" in flags(entry)
        if verb == "add":
            assert rule["dir"] == "in" and rule["action"] == "allow", rule
            added.append(rule)
    # TCP and UDP in, for both programs
    assert {(rule["program"], rule["protocol"], rule["localport"]) for rule in added} == {
        (f"{{app}}\\{exe}", protocol, port)
        for exe in ("mfsync-gui.exe", "mfsync.exe") for protocol, port in (("TCP", tcp),
                                                                           ("UDP", udp))}
    deleted = []
    for entry in entries("UninstallRun"):
        verb, rule = netsh_rule(entry["Parameters"])
        assert verb == "delete" and entry["RunOnceId"] and "runhidden" in flags(entry)
        deleted.append(rule)
    keys = ("name", "dir", "program", "protocol", "localport")
    assert sorted(tuple(rule[key] for key in keys) for rule in added) == \
        sorted(tuple(rule[key] for key in keys) for rule in deleted)


class NoRegistry:
    """A Run key that is always empty (only ``WindowsRunAutostart.value`` is used)."""

    def get(self, name: str) -> str | None:
        return None

    def set(self, name: str, value: str) -> None:
        raise AssertionError("nothing is written")

    def delete(self, name: str) -> None:
        raise AssertionError("nothing is deleted")


def test_build_scripts_take_the_version_from_mfsync() -> None:
    ps1 = (layout.INSTALLER / "windows" / "build.ps1").read_text(encoding="utf-8")
    assert "inno-defines" in ps1 and '"bundle"' in ps1
    dmg = (layout.INSTALLER / "macos" / "build_dmg.sh").read_text(encoding="utf-8")
    assert "layout.version()" in dmg and "hdiutil create" in dmg
    for text in (ps1, dmg):
        assert mfsync.__version__ not in text


# -- macOS -----------------------------------------------------------------------------------------


def test_macos_app_is_tray_only_with_the_app_id() -> None:
    spec = layout.PACKAGING / "mfsync.spec"
    # the spec builds every bundle (build.py, the macOS .app): without it nothing ships
    assert spec.is_file(), f"no PyInstaller spec at {spec}"
    text = spec.read_text(encoding="utf-8")
    assert re.search(r"""["']LSUIElement["']\s*:\s*True""", text)
    found = re.search(r"bundle_identifier\s*=\s*([^,\n]+)", text)
    assert found, "the spec sets no bundle_identifier"
    expression = found.group(1).strip()
    # the identifier is mfsync's APP_ID (through a name), never a second copy of the string
    assert mfsync.APP_ID not in text
    assert expression == "layout.app_id()" or re.search(
        rf"^{re.escape(expression)}\s*=\s*(mfsync\.APP_ID|layout\.app_id\(\))\s*$", text, re.M)


def test_launch_agent_template_starts_the_app_hidden_at_login() -> None:
    with (layout.RESOURCES / "macos" / f"{LAUNCH_AGENT_LABEL}.plist").open("rb") as handle:
        agent = plistlib.load(handle)
    assert agent["Label"] == LAUNCH_AGENT_LABEL
    assert agent["RunAtLoad"] is True and agent.get("KeepAlive") is not True
    assert agent["ProgramArguments"][-1] == HIDDEN_ARG


# -- shell scripts ---------------------------------------------------------------------------------

SHELL_SCRIPTS = [
    *sorted(path.relative_to(layout.ROOT).as_posix()
            for folder in ("installer", "scripts", "packaging", "resources")
            for path in (layout.ROOT / folder).rglob("*.sh")),
    "run", "test", ".ci/run",
]


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shellcheck(script: str) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.is_file():
        pytest.fail(f"no {shellcheck}: install the test extra (pip install -e '.[test]')")
    # -x follows `source`: the sourced variables and functions are checked where they are used
    done = subprocess.run([str(shellcheck), "-x", script], cwd=layout.ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
