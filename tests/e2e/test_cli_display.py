"""End to end: names that peers choose never reach the terminal raw.

A host announces a name holding a right-to-left override and a terminal escape, and shares a
file whose name holds them too (``invoice\u202efdp.exe`` reads as ``invoiceexe.pdf`` when drawn
raw). ``fetch``, ``--list-hosts``, ``get``'s progress and log lines show them escaped, and the file
itself arrives under its real name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mfsync_cli import cli_hosts, make_tree

pytestmark = pytest.mark.timeout(120)

EVIL_FILE = "invoice\u202efdp.exe"
EVIL_HOST = "evil\u202ehost\u2066x"
HIDDEN = ("\u202e", "\u2066", "\x1b")


def _assert_escaped(text: str) -> None:
    assert not [ch for ch in HIDDEN if ch in text], text


def test_names_from_peers_are_shown_escaped(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(2)
    sharer, viewer = cli_hosts(lan, tmp_path)
    content = b"not really a pdf\n"
    share = sharer.share(make_tree(tmp_path / "share", {EVIL_FILE: content}), "-v",
                         "--name", EVIL_HOST)

    fetched = viewer.mfsync("fetch", "-w", "5")
    assert fetched.returncode == 0, fetched
    _assert_escaped(fetched.stdout + fetched.stderr)
    assert fetched.stdout.splitlines() == ["invoice\\u202efdp.exe"], fetched

    hosts = viewer.mfsync("--list-hosts", "-w", "5")
    assert hosts.returncode == 0, hosts
    _assert_escaped(hosts.stdout + hosts.stderr)
    assert "evil\\u202ehost\\u2066x" in hosts.stdout, hosts

    dest = tmp_path / "dest"
    got = viewer.mfsync("get", "-v", "-w", "20", EVIL_FILE, dest)
    assert got.returncode == 0, got
    _assert_escaped(got.stdout + got.stderr)
    assert "invoice\\u202efdp.exe" in got.stdout + got.stderr, got
    assert (dest / EVIL_FILE).read_bytes() == content  # the real name on disk, unchanged
    assert share.alive(), share.describe()
