"""The command line without the network: parsing, precedence, identity and error exits."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mfsync import __version__
from mfsync.cli import main
from mfsync.cli.parser import build_parser
from mfsync.cli.setup import load_settings
from mfsync.crypto.keys import Identity, identity_to_der

KEY_A = "AB" * 32
KEY_B = "cd" * 32


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _settings(*argv: str):
    return load_settings(build_parser().parse_args(list(argv)))


def test_public_key_is_created_once_and_printed(home: Path, capsys) -> None:
    assert main(["--public-key"]) == 0
    first = capsys.readouterr().out
    assert len(first) == 65 and first.endswith("\n") and first.strip() == first.strip().upper()
    key_file = home / ".mfsync" / "key.bin"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert main(["--public-key"]) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("argv", [["--public-key"], ["-vv", "--public-key"], ["--verify", "x"]])
def test_main_leaves_the_root_logger_as_it_found_it(argv: list[str]) -> None:
    """A handler left on a stream the caller closes (pytest's captured stderr) made every later
    warning in the process print a traceback instead: CI caught it as a fuzz allocation spike."""
    root = logging.getLogger()
    before = root.handlers[:], root.level, logging.getLogger("asyncio").level
    main(argv)
    assert (root.handlers[:], root.level, logging.getLogger("asyncio").level) == before


def test_public_key_of_an_existing_02_key(home: Path, capsys) -> None:
    identity = Identity.generate()
    path = home / "old.bin"
    path.write_bytes(identity_to_der(identity))
    path.chmod(0o600)
    assert main(["--public-key", "--key-file", str(path)]) == 0
    assert capsys.readouterr().out.strip() == identity.public_key_text


def test_corrupt_key_is_an_error_and_kept(home: Path, capsys) -> None:
    path = home / "bad.bin"
    path.write_bytes(b"not a key")
    assert main(["--public-key", "--key-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.bin" in err and err.startswith("mfsync: error:")
    assert path.read_bytes() == b"not a key"


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mfsync {__version__}"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "choose a mode"),
        (["share"], "DIR"),
        (["--port", "70000", "fetch"], "port"),
        (["--ttl", "-1", "fetch"], "TTL"),
        (["--multicast-address", "10.0.0.1", "fetch"], "not a multicast address"),
        (["--trusted-keys", "xyz", "fetch"], "--trusted-keys"),
        (["--peer", "host:99999", "fetch"], "bad port"),
        (["--config", "/nonexistent/config.json", "fetch"], "does not exist"),
        (["share", "/nonexistent/dir"], "does not exist"),
        (["--interface", "no-such-if0", "fetch", "--window", "0.1"], "no-such-if0"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(argv, needle, capsys) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_broken_json_names_line_and_column(home: Path, capsys) -> None:
    config = home / "c.json"
    config.write_text('{\n  "trustedKeys": [\n    "AB",,\n  ]\n}\n')
    assert main(["--config", str(config), "fetch"]) == 2
    assert "line 3 column" in capsys.readouterr().err


def test_command_line_wins_over_config_over_defaults(home: Path) -> None:
    (home / ".mfsync").mkdir()
    (home / ".mfsync" / "config.json").write_text(json.dumps({
        "trustedKeys": [KEY_A.lower()], "port": 9000, "name": "from-config",
        "peers": ["10.1.2.3:9001"], "interfaces": ["eth9"],
    }))
    defaults = _settings("fetch")
    assert defaults.port == 9000 and defaults.port_explicit
    assert defaults.name == "from-config"
    assert defaults.trusted_keys == {bytes.fromhex(KEY_A)}
    assert defaults.peers == (("10.1.2.3", 9001),)
    assert defaults.interfaces == ("eth9",)
    assert defaults.ttl == 1 and defaults.udp_port == 30001 and defaults.group == "239.255.0.1"
    given = _settings("--port", "9100", "fetch", "--name", "cli", "--trusted-keys",
                      f"{KEY_B},{KEY_B.upper()}", "--interface", "lo,eth0", "--peer", "h")
    assert given.port == 9100 and given.name == "cli"
    assert given.trusted_keys == {bytes.fromhex(KEY_A), bytes.fromhex(KEY_B)}
    assert given.interfaces == ("lo", "eth0")
    assert given.peers == (("10.1.2.3", 9001), ("h", None))


def test_options_are_not_greedy() -> None:
    args = build_parser().parse_args(["--interface", "eth0", "share", "--peer", "x", "DIR"])
    assert args.dir == "DIR" and args.interface == ["eth0"]


def test_defaults_without_config() -> None:
    settings = _settings("fetch")
    assert (settings.port, settings.port_explicit, settings.window) == (8000, False, 3.0)
    assert settings.trusted_keys == frozenset()


def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "mfsync", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("mfsync ")
