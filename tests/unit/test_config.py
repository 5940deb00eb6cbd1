"""Tests for mfsync.config.load_config."""

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from mfsync.config import Config, ConfigError, load_config
from mfsync.crypto.keys import parse_key
from mfsync.net.discovery import DEFAULT_GROUP, DEFAULT_TTL, DEFAULT_UDP_PORT
from mfsync.net.server import DEFAULT_TCP_PORT

KEY_A = "AB" * 32
KEY_B = "0123456789abcdef" * 4


def _write(tmp_path: Path, data: Any, *, mode: int = 0o600) -> Path:
    path = tmp_path / "config.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    path.chmod(mode)
    return path


def test_missing_default_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.json", explicit=False)
    assert config == Config()
    assert config.trusted_keys == frozenset()
    assert config.port == DEFAULT_TCP_PORT == 8000
    assert config.multicast_address == DEFAULT_GROUP == "239.255.0.1"
    assert config.multicast_port == DEFAULT_UDP_PORT == 30001
    assert config.ttl == DEFAULT_TTL
    assert config.path is None
    assert config.explicit == frozenset()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(path, explicit=True)
    assert str(path) in str(info.value)


def test_broken_json_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "port": 9000,\n  "ttl": 2,,\n  "name": "x"\n}\n')
    with pytest.raises(ConfigError, match="line 3 column") as info:
        load_config(path, explicit=True)
    assert str(path) in str(info.value)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_config(_write(tmp_path, ""), explicit=False)


@pytest.mark.parametrize("top", ["[]", '"text"', "3", "null", '[{"trustedKeys": []}]'])
def test_top_level_must_be_an_object(tmp_path: Path, top: str) -> None:
    with pytest.raises(ConfigError, match="top level must be a JSON object"):
        load_config(_write(tmp_path, top), explicit=True)


def test_unreadable_config_path_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "config.json"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(folder, explicit=False)


def test_non_utf8_config_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"name": "\xff"}')
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path, explicit=False)


@pytest.mark.parametrize(
    "value",
    [["nothex"], [KEY_A, KEY_A[:-1]], "ABAB", [1], {"k": KEY_A}, [KEY_A[:-2] + "ZZ"]],
)
def test_bad_trusted_keys_name_the_setting(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError, match="'trustedKeys'"):
        load_config(_write(tmp_path, {"trustedKeys": value}), explicit=True)


def test_trusted_keys_compare_case_insensitively(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, {"trustedKeys": [KEY_A.lower(), KEY_B]}), explicit=True)
    assert config.trusted_keys == {bytes.fromhex(KEY_A), bytes.fromhex(KEY_B.upper())}
    # Lower-case in the file and upper-case typed elsewhere name the same key.
    assert parse_key(KEY_A.upper()) in config.trusted_keys
    assert parse_key(KEY_B.upper()) in config.trusted_keys
    assert config.explicit == frozenset({"trustedKeys"})
    assert "2 trusted key(s)" in config.describe_trust()


def test_duplicate_keys_in_different_case_collapse(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, {"trustedKeys": [KEY_A, KEY_A.lower()]}), explicit=True)
    assert len(config.trusted_keys) == 1


def test_key_names(tmp_path: Path) -> None:
    config = load_config(
        _write(tmp_path, {"trustedKeys": [KEY_A], "keyNames": {KEY_A.lower(): "laptop-anna"}}),
        explicit=True,
    )
    assert config.name_of(bytes.fromhex(KEY_A)) == "laptop-anna"
    assert config.name_of(bytes.fromhex(KEY_B)) == ""
    assert "laptop-anna" in config.describe_trust()


@pytest.mark.parametrize("value", [{"nothex": "x"}, {KEY_A: 3}, [KEY_A]])
def test_bad_key_names_name_the_setting(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError, match="'keyNames'"):
        load_config(_write(tmp_path, {"keyNames": value}), explicit=True)


