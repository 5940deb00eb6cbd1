"""One-off helper kept for translators: fill a .ts from a Python mapping of source -> text
(a plural as a tuple of forms), and English plural forms from the "(s)" convention.

    .venv/bin/python scripts/fill_translation.py en                 # English plural forms
    .venv/bin/python scripts/fill_translation.py de MAPPING.py      # MAPPING.py defines DE
"""

from __future__ import annotations

import runpy
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

I18N = Path(__file__).resolve().parent.parent / "resources" / "i18n"
#: English singular forms that are not the plural with "(s)" dropped.
ENGLISH_SINGULAR = {
    "Only these %n host(s) may connect, both ways": "Only this %n host may connect, both ways",
}


def english_forms(source: str) -> tuple[str, str]:
    """The singular and plural of a source text with "(s)" (and "%n more" as it is)."""
    singular = ENGLISH_SINGULAR.get(source, source.replace("(s)", ""))
    return singular, source.replace("(s)", "s")


def fill(language: str, mapping: dict[str, str | tuple[str, ...]]) -> int:
    """Write ``mapping``'s texts into ``mfsync_LANGUAGE.ts``; how many are still missing."""
    path = I18N / f"mfsync_{language}.ts"
    tree = ET.parse(path)  # noqa: S314 - our own file
    missing = 0
    for message in tree.getroot().iter("message"):
        source = message.findtext("source") or ""
        translation = message.find("translation")
        assert translation is not None
        if language == "en":
            text: str | tuple[str, ...] | None = english_forms(source)
        else:
            text = mapping.get(source)
        if text is None:
            missing += 1
            print(f"missing: {source!r}")
            continue
        translation.attrib.pop("type", None)
        if message.get("numerus") == "yes":
            forms = text if isinstance(text, tuple) else (text, text)
            for child in list(translation):
                translation.remove(child)
            translation.text = None
            for form in forms:
                ET.SubElement(translation, "numerusform").text = form
        else:
            assert isinstance(text, str), source
            translation.text = text
    ET.indent(tree, "    ")
    body = ET.tostring(tree.getroot(), encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + body + "\n",
                    encoding="utf-8")
    return missing


if __name__ == "__main__":
    language = sys.argv[1]
    mapping = runpy.run_path(sys.argv[2])["DE"] if len(sys.argv) > 2 else {}
    sys.exit(1 if fill(language, mapping) else 0)
