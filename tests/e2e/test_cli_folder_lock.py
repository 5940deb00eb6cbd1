"""End to end: a folder is served by one process at a time (from one ``~/.mfsync``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mfsync_cli import CliHost, kill_now, make_tree

pytestmark = pytest.mark.timeout(120)

FILES = {"a.txt": b"a\n", "sub/b.txt": b"bb\n"}


def test_a_second_share_of_one_folder_is_refused_until_the_first_ends(
        lan_factory, tmp_path: Path) -> None:
    [host] = lan_factory(1).hosts
    home = CliHost(host, tmp_path / "home")
    folder = make_tree(tmp_path / "Photos", FILES)
    first = home.share(folder)
    try:
        second = home.mfsync("share", folder, "-w", "10")
        assert second.returncode == 1, second
        assert (f"mfsync: error: {folder} is already served by mfsync (pid {first.proc.pid}, "
                "`mfsync share`)") in second.stderr, second
        assert "--help" not in second.stderr, second  # not a usage error
        synced = home.mfsync("sync", tmp_path / "Photos" / ".." / "Photos", "-w", "10")
        assert synced.returncode == 1 and "is already served by mfsync" in synced.stderr, synced
        # fetch and get take no lock: they run beside the share, from the same HOME
        fetch = home.mfsync("fetch", "-w", "2")
        assert fetch.returncode == 0, fetch
        # another HOME is another ~/.mfsync: it may serve the folder too
        other = CliHost(host, tmp_path / "other-home").share(folder, "--port", "8001")
        assert other.stop() in (0, 143), other.describe()
        assert first.alive(), first.describe()
    finally:
        kill_now(first)  # killed, not stopped: the kernel lets the lock go all the same
    again = home.share(folder)
    assert again.alive()
    again.interrupt()
    assert again.wait(timeout=10) == 130, again.describe()
    assert "Traceback" not in first.stderr.text + again.stderr.text
