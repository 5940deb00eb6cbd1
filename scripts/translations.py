"""The app's translations: extract the texts to translate, and compile what translators wrote.

    .venv/bin/python scripts/translations.py update    # sources -> resources/i18n/mfsync_LANG.ts
    .venv/bin/python scripts/translations.py compile   # mfsync_LANG.ts -> mfsync_LANG.qm

``update`` runs ``pyside6-lupdate`` over the GUI's modules (every ``tr(…)`` and
``QT_TR_NOOP(…)``) for each language of ``mfsync.gui.i18n.LANGUAGES``: a new text comes in
unfinished, a text gone from the sources is dropped, translations already made are kept. The
source language (English) keeps only the texts with plural forms, and fills them itself from
the "(s)" of the source: "%n file(s)" is "%n file" and "%n files". Then a
translator edits the ``.ts`` (Qt Linguist: ``pyside6-linguist``), and ``compile`` runs
``pyside6-lrelease``; the ``.qm`` files are committed beside the ``.ts`` and installed with the
package. ``tests/gui/test_translations.py`` fails when the ``.ts`` files lag behind the sources,
when German has an unfinished text, or when a ``.qm`` is not what its ``.ts`` compiles to.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUI = ROOT / "app" / "mfsync" / "gui"
I18N = ROOT / "resources" / "i18n"
sys.path.insert(0, str(ROOT / "app"))

from mfsync.gui.i18n import LANGUAGES, SOURCE_LANGUAGE  # noqa: E402


def tool(name: str) -> str:
    """The path of a PySide6 tool beside this interpreter."""
    return str(Path(sys.executable).with_name(f"pyside6-{name}"))


def ts_file(language: str, folder: Path = I18N) -> Path:
    """The ``.ts`` file of ``language``."""
    return folder / f"mfsync_{language}.ts"


#: English singular forms that are not the plural with "(s)" dropped.
ENGLISH_SINGULAR = {
    "Only these %n host(s) may connect, both ways": "Only this %n host may connect, both ways",
}


def update(folder: Path = I18N) -> None:
    """Bring every language's ``.ts`` in ``folder`` in step with the sources, English's plural
    forms filled."""
    sources = sorted(str(path) for path in GUI.glob("*.py"))
    for language in LANGUAGES:
        extra = ["-pluralonly"] if language == SOURCE_LANGUAGE else []
        subprocess.run([tool("lupdate"), "-silent", "-no-obsolete", "-locations", "none",
                        "-target-language", language, *extra, *sources,
                        "-ts", str(ts_file(language, folder))], check=True)
    _fill_english(ts_file(SOURCE_LANGUAGE, folder))


def english_forms(source: str) -> tuple[str, str]:
    """The singular and the plural of an English source text with "(s)"."""
    return ENGLISH_SINGULAR.get(source, source.replace("(s)", "")), source.replace("(s)", "s")


def _fill_english(path: Path) -> None:
    tree = ET.parse(path)  # noqa: S314 - our own file
    for message in tree.getroot().iter("message"):
        translation = message.find("translation")
        if translation is None or message.get("numerus") != "yes":
            continue
        translation.attrib.pop("type", None)
        for child in list(translation):
            translation.remove(child)
        translation.text = None
        for form in english_forms(message.findtext("source") or ""):
            ET.SubElement(translation, "numerusform").text = form
    ET.indent(tree, "    ")
    body = ET.tostring(tree.getroot(), encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + body + "\n",
                    encoding="utf-8")


def compile_all(folder: Path = I18N) -> dict[str, str]:
    """Compile every ``.ts`` of ``folder`` to its ``.qm``; lrelease's report of each."""
    reports = {}
    for language in LANGUAGES:
        done = subprocess.run([tool("lrelease"), str(ts_file(language, folder)), "-qm",
                               str(ts_file(language, folder).with_suffix(".qm"))],
                              capture_output=True, text=True, check=True)
        reports[language] = done.stdout + done.stderr
    return reports


def main() -> int:
    """The command line; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("update", "compile"))
    args = parser.parse_args()
    if args.step == "update":
        update()
    else:
        for language, report in compile_all().items():
            print(f"{language}: {report.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
