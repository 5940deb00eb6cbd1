"""The modes of the command line, each a coroutine that returns an exit code.

Each mode is thin: it turns its arguments into a ``RunPlan``, drives the engine's ``Service``
(the same front door the desktop app uses) and renders what it shows. The service's
``StartError`` becomes a usage error (exit 2) or a failure (exit 1) here, with the command
line's hints.
"""

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from mfsync.audience import Audience
from mfsync.cli.output import host_line, json_line, long_line, plain_line
from mfsync.cli.parser import UsageError
from mfsync.cli.progress import ProgressDisplay, should_enable
from mfsync.cli.setup import Settings
from mfsync.cli.wanted import check_names, is_exact, match
from mfsync.config import FolderConfig
from mfsync.crypto.keys import short_key
from mfsync.defaults import FolderMode
from mfsync.display import EscapingFormatter, shown
from mfsync.engine.folder_names import FolderId, FolderNames
from mfsync.engine.loop_probe import probe_loop
from mfsync.engine.run_folder import run_folder
from mfsync.engine.service import (
    RunPlan,
    Service,
    ServiceError,
    StartError,
    StartFailure,
    check_folder,
    prepare_folder,
)
from mfsync.engine.service_status import ServiceStatus
from mfsync.engine.status import NodeStatus, RemoteFile, RemoteFolder
from mfsync.engine.transfer_status import TransferState

__all__ = ["FolderChoice", "ModeError", "network_folders", "run_fetch", "run_get",
           "run_list_hosts", "run_share", "run_sync", "running_service", "start_failure"]

log = logging.getLogger("mfsync.cli")


@dataclasses.dataclass(frozen=True)
class FolderChoice:
    """What ``--folder`` and ``--share-with`` asked of a share or sync run (None: not given)."""

    folder: str | None = None
    share_with: Audience | None = None

#: After the discovery window, index fetches already under way get this long to finish.
SETTLE_GRACE = 2.0
#: ``fetch`` prints this many files of a listing at a time, letting the event loop run between.
EMIT_STEP = 512


class ModeError(Exception):
    """The mode could not do its work; the message says why."""


#: Added to the warning that a synced folder takes files from anyone.
TRUST_HINT = " (see --trusted-keys)"


@contextlib.asynccontextmanager
async def running_service(settings: Settings, run: RunPlan, *, wants: bool,
                          serve: bool | None = None) -> AsyncIterator[Service]:
    """Start the service for the duration of a block; start-up failures become clear errors."""
    service = settings.service(run, wants=wants, serve=serve)
    try:
        await service.start()
    except StartError as exc:
        raise start_failure(exc) from None
    try:
        with probe_loop():
            yield service
    finally:
        await service.stop()


def start_failure(exc: StartError) -> Exception:
    """The command line's error for a failed start: its hint, and its exit code (a usage
    error for what the command line named wrongly)."""
    if exc.failure is StartFailure.PORT_IN_USE:
        return ModeError(f"{exc}; choose another with --port")
    if exc.failure is StartFailure.FOLDER_IN_USE:  # (nothing wrong with the command line)
        return ModeError(str(exc))
    if exc.failure in (StartFailure.SETTING, StartFailure.FOLDER):
        return UsageError(str(exc))
    return ModeError(str(exc))


async def _folder(directory: str) -> Path:
    try:
        return await check_folder(Path(directory))
    except ServiceError as exc:
        raise UsageError(str(exc)) from None


async def _run_folder(settings: Settings, directory: str, mode: str,
                      choice: FolderChoice) -> FolderConfig:
    """The folder a share or sync run serves: DIR, as the default folder or the one
    ``--folder`` names, with the devices ``--share-with`` gives."""
    root = await _folder(directory)

    async def offered() -> tuple[RemoteFolder, ...]:
        log.info("looking for a folder %r on the network (%g s)", choice.folder, settings.window)
        return await network_folders(settings)

    try:
        return await run_folder(root, mode, state_dir=settings.node_options().state_dir,
                                folder=choice.folder, devices=choice.share_with,
                                offered=offered)
    except ServiceError as exc:
        raise UsageError(str(exc)) from None


async def network_folders(settings: Settings) -> tuple[RemoteFolder, ...]:
    """The folders the hosts seen within the discovery window offer us.

    A service of its own that serves nothing (no folder, so no TCP listener: the port stays
    free for the run that follows) and is stopped before this returns."""
    async with running_service(settings, RunPlan(), wants=True) as service:
        await asyncio.sleep(settings.window)
        await service.settle(SETTLE_GRACE)
        return service.status.node.remote_folders


