"""End to end: hostile names and swapped paths (issue 13, failures 1 and 6, and ``link`` beside
``link/x``).

One LAN of namespaces serves the module: an honest ``share``, a client, and an evil host that
runs the scripts of ``hostile_names.py`` (a server offering files under names of its choosing,
a client that asks at the moment the test chooses).

- A partial download's name offered from the wire never lands: refused, logged, and the file it
  would have replaced is the verified one. The race (the hostile file landing on the partial's
  name while the honest download is verified and about to land) is made to happen every time by
  the test hook ``MFSYNC_TEST_HOOK_HOLD_VERIFIED``; a partial swapped by someone else in that
  window is not landed either.
- A shared folder swapped for a symlink to an outside folder (same size, same mtime) after the
  scan: the sharer refuses, it never serves the outside bytes.
- A file ``link`` offered beside ``link/x``: one clear message, no partial left, and ``sync``
  does not repeat it in a loop.

What the suite did is recorded as the ``hostile-names`` figures (``tests/figures.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hostile_names import HOSTILE_NAMES_SCRIPT
from mfsync_cli import CliHost, Running, cli_hosts, make_tree
from netns import Lan, netns_available
from script_output import script_result, wait_line

import figures
from mfsync.crypto.keys import format_key
from mfsync.engine.landing import TEST_HOOK_HOLD_VERIFIED
from mfsync.store.hashing import hash_file
from waiting import wait_for_blocking

pytestmark = pytest.mark.timeout(240)

SUITE = "hostile-names"
RACE = "race.bin"
HONEST = {
    RACE: os.urandom(3 * 1024 * 1024),  # several blocks: its partial is open while it waits
    "good1.txt": b"good one\n",
}
SWAPPED = {"sub/b.txt": b"inside, small\n" * 10, "sub/big.bin": os.urandom(5 * 1024 * 1024)}
HOSTILE_BYTES = b"HOSTILE HOSTILE HOSTILE HOSTILE!"  # 32 bytes, as in the report
#: Names a hostile host offers that are mfsync's own (with what the refusal says).
OWN_NAMES = {
    ".race.bin.mfsync-part": "names ending in '.mfsync-part' are mfsync's partial downloads",
    ".good1.txt.mfsync-part": "names ending in '.mfsync-part' are mfsync's partial downloads",
    ".Good1.txt.MFSYNC-PART": "names ending in '.mfsync-part' are mfsync's partial downloads",
    ".mfsyncignore": "'.mfsyncignore' is a name mfsync keeps for its own files",
    "docs/.mfsync/state": "'.mfsync' is a name mfsync keeps for its own files",
}
NAMES_PORT = 9401
LINK_PORT = 9402
#: How long the test waits for the held download to be ready, and for the hostile one.
HOLD_WAIT = 60.0


@dataclass
class Lab:
    """The LAN, the honest sharer and the hosts around it."""

    lan: Lan
    tmp: Path
    sharer: CliHost
    client: CliHost
    evil: CliHost
    share: Running
    share_root: Path
    hostile_key: str  #: private key, hex, trusted by the sharer

    def start_script(self, *args: object, stdin: int | None = None) -> subprocess.Popen[str]:
        """``hostile_names.py ARGS`` in the evil host."""
        return self.evil.host.popen([sys.executable, HOSTILE_NAMES_SCRIPT, *map(str, args)],
                                    env=self.evil.env, text=True,
                                    stdin=stdin if stdin is not None else subprocess.DEVNULL)

    def names_server(self, port: int, files: dict[str, bytes]) -> subprocess.Popen[str]:
        """Start the names server on ``port`` offering ``files``; once it is READY."""
        args: list[object] = ["names-server", "--listen", port]
        folder = self.tmp / f"evil-{port}"
        for number, (name, data) in enumerate(files.items()):
            local = folder / f"f{number}"
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            args += ["--file", f"{name}={local}"]
        proc = self.start_script(*args)
        wait_line(proc, "READY")
        return proc


def _partials(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.casefold().endswith(".mfsync-part"))


def _holding(root: Path) -> list[str]:
    """Files under ``root`` that hold the hostile bytes."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not p.is_symlink() and HOSTILE_BYTES in p.read_bytes())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Three hosts: the honest sharer, the client, the evil host."""
    reason = netns_available()
    if reason is not None:
        pytest.fail(f"network namespaces unavailable: {reason}", pytrace=False)
    tmp = tmp_path_factory.mktemp("names")
    lan = Lan(3)
    try:
        sharer, client, evil = cli_hosts(lan, tmp)
        root = make_tree(tmp / "share", {**HONEST, **SWAPPED})
        hostile_private = X25519PrivateKey.generate()
        hostile_public = format_key(hostile_private.public_key().public_bytes_raw())
        trusted = ",".join([client.public_key(), hostile_public])
        share = sharer.share(root, "-vv", "--trusted-keys", trusted)
        assert share.port is not None
        yield Lab(lan, tmp, sharer, client, evil, share, root,
                  hostile_private.private_bytes_raw().hex())
        assert share.alive(), share.describe()
        assert "Traceback" not in share.stderr.text, share.describe()
    finally:
        lan.close()


