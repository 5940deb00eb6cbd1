"""End to end: ``mfsync sync --folder LABEL DIR`` joins the folder of that label the network
offers us, so two hosts naming the same label sync one folder.

Host A runs ``sync --folder Notes`` first: nobody offers a 'Notes', so it makes a new folder
(and says so). Host B runs the same command over another folder: it joins A's id, and the two
converge, by hash, both ways. With two hosts offering two different folders labelled 'Notes', a
third host's ``--folder Notes`` is a usage error (exit 2) that lists both ids. Every process
runs inside the LAN's namespaces (``mfsync_cli.py``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from mfsync_cli import Running, cli_hosts, make_tree, read_tree

from waiting import wait_for_blocking

pytestmark = pytest.mark.timeout(180)

OTHER_NOTES = "zz99-yy88"
SYNCING_RE = re.compile(r"^Syncing \d+ files in .* \(folder 'Notes', (\w{4}-\w{4})\) as ")
A_FILES = {"todo.txt": b"from A\n", "sub/a.md": b"# A\n"}
B_FILES = {"b.txt": b"from B\n"}
SPREAD_TIMEOUT = 60.0


def _hashes(root: Path) -> dict[str, str] | None:
    try:
        return {p: hashlib.sha256(b).hexdigest() for p, b in read_tree(root).items()
                if not p.startswith(".")}
    except FileNotFoundError:
        return None


def _folder_id(run: Running) -> str:
    """The id a ``sync --folder Notes`` run serves, from its "Syncing ..." line."""
    m = run.stderr.wait_line(SYNCING_RE, 30)
    assert m is not None, run.describe()
    return m.group(1)


def _stop(*runs: Running) -> None:
    for run in runs:
        run.interrupt()
    assert [run.wait(timeout=30) for run in runs] == [130] * len(runs), [
        run.describe() for run in runs]


def test_a_label_joins_the_folder_the_network_offers(lan_factory, tmp_path: Path) -> None:
    a, b, c, d = cli_hosts(lan_factory(4), tmp_path)
    a_dir = make_tree(tmp_path / "a-notes", A_FILES)
    b_dir = make_tree(tmp_path / "b-notes", B_FILES)
    first = a.start("sync", "--folder", "Notes", a_dir, "--window", "3")
    try:
        notes = _folder_id(first)
        assert f"no host offers a folder 'Notes'; made a new one, id {notes}" in (
            first.stderr.text), first.describe()
        second = b.start("sync", "--folder", "Notes", b_dir, "--window", "3")
        try:
            assert _folder_id(second) == notes, second.describe()
            assert "no host offers" not in second.stderr.text, second.describe()
            both = {**A_FILES, **B_FILES}
            expected = {p: hashlib.sha256(c).hexdigest() for p, c in both.items()}
            for root in (a_dir, b_dir):
                wait_for_blocking(lambda r=root: _hashes(r) == expected, SPREAD_TIMEOUT,
                                  f"{root} to hold {sorted(both)}",
                                  detail=lambda r=root: f"it holds {sorted(_hashes(r) or {})}",
                                  interval=0.3)
            # B's next run names the same folder from its index database, without asking
            assert second.alive() and first.alive()
        finally:
            _stop(second)
        again = b.start("sync", "--folder", "Notes", b_dir, "--window", "3")
        try:
            assert _folder_id(again) == notes, again.describe()
        finally:
            _stop(again)

        # C offers another 'Notes' (a folder named Notes, shared by its own id): D's label is
        # ambiguous, and the error names both folders
        c_dir = make_tree(tmp_path / "c" / "Notes", {"c.txt": b"C's notes\n"})
        other = c.share(c_dir, "--folder", OTHER_NOTES)
        try:
            d_dir = make_tree(tmp_path / "d-notes", {})
            refused = d.mfsync("sync", "--folder", "Notes", d_dir, "--window", "4")
            assert refused.returncode == 2, refused
            assert notes in refused.stderr and OTHER_NOTES in refused.stderr, refused
            assert "--folder" in refused.stderr and a.address in refused.stderr, refused
            assert read_tree(d_dir) == {}, refused  # nothing made, nothing fetched
            # naming one by its id works, at once
            picked = d.start("sync", "--folder", OTHER_NOTES, d_dir)
            try:
                wait_for_blocking(lambda: (d_dir / "c.txt").exists(), SPREAD_TIMEOUT,
                                  "D to take C's notes")
            finally:
                _stop(picked)
        finally:
            _stop(other)
    finally:
        _stop(first)
