"""Where mfsync keeps its own files: one place that knows every path under ``~/.mfsync``."""

from pathlib import Path

__all__ = ["config_path", "key_path", "known_hosts_path", "state_dir"]


def state_dir() -> Path:
    """``~/.mfsync``: identity, configuration and remembered hosts."""
    return Path.home() / ".mfsync"


def config_path() -> Path:
    """The default configuration file."""
    return state_dir() / "config.json"


def key_path() -> Path:
    """The default identity key file."""
    return state_dir() / "key.bin"


def known_hosts_path() -> Path:
    """Addresses of hosts reached once, tried again at the next start."""
    return state_dir() / "known_hosts.json"
