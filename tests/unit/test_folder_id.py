"""Folder ids and labels (protocol/folder_id.py): spelling, parsing, the default id, labels."""

import pytest

from mfsync.protocol.folder_id import (
    DEFAULT_FOLDER,
    FOLDER_ID_BYTES,
    MAX_LABEL_BYTES,
    FolderId,
    check_label,
    label_from_name,
)


def test_default_folder_is_all_zero_and_spelled_0000_0000() -> None:
    assert DEFAULT_FOLDER.raw == bytes(5)
    assert str(DEFAULT_FOLDER) == "0000-0000"
    assert DEFAULT_FOLDER.is_default
    assert FolderId.parse("0000-0000") == DEFAULT_FOLDER


def test_new_ids_are_random_never_default_and_round_trip() -> None:
    ids = {FolderId.new() for _ in range(200)}
    assert len(ids) == 200
    for folder_id in ids:
        assert not folder_id.is_default
        text = str(folder_id)
        assert len(text) == 9 and text[4] == "-"
        assert FolderId.parse(text) == folder_id


def test_spelling_is_crockford_base32_big_endian() -> None:
    assert str(FolderId(b"\xff" * FOLDER_ID_BYTES)) == "zzzz-zzzz"
    assert str(FolderId(b"\x00\x00\x00\x00\x01")) == "0000-0001"
    assert str(FolderId(b"\x00\x00\x00\x00\x20")) == "0000-0010"


@pytest.mark.parametrize("text", ["K3X9-PQ2M", "k3x9pq2m", " k3x9 pq2m ", "k3x9-pq2m"])
def test_parse_ignores_case_hyphens_and_spaces(text: str) -> None:
    assert str(FolderId.parse(text)) == "k3x9-pq2m"


def test_parse_reads_confusable_letters_as_digits() -> None:
    assert FolderId.parse("iLo0-0000") == FolderId.parse("1100-0000")


@pytest.mark.parametrize("text", ["", "k3x9-pq2", "k3x9-pq2mm", "k3x9-pq2u", "k3x9_pq2m",
                                  "k3x9-pq2é"])
def test_parse_refuses_what_is_not_an_id(text: str) -> None:
    with pytest.raises(ValueError, match="not a folder id"):
        FolderId.parse(text)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 4, b"\x00" * 6])
def test_wrong_length_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        FolderId(raw)


@pytest.mark.parametrize("label", ["Photos", "Notes 2026", "Фото", "a" * MAX_LABEL_BYTES])
def test_good_labels(label: str) -> None:
    assert check_label(label) == label


@pytest.mark.parametrize("label", ["", "a:b", "a/b", "a\\b", " Photos", "Photos ", "a\nb",
                                   "a\u202eb", "a" * (MAX_LABEL_BYTES + 1), "é" * 32])
def test_bad_labels(label: str) -> None:
    with pytest.raises(ValueError):
        check_label(label)


def test_label_from_name_makes_a_label_check_label_accepts() -> None:
    for name in ["Photos", "a:b/c", " spaced ", "\u202e", "x" * 200, "é" * 100, ""]:
        label = label_from_name(name)
        assert check_label(label) == label
    assert label_from_name("a:b") == "a_b"
    assert label_from_name("") == "folder"
