"""How the app words a count: "1 file", "4 files", never "1 files" or "file(s)".

English has two forms; a count of one takes the singular. (Qt's translation system, once the
app speaks other languages, takes over here with its plural forms per language: ``tr`` with
``n``.)
"""

__all__ = ["counted"]


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and the noun in the form that count takes: ``counted(1, "host")`` is
    "1 host", ``counted(3, "copy", "copies")`` "3 copies"."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {noun}"
