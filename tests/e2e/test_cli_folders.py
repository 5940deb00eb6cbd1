"""End to end: the command line names the network's folders (``fetch``, ``get``, ``folders``).

A host offers the default folder and named folders (``folders_host.py``: a real node, in its
own namespace); another runs the real ``mfsync`` against it. Plain names keep their meaning for
the default folder; a named folder's files are ``LABEL:path``, or ``ID:path`` where two folders
have the label; ``get LABEL: DEST`` fetches a whole folder into ``DEST/LABEL``; an ambiguous
label is a usage error that lists the ids.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from folders_host import FOLDERS_HOST_SCRIPT
from mfsync_cli import CliHost, Running, make_tree

pytestmark = pytest.mark.timeout(180)

NOTES = "k3x9-pq2m"
PHOTOS_A = "ab12-cd34"
PHOTOS_B = "zz99-yy88"
DEFAULT_FILES = {"a.txt": b"default a\n", "docs/d.txt": b"d\n"}
NOTES_FILES = {"a.txt": b"notes a, other bytes\n", "sub/n.txt": b"note\n"}


@pytest.fixture
def lab(lan_factory, tmp_path: Path) -> Iterator[tuple[CliHost, Running]]:
    server, client = lan_factory(2).hosts
    owner = CliHost(server, tmp_path / "server-home")
    default = make_tree(tmp_path / "public", DEFAULT_FILES)
    notes = make_tree(tmp_path / "notes", NOTES_FILES)
    photos_a = make_tree(tmp_path / "pa", {"p.jpg": b"first photos\n"})
    photos_b = make_tree(tmp_path / "pb", {"p.jpg": b"second photos\n"})
    argv = [sys.executable, FOLDERS_HOST_SCRIPT, str(default), f"{NOTES}:Notes:{notes}",
            f"{PHOTOS_A}:Photos:{photos_a}", f"{PHOTOS_B}:Photos:{photos_b}"]
    running = Running(owner, server.popen(argv, env=owner.env, text=True), argv)
    assert running.stdout.wait_line(re.compile("^READY$"), 30) is not None, running.describe()
    try:
        yield CliHost(client, tmp_path / "client-home"), running
    finally:
        running.interrupt()
        running.wait(timeout=20)


def test_fetch_and_folders_name_the_networks_folders(lab: tuple[CliHost, Running]) -> None:
    client, _ = lab
    plain = client.mfsync("fetch", "--window", "3")
    assert plain.returncode == 0, plain
    assert sorted(plain.stdout.splitlines()) == sorted(
        ["a.txt", "docs/d.txt", "Notes:a.txt", "Notes:sub/n.txt", f"{PHOTOS_A}:p.jpg",
         f"{PHOTOS_B}:p.jpg"]), plain
    as_json = client.mfsync("fetch", "--json", "--window", "3")
    rows = {(o["folder"], o["path"]): o for o in map(json.loads, as_json.stdout.splitlines())}
    assert rows[(NOTES, "a.txt")]["folderLabel"] == "Notes"
    assert rows[(NOTES, "a.txt")]["name"] == "Notes:a.txt"
    assert rows[("0000-0000", "a.txt")]["name"] == "a.txt"
    assert rows[(NOTES, "a.txt")]["content_id"] != rows[("0000-0000", "a.txt")]["content_id"]
    long = client.mfsync("fetch", "--long", "--window", "3")
    assert any(line.endswith(f"  {NOTES}  Notes:sub/n.txt") for line in long.stdout.splitlines())

    folders = client.mfsync("folders", "--json", "--window", "3")
    assert folders.returncode == 0, folders
    listed = {o["id"]: o for o in map(json.loads, folders.stdout.splitlines())}
    assert sorted(listed) == sorted(["0000-0000", NOTES, PHOTOS_A, PHOTOS_B]), folders
    assert (listed[NOTES]["label"], listed[NOTES]["files"], len(listed[NOTES]["hosts"]),
            listed[NOTES]["have"]) == ("Notes", 2, 1, False)
    text = client.mfsync("folders", "--window", "3")
    assert f"{NOTES}  Notes  1 host  2 files  26 B  share  not here" in text.stdout.splitlines()


def test_get_takes_labels_ids_and_whole_folders(lab: tuple[CliHost, Running],
                                                tmp_path: Path) -> None:
    client, _ = lab
    dest = tmp_path / "dest"
    got = client.mfsync("get", "Notes:sub/n.txt", f"{NOTES}:a.txt", dest, "--window", "5")
    assert got.returncode == 0, got
    assert (dest / "sub/n.txt").read_bytes() == NOTES_FILES["sub/n.txt"]
    assert (dest / "a.txt").read_bytes() == NOTES_FILES["a.txt"]  # Notes', not the default's

    plain = client.mfsync("get", "a.txt", tmp_path / "plain", "--window", "5")
    assert plain.returncode == 0, plain
    assert (tmp_path / "plain/a.txt").read_bytes() == DEFAULT_FILES["a.txt"]

    whole = client.mfsync("get", "Notes:", f"{PHOTOS_B}:", tmp_path / "whole", "--window", "5")
    assert whole.returncode == 0, whole
    assert (tmp_path / "whole/Notes/a.txt").read_bytes() == NOTES_FILES["a.txt"]
    assert (tmp_path / "whole/Notes/sub/n.txt").read_bytes() == NOTES_FILES["sub/n.txt"]
    assert (tmp_path / "whole" / PHOTOS_B / "p.jpg").read_bytes() == b"second photos\n"
    assert not (tmp_path / "whole/a.txt").exists()

    ambiguous = client.mfsync("get", "Photos:p.jpg", tmp_path / "amb", "--window", "5")
    assert ambiguous.returncode == 2, ambiguous
    assert PHOTOS_A in ambiguous.stderr and PHOTOS_B in ambiguous.stderr, ambiguous

    missing = client.mfsync("get", "Music:x.mp3", tmp_path / "none", "--window", "3")
    assert missing.returncode == 1, missing
    assert "'Music:x.mp3' is not offered on the network" in missing.stderr, missing