def _named(folder: FolderConfig) -> str:
    """How a run names its folder to the user: DIR, and a named folder's label and id."""
    if folder.id.is_default:
        return str(folder.path)
    return f"{folder.path} (folder {folder.label!r}, {folder.id})"


def no_hosts_hint(settings: Settings, status: NodeStatus) -> None:
    """Warn that no host was found within the window, with what to try."""
    if not status.peers:
        log.warning(
            "no hosts found within %g s. Is a host sharing on this network? If multicast is "
            "blocked here, name a host with --peer HOST[:PORT].", settings.window,
        )


async def run_share(settings: Settings, directory: str,
                    choice: FolderChoice = FolderChoice()) -> int:
    """Serve DIR until interrupted (or ``-w``)."""
    folder = await _run_folder(settings, directory, FolderMode.SHARE, choice)
    run = RunPlan(folders=(folder,), command="mfsync share")
    async with running_service(settings, run, wants=False) as service:
        # the trust list in force is the config's plus --trusted-keys, not the config's alone
        in_force = dataclasses.replace(settings.config, trusted_keys=settings.trusted_keys)
        trust = in_force.describe_trust() if settings.trusted_keys else (
            "anyone on the network may fetch"
        )
        status = service.status
        print(
            f"Sharing {status.node.local_files} files from {_named(folder)} as {service.name!r} "
            f"on TCP port {status.node.tcp_port} (key {short_key(status.own_key)}…); "
            f"{trust}. Press Ctrl-C to stop.",
            flush=True,
        )
        await asyncio.Event().wait()
    return 0


async def run_fetch(settings: Settings, *, long: bool, as_json: bool, follow: bool) -> int:
    """Print every file the network offers; after the window, or never with ``follow``."""
    seen: set[object] = set()
    changed = asyncio.Event()
    latest: list[NodeStatus] = [NodeStatus()]  # the latest status

    def render(f: RemoteFile, names: FolderNames) -> str:
        return (json_line(f, names) if as_json else long_line(f, names) if long
                else plain_line(f, names))

    async def emit(status: NodeStatus) -> None:
        # In steps, one write each: a list of 200,000 files printed line by line at once kept
        # the event loop (and every peer) waiting for over a second.
        lines: list[str] = []
        files, names = status.files, FolderNames.of(status)
        for n, f in enumerate(files, 1):
            ident = (f.folder, f.path, f.content_id) if (long or as_json) else (f.folder, f.path)
            if ident not in seen:
                seen.add(ident)
                lines.append(render(f, names) + "\n")
            if n % EMIT_STEP == 0 or n == len(files):
                if lines:
                    sys.stdout.write("".join(lines))
                    sys.stdout.flush()
                    lines.clear()
                await asyncio.sleep(0)

    streaming = follow or not (long or as_json)  # --long/--json wait for accurate host counts

    def on_status(status: ServiceStatus) -> None:
        if streaming and status.node.files is not latest[0].files:
            latest[0] = status.node
            changed.set()

    async def stream() -> None:
        while True:
            await changed.wait()
            changed.clear()
            await emit(latest[0])

    async with running_service(settings, RunPlan(), wants=True) as service:
        service.subscribe(on_status)
        streamer = asyncio.get_running_loop().create_task(stream())
        try:
            if follow:
                await asyncio.Event().wait()
            await asyncio.sleep(settings.window)
            await service.settle(SETTLE_GRACE)
        finally:
            streamer.cancel()
        await emit(service.status.node)
        no_hosts_hint(settings, service.status.node)
    return 0


