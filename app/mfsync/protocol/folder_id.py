"""Folder identities: the id that names a shared folder on the wire and to people, and its label.

A folder id is 40 random bits. On the wire it is 5 bytes; people read it as 8 characters of
Crockford's base 32 in lower case, in two groups: ``k3x9-pq2m``. The alphabet leaves out ``i``,
``l``, ``o`` and ``u``, so an id read out loud or copied by hand survives: parsing ignores case,
hyphens and spaces, and reads ``i``/``l`` as ``1`` and ``o`` as ``0``. Forty bits keep two
folders of one network apart (a person has tens of folders, not a million) while staying short
enough to type. An id is never a secret: who may see a folder is its device list's business.

The default folder, the one plain ``mfsync share DIR`` and ``mfsync sync DIR`` use, has one
fixed id, ``0000-0000`` (five zero bytes), so that hosts running the plain commands meet in it.

A label is what people call a folder (the folder's name by default). It is shown beside the id,
and it names the folder's files as ``LABEL:path``, so it may not hold a colon, a slash, a
backslash or a control character, may not start or end with a space, and is at most
``MAX_LABEL_BYTES`` bytes of UTF-8. Nothing here does any I/O.
"""

import secrets
import unicodedata
from dataclasses import dataclass

__all__ = [
    "DEFAULT_FOLDER",
    "FOLDER_ID_BYTES",
    "MAX_LABEL_BYTES",
    "FolderId",
    "check_label",
    "label_from_name",
]

#: Bytes of a folder id on the wire.
FOLDER_ID_BYTES = 5
#: The longest label, in bytes of UTF-8 (the wire carries it as text8, see PROTOCOL.md).
MAX_LABEL_BYTES = 63

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
# Read as the character people most likely meant (Crockford's rules).
_VALUE.update({"i": 1, "l": 1, "o": 0})
_GROUP = 4


@dataclass(frozen=True, order=True)
class FolderId:
    """A folder's identity: 5 bytes on the wire, ``k3x9-pq2m`` to people (see the module)."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != FOLDER_ID_BYTES:
            raise ValueError(f"a folder id is {FOLDER_ID_BYTES} bytes")

    @classmethod
    def new(cls) -> "FolderId":
        """A new random id (never the default folder's)."""
        while True:
            raw = secrets.token_bytes(FOLDER_ID_BYTES)
            if raw != bytes(FOLDER_ID_BYTES):
                return cls(raw)

    @classmethod
    def parse(cls, text: str) -> "FolderId":
        """The id ``text`` spells (``K3X9-PQ2M``, ``k3x9pq2m`` and ``k3x9 pq2m`` alike);
        ``ValueError`` says what is wrong."""
        cleaned = "".join(text.split()).replace("-", "").lower()
        if len(cleaned) != 8:
            raise ValueError(f"{text!r} is not a folder id (8 letters and digits, like k3x9-pq2m)")
        number = 0
        for char in cleaned:
            value = _VALUE.get(char)
            if value is None:
                raise ValueError(f"{text!r} is not a folder id ({char!r} is not used in ids)")
            number = number * 32 + value
        return cls(number.to_bytes(FOLDER_ID_BYTES, "big"))

    @property
    def is_default(self) -> bool:
        """Whether this is the default folder's id."""
        return self.raw == bytes(FOLDER_ID_BYTES)

    def __str__(self) -> str:
        number = int.from_bytes(self.raw, "big")
        chars = "".join(_ALPHABET[(number >> shift) & 31] for shift in range(35, -1, -5))
        return f"{chars[:_GROUP]}-{chars[_GROUP:]}"

    def __repr__(self) -> str:
        return f"FolderId({str(self)!r})"


#: The folder the plain commands share and sync.
DEFAULT_FOLDER = FolderId(bytes(FOLDER_ID_BYTES))


def check_label(label: str) -> str:
    """Return ``label`` if it can name a folder (see the module), else raise ``ValueError``."""
    if not label:
        raise ValueError("a folder label cannot be empty")
    if len(label.encode("utf-8", "surrogatepass")) > MAX_LABEL_BYTES:
        raise ValueError(f"a folder label is at most {MAX_LABEL_BYTES} bytes of UTF-8")
    if label != label.strip():
        raise ValueError("a folder label cannot start or end with a space")
    for char in label:
        if char in ":/\\":
            raise ValueError(f"a folder label cannot hold {char!r} (it names files as LABEL:path)")
        if unicodedata.category(char) in ("Cc", "Cs", "Cf", "Zl", "Zp"):
            raise ValueError(f"a folder label cannot hold the character U+{ord(char):04X}")
    return label


def label_from_name(name: str) -> str:
    """A label made from a folder's name: the characters a label cannot hold become ``_``,
    spaces at the ends go, the length is cut to ``MAX_LABEL_BYTES`` on a character boundary;
    ``"folder"`` if nothing is left."""
    chars = ["_" if c in ":/\\" or unicodedata.category(c) in ("Cc", "Cs", "Cf", "Zl", "Zp")
             else c for c in name]
    label = "".join(chars).strip()
    while len(label.encode("utf-8")) > MAX_LABEL_BYTES:
        label = label[:-1].rstrip()
    return label or "folder"
