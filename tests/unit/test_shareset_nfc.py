"""Names stored decomposed on disk (as macOS writes them) are shared under their NFC form."""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

from mfsync.store.shareset import ShareSet


async def test_nfd_name_is_offered_as_nfc(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Müsli.txt")
    (tmp_path / nfd).write_bytes(b"oats")
    share = ShareSet(tmp_path)
    await share.rescan()
    (entry,) = share.entries()
    assert entry.path == unicodedata.normalize("NFC", "Müsli.txt") != nfd
    assert share.files[entry.path].disk_path == nfd


async def test_names_colliding_after_normalisation_keep_one(tmp_path: Path, caplog) -> None:
    nfc = unicodedata.normalize("NFC", "café")
    (tmp_path / nfc).write_bytes(b"1")
    (tmp_path / unicodedata.normalize("NFD", "café")).write_bytes(b"2")
    share = ShareSet(tmp_path)
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        await share.rescan()
    assert [e.path for e in share.entries()] == [nfc]
    assert "same name once normalised" in caplog.text
    # A second scan finds the same winner and changes nothing.
    assert not await share.rescan()
