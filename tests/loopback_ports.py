"""Ports and a config that pin a real mfsync process to loopback (no packet leaves the machine).

Light on purpose (no Qt, no engine): the GUI harness, the packaging tests and scripts import it.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: The multicast group the tests use (the default one; only ever joined on 127.0.0.1, TTL 0).
GROUP = "239.255.0.1"

def free_udp_port() -> int:
    """A UDP port nothing on 127.0.0.1 uses now."""
    for _ in range(100):
        port = random.randint(40000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port")

def free_tcp_port() -> int:
    """A TCP port nothing on 127.0.0.1 uses now (a high one: the kernel's ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

def write_loopback_config(home: Path, udp_port: int, tcp_port: int, **settings: Any) -> Path:
    """``~/.mfsync/config.json`` under ``home`` that pins a real ``mfsync-gui`` to loopback:
    discovery on 127.0.0.1 only with TTL 0 on the test's own UDP port. (The app has no setting
    for its TCP listen address, so it listens on every interface, on ``tcp_port``: with
    discovery pinned to loopback no other host learns of it.) ``settings`` go in too."""
    data: dict[str, Any] = {
        "interfaces": ["127.0.0.1"], "ttl": 0, "multicastAddress": GROUP,
        "multicastPort": udp_port, "port": tcp_port, **settings,
    }
    path = home / ".mfsync" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def listening_x_display() -> Iterator[str | None]:
    """A local X display (":N") whose socket accepts connections, or None when every number
    tried is taken: an abstract Unix socket named as an X server's (abstract names live in this
    network namespace only; nothing is made on disk). No X server answers on it: for checks
    that stop before they would talk to one."""
    for number in range(870, 900):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(f"\0/tmp/.X11-unix/X{number}")
        except OSError:
            server.close()
            continue
        server.listen(4)
        try:
            yield f":{number}"
        finally:
            server.close()
        return
    yield None
