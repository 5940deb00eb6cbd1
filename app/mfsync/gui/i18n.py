"""The app in the user's language: Qt's translation system, one context, plural forms.

How it works: every text a person sees in the app goes through ``tr`` (or, for a constant
defined before any translator exists, ``QT_TR_NOOP`` where it is written and ``tr`` where it is
shown). ``pyside6-lupdate`` finds those calls and writes ``resources/i18n/mfsync_LANG.ts``;
``pyside6-lrelease`` compiles them to the ``.qm`` files the app loads
(``scripts/translations.py`` does both). Counts use Qt's plural forms: ``tr("%n file(s)", "", n)``
reads "1 file" and "4 files" through the English plural table ``mfsync_en.qm``, and "1 Datei",
"4 Dateien" in German. Values go in as named fields: ``tr("Send {what} to:").format(what=…)``,
so a translator may move them.

At start ``install_translators`` picks the language: the one chosen in Settings (kept in
``gui.ini``), else the system's (``QLocale.system()``), and loads mfsync's translation and Qt's
own (its dialogs' buttons) for it. English is the source language. The command line stays
English; the engine's messages reach the app in English for now.
"""

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from mfsync.gui.icons import resource_path

__all__ = ["LANGUAGES", "install_translators", "tr", "translations_dir"]

log = logging.getLogger("mfsync.gui")

#: The languages the app speaks, by code, each named in itself (for the Settings list).
LANGUAGES = {"en": "English", "de": "Deutsch"}
#: The source language: its .qm holds only the plural forms.
SOURCE_LANGUAGE = "en"


def QT_TR_NOOP(text: str) -> str:  # noqa: N802 - the name pyside6-lupdate looks for
    """``text`` as it is, marked for translation: a constant made before any translator exists,
    translated where it is shown (``tr(CONSTANT)``). (Qt's own is typed as returning
    ``object``.)"""
    return text


def tr(text: str, disambiguation: str = "", n: int = -1) -> str:
    """``text`` in the user's language; with ``n``, the plural form for ``n`` (``%n`` is
    replaced by it)."""
    return QCoreApplication.translate("", text, disambiguation or None, n)


def translations_dir() -> Path:
    """The folder of the compiled translations (``mfsync_LANG.qm``)."""
    return resource_path("i18n", f"mfsync_{SOURCE_LANGUAGE}.qm").parent


def install_translators(app: QCoreApplication, language: str = "") -> str:
    """Load and install the translations for ``language`` (a code of ``LANGUAGES``; empty:
    the system's, English where the app does not speak it), in place of any installed here
    before; the code chosen."""
    for old in _KEPT:
        app.removeTranslator(old)
        old.deleteLater()
    chosen = language if language in LANGUAGES else _system_language()
    locale = QLocale(chosen)
    QLocale.setDefault(locale)
    kept: list[QTranslator] = []
    for name, folder in (("mfsync", str(translations_dir())),
                         ("qtbase", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))):
        translator = QTranslator(app)
        if translator.load(locale, name, "_", folder):
            app.installTranslator(translator)
            kept.append(translator)
        elif name == "mfsync":
            log.warning("no %s translation for %s in %s", name, chosen, folder)
    _KEPT[:] = kept  # (a translator collected by Python would silently stop translating)
    log.info("language: %s", chosen)
    return chosen


def _system_language() -> str:
    for name in QLocale.system().uiLanguages():
        code = name.replace("-", "_").split("_")[0].lower()
        if code in LANGUAGES:
            return code
    return SOURCE_LANGUAGE


_KEPT: list[QTranslator] = []
