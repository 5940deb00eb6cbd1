"""Counts read as English reads them: one host, two hosts."""

from mfsync.gui.wording import counted


def test_one_takes_the_singular_every_other_count_the_plural() -> None:
    assert counted(1, "file") == "1 file"
    assert counted(0, "file") == "0 files"
    assert counted(4, "host") == "4 hosts"
    assert counted(1, "copy", "copies") == "1 copy"
    assert counted(2, "copy", "copies") == "2 copies"
    assert counted(12_345, "file") == "12,345 files"
