"""End to end: the issue's three hosts, each running ``mfsync daemon`` over its own config.json.

A and B sync ``Notes`` (devices: each other), A, B and C sync ``Photos`` (devices: the three);
every trust list holds the three keys. Notes written on A and photos written on C converge, by
hash, to exactly the hosts whose folder it is; a file of the same name in both folders stays two
files; C never learns of Notes: not from ``fetch`` or ``folders`` with its key, and a client
holding its key that asks A for Notes' index by id gets the answer a folder that does not
exist gets (``NO_SUCH_FOLDER``); no datagram C receives names Notes, and the generation A and B
announce moves with Photos (seen by everyone there), not with Notes. Plain ``mfsync sync DIR``
hosts converge beside them. Every process runs inside the LAN's namespaces (``mfsync_cli.py``),
the datagram listener too (``datagram_listener.py``, in C's).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from datagram_listener import DATAGRAM_LISTENER_SCRIPT
from folder_client import FOLDER_CLIENT_SCRIPT
from mfsync_cli import CliHost, Running, cli_hosts, make_tree, read_tree
from netns import Lan

from mfsync.protocol.announce import decode_announcement
from mfsync.protocol.folder_id import FolderId
from waiting import wait_for_blocking

pytestmark = pytest.mark.timeout(240)

NOTES = "k3x9-pq2m"
PHOTOS = "ab12-cd34"
ABSENT = "zz99-yy88"  # an id no host has
READY_RE = re.compile(r"^Daemon running (\d+) folders? from .* on TCP port (\d+) ")
SPREAD_TIMEOUT = 60.0
NOTES_FILES = {"same.txt": b"same name, in Notes\n", "todo/n.txt": b"a note\n"}
PHOTOS_FILES = {"same.txt": b"same name, in Photos\n", "2026/p.jpg": b"\xff\xd8" + b"p" * 70_000}


def _hashes(root: Path) -> dict[str, str] | None:
    """Path -> SHA-256 of every file under ``root`` (None while a file vanishes under us)."""
    try:
        return {p: hashlib.sha256(b).hexdigest() for p, b in read_tree(root).items()}
    except FileNotFoundError:
        return None


def _wait_hashes(root: Path, files: dict[str, bytes]) -> None:
    expected = {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}
    wait_for_blocking(lambda: _hashes(root) == expected, SPREAD_TIMEOUT,
                      f"{root} to hold {sorted(files)}",
                      detail=lambda: f"it holds {sorted(_hashes(root) or {})}", interval=0.3)


def _write_config(host: CliHost, name: str, trusted: list[str],
                  folders: list[dict[str, object]]) -> None:
    host.state_dir.mkdir(parents=True, exist_ok=True)
    path = host.state_dir / "config.json"
    path.write_text(json.dumps({"name": name, "trustedKeys": trusted, "folders": folders},
                               indent=2))
    path.chmod(0o600)  # a trust list in a file others may write is refused


def _folder(root: Path, folder_id: str, label: str,
            devices: list[str] | str) -> dict[str, object]:
    root.mkdir(parents=True, exist_ok=True)
    return {"path": str(root), "mode": "sync", "id": folder_id, "label": label,
            "devices": devices}


def _start_daemon(host: CliHost, folders: int) -> Running:
    daemon = host.start("daemon", "-v")
    m = daemon.stdout.wait_line(READY_RE, 30)
    assert m is not None and int(m.group(1)) == folders, daemon.describe()
    return daemon


@contextlib.contextmanager
def _three_daemons(lan: Lan, tmp_path: Path, photos_devices: str | None = None,
                   ) -> Iterator[tuple[list[CliHost], list[Running], Path]]:
    """A, B, C (the LAN's first three hosts) run daemons (started here); any more are left
    for plain ``mfsync sync``. ``photos_devices``: who may see Photos (None: the three keys)."""
    hosts = cli_hosts(lan, tmp_path)
    a, b, c = hosts[:3]
    ka, kb, kc = (h.public_key() for h in (a, b, c))
    everyone = [ka, kb, kc]
    photos = photos_devices if photos_devices is not None else everyone
    make_tree(tmp_path / "a-notes", NOTES_FILES)
    make_tree(tmp_path / "c-photos", PHOTOS_FILES)
    _write_config(a, "host-a", everyone, [
        _folder(tmp_path / "a-notes", NOTES, "Notes", [kb]),
        _folder(tmp_path / "a-photos", PHOTOS, "Photos", photos)])
    _write_config(b, "host-b", everyone, [
        _folder(tmp_path / "b-notes", NOTES, "Notes", [ka]),
        _folder(tmp_path / "b-photos", PHOTOS, "Photos", photos)])
    _write_config(c, "host-c", everyone, [
        _folder(tmp_path / "c-photos", PHOTOS, "Photos", photos)])
    configs = [(h.state_dir / "config.json").read_text() for h in (a, b, c)]
    daemons = [_start_daemon(a, 2), _start_daemon(b, 2), _start_daemon(c, 1)]
    try:
        yield hosts, daemons, tmp_path
        for daemon in daemons:
            assert daemon.alive(), daemon.describe()
    finally:
        codes = []
        for daemon in daemons:
            daemon.interrupt()
            codes.append(daemon.wait(timeout=30))
    assert codes == [130, 130, 130], [d.describe() for d in daemons]
    # config files that had ids already are never rewritten
    assert [(h.state_dir / "config.json").read_text() for h in (a, b, c)] == configs


@pytest.fixture
def three(lan_factory, tmp_path: Path) -> Iterator[tuple[list[CliHost], list[Running], Path]]:
    """The issue's three hosts (and D, E): Photos seen by the three keys, Notes by A and B."""
    with _three_daemons(lan_factory(5), tmp_path) as hosts:
        yield hosts


def test_two_sync_folders_with_different_devices_converge_and_stay_apart(
        three: tuple[list[CliHost], list[Running], Path]) -> None:
    (a, b, c, d, e), (daemon_a, _db, daemon_c), root = three
    # plain sync hosts on the same LAN, default folder, no trust list: as before folders
    make_tree(root / "d-sync", {"plain.txt": b"from D\n"})
    make_tree(root / "e-sync", {"other.txt": b"from E\n"})
    plain = [h.start("sync", root / f"{n}-sync") for h, n in ((d, "d"), (e, "e"))]
    assert f"Serving Notes ({NOTES}), sync: {root / 'a-notes'}" in daemon_a.stdout.snapshot()
    _wait_hashes(root / "b-notes", NOTES_FILES)
    for photos in ("a-photos", "b-photos"):
        _wait_hashes(root / photos, PHOTOS_FILES)
    # a change made while they run spreads too, and only to its folder's hosts
    (root / "a-notes" / "later.txt").write_bytes(b"written while running\n")
    notes = {**NOTES_FILES, "later.txt": b"written while running\n"}
    _wait_hashes(root / "b-notes", notes)
    _wait_hashes(root / "a-notes", notes)
    _wait_hashes(root / "c-photos", PHOTOS_FILES)  # nothing of Notes came into C's folder
    assert not (root / "c-notes").exists()

    # C, with its own key, sees Photos and never Notes
    fetch = c.mfsync("fetch", "--json", "--window", "4")
    assert fetch.returncode == 0, fetch
    rows = [json.loads(line) for line in fetch.stdout.splitlines()]
    assert {(r["folder"], r["path"]) for r in rows} == {(PHOTOS, p) for p in PHOTOS_FILES}, fetch
    assert "Notes" not in fetch.stdout and NOTES not in fetch.stdout + fetch.stderr, fetch
    folders = c.mfsync("folders", "--json", "--window", "4")
    assert folders.returncode == 0, folders
    listed = {o["id"]: o for o in map(json.loads, folders.stdout.splitlines())}
    assert sorted(listed) == [PHOTOS], folders
    # A, B, and C's own daemon (this fetch runs beside it)
    assert len(listed[PHOTOS]["hosts"]) == 3 and listed[PHOTOS]["have"], folders
    assert NOTES not in folders.stdout + folders.stderr, folders
    # ... while B, on Notes' list, sees both
    seen_b = b.mfsync("folders", "--json", "--window", "4")
    assert sorted(json.loads(line)["id"] for line in seen_b.stdout.splitlines()) == sorted(
        [NOTES, PHOTOS]), seen_b

    # a client holding C's key asks A for Notes by its id: the answer of an id nobody has
    argv = [sys.executable, FOLDER_CLIENT_SCRIPT, str(c.state_dir / "key.bin"), a.address,
            "8000", NOTES, ABSENT, PHOTOS]
    asked = c.host.run(argv, env=c.env, text=True, timeout=30)
    assert asked.returncode == 0, asked
    answer = json.loads(asked.stdout)
    assert answer["listed"] == [PHOTOS], answer
    assert answer["index"] == {NOTES: "ErrorMessage:NO_SUCH_FOLDER",
                               ABSENT: "ErrorMessage:NO_SUCH_FOLDER",
                               PHOTOS: f"files:{len(PHOTOS_FILES)}"}, answer
    # the same client with B's key is told of Notes (the check above can fail)
    argv[2] = str(b.state_dir / "key.bin")
    as_b = json.loads(c.host.run(argv, env=c.env, text=True, timeout=30).stdout)
    assert sorted(as_b["listed"]) == sorted([NOTES, PHOTOS]), as_b
    assert as_b["index"][NOTES] == "files:3", as_b
    # nor did C's daemon hear of it (its log at -v names every host and folder it deals with)
    heard = daemon_c.stdout.text + daemon_c.stderr.text
    assert NOTES not in heard and "Notes" not in heard, daemon_c.describe()
    # B's two same.txt are two files: each its own folder's
    assert (root / "b-notes" / "same.txt").read_bytes() == NOTES_FILES["same.txt"]
    assert (root / "b-photos" / "same.txt").read_bytes() == PHOTOS_FILES["same.txt"]

    # the plain sync hosts converged with each other, and took nothing of the named folders
    both = {"plain.txt": b"from D\n", "other.txt": b"from E\n"}
    try:
        _wait_hashes(root / "d-sync", both)
        _wait_hashes(root / "e-sync", both)
        for folder, files in (("b-notes", notes), ("b-photos", PHOTOS_FILES),
                              ("c-photos", PHOTOS_FILES)):
            assert _hashes(root / folder) == _hashes(make_tree(root / "x" / folder, files))
    finally:
        for sync in plain:
            sync.interrupt()
        assert [sync.wait(timeout=30) for sync in plain] == [130, 130], [
            s.describe() for s in plain]


# -- what C's network hears ----------------------------------------------------------------

#: Where the daemons announce (config.json leaves them at the defaults; inside the namespaces).
GROUP, UDP_PORT = "239.255.0.1", 30001
#: Names that only Notes has (``same.txt`` is in Photos too).
NOTES_ONLY = ("todo/n.txt", "n.txt", "later-a.txt", "later-b.txt")
#: Long enough for each daemon to announce at least twice (a beat is 5 s).
QUIET = 11.0


class _Datagrams:
    """What the listener in C's namespace has recorded so far, decoded."""

    def __init__(self, listener: Running) -> None:
        self.listener = listener

    def raw(self) -> list[tuple[str, bytes]]:
        return [(o["from"], bytes.fromhex(o["data"])) for o in map(
            json.loads, (line for line in self.listener.stdout.snapshot() if line != "READY"))]

    def generations(self, address: str) -> list[int]:
        """The generations ``address`` announced, in order (every datagram must decode)."""
        return [decode_announcement(data).generation for sender, data in self.raw()
                if sender == address]


def test_c_hears_nothing_of_notes(lan_factory, tmp_path: Path) -> None:
    """Every datagram C receives while Notes changes on A and B: nothing of Notes in it, and
    the generation A and B announce stays put; a change of Photos (seen by everyone here, so
    that it counts in the announced generation) moves it, so the check can fail."""
    with _three_daemons(lan_factory(3), tmp_path, photos_devices="everyone") as three:
        (a, b, c), _daemons, root = three
        _wait_hashes(root / "b-notes", NOTES_FILES)
        for photos in ("a-photos", "b-photos"):
            _wait_hashes(root / photos, PHOTOS_FILES)
        argv = [sys.executable, DATAGRAM_LISTENER_SCRIPT, GROUP, str(UDP_PORT),
                c.host.interface]
        listener = Running(c, c.host.popen(argv, env=c.env, text=True), argv)
        try:
            assert listener.stdout.wait_line(re.compile("^READY$"), 20), listener.describe()
            heard = _Datagrams(listener)
            # settled: each announces the same generation twice before anything changes
            wait_for_blocking(
                lambda: all(len(g := heard.generations(h.address)) >= 2 and g[-1] == g[-2]
                            for h in (a, b)), 30, "A and B to announce a steady generation",
                detail=lambda: {h.address: heard.generations(h.address) for h in (a, b)})
            before = {h.address: heard.generations(h.address)[-1] for h in (a, b)}
            start = len(heard.raw())

            # Notes changes on both sides: new files, an edit, a file removed
            (root / "a-notes" / "later-a.txt").write_bytes(b"a new note on A\n")
            (root / "a-notes" / "todo" / "n.txt").write_bytes(b"an edited note\n")
            (root / "b-notes" / "later-b.txt").write_bytes(b"a new note on B\n")
            notes = {**NOTES_FILES, "todo/n.txt": b"an edited note\n",
                     "later-a.txt": b"a new note on A\n", "later-b.txt": b"a new note on B\n"}
            _wait_hashes(root / "a-notes", notes)
            _wait_hashes(root / "b-notes", notes)
            time.sleep(QUIET)
            during = heard.raw()[start:]
            for h in (a, b):
                sent = [decode_announcement(d).generation for s, d in during if s == h.address]
                assert len(sent) >= 2, (h, during)
                assert set(sent) == {before[h.address]}, (h.address, before, sent)

            # ... while a change of Photos moves it (A's at once, B's once it has the file)
            (root / "a-photos" / "later.jpg").write_bytes(b"\xff\xd8 a later photo\n")
            wait_for_blocking(
                lambda: all(heard.generations(h.address)[-1] > before[h.address]
                            for h in (a, b)), 30, "A and B to announce a new generation",
                detail=lambda: {h.address: heard.generations(h.address) for h in (a, b)})
        finally:
            listener.interrupt()
            listener.wait(timeout=10)
        datagrams = heard.raw()
        senders = {sender for sender, _ in datagrams}
        assert {a.address, b.address, c.address} <= senders, senders
        secret = [FolderId.parse(NOTES).raw, NOTES.encode(), b"Notes", b"notes",
                  *(name.encode() for name in NOTES_ONLY)]
        for sender, data in datagrams:
            decode_announcement(data)  # every one is an mfsync announcement
            assert not [s for s in secret if s in data], (sender, data)
