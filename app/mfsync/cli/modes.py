"""The modes of the command line, each a coroutine on a ``Node`` that returns an exit code."""

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from mfsync.cli.output import host_line, json_line, long_line, plain_line
from mfsync.cli.parser import UsageError
from mfsync.cli.progress import ProgressDisplay, should_enable
from mfsync.cli.setup import Settings
from mfsync.crypto.keys import short_key
from mfsync.display import EscapingFormatter, shown
from mfsync.engine.loop_probe import probe_loop
from mfsync.engine.node import Node, NodeOptions
from mfsync.engine.status import NodeStatus, RemoteFile
from mfsync.engine.sync import Syncer
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.net.server import PortInUse
from mfsync.net.sockets import InterfaceError
from mfsync.store.shareset import ShareSet, ShareSetError

__all__ = ["ModeError", "run_fetch", "run_get", "run_list_hosts", "run_share", "run_sync"]

log = logging.getLogger("mfsync.cli")

#: After the discovery window, index fetches already under way get this long to finish.
SETTLE_GRACE = 2.0
#: ``fetch`` prints this many files of a listing at a time, letting the event loop run between.
EMIT_STEP = 512


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
        with probe_loop():
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
    latest: list[tuple[RemoteFile, ...]] = [()]  # the files of the latest status

    def render(f: RemoteFile) -> str:
        return json_line(f) if as_json else long_line(f) if long else plain_line(f)

    async def emit(files: tuple[RemoteFile, ...]) -> None:
        # In steps, one write each: a list of 200,000 files printed line by line at once kept
        # the event loop (and every peer) waiting for over a second.
        lines: list[str] = []
        for n, f in enumerate(files, 1):
            ident = (f.path, f.content_id) if (long or as_json) else f.path
            if ident not in seen:
                seen.add(ident)
                lines.append(render(f) + "\n")
            if n % EMIT_STEP == 0 or n == len(files):
                if lines:
                    sys.stdout.write("".join(lines))
                    sys.stdout.flush()
                    lines.clear()
                await asyncio.sleep(0)

    streaming = follow or not (long or as_json)  # --long/--json wait for accurate host counts

    def on_status(status: NodeStatus) -> None:
        if streaming and status.files is not latest[0]:
            latest[0] = status.files
            changed.set()

    async def stream() -> None:
        while True:
            await changed.wait()
            changed.clear()
            await emit(latest[0])

    async with running_node(settings.node_options(wants=True)) as node:
        node.subscribe(on_status)
        streamer = asyncio.get_running_loop().create_task(stream())
        try:
            if follow:
                await asyncio.Event().wait()
            await asyncio.sleep(settings.window)
            await node.settle(SETTLE_GRACE)
        finally:
            streamer.cancel()
        await emit(node.status.files)
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
    return 0


def _wanted(path: str, names: list[str]) -> str | None:
    """The name that asks for ``path`` (exact, or a folder prefix ending in /), if any."""
    for name in names:
        if path == name or (name.endswith("/") and path.startswith(name)):
            return name
    return None


class _DisplayLog(logging.Handler):
    """Routes log lines above the progress bars instead of through them."""

    def __init__(self, display: ProgressDisplay, replaces: list[logging.Handler]) -> None:
        super().__init__()
        self._display = display
        # The same format (and escaping of peers' names) as the stderr handler it stands in for.
        formatter = next((h.formatter for h in replaces if h.formatter), None)
        self.setFormatter(formatter or EscapingFormatter("mfsync: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self._display.message(self.format(record))


async def run_get(settings: Settings, names: list[str], dest: str, *, concurrency: int,
                  follow: bool, verbose: int) -> int:
    """Download the named files (or everything) into DEST; 0 when all arrived verified."""
    root = Path(dest).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{dest} is not a folder")
    for name in names:
        if name.startswith("/") or name in ("", "/"):
            raise UsageError(f"{name!r}: name files by their path on the network, as fetch shows")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModeError(f"cannot create {dest}: {exc.strerror or exc}") from None
    root = root.resolve()
    display = ProgressDisplay(sys.stderr, enabled=should_enable(sys.stderr, verbose))
    root_logger = logging.getLogger()
    saved = root_logger.handlers[:]
    root_logger.handlers[:] = [_DisplayLog(display, saved)]
    matched: set[str] = set()
    queued: set[str] = set()
    cut_short = False
    try:
        async with running_node(settings.node_options(wants=True)) as node:
            downloader = Downloader(node, concurrency=concurrency)
            downloader.subscribe(display.update)

            def enqueue() -> None:
                for remote in node.status.files:
                    name = _wanted(remote.path, names) if names else ""
                    if name is None or remote.path in queued:
                        continue
                    matched.add(name)
                    queued.add(remote.path)
                    downloader.add(DownloadJob(remote.path, root))

            loop = asyncio.get_running_loop()
            deadline = loop.time() + settings.window
            exact = [n for n in names if not n.endswith("/")]
            try:
                while follow or loop.time() < deadline:
                    enqueue()
                    if names and not follow and len(exact) == len(names) and matched >= set(
                        names
                    ):
                        break  # every named file is known: no need to wait out the window
                    await node.wait_for_change(max(0.05, min(1.0, deadline - loop.time())))
                enqueue()
                await downloader.join()
            except asyncio.CancelledError:
                # -w (or a signal) cut us short: report what was done, then exit 1 below.
                cut_short = True
            finally:
                await downloader.stop()
                display.close(downloader.status)
            results = downloader.results
    finally:
        root_logger.handlers[:] = saved
    missing = [n for n in names if n not in matched]
    for name in missing:
        why = "was not found before the time limit (-w)" if cut_short else (
            "is not offered on the network")
        sys.stderr.write(f"mfsync: error: {name!r} {why}\n")
    if not names and not queued:
        _no_hosts_hint(settings, node.status)
    failed = [r for r in results if r.state is TransferState.FAILED]
    for result in failed:
        sys.stderr.write(f"mfsync: error: {shown(result.job.path)}: {shown(result.error or '')}\n")
    unfinished = len(queued) - len(results)
    if cut_short and unfinished:
        sys.stderr.write(f"mfsync: error: stopped with {unfinished} file(s) not complete; "
                         "run the same command again to resume\n")
    return 1 if missing or failed or (cut_short and unfinished) else 0


async def run_sync(settings: Settings, directory: str, *, concurrency: int, verbose: int) -> int:
    """Share DIR and fetch into it whatever other hosts offer, until interrupted."""
    try:
        root = ShareSet.check_root(Path(directory))
    except ShareSetError as exc:
        raise UsageError(str(exc)) from None
    if not settings.trusted_keys:
        log.warning("no trusted keys: anyone on this network can add files to %s "
                    "(see --trusted-keys)", root)
    display = ProgressDisplay(sys.stderr, enabled=should_enable(sys.stderr, verbose))
    root_logger = logging.getLogger()
    saved = root_logger.handlers[:]
    root_logger.handlers[:] = [_DisplayLog(display, saved)]
    try:
        async with running_node(settings.node_options(share_dir=root, wants=True)) as node:
            syncer = Syncer(node, concurrency=concurrency)
            syncer.downloader.subscribe(display.update)
            display.message(
                f"Syncing {node.status.local_files} files in {root} as {node.name!r} on TCP port "
                f"{node.status.tcp_port} (key {short_key(node.identity.public_key)}…). "
                "Press Ctrl-C to stop."
            )
            syncer.start()
            try:
                await asyncio.Event().wait()
            finally:
                await syncer.stop()
                display.close(syncer.downloader.status)
    finally:
        root_logger.handlers[:] = saved
    return 0
