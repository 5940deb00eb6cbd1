"""Tests for mfsync.crypto.keys and mfsync.store.identity_file."""

import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from mfsync.crypto.keys import (
    KEY_TEXT_LENGTH,
    Identity,
    IdentityError,
    format_key,
    identity_from_der,
    identity_to_der,
    parse_key,
    short_key,
)
from mfsync.store.identity_file import load_or_create_identity

FAST = settings(max_examples=200, deadline=None)

RAW = bytes.fromhex("00112233445566778899aabbccddeeff0123456789abcdefFEDCBA9876543210")
UPPER = "00112233445566778899AABBCCDDEEFF0123456789ABCDEFFEDCBA9876543210"


# -- text form of keys -------------------------------------------------------------------------


def test_format_key_is_64_upper_case_hex() -> None:
    assert format_key(RAW) == UPPER
    assert len(format_key(RAW)) == KEY_TEXT_LENGTH == 64
    assert short_key(RAW) == UPPER[:12]


@pytest.mark.parametrize(
    "text",
    [UPPER, UPPER.lower(), "00112233445566778899aAbBcCdDeEfF0123456789AbCdEffEdCbA9876543210",
     f"  {UPPER}\n", f"\t{UPPER.lower()} \r\n"],
)
def test_parse_key_accepts_any_case_and_surrounding_blanks(text: str) -> None:
    assert parse_key(text) == RAW


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "64 hex characters, got 0"),
        (UPPER[:-1], "got 63"),
        (UPPER + "0", "got 65"),
        (UPPER[:32] + " " + UPPER[32:63], "hex characters only"),  # blank inside
        ("G" + UPPER[1:], "hex characters only"),
        ("0x" + UPPER[2:], "hex characters only"),
        ("-" * 64, "hex characters only"),
    ],
)
def test_parse_key_refuses_malformed_text(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_key(text)


def test_parse_key_refuses_non_ascii_hex_lookalikes() -> None:
    with pytest.raises(ValueError):
        parse_key("\uff10" * 64)  # FULLWIDTH DIGIT ZERO


@FAST
@given(st.binary(min_size=32, max_size=32))
def test_format_parse_round_trip(raw: bytes) -> None:
    text = format_key(raw)
    assert text == text.upper()
    assert parse_key(text) == raw
    assert parse_key(text.lower()) == raw


# -- DER form ------------------------------------------------------------------------------------


def test_der_round_trip() -> None:
    identity = Identity.generate()
    der = identity_to_der(identity)
    again = identity_from_der(der, "memory")
    assert again.public_key == identity.public_key
    assert identity_to_der(again) == der
    assert len(identity.public_key) == 32
    assert identity.public_key_text == format_key(identity.public_key)


def test_der_written_by_mfsync_0_2_loads_to_the_same_public_key() -> None:
    key = X25519PrivateKey.generate()
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    identity = identity_from_der(der, "key.bin")
    assert identity.public_key == key.public_key().public_bytes_raw()
    assert identity_to_der(identity) == der  # and we write the very same bytes back


def test_der_of_another_key_type_is_refused() -> None:
    der = Ed25519PrivateKey.generate().private_bytes(
        Encoding.DER, PrivateFormat.PKCS8, NoEncryption()
    )
    with pytest.raises(IdentityError, match="not an X25519 key"):
        identity_from_der(der, "ed.bin")


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x82\xff\xff", b"\x00" * 48])
def test_invalid_der_is_refused_naming_the_source(data: bytes) -> None:
    with pytest.raises(IdentityError, match=r"somewhere/key\.bin"):
        identity_from_der(data, "somewhere/key.bin")


# -- key.bin on disk -------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_key_file_with_private_modes(tmp_path: Path) -> None:
    path = tmp_path / ".mfsync" / "key.bin"
    identity, created = load_or_create_identity(path)
    assert created
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert identity_from_der(path.read_bytes(), "x").public_key == identity.public_key


def test_loads_the_same_key_the_second_time(tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    first, created1 = load_or_create_identity(path)
    before = path.read_bytes()
    second, created2 = load_or_create_identity(path)
    assert (created1, created2) == (True, False)
    assert second.public_key == first.public_key
    assert path.read_bytes() == before


def test_loads_a_key_written_by_mfsync_0_2(tmp_path: Path) -> None:
    key = X25519PrivateKey.generate()
    path = tmp_path / "key.bin"
    path.write_bytes(key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    identity, created = load_or_create_identity(path)
    assert not created
    assert identity.public_key == key.public_key().public_bytes_raw()


def _refused_untouched(path: Path, match: str) -> None:
    before = path.read_bytes() if path.is_file() else None
    mode = path.stat().st_mode
    with pytest.raises(IdentityError, match=match):
        load_or_create_identity(path)
    assert path.stat().st_mode == mode
    if before is not None:
        assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize(
    "content",
    [b"this is not a key\n", b"", b"\x30\x03\x02\x01\x00"],
    ids=["garbage", "empty", "bad-der"],
)
def test_refuses_invalid_file_and_leaves_it_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key.bin"
    path.write_bytes(content)
    path.chmod(0o600)
    _refused_untouched(path, "not a valid PKCS#8")


def test_refuses_ed25519_key_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    _refused_untouched(path, "Ed25519PrivateKey, not an X25519 key")


def test_refuses_a_directory_at_the_path(tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    path.mkdir()
    (path / "inside").write_bytes(b"x")
    with pytest.raises(IdentityError, match="is a directory"):
        load_or_create_identity(path)
    assert [p.name for p in path.iterdir()] == ["inside"]


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: chmod 000 does not stop root from reading the file",
)
def test_refuses_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    path.write_bytes(identity_to_der(Identity.generate()))
    path.chmod(0)
    try:
        with pytest.raises(IdentityError, match="cannot read key file"):
            load_or_create_identity(path)
        assert _mode(path) == 0
    finally:
        path.chmod(0o600)


def test_refuses_when_the_folder_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a folder")
    with pytest.raises(IdentityError, match="cannot"):
        load_or_create_identity(blocker / "key.bin")
    assert blocker.read_bytes() == b"not a folder"


def test_warns_about_a_key_file_readable_by_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "key.bin"
    identity = Identity.generate()
    path.write_bytes(identity_to_der(identity))
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        loaded, created = load_or_create_identity(path)
    assert loaded.public_key == identity.public_key
    assert not created
    warnings = [
        r for r in caplog.records if r.name == "mfsync.store" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert "644" in warnings[0].getMessage()
    assert _mode(path) == 0o644  # warned about, not changed behind the user's back


def test_no_warning_for_a_private_key_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "key.bin"
    load_or_create_identity(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        load_or_create_identity(path)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_read_error_is_reported_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same path as the chmod 000 case, reachable as root: the read itself fails.
    path = tmp_path / "key.bin"
    der = identity_to_der(Identity.generate())
    path.write_bytes(der)
    path.chmod(0o600)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(IdentityError, match=r"cannot read key file .*Permission denied"):
        load_or_create_identity(path)
    monkeypatch.undo()
    assert path.read_bytes() == der


def test_creates_the_key_file_where_hard_links_are_not_supported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "home" / "key.bin"
    identity, created = load_or_create_identity(path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["key.bin"]  # no temporary file left behind
    assert load_or_create_identity(path)[0].public_key == identity.public_key
