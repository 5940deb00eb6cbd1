"""Hosts reached once, remembered so that they are tried directly at the next start.

``~/.mfsync/known_hosts.json`` maps a public key's text form to the last ``{"host", "port"}``
where a handshake with that key succeeded. It is a hint like an announcement: the handshake
still proves who answers there.
"""

import json
import logging
from pathlib import Path

from mfsync.crypto.keys import format_key, parse_key
from mfsync.store.files import atomic_write, parse_json

__all__ = ["MAX_KNOWN_HOSTS", "KnownHosts"]

log = logging.getLogger("mfsync.store")

MAX_KNOWN_HOSTS = 64


class KnownHosts:
    """Key -> last good (host, port), persisted on change; a broken file is ignored, not fatal."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._hosts: dict[bytes, tuple[str, int]] = {}
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        hosts: dict[bytes, tuple[str, int]] = {}
        try:
            data = parse_json(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            for key_text, address in data.items():
                host, port = address["host"], address["port"]
                if (not isinstance(host, str) or not isinstance(port, int)
                        or isinstance(port, bool) or not 0 < port < 65536):
                    raise ValueError(f"bad address for {key_text}")
                hosts[parse_key(key_text)] = (host, port)
        except FileNotFoundError:
            return
        # (JSONTextError is a ValueError)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return  # all of it: half a broken file is no better a hint than none
        self._hosts = hosts

    def addresses(self) -> list[tuple[str, int]]:
        """Remembered addresses, most recent last."""
        return list(self._hosts.values())

    def remember(self, key: bytes, host: str, port: int) -> bool:
        """Record (in memory) that ``key`` answered at ``host:port``; returns whether that was
        news, so the caller knows to ``save``."""
        if self._hosts.get(key) == (host, port):
            return False
        self._hosts.pop(key, None)
        self._hosts[key] = (host, port)
        while len(self._hosts) > MAX_KNOWN_HOSTS:
            del self._hosts[next(iter(self._hosts))]
        return True

    def save(self) -> None:
        """Write the file (blocking: the engine calls it off the event loop); a failure is
        logged, never raised."""
        if self._path is None:
            return
        data = {format_key(k): {"host": h, "port": p} for k, (h, p) in list(self._hosts.items())}
        try:
            atomic_write(self._path, json.dumps(data, indent=2).encode() + b"\n")
        except OSError as exc:
            log.warning("cannot save %s: %s", self._path, exc)
