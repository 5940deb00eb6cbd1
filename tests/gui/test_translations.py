"""The app in German, and every visible text translatable.

- The ``.ts`` files are in step with the sources (``pyside6-lupdate`` run again finds no text
  they lack), German has every text translated (``lrelease`` reports nothing unfinished), each
  translation keeps its source's fields (``{name}``, ``%n``), and the committed ``.qm`` files are
  what their ``.ts`` compile to.
- The engine's state words and the settings' texts are all listed for the translator.
- German, loaded as the app loads it, speaks with its plural forms.
- A pseudo-translation (every text wrapped in ⟦ ⟧, made here from the sources) is installed and
  the window's tabs, menus and status bar and the dialogs are walked: a visible text without ⟦
  did not go through ``tr``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Rig
from PySide6.QtCore import QCoreApplication, Qt, QTranslator
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QTableView,
    QTabWidget,
    QWidget,
)

from mfsync.config import SETTINGS
from mfsync.engine.inbox import IncomingState
from mfsync.engine.outbox import OutgoingState
from mfsync.engine.service_status import PauseReason
from mfsync.engine.status import PeerState
from mfsync.engine.transfer_status import TransferState
from mfsync.gui.i18n import LANGUAGES, install_translators, tr, translations_dir
from mfsync.gui.models import FileState
from mfsync.gui.report_texts import REPORT_TEXTS, render
from mfsync.gui.send_files import HostPickerDialog
from mfsync.gui.setting_texts import SETTING_TEXTS
from mfsync.gui.state_texts import STATE_WORDS
from mfsync.gui.verify_dialog import VerifyDialog
from mfsync.reports import ENGLISH, Report
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import translations  # noqa: E402 - the project's own script

FIELD = re.compile(r"\{[a-z_]+\}|%n")
OPEN, CLOSE = "⟦", "⟧"


def messages(ts: Path) -> dict[str, ET.Element]:
    """The messages of a ``.ts`` file by their source text."""
    return {m.findtext("source") or "": m for m in ET.parse(ts).getroot().iter("message")}


@pytest.fixture(scope="module")
def fresh_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed ``.ts`` files brought in step with the sources, in a folder of the test's
    own (lupdate keeps what is there and adds what is new)."""
    folder = tmp_path_factory.mktemp("i18n")
    for language in LANGUAGES:
        shutil.copy(translations.ts_file(language), folder)
    translations.update(folder)
    return folder


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_ts_files_hold_every_text_of_the_sources(fresh_ts: Path, language: str) -> None:
    committed = messages(translations.ts_file(language))
    fresh = messages(translations.ts_file(language, fresh_ts))
    assert sorted(set(fresh) - set(committed)) == [], \
        "run: .venv/bin/python scripts/translations.py update, then translate"
    assert sorted(set(committed) - set(fresh)) == [], "texts no longer in the sources"


def test_german_is_complete_and_keeps_every_field() -> None:
    for source, message in messages(translations.ts_file("de")).items():
        translation = message.find("translation")
        assert translation is not None and translation.get("type") is None, source
        forms = ([f.text or "" for f in translation.iter("numerusform")]
                 if message.get("numerus") == "yes" else [translation.text or ""])
        assert forms and all(forms), source
        for form in forms:
            assert sorted(FIELD.findall(form)) == sorted(FIELD.findall(source)), (source, form)


def test_the_qm_files_are_what_the_ts_files_compile_to(tmp_path: Path) -> None:
    for language in LANGUAGES:
        shutil.copy(translations.ts_file(language), tmp_path)
    reports = translations.compile_all(tmp_path)
    for language, report in reports.items():
        assert " 0 unfinished" in report, report
        compiled = (tmp_path / f"mfsync_{language}.qm").read_bytes()
        assert compiled == (translations_dir() / f"mfsync_{language}.qm").read_bytes(), \
            "run: .venv/bin/python scripts/translations.py compile"


