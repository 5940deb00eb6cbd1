"""The verification code two people compare before trusting a key, and ``mfsync --verify``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mfsync.cli import main
from mfsync.crypto.keys import Identity, identity_to_der
from mfsync.crypto.verify import verification_code

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_known_answers() -> None:
    # Pinned: two hosts running different versions of mfsync must still show the same code.
    assert verification_code(KEY_A, KEY_B) == "0656 9982"
    assert verification_code(bytes(32), b"\xff" * 32) == "7230 2292"


def test_the_code_is_the_same_from_both_sides() -> None:
    for _ in range(20):
        a, b = Identity.generate().public_key, Identity.generate().public_key
        assert verification_code(a, b) == verification_code(b, a)
        assert re.fullmatch(r"\d{4} \d{4}", verification_code(a, b))


def test_different_keys_give_different_codes() -> None:
    base = verification_code(KEY_A, KEY_B)
    flipped = bytearray(KEY_B)
    flipped[31] ^= 1
    assert verification_code(KEY_A, bytes(flipped)) != base
    assert verification_code(KEY_B, KEY_B) != base
    codes = {verification_code(KEY_A, Identity.generate().public_key) for _ in range(200)}
    assert len(codes) >= 199  # 10^8 codes: a collision among 200 is a one in 10^4 event


def test_keys_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        verification_code(KEY_A, KEY_B[:31])
    with pytest.raises(ValueError, match="32 bytes"):
        verification_code(KEY_A + b"\x00", KEY_B)


def test_cli_prints_the_code_for_our_key_and_theirs(home: Path, capsys) -> None:
    ours = Identity.generate()
    key_file = home / "key.bin"
    key_file.write_bytes(identity_to_der(ours))
    key_file.chmod(0o600)
    theirs = Identity.generate().public_key
    assert main(["--verify", theirs.hex(), "--key-file", str(key_file)]) == 0
    out = capsys.readouterr().out
    code = verification_code(ours.public_key, theirs)
    assert out.splitlines()[0] == f"Verification code: {code}"
    assert "compare" in out.lower()
    assert ours.public_key_text in out  # what to run on the other host
    # The other side, naming our key, sees the same code.
    other_file = home / "other.bin"
    other = Identity.generate()
    other_file.write_bytes(identity_to_der(other))
    other_file.chmod(0o600)
    assert main(["--verify", ours.public_key_text, "--key-file", str(other_file)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"Verification code: {verification_code(other.public_key, ours.public_key)}")


def test_cli_creates_the_identity_like_public_key_does(home: Path, capsys) -> None:
    assert main(["--verify", KEY_B.hex().upper()]) == 0
    assert re.fullmatch(r"Verification code: \d{4} \d{4}", capsys.readouterr().out.splitlines()[0])
    assert (home / ".mfsync" / "key.bin").exists()


@pytest.mark.parametrize("text", ["", "abc", "zz" * 32, "AB" * 33])
def test_cli_refuses_a_malformed_key(text: str, capsys) -> None:
    assert main(["--verify", text]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    first, *rest = captured.err.splitlines()
    assert first.startswith("mfsync: error: --verify: ")
    assert "Traceback" not in captured.err
    assert rest == ["Try 'mfsync --help' for more information."]
