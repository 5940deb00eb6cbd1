"""``~/.mfsync/config.json``: the settings, declared once with type, default and help.

The file is a JSON object. ``trustedKeys`` (a list of public keys) is the trust list as mfsync 0.2
reads it; ``keyNames`` maps keys to names people recognise. The other settings mirror command
line options of the same meaning; the command line wins over the file, the file over defaults,
and the command line never writes the file. Unknown keys are kept and warned about, so a file
written by a newer mfsync still loads.
"""

import json
import logging
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfsync.crypto.keys import format_key, parse_key
from mfsync.net.addresses import parse_host_port
from mfsync.net.discovery import DEFAULT_GROUP, DEFAULT_TTL, DEFAULT_UDP_PORT, check_group
from mfsync.net.server import DEFAULT_TCP_PORT
from mfsync.store.files import warn_if_exposed

__all__ = ["SETTINGS", "Config", "ConfigError", "Setting", "load_config"]

log = logging.getLogger("mfsync.config")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the problem."""


def _keys(value: Any) -> frozenset[bytes]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ValueError("must be a list of key strings")
    return frozenset(parse_key(k) for k in value)


def _key_names(value: Any) -> dict[bytes, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("must be an object mapping keys to names")
    return {parse_key(k): v for k, v in value.items()}


def _peers(value: Any) -> tuple[tuple[str, int | None], ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError('must be a list of "HOST[:PORT]" strings')
    return tuple(parse_host_port(p) for p in value)


def _port(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def _ttl(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
        raise ValueError("must be a whole number from 0 to 255")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")
    return tuple(value)


def _group(value: Any) -> str:
    return check_group(_text(value))


@dataclass(frozen=True)
class Setting:
    """One configuration setting: its JSON key, attribute, parser, default and help text."""

    key: str
    attr: str
    parse: Callable[[Any], Any]
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("trustedKeys", "trusted_keys", _keys, frozenset(),
            "public keys allowed to connect; empty means anyone"),
    Setting("keyNames", "key_names", _key_names, {}, "names shown for keys"),
    Setting("peers", "peers", _peers, (), "HOST[:PORT] to reach directly where multicast fails"),
    Setting("name", "name", _text, "", "host name announced to others (default: the hostname)"),
    Setting("port", "port", _port, DEFAULT_TCP_PORT, "TCP port for transfers"),
    Setting("multicastAddress", "multicast_address", _group, DEFAULT_GROUP,
            "multicast group for discovery"),
    Setting("multicastPort", "multicast_port", _port, DEFAULT_UDP_PORT, "UDP port for discovery"),
    Setting("interfaces", "interfaces", _texts, (),
            "interface names or IPv4 addresses to use (default: all multicast-capable ones)"),
    Setting("ttl", "ttl", _ttl, DEFAULT_TTL, "multicast TTL (1 keeps discovery on the local link)"),
)


@dataclass(frozen=True)
class Config:
    """The settings after loading; ``explicit`` lists the keys the file set."""

    trusted_keys: frozenset[bytes] = frozenset()
    key_names: dict[bytes, str] = field(default_factory=dict)
    peers: tuple[tuple[str, int | None], ...] = ()
    name: str = ""
    port: int = DEFAULT_TCP_PORT
    multicast_address: str = DEFAULT_GROUP
    multicast_port: int = DEFAULT_UDP_PORT
    interfaces: tuple[str, ...] = ()
    ttl: int = DEFAULT_TTL
    path: Path | None = None
    explicit: frozenset[str] = frozenset()

    def name_of(self, key: bytes) -> str:
        """The configured name of ``key``, or an empty string."""
        return self.key_names.get(key, "")

    def describe_trust(self) -> str:
        """A line for logs: who may connect."""
        if not self.trusted_keys:
            return "anyone may connect (no trusted keys configured)"
        names = ", ".join(self.name_of(k) or format_key(k)[:12] for k in sorted(self.trusted_keys))
        return f"only {len(self.trusted_keys)} trusted key(s) may connect: {names}"


def load_config(path: Path, *, explicit: bool) -> Config:
    """Load ``path``; a missing file gives the defaults unless it was named explicitly."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    warn_if_exposed(path, "config file", stat.S_IRWXG | stat.S_IRWXO)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a JSON object")
    values: dict[str, Any] = {}
    known = {s.key for s in SETTINGS}
    for setting in SETTINGS:
        if setting.key not in data:
            continue
        try:
            values[setting.attr] = setting.parse(data[setting.key])
        except ValueError as exc:
            raise ConfigError(f"config file {path}: {setting.key!r} {exc}") from None
    for unknown in sorted(set(data) - known):
        log.warning("config file %s: unknown setting %r is ignored", path, unknown)
    return Config(**values, path=path, explicit=frozenset(set(data) & known))
