"""Host identity: the X25519 key pair, its PKCS#8 DER form, and the text form of public keys.

``key.bin`` holds the private key as PKCS#8 DER, the format mfsync 0.2 writes, so an existing
identity carries over. Reading and writing the file is ``mfsync.store.identity_file``'s job.
"""

import binascii
from dataclasses import dataclass

from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

__all__ = [
    "KEY_TEXT_LENGTH",
    "Identity",
    "IdentityError",
    "format_key",
    "identity_from_der",
    "identity_to_der",
    "parse_key",
    "short_key",
]

KEY_SIZE = 32
KEY_TEXT_LENGTH = 2 * KEY_SIZE


class IdentityError(Exception):
    """The key file cannot be read, parsed or written; the message says which and why."""


def format_key(raw: bytes) -> str:
    """The text form of a public key: 64 upper-case hex characters."""
    return raw.hex().upper()


def short_key(raw: bytes) -> str:
    """The first 12 characters of the text form, for logs and narrow columns."""
    return format_key(raw)[:12]


def parse_key(text: str) -> bytes:
    """Parse a public key's text form (any case, surrounding blanks ignored) into 32 bytes."""
    cleaned = text.strip()
    if len(cleaned) != KEY_TEXT_LENGTH:
        raise ValueError(
            f"a public key is {KEY_TEXT_LENGTH} hex characters, got {len(cleaned)}: {cleaned!r}"
        )
    try:
        return binascii.unhexlify(cleaned.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(f"a public key is hex characters only: {cleaned!r}") from None


@dataclass(frozen=True)
class Identity:
    """This host's key pair."""

    private_key: X25519PrivateKey

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_key_text(self) -> str:
        """The public key as 64 upper-case hex characters."""
        return format_key(self.public_key)

    @classmethod
    def generate(cls) -> "Identity":
        """A fresh identity that lives only in memory (tests, throwaway runs)."""
        return cls(X25519PrivateKey.generate())


def identity_from_der(data: bytes, source: str) -> Identity:
    """Parse a PKCS#8 DER X25519 private key; ``source`` names it in the error message."""
    try:
        key = serialization.load_der_private_key(data, password=None)
    # UnsupportedAlgorithm: an algorithm identifier the library does not know; InternalError:
    # one it knows with a key it cannot set up (the X448 identifier around 32 key bytes)
    except (ValueError, TypeError, UnsupportedAlgorithm, InternalError) as exc:
        raise IdentityError(
            f"key file {source} is not a valid PKCS#8 DER private key ({exc}); "
            "move it away to create a new identity, or point --key-file at the right file"
        ) from None
    if not isinstance(key, X25519PrivateKey):
        raise IdentityError(f"key file {source} holds a {type(key).__name__}, not an X25519 key")
    return Identity(key)


def identity_to_der(identity: Identity) -> bytes:
    """The private key as PKCS#8 DER, the format of ``key.bin``."""
    return identity.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