def test_peers(tmp_path: Path) -> None:
    config = load_config(
        _write(tmp_path, {"peers": ["host", "host:9000", "[::1]:9000", "10.1.2.3", "[fe80::1]"]}),
        explicit=True,
    )
    assert config.peers == (
        ("host", None), ("host", 9000), ("::1", 9000), ("10.1.2.3", None), ("fe80::1", None)
    )


@pytest.mark.parametrize(
    "value", [["host:0"], ["host:65536"], ["host:http"], ["[::1]x"], [""], "host", [8000]]
)
def test_bad_peers_name_the_setting(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError, match="'peers'"):
        load_config(_write(tmp_path, {"peers": value}), explicit=True)


def test_valid_port_ttl_and_multicast(tmp_path: Path) -> None:
    config = load_config(
        _write(tmp_path, {"port": 9000, "multicastPort": 1, "ttl": 0,
                          "multicastAddress": "224.0.0.251", "name": "box",
                          "interfaces": ["eth0", "10.0.0.2"]}),
        explicit=True,
    )
    assert (config.port, config.multicast_port, config.ttl) == (9000, 1, 0)
    assert config.multicast_address == "224.0.0.251"
    assert config.name == "box"
    assert config.interfaces == ("eth0", "10.0.0.2")
    assert config.explicit == {
        "port", "multicastPort", "ttl", "multicastAddress", "name", "interfaces"
    }


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("port", 0, "1 to 65535"),
        ("port", 65536, "1 to 65535"),
        ("port", "8000", "1 to 65535"),
        ("port", 80.5, "1 to 65535"),
        ("port", True, "1 to 65535"),
        ("multicastPort", -1, "1 to 65535"),
        ("ttl", 256, "0 to 255"),
        ("ttl", -1, "0 to 255"),
        ("ttl", False, "0 to 255"),
        ("multicastAddress", "10.0.0.1", "not a multicast address"),
        ("multicastAddress", "239.255.0.256", "not an IPv4 address"),
        ("multicastAddress", "ff02::1", "not an IPv4 address"),
        ("multicastAddress", 239, "must be a string"),
        ("name", 5, "must be a string"),
        ("interfaces", "eth0", "list of strings"),
        ("interfaces", [1], "list of strings"),
    ],
)
def test_invalid_values_name_the_setting(
    tmp_path: Path, key: str, value: Any, match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        load_config(_write(tmp_path, {key: value}), explicit=True)
    assert repr(key) in str(info.value)


def test_unknown_keys_are_warned_about_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, {"port": 9001, "futureSetting": {"x": 1}, "colour": "blue"})
    with caplog.at_level(logging.WARNING, logger="mfsync.config"):
        config = load_config(path, explicit=True)
    assert config.port == 9001
    assert config.explicit == {"port"}
    messages = [r.getMessage() for r in caplog.records if r.name == "mfsync.config"]
    assert len(messages) == 2
    assert "'colour'" in messages[0]
    assert "'futureSetting'" in messages[1]
    assert all("ignored" in m for m in messages)


def test_config_written_by_mfsync_0_2_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, {"trustedKeys": [KEY_A, KEY_B]})
    with caplog.at_level(logging.WARNING):
        config = load_config(path, explicit=False)
    assert config.trusted_keys == {bytes.fromhex(KEY_A), bytes.fromhex(KEY_B)}
    assert config.port == DEFAULT_TCP_PORT
    assert config.peers == ()
    assert config.path == path
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_empty_object_gives_defaults_with_path(tmp_path: Path) -> None:
    path = _write(tmp_path, {})
    config = load_config(path, explicit=True)
    assert config.path == path
    assert config.trusted_keys == frozenset()
    assert "anyone may connect" in config.describe_trust()


def test_world_readable_config_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, {"trustedKeys": []}, mode=0o644)
    with caplog.at_level(logging.WARNING):
        load_config(path, explicit=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0]
    assert "other users" in warnings[0]


def test_private_config_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        load_config(_write(tmp_path, {"port": 8001}), explicit=True)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
