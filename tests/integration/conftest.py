"""Several nodes in one process, on real sockets, with discovery pinned to the loopback interface.

Multicast here never leaves the machine: every node sends with IP_MULTICAST_IF 127.0.0.1 and TTL
0, joins the group on 127.0.0.1 only, listens for TCP on 127.0.0.1 only, and each test gets its
own UDP port so that tests (and other runs) do not hear each other.

Every test here is guarded (``tests/guards.py``): it fails if it leaves a thread or a task
running, or blocks its event loop for longer than 250 ms at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from guards import guard_loop, guard_threads  # noqa: F401 - autouse: every test here is guarded
from loopback_ports import GROUP, free_udp_port
from mfsync.crypto.keys import Identity
from mfsync.engine.node import Node, NodeOptions
from mfsync.store.partial import PartialFile


@pytest.fixture
def udp_port() -> int:
    """A discovery port of this test's own."""
    return free_udp_port()


NodeFactory = Callable[..., Any]


@pytest.fixture
async def make_node(udp_port: int) -> AsyncIterator[NodeFactory]:
    """Start nodes on loopback; every node is stopped at teardown."""
    nodes: list[Node] = []

    async def make(start: bool = True, **overrides: Any) -> Node:
        options: dict[str, Any] = {
            "identity": Identity.generate(),
            "interfaces": ("127.0.0.1",),
            "ttl": 0,
            "group": GROUP,
            "udp_port": udp_port,
            "tcp_port": 0,
            "listen_host": "127.0.0.1",
            "beat": 0.5,
            "handshake_timeout": 3.0,
        }
        options.update(overrides)
        node = Node(NodeOptions(**options))
        nodes.append(node)
        if start:
            await node.start()
        return node

    yield make
    for node in reversed(nodes):
        await node.stop()


@pytest.fixture
def throttle(monkeypatch):
    """Every received block takes ``throttle.delay`` seconds to write, one block at a time."""
    original = PartialFile.accept_block
    lock = threading.Lock()
    state = SimpleNamespace(delay=0.02)

    def slow(self, index, data):
        with lock:
            time.sleep(state.delay)
        return original(self, index, data)

    monkeypatch.setattr(PartialFile, "accept_block", slow)
    return state
