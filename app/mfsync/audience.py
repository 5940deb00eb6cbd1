"""Who may see a shared folder: its audience (a folder's device list).

A folder is seen by ``everyone``, by the ``trusted`` keys (the global trust list, as it stands
when a peer asks), or by chosen ``keys``. The audience works both ways: only hosts it admits get
the folder's files, and only their changes are taken into it. It is checked after the
handshake; the global trust list keeps its meaning before it (a host not trusted, when a list is
set, never gets as far as a folder).

In ``config.json`` a folder's ``"devices"`` is ``"everyone"``, ``"trusted"``, or a list of keys
in the text form of ``trustedKeys`` (``format_key``/``parse_key``). A folder without one takes
``Audience.default_for(trusted)``: ``trusted`` where a trust list is set, else ``everyone``. This
module does no I/O and imports only the key text form.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mfsync.crypto.keys import KEY_SIZE, format_key, parse_key

__all__ = ["EVERYONE", "TRUSTED", "Audience", "AudienceKind"]


class AudienceKind(StrEnum):
    """The kinds of audience; the values are the JSON words (``keys`` is written as a list)."""

    EVERYONE = "everyone"
    TRUSTED = "trusted"
    KEYS = "keys"


@dataclass(frozen=True)
class Audience:
    """Who may see a folder: ``kind`` (an ``AudienceKind``), and for ``keys`` the 32-byte
    X25519 public keys admitted (an empty set admits nobody: a folder kept to ourselves)."""

    kind: AudienceKind
    keys: frozenset[bytes] = frozenset()

    def __post_init__(self) -> None:
        # Checked here so that no code path can build an audience that means two things.
        object.__setattr__(self, "kind", AudienceKind(self.kind))
        if self.kind is not AudienceKind.KEYS and self.keys:
            raise ValueError(f"an audience of kind {self.kind.value!r} lists no keys")
        if any(not isinstance(k, bytes) or len(k) != KEY_SIZE for k in self.keys):
            raise ValueError(f"an audience's keys are {KEY_SIZE} bytes each")

    @classmethod
    def of_keys(cls, keys: frozenset[bytes]) -> "Audience":
        """The audience of exactly ``keys``."""
        return cls(AudienceKind.KEYS, frozenset(keys))

    @classmethod
    def default_for(cls, trusted: frozenset[bytes]) -> "Audience":
        """The audience of a folder that names none: ``trusted`` when a trust list is set,
        else ``everyone`` (as a host without a trust list lets anyone connect)."""
        return TRUSTED if trusted else EVERYONE

    def admits(self, peer_key: bytes, trusted: frozenset[bytes]) -> bool:
        """Whether the peer with ``peer_key`` may see the folder, ``trusted`` being the trust
        list in force now."""
        if self.kind is AudienceKind.EVERYONE:
            return True
        if self.kind is AudienceKind.TRUSTED:
            return peer_key in trusted
        return peer_key in self.keys

    def to_json(self) -> str | list[str]:
        """The JSON value of a folder's ``"devices"``: a word, or the keys sorted as text."""
        if self.kind is AudienceKind.KEYS:
            return sorted(format_key(k) for k in self.keys)
        return self.kind.value

    @classmethod
    def from_json(cls, value: Any) -> "Audience":
        """The audience a ``"devices"`` value names; ``ValueError`` says what is wrong."""
        if isinstance(value, list):
            if not all(isinstance(k, str) for k in value):
                raise ValueError("must be a list of key strings")
            return cls.of_keys(frozenset(parse_key(k) for k in value))
        if value in (AudienceKind.EVERYONE.value, AudienceKind.TRUSTED.value):
            return cls(AudienceKind(value))
        raise ValueError(f'must be "everyone", "trusted" or a list of keys, not {value!r}')


#: Every host may see the folder.
EVERYONE = Audience(AudienceKind.EVERYONE)
#: The hosts of the trust list may see the folder.
TRUSTED = Audience(AudienceKind.TRUSTED)
