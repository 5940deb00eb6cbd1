"""Trust list files on real disks: the round trip, atomic replacement, and hostile content."""

import json
import os
from pathlib import Path

import pytest

from mfsync.crypto.keys import Identity, format_key
from mfsync.store import files
from mfsync.store.trust_file import (
    MAX_PROBLEMS_SHOWN,
    MAX_TRUST_FILE_BYTES,
    TRUST_FILE_MODE,
    TrustFileError,
    encode_trust_file,
    read_trust_file,
    write_trust_file,
)


def new_key() -> bytes:
    return Identity.generate().public_key


def test_round_trip_keeps_order_and_names(tmp_path: Path) -> None:
    a, b, c = new_key(), new_key(), new_key()
    path = tmp_path / "trust.json"
    write_trust_file(path, [c, a, b], {a: "alpha", c: "gamma", new_key(): "not listed"})
    assert read_trust_file(path) == ([c, a, b], {a: "alpha", c: "gamma"})
    data = json.loads(path.read_text(encoding="utf-8"))
    # only names of listed keys are written
    assert data == {"trustedKeys": [format_key(k) for k in (c, a, b)],
                    "keyNames": {format_key(a): "alpha", format_key(c): "gamma"}}
    assert path.stat().st_mode & 0o777 == TRUST_FILE_MODE
    assert not [p for p in tmp_path.iterdir() if p.name != "trust.json"]  # no temporary left


def test_bare_list_in_any_case(tmp_path: Path) -> None:
    keys = [new_key(), new_key()]
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([f"  {format_key(k).lower()} " for k in keys]))
    assert read_trust_file(path) == (keys, {})


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trust.json"
    old = [new_key()]
    write_trust_file(path, old, {})
    before = path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(TrustFileError, match=f"Cannot write {path}: No space left on device"):
        write_trust_file(path, [new_key(), new_key()], {})
    assert path.read_bytes() == before
    assert read_trust_file(path) == (old, {})
    assert [p.name for p in tmp_path.iterdir()] == ["trust.json"]  # the temporary is gone


def test_write_is_a_rename_not_an_overwrite(tmp_path: Path) -> None:
    # a reader holding the old file open keeps reading the old content: the new one is
    # renamed over it, never written into it
    path = tmp_path / "trust.json"
    write_trust_file(path, [new_key()], {})
    with path.open("rb") as reader:
        before_inode = os.fstat(reader.fileno()).st_ino
        old = reader.read()
        write_trust_file(path, [new_key(), new_key()], {})
        reader.seek(0)
        assert reader.read() == old
    assert path.stat().st_ino != before_inode


def test_write_into_a_missing_folder_or_onto_a_folder_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(TrustFileError, match=r"Cannot write .*does not exist"):
        write_trust_file(tmp_path / "missing" / "x.json", [new_key()], {})
    assert not (tmp_path / "missing").exists()  # not made up for the export
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(TrustFileError, match=r"Cannot write .*dir\.json"):
        write_trust_file(tmp_path / "dir.json", [new_key()], {})


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "video.json"
    with path.open("wb") as handle:
        handle.truncate(50 * MAX_TRUST_FILE_BYTES)  # sparse: large, but costs no disk
    with pytest.raises(TrustFileError, match="too large for a trust list"):
        read_trust_file(path)
    # the limit itself is fine
    keys = [format_key(new_key())]
    text = json.dumps(keys)
    path.write_text(text + " " * (MAX_TRUST_FILE_BYTES - len(text)))
    assert len(read_trust_file(path)[0]) == 1


@pytest.mark.parametrize(("content", "message"), [
    (b'{"trustedKeys": ["%s", "nothex", 7]}', "key 2: a public key is 64 hex characters"),
    (b'{"trustedKeys": ["%s", "nothex", 7]}', "key 3 is not a string"),
    (b'{"trustedKeys": ["%s"], "keyNames": {"bad": "x"}}', "name for 'bad'"),
    (b'{"trustedKeys": ["%s"], "keyNames": {"%s": 5}}', "is not a string"),
    (b'{"trustedKeys": "%s"}', '"trustedKeys" must be a list'),
    (b'{"trustedKeys": [], "keyNames": []}', '"keyNames" must map keys to names'),
    (b'{"keys": ["%s"]}', 'expected a list of keys or an object with "trustedKeys"'),
    (b'["%s",', "invalid JSON at line 1"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"[" + b"9" * 5000 + b"]", "invalid JSON"),
    (b"\xff\xfe[]", "is not a text file"),
])
def test_bad_content_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content.replace(b"%s", format_key(new_key()).encode()))
    with pytest.raises(TrustFileError, match=None) as caught:
        read_trust_file(path)
    assert message in str(caught.value)


def test_many_bad_keys_are_listed_up_to_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(["nope"] * 500))
    with pytest.raises(TrustFileError) as caught:
        read_trust_file(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"Nothing imported from {path}:"
    assert len(lines) == 1 + MAX_PROBLEMS_SHOWN + 1
    assert lines[-1] == f"(and {500 - MAX_PROBLEMS_SHOWN} more)"


def test_a_pipe_is_refused_rather_than_read_without_end(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # someone holds the other end: opening does not block
    try:
        with pytest.raises(TrustFileError, match="is not a regular file"):
            read_trust_file(fifo)
    finally:
        os.close(writer)


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(TrustFileError, match=r"Cannot read .*nope\.json"):
        read_trust_file(tmp_path / "nope.json")
    with pytest.raises(TrustFileError, match="Cannot read"):
        read_trust_file(tmp_path)


def test_encoding_is_what_is_written(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "t.json"
    write_trust_file(path, [key], {key: "ünïcode"})
    assert path.read_bytes() == encode_trust_file([key], {key: "ünïcode"})
