"""The verification code: a short number two people compare to know they hold each other's key.

Both hosts compute it from the same two public keys, so it reads the same on both screens when
(and, short of a deliberate search for a colliding key, only when) each holds the other's real
key. The keys are sorted first, so the order in which either side names them does not matter,
and hashed with a label naming this purpose and its version, so that the digest cannot be
mistaken for any other hash of the same keys.
"""

import hashlib

from mfsync.crypto.keys import KEY_SIZE

__all__ = ["CODE_DIGITS", "VERIFY_LABEL", "verification_code"]

#: The purpose label hashed before the keys; a new scheme gets a new label.
VERIFY_LABEL = b"mfsync verification code v1"
#: Digits in the code: two groups of four are easy to read aloud and compare.
CODE_DIGITS = 8


def verification_code(key_a: bytes, key_b: bytes) -> str:
    """The code for the pair of raw public keys ``key_a`` and ``key_b``, e.g. ``"4821 0937"``.

    Symmetric: ``verification_code(a, b) == verification_code(b, a)``. ``ValueError`` if a key
    is not 32 bytes.
    """
    for key in (key_a, key_b):
        if len(key) != KEY_SIZE:
            raise ValueError(f"a public key is {KEY_SIZE} bytes, not {len(key)}")
    low, high = sorted((bytes(key_a), bytes(key_b)))
    digest = hashlib.sha256(VERIFY_LABEL + low + high).digest()
    # 64 bits reduced modulo 10^8: the bias (below 10^-10) is far too small to matter.
    number = int.from_bytes(digest[:8], "big") % 10**CODE_DIGITS
    text = f"{number:0{CODE_DIGITS}d}"
    half = CODE_DIGITS // 2
    return f"{text[:half]} {text[half:]}"
