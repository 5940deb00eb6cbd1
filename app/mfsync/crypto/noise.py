"""Noise_XX_25519_ChaChaPoly_SHA256 handshake and transport ciphers (Noise spec revision 34).

How it works: both peers hash the protocol name and a shared prologue into a running transcript
hash ``h`` and a chaining key ``ck``. The XX pattern then exchanges three messages::

    -> e
    <- e, ee, s, es
    -> s, se

Each ephemeral public key is sent in clear and mixed into ``h``; each Diffie-Hellman result is fed
through HKDF into ``ck`` and yields a fresh ChaCha20-Poly1305 key, under which the static public
keys and the payloads are encrypted with ``h`` as associated data. Any change to any byte seen so
far therefore makes a later authentication tag fail. After the third message ``split()`` derives
one key per direction from ``ck``; ``handshake_hash`` (the final ``h``) identifies the session
and can be used for channel binding. Authenticating *who* the peer is (checking
``remote_static`` against a known key) is the caller's job: XX only proves that the peer holds
the private key for the static key it sent.

This is a leaf module: it depends on the standard library and ``cryptography`` only. Objects in
it are not thread-safe; each connection owns its own.
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

__all__ = [
    "MAX_MESSAGE_LEN",
    "MAX_NONCE",
    "PROTOCOL_NAME",
    "CipherState",
    "HandshakeState",
    "NoiseError",
]

PROTOCOL_NAME: bytes = b"Noise_XX_25519_ChaChaPoly_SHA256"
MAX_NONCE = 2**64 - 1
MAX_MESSAGE_LEN = 65535

_DHLEN = 32
_HASHLEN = 32
_KEYLEN = 32
_TAGLEN = 16

# Token lists of the three XX messages, in order; even indices are written by the initiator.
_XX_PATTERN: tuple[tuple[str, ...], ...] = (
    ("e",),
    ("e", "ee", "s", "es"),
    ("s", "se"),
)
# Smallest valid length of each message (empty payload): message 1 is sent before any key
# exists, so its payload has no tag; later encrypted static keys and payloads each carry one.
_MIN_LEN: tuple[int, ...] = (
    _DHLEN,
    _DHLEN + (_DHLEN + _TAGLEN) + _TAGLEN,
    (_DHLEN + _TAGLEN) + _TAGLEN,
)


class NoiseError(Exception):
    """The peer sent something the handshake or transport rejects.

    For example a bad MAC, a wrong length, or a message out of order.
    """


def _hash(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def _hmac_hash(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def _hkdf2(chaining_key: bytes, input_key_material: bytes) -> tuple[bytes, bytes]:
    """Noise HKDF with two outputs (XX without PSKs never needs the third)."""
    temp_key = _hmac_hash(chaining_key, input_key_material)
    output1 = _hmac_hash(temp_key, b"\x01")
    output2 = _hmac_hash(temp_key, output1 + b"\x02")
    return output1, output2


class CipherState:
    """Transport cipher for one direction: ChaCha20-Poly1305 with the Noise 64-bit counter nonce.

    The 96-bit AEAD nonce is 4 zero bytes followed by the 8-byte little-endian counter.

    Messages must be decrypted in the order they were encrypted; the counter is implicit, so
    a lost, reordered or replayed message fails authentication.
    """

    __slots__ = ("_aead", "_n")

    def __init__(self, key: bytes | None = None) -> None:
        """Create a cipher with ``key`` (32 bytes) and nonce 0, or a keyless one if it is None."""
        if key is not None and len(key) != _KEYLEN:
            raise ValueError(f"key must be {_KEYLEN} bytes, got {len(key)}")
        self._aead = ChaCha20Poly1305(key) if key is not None else None
        self._n = 0

    @property
    def has_key(self) -> bool:
        """Whether a key is set (without one, encrypt/decrypt pass data through unchanged)."""
        return self._aead is not None

    @property
    def nonce(self) -> int:
        """The counter the next encrypt/decrypt call will use."""
        return self._n

    def _nonce_bytes(self) -> bytes:
        return b"\x00\x00\x00\x00" + self._n.to_bytes(8, "little")

    def encrypt(self, plaintext: bytes, ad: bytes = b"") -> bytes:
        """Encrypt and authenticate ``plaintext`` bound to ``ad``; without a key return it as is.

        Raises NoiseError once the counter reaches MAX_NONCE: that value is reserved by the spec
        and reusing any earlier one would break ChaCha20-Poly1305 completely.
        """
        if self._aead is None:
            return plaintext
        if self._n >= MAX_NONCE:
            raise NoiseError("nonce exhausted: this session must be rekeyed or restarted")
        ciphertext = self._aead.encrypt(self._nonce_bytes(), plaintext, ad)
        self._n += 1
        return ciphertext

    def decrypt(self, ciphertext: bytes | memoryview, ad: bytes = b"") -> bytes:
        """Check and decrypt ``ciphertext`` bound to ``ad``; without a key return it as is.

        Raises NoiseError on a bad tag (including input shorter than a tag) or an exhausted
        counter. The counter only advances on success, so a forged message injected into the
        stream does not desynchronise the receiver from the honest sender.
        """
        if self._aead is None:
            return bytes(ciphertext)
        if self._n >= MAX_NONCE:
            raise NoiseError("nonce exhausted: this session must be rekeyed or restarted")
        try:
            plaintext = self._aead.decrypt(self._nonce_bytes(), ciphertext, ad)
        except InvalidTag:
            raise NoiseError("message failed authentication") from None
        self._n += 1
        return plaintext

    def encrypt_into(self, plaintext: bytes | bytearray | memoryview, out: memoryview) -> None:
        """``encrypt`` (no associated data) into ``out``, exactly ``len(plaintext) + 16``
        bytes that must not overlap ``plaintext``: no new buffer per message. Needs a key."""
        if self._aead is None:
            raise NoiseError("no key: nothing to encrypt into")
        if self._n >= MAX_NONCE:
            raise NoiseError("nonce exhausted: this session must be rekeyed or restarted")
        self._aead.encrypt_into(self._nonce_bytes(), plaintext, None, out)
        self._n += 1

    def decrypt_into(self, ciphertext: bytes | bytearray | memoryview, out: memoryview) -> None:
        """``decrypt`` (no associated data) into ``out``, exactly ``len(ciphertext) - 16``
        bytes that must not overlap ``ciphertext``. On a bad tag ``out`` may hold garbage and
        the counter stays where it was, as with ``decrypt``. Needs a key."""
        if self._aead is None:
            raise NoiseError("no key: nothing to decrypt into")
        if self._n >= MAX_NONCE:
            raise NoiseError("nonce exhausted: this session must be rekeyed or restarted")
        if len(ciphertext) < _TAGLEN:
            raise NoiseError("message failed authentication")
        try:
            self._aead.decrypt_into(self._nonce_bytes(), ciphertext, None, out)
        except InvalidTag:
            raise NoiseError("message failed authentication") from None
        self._n += 1


class HandshakeState:
    """One side of a Noise XX handshake.

    Call ``write_message`` and ``read_message`` alternately (the initiator writes first) until
    ``complete``, then ``split()`` once to get the transport ciphers. Any NoiseError from
    ``read_message`` aborts the handshake for good, as the spec requires: the transcript has
    already absorbed part of the bad message, so it can never match the peer's again.
    """

    def __init__(
        self,
        *,
        initiator: bool,
        static_key: X25519PrivateKey,
        prologue: bytes = b"",
        ephemeral_key: X25519PrivateKey | None = None,
    ) -> None:
        """Start a handshake; pass ``ephemeral_key`` only to reproduce test vectors.

        A fixed ephemeral key in real use would give up forward secrecy, so by default a
        fresh one is generated when the first ``e`` token is written.
        """
        # InitializeSymmetric: the 32-byte name fits in HASHLEN, so h is the name zero-padded.
        if len(PROTOCOL_NAME) <= _HASHLEN:
            self._h = PROTOCOL_NAME.ljust(_HASHLEN, b"\x00")
        else:
            self._h = _hash(PROTOCOL_NAME)
        self._ck = self._h
        self._cipher = CipherState()
        self._mix_hash(bytes(prologue))

        self._initiator = initiator
        self._s = static_key
        self._s_pub = static_key.public_key().public_bytes_raw()
        self._e = ephemeral_key
        self._re: X25519PublicKey | None = None
        self._rs: X25519PublicKey | None = None
        self._rs_raw: bytes | None = None
        self._step = 0  # index into _XX_PATTERN of the next message
        self._failed = False
        self._split_done = False

    # -- SymmetricState -------------------------------------------------------------------

    def _mix_hash(self, data: bytes) -> None:
        self._h = _hash(self._h + data)

    def _mix_key(self, input_key_material: bytes) -> None:
        self._ck, temp_k = _hkdf2(self._ck, input_key_material)
        self._cipher = CipherState(temp_k)  # InitializeKey: fresh key, nonce back to 0

    def _encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self._cipher.encrypt(plaintext, self._h)
        self._mix_hash(ciphertext)
        return ciphertext

    def _decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self._cipher.decrypt(ciphertext, self._h)
        self._mix_hash(ciphertext)
        return plaintext

    # -- DH helpers -----------------------------------------------------------------------

    def _peer_key(self, raw: bytes) -> X25519PublicKey:
        """Parse a peer public key, rejecting small-order points at the message that carried them.

        X25519 scalars are clamped to multiples of the cofactor, so a small-order point yields
        the all-zero secret (which ``cryptography`` refuses) whatever our private key is; one
        trial exchange with our static key thus tells us now rather than at a later DH.
        """
        key = X25519PublicKey.from_public_bytes(raw)
        try:
            self._s.exchange(key)
        except ValueError:
            raise NoiseError("peer sent a small-order public key") from None
        return key

    @staticmethod
    def _dh(private: X25519PrivateKey | None, public: X25519PublicKey | None) -> bytes:
        # Both keys exist by construction of the XX token order; a None here is our bug.
        if private is None or public is None:
            raise RuntimeError("DH token processed before both keys were known")
        try:
            return private.exchange(public)
        except ValueError:
            raise NoiseError("Diffie-Hellman produced the all-zero secret") from None

    def _mix_dh(self, tok: str) -> None:
        if tok == "ee":
            self._mix_key(self._dh(self._e, self._re))
        elif tok == "es":
            # es is always DH(initiator ephemeral, responder static), computed from either end.
            if self._initiator:
                self._mix_key(self._dh(self._e, self._rs))
            else:
                self._mix_key(self._dh(self._s, self._re))
        elif tok == "se":
            if self._initiator:
                self._mix_key(self._dh(self._s, self._re))
            else:
                self._mix_key(self._dh(self._e, self._rs))
        else:
            raise RuntimeError(f"unexpected token {tok!r}")

    # -- public API -----------------------------------------------------------------------

    @property
    def _writes_next(self) -> bool:
        return (self._step % 2 == 0) == self._initiator

    @property
    def complete(self) -> bool:
        """Whether all three messages have been written or read successfully."""
        return self._step == len(_XX_PATTERN) and not self._failed

    @property
    def remote_static(self) -> bytes | None:
        """The peer's 32-byte raw static public key once received (message 2 or 3), else None.

        It is authenticated only in the sense that the peer proved possession of the private
        key; the caller decides whether this key is one it trusts. None again once the handshake
        has failed, so a half-finished exchange never looks like an identified peer.
        """
        return None if self._failed else self._rs_raw

    @property
    def handshake_hash(self) -> bytes:
        """The final transcript hash ``h``, for channel binding; NoiseError before completion.

        Intermediate values are withheld because they do not yet cover the whole transcript.
        """
        if not self.complete:
            raise NoiseError("handshake hash is only defined once the handshake is complete")
        return self._h

    def write_message(self, payload: bytes = b"") -> bytes:
        """Produce our next handshake message carrying ``payload``.

        The payload of the first message is sent in clear (no key exists yet); the others are
        encrypted. Raises RuntimeError when it is not our turn, the handshake is over or has
        failed, and ValueError when the payload would push the message past MAX_MESSAGE_LEN.
        """
        if self._failed:
            raise RuntimeError("handshake has failed; start a new one")
        if self._step >= len(_XX_PATTERN):
            raise RuntimeError("handshake is already complete")
        if not self._writes_next:
            raise RuntimeError("it is the peer's turn to send a handshake message")
        payload = bytes(payload)
        if _MIN_LEN[self._step] + len(payload) > MAX_MESSAGE_LEN:
            raise ValueError(
                f"payload of {len(payload)} bytes makes the handshake message exceed "
                f"{MAX_MESSAGE_LEN} bytes"
            )
        try:
            out = bytearray()
            for tok in _XX_PATTERN[self._step]:
                if tok == "e":
                    if self._e is None:
                        self._e = X25519PrivateKey.generate()
                    e_pub = self._e.public_key().public_bytes_raw()
                    out += e_pub
                    self._mix_hash(e_pub)
                elif tok == "s":
                    out += self._encrypt_and_hash(self._s_pub)
                else:
                    self._mix_dh(tok)
            out += self._encrypt_and_hash(payload)
        except NoiseError:
            # Only reachable through a DH with a key the peer sent; the state is half-updated.
            self._failed = True
            raise
        self._step += 1
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        """Process the peer's next handshake message and return its decrypted payload.

        Raises NoiseError (and aborts the handshake) if the message is out of turn, too long,
        too short, carries a small-order key or fails authentication. The payload of the first
        message is unauthenticated when read; tampering with it is detected at message 2.
        """
        if self._failed:
            raise NoiseError("handshake has already failed")
        if self._step >= len(_XX_PATTERN):
            raise NoiseError("handshake is already complete; no more handshake messages expected")
        try:
            return self._read_message(bytes(message))
        except NoiseError:
            self._failed = True
            raise

    def _read_message(self, message: bytes) -> bytes:
        if self._writes_next:
            raise NoiseError("received a handshake message while it was our turn to send")
        if len(message) > MAX_MESSAGE_LEN:
            raise NoiseError(f"handshake message longer than {MAX_MESSAGE_LEN} bytes")
        # Checking the minimum up front means every slice below is full length, so a short
        # message can never be misparsed as a key plus a shorter ciphertext.
        if len(message) < _MIN_LEN[self._step]:
            raise NoiseError(
                f"handshake message {self._step + 1} is {len(message)} bytes, "
                f"at least {_MIN_LEN[self._step]} required"
            )
        offset = 0
        for tok in _XX_PATTERN[self._step]:
            if tok == "e":
                re_raw = message[offset : offset + _DHLEN]
                offset += _DHLEN
                self._re = self._peer_key(re_raw)
                self._mix_hash(re_raw)
            elif tok == "s":
                size = _DHLEN + _TAGLEN if self._cipher.has_key else _DHLEN
                rs_raw = self._decrypt_and_hash(message[offset : offset + size])
                offset += size
                self._rs = self._peer_key(rs_raw)
                self._rs_raw = rs_raw
            else:
                self._mix_dh(tok)
        payload = self._decrypt_and_hash(message[offset:])
        self._step += 1
        return payload

    def split(self) -> tuple[CipherState, CipherState]:
        """Return (send, receive) transport ciphers for this side; NoiseError before completion.

        May be called once only: a second pair would restart both nonces at 0 under the same
        keys, which would let an observer XOR plaintexts together.
        """
        if not self.complete:
            raise NoiseError("split() called before the handshake completed")
        if self._split_done:
            raise RuntimeError("split() may only be called once per handshake")
        temp_k1, temp_k2 = _hkdf2(self._ck, b"")
        c1, c2 = CipherState(temp_k1), CipherState(temp_k2)
        self._split_done = True
        # Drop secrets that are no longer needed; h and the peer's static key stay available.
        self._ck = b""
        self._e = None
        self._cipher = CipherState()
        return (c1, c2) if self._initiator else (c2, c1)