def test_every_state_word_and_setting_text_is_listed() -> None:
    words = {state.value for enum in (TransferState, PeerState, IncomingState, OutgoingState)
             for state in enum}
    words |= {PauseReason.USER, PauseReason.BATTERY, "share", "sync"}
    words |= {FileState.REMOTE, FileState.LOCAL, FileState.DOWNLOADING,
              FileState.DOWNLOADED, FileState.CONFLICT}
    assert words - set(STATE_WORDS) == set()
    texts = {text for setting in SETTINGS for text in (setting.label, setting.help)}
    assert texts - set(SETTING_TEXTS) == set()


@pytest.fixture
def german(qapp: QApplication) -> Iterator[None]:
    install_translators(qapp, "de")
    try:
        yield
    finally:
        install_translators(qapp, "en")


def test_german_speaks_with_its_plural_forms(german: None) -> None:
    # (and Qt's own dialogs speak it too: its translation is loaded beside ours)
    assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Abbrechen"
    assert tr("%n file(s)", "", 1) == "1 Datei"
    assert tr("%n file(s)", "", 3) == "3 Dateien"
    assert tr("Shared folders") == "Freigegebene Ordner"
    assert tr("downloaded") == "heruntergeladen"


def test_english_speaks_with_its_plural_forms() -> None:
    assert tr("%n file(s)", "", 1) == "1 file"
    assert tr("%n file(s)", "", 3) == "3 files"
    assert tr("Only these %n host(s) may connect, both ways", "", 1) == \
        "Only this 1 host may connect, both ways"


# -- the pseudo-translation -----------------------------------------------------------------------


@pytest.fixture
def pseudo(fresh_ts: Path, tmp_path: Path, qapp: QApplication) -> Iterator[None]:
    """Every text of the sources as ⟦text⟧, installed instead of English."""
    tree = ET.parse(translations.ts_file("de", fresh_ts))
    for message in tree.getroot().iter("message"):
        source = message.findtext("source") or ""
        translation = message.find("translation")
        assert translation is not None
        translation.attrib.pop("type", None)
        wrapped = f"{OPEN}{source}{CLOSE}"
        if message.get("numerus") == "yes":
            for form in translation.iter("numerusform"):
                form.text = wrapped
        else:
            translation.text = wrapped
    ts = tmp_path / "mfsync_xx.ts"
    tree.write(ts, encoding="utf-8")
    qm = tmp_path / "mfsync_xx.qm"
    subprocess.run([translations.tool("lrelease"), str(ts), "-qm", str(qm)], check=True,
                   capture_output=True)
    for translator in qapp.findChildren(QTranslator):
        QCoreApplication.removeTranslator(translator)
    translator = QTranslator(qapp)
    assert translator.load(str(qm))
    QCoreApplication.installTranslator(translator)
    try:
        yield
    finally:
        QCoreApplication.removeTranslator(translator)
        install_translators(qapp, "en")


#: The buttons of Qt's standard dialogs: Qt's own translation (qtbase_LANG.qm) names them.
QT_STANDARD = {"OK", "Cancel", "Apply", "Close", "Yes", "No", "Save", "Open", "Help"}
#: Texts that are data, not words of the app: the product's name, keys, codes, numbers, paths
#: and what peers chose (names, addresses).
DATA = re.compile(r"^(mfsync|[0-9A-F]{4}( [0-9A-F]{4})*|[0-9A-Fa-f]{12,64}…?|[\d.,:%]*|/.*|"
                  r"[\w.-]+\.(txt|bin|jpg)|)$")


