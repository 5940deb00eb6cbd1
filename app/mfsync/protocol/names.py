"""Which relative paths may cross the wire, and the one check every received name goes through.

Names from peers are untrusted. A valid wire path is relative, POSIX-separated, NFC-normalised
UTF-8, at most ``MAX_PATH_BYTES`` long, and none of its components is empty, ``.``, ``..``, has a
NUL, a control character or a backslash, looks like a drive letter, ends in a dot or space, or is
a name Windows reserves (so a file shared from Linux can be written on any host), or a name
mfsync keeps for its own files in a shared folder (``reserved_name_reason``): a partial
download (``*.mfsync-part``), the ``.mfsync`` folder or the ``.mfsyncignore`` file. Those are
compared case-insensitively (after Unicode case folding): on macOS and Windows
``.A.MFSYNC-PART`` is the same file as ``.a.mfsync-part``.
"""

import re
import unicodedata

__all__ = [
    "IGNORE_FILE",
    "MAX_COMPONENT_BYTES",
    "MAX_PATH_BYTES",
    "PARTIAL_SUFFIX",
    "STATE_DIR",
    "InvalidName",
    "WirePathChecker",
    "check_wire_path",
    "clean_label",
    "has_control",
    "is_control",
    "reserved_name_reason",
]

MAX_PATH_BYTES = 4096
MAX_COMPONENT_BYTES = 255

# -- names mfsync keeps for itself inside a shared folder: the one list of them ----------------
#: Partial downloads are hidden files beside their target: ``.NAME.mfsync-part``.
PARTIAL_SUFFIX = ".mfsync-part"
#: Our own folder inside a shared folder.
STATE_DIR = ".mfsync"
#: The user's ignore rules, in gitignore syntax, at the root of a shared folder.
IGNORE_FILE = ".mfsyncignore"
_RESERVED_EXACT = frozenset(name.casefold() for name in (STATE_DIR, IGNORE_FILE))
_RESERVED_SUFFIX = PARTIAL_SUFFIX.casefold()
_WINDOWS_RESERVED = re.compile(
    r"^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)(\..*)?$", re.IGNORECASE
)
_FORBIDDEN_CHARS = frozenset('\\<>:"|?*')
#: Any character a component may not hold: controls (C0, DEL, C1), lone surrogates (not UTF-8)
#: and the forbidden ones. One regex search per component instead of a Python loop per
#: character: scanning 100,000 names (every rescan of a big share, every index received) was
#: a large part of both.
_BAD_CHAR = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff" + re.escape("".join(sorted(_FORBIDDEN_CHARS))) + "]"
)


def is_control(ch: str) -> bool:
    """C0 controls, DEL and C1 controls: characters that must never reach a terminal from a peer."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0


def has_control(text: str) -> bool:
    """Whether ``text`` contains any control character."""
    return any(is_control(ch) for ch in text)


def clean_label(text: str, max_bytes: int, *, strict: bool = False) -> str:
    """``text`` with control characters replaced by ``?`` (with ``strict``, every non-printable
    character: bidi overrides, zero-width and unassigned ones too), cut to ``max_bytes`` of UTF-8
    on a character boundary: host names and error texts as we send them, and error texts from
    peers as we show them."""
    cleaned = "".join(
        "?" if (is_control(ch) or (strict and ch != " " and not ch.isprintable())) else ch
        for ch in text
    )
    return cleaned.encode("utf-8", "replace")[:max_bytes].decode("utf-8", "ignore")


def reserved_name_reason(name: str) -> str | None:
    """Why the single path component ``name`` is one mfsync keeps for its own files in a
    shared folder, or None when it is not.

    Such a name is never accepted from the wire (a peer offering ``.a.mfsync-part`` would
    write into the partial download of ``a``) and never offered (the ignore rules leave it
    out): both ask this function. Compared after case folding, as a case-insensitive file
    system (macOS, Windows) compares names.
    """
    folded = name.casefold()
    if folded.endswith(_RESERVED_SUFFIX):
        return f"names ending in {PARTIAL_SUFFIX!r} are mfsync's partial downloads"
    if folded in _RESERVED_EXACT:
        return f"{name!r} is a name mfsync keeps for its own files"
    return None


class InvalidName(ValueError):
    """A path that must not be used as a shared file's name; the message says why."""


def check_wire_path(path: str) -> str:
    """Return ``path`` when it is a valid wire path, else raise ``InvalidName`` with the reason."""
    if not path:
        raise InvalidName("empty name")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise InvalidName(f"name longer than {MAX_PATH_BYTES} bytes")
    if unicodedata.normalize("NFC", path) != path:
        raise InvalidName("name is not NFC-normalised")
    if path.startswith("/"):
        raise InvalidName("absolute path")
    for part in path.split("/"):
        _check_component(part)
    return path


class WirePathChecker:
    """``check_wire_path`` for the many paths of one index, remembering the verdict on each
    folder: the paths of an index share a few folders, and checking every component of every
    path again was most of the cost of taking a peer's index. The same rules, the same
    reasons."""

    #: Folders remembered; past this many the memory starts again (a hostile index of
    #: distinct folders costs what plain checks would).
    MAX_FOLDERS = 4096

    def __init__(self) -> None:
        self._folders: dict[str, str | None] = {}  # folder -> why it is refused (None: fine)

    def check(self, path: str) -> str:
        """Return ``path`` when it is a valid wire path, else raise ``InvalidName``."""
        folder, _, name = path.rpartition("/")
        if not folder or len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
            return check_wire_path(path)  # (a name alone, or too long: the plain check says)
        if folder not in self._folders:
            if len(self._folders) >= self.MAX_FOLDERS:
                self._folders.clear()
            try:
                check_wire_path(folder)
            except InvalidName as exc:
                self._folders[folder] = str(exc)
            else:
                self._folders[folder] = None
        why = self._folders[folder]
        if why is not None:
            raise InvalidName(why)
        # (NFC of "folder/name" is NFC of each: "/" is a starter nothing composes with)
        if unicodedata.normalize("NFC", name) != name:
            raise InvalidName("name is not NFC-normalised")
        _check_component(name)
        return path


def _check_component(part: str) -> None:
    if part in ("", ".", ".."):
        raise InvalidName(f"path component {part!r} is not allowed")
    if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
        raise InvalidName(f"path component longer than {MAX_COMPONENT_BYTES} bytes")
    bad = _BAD_CHAR.search(part)
    if bad is not None:  # the first offending character decides the reason, as it always did
        ch = bad.group()
        if is_control(ch):
            raise InvalidName("control character in name")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise InvalidName("name is not valid UTF-8")
        raise InvalidName(f"character {ch!r} is not allowed in names")
    if part[-1] in ". ":
        raise InvalidName("path component ends in a dot or space")
    if _WINDOWS_RESERVED.match(part):
        raise InvalidName(f"{part!r} is a reserved device name on Windows")
    reserved = reserved_name_reason(part)
    if reserved is not None:
        raise InvalidName(reserved)
