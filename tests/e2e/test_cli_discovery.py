"""End to end: real ``mfsync share`` / ``fetch`` / ``--list-hosts`` processes on a private LAN.

Every mfsync process runs inside a network namespace of a :class:`netns.Lan` (see
``mfsync_cli.py``); nothing is sent from the machine's own namespace.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from mfsync_cli import cli_hosts, make_tree, run_concurrently

pytestmark = pytest.mark.timeout(120)

# Host 0's and host 1's folders: distinct sets, except one identical file and one path whose
# content differs between the two.
SAME = bytes(range(256)) * 600
FILES_A = {
    "Müsli/ä.txt": "Müsli mit Äpfeln\n".encode(),
    "docs/deep/nested/readme.md": b"# nested\n" * 50,
    "alpha only.txt": b"a" * 1234,
    "common/same.bin": SAME,
    "differs.txt": b"alpha's version\n",
}
FILES_B = {
    "photos/2024/Ångström.raw": bytes(range(7)) * 10001,
    "beta-only.txt": b"b" * 77,
    "common/same.bin": SAME,
    "differs.txt": b"beta's version, which is longer\n",
}
LONG_RE = re.compile(r"^ *(\d+)  +(\d+)  ([0-9a-f]{12})  0000-0000  (.+)$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def test_fetch_lists_the_union_of_two_sharers(lan_factory, tmp_path: Path) -> None:
    a, b, c = cli_hosts(lan_factory(3), tmp_path)
    key_a, key_b = a.public_key(), b.public_key()
    share_a = a.share(make_tree(tmp_path / "share-a", FILES_A), "--name", "alpha")
    share_b = b.share(make_tree(tmp_path / "share-b", FILES_B), "--name", "beta")
    assert (share_a.file_count, share_a.port) == (len(FILES_A), 8000), share_a.describe()
    assert (share_b.file_count, share_b.port) == (len(FILES_B), 8000), share_b.describe()

    plain, long, as_json, hosts = run_concurrently(
        [
            (c, ["fetch"]),
            (c, ["fetch", "--long", "--window", "4"]),
            (c, ["fetch", "--json", "--window", "4"]),
            (c, ["--list-hosts", "--window", "4"]),
        ]
    )
    for result in (plain, long, as_json, hosts):
        assert result.returncode == 0, result

    # plain: every path once, nothing else
    union = sorted(set(FILES_A) | set(FILES_B))
    assert sorted(plain.stdout.splitlines()) == union, plain

    # what each distinct content looks like: (path, size) -> keys of the hosts that offer it
    expected: dict[tuple[str, int], list[str]] = {}
    for key, files in ((key_a, FILES_A), (key_b, FILES_B)):
        for path, content in files.items():
            expected.setdefault((path, len(content)), []).append(key)

    # --json: one object per distinct content, exact fields
    objects = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert all(set(o) == {"name", "path", "folder", "folderLabel", "size", "content_id",
                          "hosts"} for o in objects), as_json
    # every file of the plain commands is the default folder's, named by its path alone
    assert all((o["name"], o["folder"], o["folderLabel"]) == (o["path"], "0000-0000", "default")
               for o in objects), as_json
    assert all(HEX64_RE.match(o["content_id"]) for o in objects), as_json
    assert sorted((o["path"], o["size"], o["hosts"]) for o in objects) == sorted(
        (path, size, sorted(keys)) for (path, size), keys in expected.items()
    ), as_json
    by_path = {}
    for o in objects:
        by_path.setdefault(o["path"], []).append(o)
    # the identical file: one entry, the same content id from both hosts, both keys
    [same] = by_path["common/same.bin"]
    assert same["hosts"] == sorted([key_a, key_b])
    # the same path with different contents: two entries with different content ids
    assert len({o["content_id"] for o in by_path["differs.txt"]}) == 2

    # --long: SIZE  HOSTS  CONTENT-ID(12)  FOLDER-ID  NAME, one line per distinct content
    rows = []
    for line in long.stdout.splitlines():
        m = LONG_RE.match(line)
        assert m is not None, f"bad --long line {line!r}\n{long.stdout}"
        rows.append((m.group(4), int(m.group(1)), int(m.group(2)), m.group(3)))
    assert sorted(rows) == sorted(
        (o["path"], o["size"], len(o["hosts"]), o["content_id"][:12]) for o in objects
    ), long
    assert [r[2] for r in rows if r[0] == "common/same.bin"] == [2]

    # --list-hosts: both sharers with their proven keys, addresses, names and file counts
    assert sorted(hosts.stdout.splitlines()) == sorted(
        [
            f"{key_a}  {a.address}:8000  alpha  {len(FILES_A)}  untrusted",
            f"{key_b}  {b.address}:8000  beta  {len(FILES_B)}  untrusted",
        ]
    ), hosts
    assert share_a.alive() and share_b.alive()


def test_peer_reaches_a_host_without_multicast_and_is_remembered(
    lan_factory, tmp_path: Path
) -> None:
    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    key_b = b.public_key()
    b.share(make_tree(tmp_path / "share-b", FILES_B), "--name", "beta")
    for h in lan.hosts:
        h.drop_multicast()

    # without --peer: nothing, and a hint that names --peer
    blind = a.mfsync("fetch")
    assert (blind.returncode, blind.stdout) == (0, ""), blind
    assert "--peer" in blind.stderr, blind
    assert not (a.state_dir / "known_hosts.json").exists()

    # with --peer ADDRESS (default port 8000)
    direct = a.mfsync("fetch", "--peer", b.address)
    assert direct.returncode == 0, direct
    assert sorted(direct.stdout.splitlines()) == sorted(FILES_B), direct
    known = json.loads((a.state_dir / "known_hosts.json").read_text(encoding="utf-8"))
    # (the entry's exact shape is the store's business: it names host 1's key and address)
    assert list(known) == [key_b], known
    assert b.address in json.dumps(known[key_b]) and "8000" in json.dumps(known[key_b]), known

    # the host reached once is tried again by a plain fetch
    again = a.mfsync("fetch")
    assert again.returncode == 0, again
    assert sorted(again.stdout.splitlines()) == sorted(FILES_B), again
    hosts = a.mfsync("--list-hosts")
    assert hosts.stdout.splitlines() == [
        f"{key_b}  {b.address}:8000  beta  {len(FILES_B)}  untrusted"
    ], hosts


def test_a_host_that_stops_announcing_expires(lan_factory, tmp_path: Path) -> None:
    a, b, c = cli_hosts(lan_factory(3), tmp_path)
    key_a = a.public_key()
    watcher = c.start("fetch", "--follow", "-v")
    share = a.share(make_tree(tmp_path / "share-a", FILES_A), "--name", "alpha", "-w", "6")

    seen = b.mfsync("--list-hosts", "--window", "2")
    assert seen.stdout.splitlines() == [
        f"{key_a}  {a.address}:8000  alpha  {len(FILES_A)}  untrusted"
    ], seen
    assert watcher.stdout.wait_line(re.compile("^Müsli/ä[.]txt$"), 10), watcher.describe()

    assert share.wait(timeout=15) == 0, share.describe()
    gone = re.compile(rf"{re.escape(a.address)}:8000 \(alpha\) is gone")
    absent = b.mfsync("--list-hosts", "--window", "2")  # a fresh process never heard of it
    assert (absent.returncode, absent.stdout) == (0, ""), absent
    assert watcher.stderr.wait_line(gone, 25), watcher.describe()
    assert watcher.alive(), watcher.describe()
    assert sorted(watcher.stdout.snapshot()) == sorted(FILES_A), watcher.describe()
    watcher.interrupt()
    assert watcher.wait(timeout=10) == 130, watcher.describe()


def test_a_name_stored_decomposed_is_offered_composed(lan_factory, tmp_path: Path) -> None:
    """A file named in NFD on disk (as macOS writes names) is listed once, in NFC."""
    a, b = cli_hosts(lan_factory(2), tmp_path)
    nfc = "Müsli/ä.txt"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    share = a.share(make_tree(tmp_path / "share", {nfd: b"x", "plain.txt": b"y"}))
    assert share.file_count == 2, share.describe()
    result = b.mfsync("fetch")
    assert result.returncode == 0, result
    assert sorted(result.stdout.splitlines()) == sorted([nfc, "plain.txt"]), result
