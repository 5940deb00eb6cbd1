"""End to end: the command line's errors, ports, signals and time limits, in namespace hosts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from mfsync_cli import CliHost, cli_hosts, make_tree, run_concurrently

pytestmark = pytest.mark.timeout(120)

HINT = "Try 'mfsync --help' for more information."
FILES_1 = {"first/one.txt": b"1\n", "first/two.txt": b"22\n"}
FILES_2 = {"second/three.txt": b"333\n"}


def _one_error_line(stderr: str) -> str:
    """The single ``mfsync: error: ...`` line of ``stderr`` (the usage hint may follow it)."""
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("mfsync: error: ")]
    assert len(errors) == 1, stderr
    assert all(line in (errors[0], HINT) for line in lines), stderr
    return errors[0]


def test_configuration_errors_exit_2(lan_factory, tmp_path: Path) -> None:
    [host] = lan_factory(1).hosts
    share_dir = make_tree(tmp_path / "share", FILES_1)
    missing_dir, corrupt_key, missing_config, broken_config = (
        CliHost(host, tmp_path / name)
        for name in ("missing-dir", "corrupt-key", "missing-config", "broken-config")
    )
    corrupt_key.state_dir.mkdir(parents=True)
    key_file = corrupt_key.state_dir / "key.bin"
    key_file.write_bytes(b"this is not a PKCS#8 key\n")
    key_file.chmod(0o600)
    broken_config.state_dir.mkdir(parents=True)
    config_file = broken_config.state_dir / "config.json"
    config_file.write_text('{\n  "trustedKeys": [\n    "AB",\n  ]\n')  # trailing comma
    config_file.chmod(0o600)

    started = time.monotonic()
    results = run_concurrently(
        [
            (missing_dir, ["share", "/does/not/exist"]),
            (corrupt_key, ["--public-key"]),
            (corrupt_key, ["share", share_dir]),
            (missing_config, ["--config", tmp_path / "nowhere.json", "fetch"]),
            (broken_config, ["fetch"]),
        ],
        timeout=10,
    )
    assert time.monotonic() - started < 10
    for result in results:
        assert result.returncode == 2, result
        assert result.stdout == "", result
    no_dir, key_public, key_share, no_config, bad_json = (
        _one_error_line(r.stderr) for r in results
    )

    assert "/does/not/exist" in no_dir
    assert str(key_file) in key_public and str(key_file) in key_share
    assert key_file.read_bytes() == b"this is not a PKCS#8 key\n"  # never replaced
    assert str(tmp_path / "nowhere.json") in no_config
    assert str(config_file) in bad_json and "line" in bad_json
    assert not any(
        h.state_dir.joinpath("known_hosts.json").exists()
        for h in (missing_dir, corrupt_key, missing_config, broken_config)
    )


def test_taken_port_explicit_is_an_error_default_falls_back(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(2)
    server, client = cli_hosts(lan, tmp_path)
    key = server.public_key()
    first = server.share(make_tree(tmp_path / "one", FILES_1), "--name", "one")
    assert first.port == 8000, first.describe()

    # an explicitly requested port that is taken: an error that names the port
    taken = server.mfsync(
        "share", make_tree(tmp_path / "two", FILES_2), "--port", "8000", timeout=10
    )
    assert taken.returncode != 0, taken
    assert taken.stdout == "", taken
    assert "8000" in _one_error_line(taken.stderr), taken

    # the default port taken: a free one is used and announced (same host, same key)
    second = server.share(tmp_path / "two", "--name", "two")
    assert second.port not in (None, 8000), second.describe()
    fetch, hosts = run_concurrently([(client, ["fetch"]), (client, ["--list-hosts"])])
    assert fetch.returncode == 0 and hosts.returncode == 0, (fetch, hosts)
    assert sorted(fetch.stdout.splitlines()) == sorted([*FILES_1, *FILES_2]), fetch
    assert sorted(hosts.stdout.splitlines()) == sorted(
        [
            f"{key}  {server.address}:8000  one  {len(FILES_1)}  untrusted",
            f"{key}  {server.address}:{second.port}  two  {len(FILES_2)}  untrusted",
        ]
    ), hosts
    assert first.alive() and second.alive()


def test_sigint_and_time_limits(lan_factory, tmp_path: Path) -> None:
    [host] = lan_factory(1).hosts
    a, b, c = (CliHost(host, tmp_path / name) for name in ("a", "b", "c"))
    share = a.share(make_tree(tmp_path / "share", FILES_1))
    timed = b.start("share", tmp_path / "share", "-w", "2")
    started = time.monotonic()
    follow = c.mfsync("fetch", "-w", "1", "--follow", timeout=8)
    assert follow.returncode == 0, follow
    assert time.monotonic() - started < 8

    share.interrupt()
    assert share.wait(timeout=10) == 130, share.describe()
    assert timed.wait(timeout=10) == 0, timed.describe()
    assert "Traceback" not in share.stderr.text + timed.stderr.text
    for h in (a, b):
        assert os.path.exists(h.state_dir / "key.bin")


def test_concurrent_first_starts_agree_on_one_identity(lan_factory, tmp_path: Path) -> None:
    """Processes that start at once in a fresh HOME never read a half-written key.bin."""
    [host] = lan_factory(1).hosts
    for round_ in range(10):  # the race is narrow: several rounds catch it most of the time
        fresh = CliHost(host, tmp_path / f"fresh-{round_}")
        results = run_concurrently([(fresh, ["--public-key"])] * 8)
        assert [r.returncode for r in results] == [0] * 8, results
        assert len({r.stdout for r in results}) == 1, results
        assert [p.name for p in fresh.state_dir.iterdir()] == ["key.bin"]  # no temporary left