def _get_held(lab: Lab, dest: Path, release: Path, monkeypatch: pytest.MonkeyPatch,
              *peers: str) -> Running:
    """Start ``get`` of everything into ``dest`` with ``race.bin`` held by the test hook once
    verified; returns when it is held."""
    monkeypatch.setenv(TEST_HOOK_HOLD_VERIFIED, f"{RACE}={release}")
    args: list[str] = []
    for peer in peers:
        args += ["--peer", peer]
    running = lab.client.start("get", dest, *args, "--window", "3", "-w", "40", "-vv")
    monkeypatch.delenv(TEST_HOOK_HOLD_VERIFIED)
    held = Path(f"{release}.held")
    wait_for_blocking(held.exists, HOLD_WAIT, f"{held} (the verified file is held)",
                      detail=running.describe, interval=0.05)
    return running


def test_partial_names_from_the_wire_are_refused(lab: Lab, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile host offers ``.race.bin.mfsync-part`` (and other names of mfsync's own) while
    the honest host offers ``race.bin``; the honest download is held, verified, until the
    hostile names have been dealt with (old code: downloaded, one of them into ``race.bin``'s
    partial or as a conflict copy of it). Nothing hostile lands; every such name is refused
    with its reason; ``race.bin`` is the verified file. (The race itself, another file put
    under the partial's name in that window, is the next test.)"""
    evil = lab.names_server(NAMES_PORT, {name: HOSTILE_BYTES for name in OWN_NAMES})
    dest = tmp_path / "dest"
    release = tmp_path / "release"
    try:
        running = _get_held(lab, dest, release, monkeypatch,
                            f"{lab.sharer.address}:{lab.share.port}",
                            f"{lab.evil.address}:{NAMES_PORT}")
        # The hostile download of ".race.bin.mfsync-part" (old code: downloaded, landed on
        # race.bin's partial) or its refusal, before the honest one may land.
        landed_or_refused = re.compile(
            r"downloaded \.race\.bin\.mfsync-part|refused name '\.race\.bin\.mfsync-part'")
        running.stderr.wait_line(landed_or_refused, 20)
        release.touch()
        code = running.wait(60)
    finally:
        lab.evil.host.terminate(evil)
    log = running.stderr.text
    assert (dest / RACE).read_bytes() == HONEST[RACE], running.describe()
    assert (dest / "good1.txt").read_bytes() == HONEST["good1.txt"], running.describe()
    assert _holding(dest) == [], running.describe()
    assert _partials(dest) == [], running.describe()
    for name, why in OWN_NAMES.items():
        assert f"offers a file with a refused name {name!r}: {why}" in log, (name, log)
        assert not re.search(rf"downloaded {re.escape(name)}\b", log), log
    assert code == 0, running.describe()
    figures.record(SUITE, cases=1, own_names_refused=len(OWN_NAMES), hostile_bytes_landed=0)


def test_a_partial_swapped_after_verification_is_not_landed(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who can write the destination puts another file under the partial's name while
    the verified download waits to land (the hook holds it there): the download is refused
    cleanly and nothing unverified becomes ``race.bin``."""
    dest = tmp_path / "dest"
    release = tmp_path / "release"
    running = _get_held(lab, dest, release, monkeypatch,
                        f"{lab.sharer.address}:{lab.share.port}")
    partial = dest / f".{RACE}.mfsync-part"
    assert partial.exists(), running.describe()
    swap = dest / "swap.tmp"
    swap.write_bytes(HOSTILE_BYTES)
    os.replace(swap, partial)
    release.touch()
    code = running.wait(60)
    log = running.stderr.text
    assert not (dest / RACE).exists() or (dest / RACE).read_bytes() == HONEST[RACE], log
    assert _holding(dest) == [f".{RACE}.mfsync-part"], log  # (left where the other put it)
    assert re.search(r"was replaced by another file after it was verified; not landing it",
                     log), log
    assert code == 1, running.describe()
    figures.record(SUITE, cases=1, swapped_partials_landed=0)


def test_a_folder_swapped_for_a_symlink_is_not_served(lab: Lab, tmp_path: Path) -> None:
    """After the scan, ``sub/`` becomes a symlink to an outside folder holding files of the
    same size and modification time. Asked for them at once (before any rescan), the sharer
    answers CHANGED, says why in its log, and never sends the outside bytes."""
    root = lab.share_root
    outside = tmp_path / "outside"
    outside.mkdir()
    asks = {}
    for rel, data in SWAPPED.items():
        hashes = hash_file(root / rel)
        name = rel.split("/", 1)[1]
        (outside / name).write_bytes(os.urandom(len(data)))
        st = (root / rel).stat()
        os.utime(outside / name, ns=(st.st_atime_ns, st.st_mtime_ns))
        asks[rel] = lab.start_script("get-on-cue", lab.sharer.address, lab.share.port,
                                     "--key", lab.hostile_key, "--path", rel,
                                     "--content-id", hashes.content_id.hex(),
                                     "--size", len(data), stdin=subprocess.PIPE)
    for proc in asks.values():
        wait_line(proc, "READY")
    mark = len(lab.share.stderr.snapshot())
    os.rename(root / "sub", tmp_path / "sub-was")
    os.symlink(outside, root / "sub")
    for proc in asks.values():
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = {rel: script_result(proc) for rel, proc in asks.items()}
    outside_hashes = {hashlib.sha256((outside / rel.split("/", 1)[1]).read_bytes()).hexdigest()
                      for rel in SWAPPED}
    for rel, got in results.items():
        assert got["sha256"] not in outside_hashes or got["received"] == 0, (rel, got)
        assert got.get("error") in ("CHANGED", "NOT_FOUND"), (rel, got)
    pattern = re.compile(r"cannot serve sub/\S+: .*sub is a symlink; not following it")
    wait_for_blocking(lambda: [line for line in lab.share.stderr.snapshot()[mark:]
                               if pattern.search(line)], 10, "the symlink refusal logged",
                      detail=lab.share.describe)
    figures.record(SUITE, cases=1, outside_bytes_served=0)


def test_a_file_beside_its_own_folder(lab: Lab, tmp_path: Path) -> None:
    """A hostile host offers a file ``link`` and a file ``link/x``: ``get`` says plainly which
    one cannot be stored and why, leaves no partial, and ``sync`` does not repeat the failure
    in a tight loop."""
    evil = lab.names_server(LINK_PORT, {"link": b"a file named link\n",
                                        "link/x": b"a file inside link\n"})
    try:
        dest = tmp_path / "dest"
        peer = f"{lab.evil.address}:{LINK_PORT}"
        result = lab.client.mfsync("get", dest, "--peer", peer, "--window", "3", "-w", "10",
                                   timeout=60)
        clear = re.compile(r"link(/x)?'?: .*(is a folder here; a file cannot take its place|"
                           r"link is not a folder)")
        assert clear.search(result.stderr), result
        assert "Is a directory" not in result.stderr, result
        assert _partials(dest) == [], (result, _partials(dest))
        assert result.returncode == 1, result

        synced = tmp_path / "synced"
        synced.mkdir()
        sync = lab.client.start("sync", synced, "--peer", peer, "-v")
        watch = 20.0
        time.sleep(watch)
        lab.client.host.terminate(sync.proc)
        lines = sync.stderr.snapshot()
        about = [line for line in lines if "cannot download link" in line]
        retries = [line for line in lines if re.search(r"link(/x)?: trying again in", line)]
        # Said once; retried with a growing delay (2, 4, 8, ... s), not in a loop.
        assert len(about) == 1, "\n".join(about)
        assert clear.search(about[0]), about
        assert 1 <= len(retries) <= 6, "\n".join(retries)
        assert _partials(synced) == [], sync.describe()
    finally:
        lab.evil.host.terminate(evil)
    figures.record(SUITE, cases=2, link_beside_folder_sync_errors=len(about),
                   link_beside_folder_sync_retries=len(retries))
