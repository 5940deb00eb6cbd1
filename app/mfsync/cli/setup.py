"""From parsed arguments and the config file to the settings a mode runs with.

Precedence, for every setting: the command line, then ``config.json``, then the default.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

from mfsync.cli.parser import DEFAULT_WINDOW, UsageError
from mfsync.config import Config, ConfigError, load_config
from mfsync.crypto.keys import parse_key
from mfsync.engine.node import NodeOptions
from mfsync.engine.service import RunPlan, Service
from mfsync.store import locations
from mfsync.store.identity_file import load_or_create_identity

__all__ = ["Settings", "load_settings"]


@dataclass(frozen=True)
class Settings:
    """Everything a mode needs besides its own arguments."""

    config: Config
    key_path: Path
    trusted_keys: frozenset[bytes]
    peers: tuple[tuple[str, int | None], ...]
    name: str
    port: int
    port_explicit: bool
    group: str
    udp_port: int
    interfaces: tuple[str, ...]
    ttl: int
    window: float
    wait_until: float | None

    def service(self, run: RunPlan, *, wants: bool, serve: bool | None = None) -> Service:
        """Load (or create) the identity and build the service a mode drives (never started
        here); ``wants``: whether it collects the network's files; ``serve``: run the server
        even with no folder (``send`` and ``receive`` take and make offers through it)."""
        return Service(self.node_options(wants=wants, serve=serve), self.config, run=run)

    def node_options(self, *, wants: bool = False, serve: bool | None = None) -> NodeOptions:
        """Load (or create) the identity and describe the node a mode starts."""
        identity, _ = load_or_create_identity(self.key_path)
        return NodeOptions(
            identity=identity, trusted_keys=self.trusted_keys, key_names=self.config.key_names,
            wants=wants, serve=serve, name=self.name, tcp_port=self.port,
            tcp_port_explicit=self.port_explicit, group=self.group, udp_port=self.udp_port,
            interfaces=self.interfaces, ttl=self.ttl, static_peers=self.peers,
            known_hosts_path=locations.known_hosts_path(), state_dir=locations.state_dir(),
        )


def _trusted_keys(values: list[str]) -> frozenset[bytes]:
    keys = set()
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            try:
                keys.add(parse_key(item))
            except ValueError as exc:
                raise UsageError(f"--trusted-keys: {exc}") from None
    return frozenset(keys)


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


def load_settings(args: argparse.Namespace) -> Settings:
    """Merge the command line over the config file; ``UsageError`` for anything unusable."""
    config_arg = getattr(args, "config", None)
    try:
        if config_arg is not None:
            config = load_config(Path(config_arg).expanduser(), explicit=True)
        else:
            config = load_config(locations.config_path(), explicit=False)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    key_arg = getattr(args, "key_file", None)
    extra_keys = _trusted_keys(getattr(args, "trusted_keys", None) or [])
    port = getattr(args, "port", None)
    return Settings(
        config=config,
        key_path=Path(key_arg).expanduser() if key_arg else locations.key_path(),
        trusted_keys=config.trusted_keys | extra_keys,
        peers=config.peers + tuple(getattr(args, "peer", None) or ()),
        name=getattr(args, "name", None) or config.name,
        port=port if port is not None else config.port,
        port_explicit=port is not None or "port" in config.explicit,
        group=getattr(args, "multicast_address", None) or config.multicast_address,
        udp_port=getattr(args, "multicast_port", None) or config.multicast_port,
        interfaces=_split(getattr(args, "interface", None) or []) or config.interfaces,
        ttl=_ttl if (_ttl := getattr(args, "ttl", None)) is not None else config.ttl,
        window=getattr(args, "window", None) or DEFAULT_WINDOW,
        wait_until=getattr(args, "wait_until", None),
    )
