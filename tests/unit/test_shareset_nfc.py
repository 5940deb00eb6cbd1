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


def test_a_download_target_keeps_the_names_on_disk(tmp_path: Path) -> None:
    """A folder or file of ours named in NFD is the one a download writes to, never a twin."""
    from mfsync.store.safe_paths import target_for  # noqa: PLC0415 - only this test needs it

    wire = unicodedata.normalize("NFC", "Müsli/Grüße.txt")
    disk = unicodedata.normalize("NFD", wire)
    (tmp_path / disk).parent.mkdir()
    # a new file goes into the folder that is there (under its decomposed name)
    folder = disk.split("/")[0]
    assert target_for(tmp_path, wire) == tmp_path / folder / wire.split("/")[1]
    # the file being replaced is written under its own name
    assert target_for(tmp_path, wire, disk) == tmp_path / disk
    # an ASCII name, or a disk name of another file, changes nothing
    assert target_for(tmp_path, "plain/a.txt") == tmp_path / "plain/a.txt"
    assert target_for(tmp_path, wire, "other.txt") == tmp_path / folder / wire.split("/")[1]