async def run_list_hosts(settings: Settings) -> int:
    """Print every host seen within the window."""
    async with running_service(settings, RunPlan(), wants=True) as service:
        await asyncio.sleep(settings.window)
        await service.settle(SETTLE_GRACE)
        status = service.status.node
        for peer in status.peers:
            key = peer.key or peer.announced_key
            name = settings.config.name_of(key) if key else ""
            print(host_line(peer, name or peer.name), flush=True)
        no_hosts_hint(settings, status)
    return 0


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
    check_names(names)
    try:
        root = await prepare_folder(root, shown_as=dest)
    except ServiceError as exc:
        raise ModeError(str(exc)) from None
    display = ProgressDisplay(sys.stderr, enabled=should_enable(sys.stderr, verbose))
    root_logger = logging.getLogger()
    saved = root_logger.handlers[:]
    root_logger.handlers[:] = [_DisplayLog(display, saved)]
    matched: set[str] = set()
    queued: set[tuple[FolderId, str]] = set()
    #: Where each named folder's files go when it is fetched whole: DEST/LABEL (see wanted).
    folder_roots: dict[FolderId, Path] = {}
    cut_short = False
    try:
        async with running_service(settings, RunPlan(concurrency=concurrency),
                                   wants=True) as service:
            transfers = service.transfers
            transfers.subscribe(display.update)

            async def into(folder: FolderId, folder_names: FolderNames) -> Path:
                if folder not in folder_roots:
                    where = root / folder_names.directory(folder)
                    try:
                        folder_roots[folder] = await prepare_folder(where, shown_as=str(where))
                    except ServiceError as exc:
                        raise ModeError(str(exc)) from None
                return folder_roots[folder]

            async def enqueue() -> None:
                status = service.node_status
                folder_names = FolderNames.of(status)
                for remote in status.files:
                    key = (remote.folder, remote.path)
                    found = None if key in queued else match(remote, names, folder_names)
                    if found is None:
                        continue
                    matched.add(found.name)
                    queued.add(key)
                    target = await into(remote.folder, folder_names) if found.whole else root
                    transfers.queue((remote.path,), target, remote.folder)

            loop = asyncio.get_running_loop()
            deadline = loop.time() + settings.window
            exact = [n for n in names if is_exact(n)]
            try:
                while follow or loop.time() < deadline:
                    await enqueue()
                    if names and not follow and len(exact) == len(names) and matched >= set(
                        names
                    ):
                        break  # every named file is known: no need to wait out the window
                    await service.wait_for_change(max(0.05, min(1.0, deadline - loop.time())))
                await enqueue()
                await transfers.join()
            except asyncio.CancelledError:
                # -w (or a signal) cut us short: report what was done, then exit 1 below.
                cut_short = True
            finally:
                await transfers.stop()
                display.close(transfers.status)
            results = transfers.results
            network = service.node_status
    finally:
        root_logger.handlers[:] = saved
    missing = [n for n in names if n not in matched]
    for name in missing:
        why = "was not found before the time limit (-w)" if cut_short else (
            "is not offered on the network")
        sys.stderr.write(f"mfsync: error: {name!r} {why}\n")
    if not names and not queued:
        no_hosts_hint(settings, network)
    failed = [r for r in results if r.state is TransferState.FAILED]
    folder_names = FolderNames.of(network)
    for result in failed:
        name = folder_names.name(result.job.folder, result.job.path)
        sys.stderr.write(f"mfsync: error: {shown(name)}: {shown(result.error or '')}\n")
    unfinished = len(queued) - len(results)
    if cut_short and unfinished:
        sys.stderr.write(f"mfsync: error: stopped with {unfinished} file(s) not complete; "
                         "run the same command again to resume\n")
    return 1 if missing or failed or (cut_short and unfinished) else 0


async def run_sync(settings: Settings, directory: str, *, concurrency: int, verbose: int,
                   choice: FolderChoice = FolderChoice()) -> int:
    """Share DIR and fetch into it whatever other hosts offer (in its folder), until
    interrupted."""
    folder = await _run_folder(settings, directory, FolderMode.SYNC, choice)
    run = RunPlan(folders=(folder,), concurrency=concurrency,
                  trust_hint=TRUST_HINT, command="mfsync sync")
    display = ProgressDisplay(sys.stderr, enabled=should_enable(sys.stderr, verbose))
    root_logger = logging.getLogger()
    saved = root_logger.handlers[:]
    root_logger.handlers[:] = [_DisplayLog(display, saved)]
    try:
        async with running_service(settings, run, wants=True) as service:
            transfers = service.transfers
            transfers.subscribe(display.update)
            status = service.status
            display.message(
                f"Syncing {status.node.local_files} files in {_named(folder)} as "
                f"{service.name!r} on TCP port {status.node.tcp_port} "
                f"(key {short_key(status.own_key)}…). Press Ctrl-C to stop."
            )
            try:
                await asyncio.Event().wait()
            finally:
                await transfers.stop()
                display.close(transfers.status)
    finally:
        root_logger.handlers[:] = saved
    return 0