def untranslated(window: QWidget) -> list[str]:
    """The visible texts of ``window`` (and its menus) that did not go through ``tr``."""
    texts: list[tuple[str, str]] = []
    for widget in [window, *window.findChildren(QWidget)]:
        if widget.isHidden() and widget is not window:
            continue
        kind = type(widget).__name__
        if widget.isWindow():
            texts.append((f"{kind} title", widget.windowTitle()))
        if isinstance(widget, (QLabel, QAbstractButton)):
            texts.append((kind, widget.text()))
        elif isinstance(widget, QGroupBox):
            texts.append((kind, widget.title()))
        elif isinstance(widget, QLineEdit):
            texts.append((f"{kind} placeholder", widget.placeholderText()))
        elif isinstance(widget, QTabWidget):
            texts += [(f"{kind} tab", widget.tabText(i)) for i in range(widget.count())]
        elif isinstance(widget, QTableView) and widget.model() is not None:
            model = widget.model()
            texts += [(f"{kind} header", str(model.headerData(c, Qt.Orientation.Horizontal)
                                             or "")) for c in range(model.columnCount())]
        if widget.toolTip():
            texts.append((f"{kind} tooltip", widget.toolTip()))
        texts += [(f"{kind} action", action.text()) for action in widget.actions()
                  if not action.isSeparator()]
    if isinstance(window, QMainWindow):
        for action in window.menuBar().actions():
            texts.append(("menu", action.text()))
            menu = action.menu()
            if menu is not None:
                texts += [("menu item", a.text()) for a in menu.actions() if not a.isSeparator()]
    return sorted({f"{kind}: {text!r}" for kind, text in texts
                   if OPEN not in text and not DATA.match(text.replace("&", ""))
                   and text.replace("&", "") not in QT_STANDARD})


async def test_every_visible_text_goes_through_tr(pseudo: None, rig: Rig) -> None:
    app = await rig.start_app()
    window = app.window
    assert window is not None
    window.show()
    assert tr("Shared folders") == f"{OPEN}Shared folders{CLOSE}"  # (the pseudo one is in)
    seen = {}
    for tab in range(window.tabs.count()):
        window.tabs.setCurrentIndex(tab)
        seen[f"tab {tab}"] = untranslated(window)
    dialogs = {"settings": app.open_settings(), "trust": app.open_trust(None),
               "host picker": HostPickerDialog(app.service.status, "notes.txt",
                                               lambda _key: None, window),
               "verify": VerifyDialog(app.service, b"\x01" * 32, name="laptop",
                                      parent=window)}
    assert app.tray is not None
    app.tray.rebuild_menu()
    for name, dialog in dialogs.items():
        dialog.show()
        seen[name] = untranslated(dialog)
        dialog.close()
    seen["tray menu"] = [f"tray: {a.text()!r}" for a in app.tray.menu.actions()
                         if a.text() and OPEN not in a.text()]
    assert {name: found for name, found in seen.items() if found} == {}


@pytest.mark.parametrize(("locale", "expected"), [("de_DE.UTF-8", "de Freigegebene Ordner"),
                                                  ("fr_FR.UTF-8", "en Shared folders")])
def test_the_systems_language_is_picked_at_start(locale: str, expected: str) -> None:
    """A process started in a German session speaks German; in a language the app does not
    speak, English."""
    script = ("from PySide6.QtCore import QCoreApplication\n"
              "from mfsync.gui.i18n import install_translators, tr\n"
              "app = QCoreApplication([])\n"
              "print(install_translators(app), tr('Shared folders'))\n")
    env = {**os.environ, "LANG": locale, "LC_ALL": locale, "LANGUAGE": ""}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == expected


def test_every_engine_report_is_listed() -> None:
    assert set(ENGLISH.values()) - set(REPORT_TEXTS) == set()


async def test_the_engines_refusal_reaches_the_user_in_german(german: None, rig: Rig,
                                                               tmp_path: Path) -> None:
    """A request the engine refuses (a folder inside a shared one) is said in German in the
    status bar: the engine raised a report, the app rendered it."""
    app = await rig.start_app()
    window = app.window
    assert window is not None
    window.show()
    outer = tmp_path / "Bilder"
    (outer / "Urlaub").mkdir(parents=True)
    await app.service.add_folder(outer)
    window.folders_page.add_folder(outer / "Urlaub")
    await wait_for(lambda: "überschneidet sich mit dem freigegebenen Ordner"
                   in window.error_label.text(), what="the refusal, in German")
    assert render(Report("no-source")) == "kein Rechner bietet sie mehr an"
    assert render("a lower layer's message") == "a lower layer's message"
