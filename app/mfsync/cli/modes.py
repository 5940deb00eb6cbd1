"""The modes of the command line, each a coroutine on a ``Node`` that returns an exit code."""

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from mfsync.cli.output import host_line, json_line, long_line
from mfsync.cli.parser import UsageError
from mfsync.cli.setup import Settings
from mfsync.crypto.keys import short_key
from mfsync.engine.node import Node, NodeOptions
from mfsync.engine.status import NodeStatus, RemoteFile
from mfsync.net.server import PortInUse
from mfsync.net.sockets import InterfaceError
from mfsync.store.shareset import ShareSet, ShareSetError

__all__ = ["ModeError", "run_fetch", "run_list_hosts", "run_share"]

log = logging.getLogger("mfsync.cli")

#: After the discovery window, index fetches already under way get this long to finish.
SETTLE_GRACE = 2.0


class ModeError(Exception):
    """The mode could not do its work; the message says why."""


@contextlib.asynccontextmanager
async def running_node(options: NodeOptions) -> AsyncIterator[Node]:
    """Start a node for the duration of a block; start-up failures become clear errors."""
    node = Node(options)
    try:
        await node.start()
    except PortInUse as exc:
        await node.stop()
        raise ModeError(f"{exc.strerror}; choose another with --port") from None
    except InterfaceError as exc:
        await node.stop()
        raise UsageError(str(exc)) from None
    except ShareSetError as exc:
        await node.stop()
        raise UsageError(str(exc)) from None
    except OSError as exc:
        await node.stop()
        raise ModeError(f"cannot start networking: {exc}") from None
    try:
        yield node
    finally:
        await node.stop()


def _no_hosts_hint(settings: Settings, status: NodeStatus) -> None:
    if not status.peers:
        log.warning(
            "no hosts found within %g s. Is a host sharing on this network? If multicast is "
            "blocked here, name a host with --peer HOST[:PORT].", settings.window,
        )


async def run_share(settings: Settings, directory: str) -> int:
    """Serve DIR until interrupted (or ``-w``)."""
    try:
        root = ShareSet.check_root(Path(directory))
    except ShareSetError as exc:
        raise UsageError(str(exc)) from None
    async with running_node(settings.node_options(share_dir=root)) as node:
        # the trust list in force is the config's plus --trusted-keys, not the config's alone
        in_force = dataclasses.replace(settings.config, trusted_keys=settings.trusted_keys)
        trust = in_force.describe_trust() if settings.trusted_keys else (
            "anyone on the network may fetch"
        )
        print(
            f"Sharing {node.status.local_files} files from {root} as {node.name!r} "
            f"on TCP port {node.status.tcp_port} (key {short_key(node.identity.public_key)}…); "
            f"{trust}. Press Ctrl-C to stop.",
            flush=True,
        )
        await asyncio.Event().wait()
    return 0


async def run_fetch(settings: Settings, *, long: bool, as_json: bool, follow: bool) -> int:
    """Print every file the network offers; after the window, or never with ``follow``."""
    seen: set[object] = set()
    changed = asyncio.Event()

    def render(f: RemoteFile) -> str:
        return json_line(f) if as_json else long_line(f) if long else f.path

    def emit(files: tuple[RemoteFile, ...]) -> None:
        for f in files:
            ident = (f.path, f.content_id) if (long or as_json) else f.path
            if ident not in seen:
                seen.add(ident)
                print(render(f), flush=True)

    streaming = follow or not (long or as_json)  # --long/--json wait for accurate host counts

    def on_status(status: NodeStatus) -> None:
        if streaming:
            emit(status.files)
        changed.set()

    async with running_node(settings.node_options(wants=True)) as node:
        node.subscribe(on_status)
        if follow:
            await asyncio.Event().wait()
        await asyncio.sleep(settings.window)
        await node.settle(SETTLE_GRACE)
        emit(node.status.files)
        _no_hosts_hint(settings, node.status)
    return 0


async def run_list_hosts(settings: Settings) -> int:
    """Print every host seen within the window."""
    async with running_node(settings.node_options(wants=True)) as node:
        await asyncio.sleep(settings.window)
        await node.settle(SETTLE_GRACE)
        status = node.status
        for peer in status.peers:
            key = peer.key or peer.announced_key
            name = settings.config.name_of(key) if key else ""
            print(host_line(peer, name or peer.name), flush=True)
        _no_hosts_hint(settings, status)
    sys.stdout.flush()
    return 0
