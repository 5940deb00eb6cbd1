"""End to end: trust lists limit both serving and fetching, from the flag or from config.json."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from mfsync_cli import cli_hosts, make_tree, run_concurrently

pytestmark = pytest.mark.timeout(120)

FILES_A = {"a/secret.txt": b"only for trusted eyes\n", "a-plan.md": b"# plan\n" * 10}
FILES_B = {"b/open.txt": b"for everyone\n", "b-notes.txt": b"n" * 321}


@pytest.mark.parametrize("trust_from", ["flag", "config"])
def test_trust_limits_serving_and_fetching(lan_factory, tmp_path: Path, trust_from: str) -> None:
    # A shares for C and E only; B shares for anyone. C and D trust anyone; E trusts only B.
    a, b, c, d, e = cli_hosts(lan_factory(5), tmp_path)
    key_a, key_b, key_c, key_d, key_e = (h.public_key() for h in (a, b, c, d, e))
    if trust_from == "flag":
        trust_args = ["--trusted-keys", key_c, "--trusted-keys", key_e]
    else:  # the mfsync 0.2 form, keys in lower case
        a.state_dir.mkdir(parents=True, exist_ok=True)
        config = a.state_dir / "config.json"
        config.write_text(json.dumps({"trustedKeys": [key_c.lower(), key_e.lower()]}))
        os.chmod(config, 0o600)
        trust_args = []
    share_a = a.share(
        make_tree(tmp_path / "share-a", FILES_A), "--name", "alpha", "-v", *trust_args
    )
    assert "2 trusted key(s)" in share_a.stdout.text, share_a.describe()
    b.share(make_tree(tmp_path / "share-b", FILES_B), "--name", "beta")

    fetch_c, fetch_d, hosts_d, fetch_e, hosts_e = run_concurrently(
        [
            (c, ["fetch"]),
            (d, ["fetch"]),
            (d, ["--list-hosts"]),
            (e, ["fetch", "--trusted-keys", key_b]),
            (e, ["--list-hosts", "--trusted-keys", key_b]),
        ]
    )
    for result in (fetch_c, fetch_d, hosts_d, fetch_e, hosts_e):
        assert result.returncode == 0, result

    # C is trusted by A: it sees everything
    assert sorted(fetch_c.stdout.splitlines()) == sorted([*FILES_A, *FILES_B]), fetch_c
    # D is not: A refuses it, B serves it
    assert sorted(fetch_d.stdout.splitlines()) == sorted(FILES_B), fetch_d
    assert sorted(hosts_d.stdout.splitlines()) == sorted(
        [
            f"{key_a}  {a.address}:8000  alpha  -  untrusted  (refused us)",
            f"{key_b}  {b.address}:8000  beta  {len(FILES_B)}  untrusted",
        ]
    ), hosts_d
    # E is trusted by A but trusts only B: it refuses A's files itself
    assert sorted(fetch_e.stdout.splitlines()) == sorted(FILES_B), fetch_e
    assert sorted(hosts_e.stdout.splitlines()) == sorted(
        [
            f"{key_a}  {a.address}:8000  alpha  -  untrusted",
            f"{key_b}  {b.address}:8000  beta  {len(FILES_B)}  trusted",
        ]
    ), hosts_e

    # A logged the refusals of D (short key = first 12 hex digits), never of C
    refused_d = re.compile(re.escape(f"refused a client with untrusted key {key_d[:12]}"))
    assert share_a.stderr.wait_line(refused_d, 5), share_a.describe()
    assert key_c[:12] not in share_a.stderr.text, share_a.describe()
    assert share_a.alive(), share_a.describe()
