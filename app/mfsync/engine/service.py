"""The front door of the engine: one node, its folders, downloads and sync, for every front end.

How it works: a ``Service`` owns a ``Node``, a ``Downloader`` for files someone asks for, and a
``Syncer`` for each folder in sync mode. The command line and the desktop app both drive it;
neither wires the engine's rooms itself, and neither sees the network's or the store's
exceptions: a start that cannot happen raises ``StartError``, a request that cannot be carried
out ``ServiceError`` (both in ``service_status``).

Two kinds of service: the desktop app's (``run=None``) shares the folders of ``config.json``,
changes them while it runs and saves every change to that file, in the background and in order
(``ConfigWriter``); a command-line run (``run=RunPlan(...)``) has its folders fixed for its whole
life and never writes the file. Every change publishes an immutable ``ServiceStatus`` through a
``Publisher``; a user interface renders those and calls the methods here, and nothing else: it
holds no engine logic of its own. Blocking work (checking a folder, creating one, writing the
config file) runs in worker threads, never on the caller's (the GUI's) thread. Nothing here
knows about Qt.
"""

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfsync.audience import Audience
from mfsync.config import Config, ConfigError, FolderConfig, load_config, to_json_value
from mfsync.crypto.keys import Identity
from mfsync.crypto.verify import verification_code
from mfsync.defaults import DEFAULT_CONCURRENCY, FolderMode
from mfsync.engine.config_writer import ConfigWriter
from mfsync.engine.invitations import Invitation
from mfsync.engine.node import Node, NodeOptions
from mfsync.engine.publisher import Publisher
from mfsync.engine.service_folders import FolderDesk, check_folder
from mfsync.engine.service_invitations import InvitationDesk
from mfsync.engine.service_offers import AcceptPolicy, OfferDesk
from mfsync.engine.service_status import (
    BusyFolder,
    PauseReason,
    ServiceError,
    ServiceObserver,
    ServiceStatus,
    StartError,
    StartFailure,
    describe_key,
)
from mfsync.engine.service_transfers import Transfers, prepare_folder
from mfsync.engine.status import NodeStatus
from mfsync.net.server import PortInUse
from mfsync.net.sockets import InterfaceError
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.store import locations
from mfsync.store.folder_lock import FolderInUse, FolderLocks
from mfsync.store.identity_file import load_or_create_identity
from mfsync.store.shareset import ShareSetError

__all__ = [
    "APP_COMMAND",
    "BATTERY_BEAT_FACTOR",
    "AcceptPolicy",
    "BusyFolder",
    "FolderMode",
    "Invitation",
    "PauseReason",
    "RunPlan",
    "Service",
    "ServiceError",
    "ServiceStatus",
    "StartError",
    "StartFailure",
    "app_service",
    "check_folder",
    "describe_key",
    "node_options_for",
    "prepare_folder",
]

log = logging.getLogger("mfsync.service")

#: On battery (with pause-on-battery on), announcements go out this many times less often.
BATTERY_BEAT_FACTOR = 4
#: How many recent errors the status keeps.
MAX_ERRORS = 20


def node_options_for(config: Config, identity: Identity) -> NodeOptions:
    """The node ``config`` describes (the command line merges its options into the config it
    passes; the app has no command-line overrides for them)."""
    return NodeOptions(
        identity=identity, name=config.name, tcp_port=config.port,
        tcp_port_explicit="port" in config.explicit, group=config.multicast_address,
        udp_port=config.multicast_port, interfaces=config.interfaces, ttl=config.ttl,
        static_peers=config.peers, known_hosts_path=locations.known_hosts_path(),
        state_dir=locations.state_dir(),
    )


@dataclass(frozen=True)
class RunPlan:
    """A command-line run: what it shares and how it downloads, fixed for its whole life."""

    #: The folders shared (or synced), checked already (see ``check_folder``).
    folders: tuple[FolderConfig, ...] = ()
    #: Files downloaded at the same time.
    concurrency: int = DEFAULT_CONCURRENCY
    #: Added to the warning that a synced folder takes files from anyone (which option helps).
    trust_hint: str = ""
    #: How the run is named to another process refused a folder this run serves.
    command: str = "mfsync"
    #: Offers of files made to us are considered (``receive``); else refused (sending works).
    takes_offers: bool = False


#: How the desktop app is named to another process refused a folder it serves.
APP_COMMAND = "mfsync-gui"


class Service:
    """Runs the engine for a front end; every public method is safe to call while it runs."""

    def __init__(self, options: NodeOptions, config: Config, *, config_path: Path | None = None,
                 run: RunPlan | None = None, command: str = APP_COMMAND,
                 wait_when_busy: bool = False) -> None:
        self._base = options
        self.config = config
        folders = run.folders if run is not None else config.folders
        node_options = dataclasses.replace(
            options, share_dir=None, share_dirs=(), folders=folders,
            trusted_keys=config.trusted_keys | options.trusted_keys,
            key_names={**options.key_names, **config.key_names},
        )
        if run is None:  # the app: folders come and go, and it shows the network's files
            node_options = dataclasses.replace(node_options, serve=True, wants=True)
        self.node = Node(node_options)
        self.transfers = Transfers(
            self.node, concurrency=run.concurrency if run is not None else
            config.concurrent_downloads, changed=self._changed, report_error=self.report_error)
        self._writer = (ConfigWriter(config_path, on_saved=self._saved, on_error=self.report_error)
                        if config_path is not None and run is None else None)
        #: One process per folder: the folders this one serves are locked while it runs.
        locks = FolderLocks(options.state_dir, command=run.command if run is not None else command)
        self._desk = FolderDesk(
            self.node, self.transfers, folders, locks, save=self._save_folders,
            changed=self._changed, trust_hint=run.trust_hint if run is not None else "",
            wait_when_busy=wait_when_busy and run is None)
        #: The app's invitations to the network's sync folders (a command-line run has none):
        #: a front end accepts, downloads or ignores them here.
        self.invitations = InvitationDesk(
            self._desk, self.node, download=self.download, ignore=self._ignore_folder,
            changed=self._changed) if run is None else None
        #: Files sent to hosts and offers of files made to us (see ``service_offers``).
        self.offers = OfferDesk(
            self.node, self.transfers.downloader, self._changed,
            dest=lambda: self.download_folder, policy=_policy_of(config),
            # (a lambda: ``self.config`` is replaced whenever the settings change)
            name_of=lambda key: self.config.name_of(key),  # noqa: PLW0108
            takes_offers=run is None or run.takes_offers)
        self._on_battery = False
        self._errors: list[str] = []
        self._publisher: Publisher[ServiceStatus] = Publisher(
            self._snapshot, self._snapshot(), name="service")

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Lock the folders served (one process per folder), start the node, then sync each
        folder in sync mode; the desktop app saves the ids its folders were given on
        loading a config file that had none (once: the file has them from then on).
        ``StartError`` says what stopped it (everything started so far is stopped again)."""
        try:
            await self._desk.lock()
        except FolderInUse as exc:
            raise StartError(StartFailure.FOLDER_IN_USE, str(exc)) from None
        try:
            await self.node.start()
        except (PortInUse, InterfaceError, ShareSetError, OSError) as exc:
            await self.node.stop()
            await self._desk.stop()
            raise _start_error(exc) from None
        self.node.subscribe(self._node_changed)
        self.transfers.start()
        if self._writer is not None and "folders" in self.config.migrated:
            log.info("config file %s: saving the ids given to its folders", self._writer.path)
            self._save_folders(self._desk.folders)
        await self._desk.start()
        self._publisher.take_now()
        self._changed()

    async def stop(self) -> None:
        """Stop everything; partial downloads stay for the next start, and every change of
        the settings asked for so far is saved before this returns."""
        await self.offers.stop()
        await self.transfers.stop()
        await self.node.stop()
        await self._desk.stop()
        if self._writer is not None:
            await self._writer.wait()
        self._publisher.close()

    async def saved(self) -> None:
        """Return once every change of the settings asked for so far is on disk."""
        if self._writer is not None:
            await self._writer.wait()

    # -- status ---------------------------------------------------------------------------

    @property
    def status(self) -> ServiceStatus:
        """The latest snapshot (taken now if something changed since the last one)."""
        return self._publisher.take_now() if self._publisher.pending else self._publisher.current

    def subscribe(self, observer: ServiceObserver) -> Callable[[], None]:
        """Call ``observer`` with every new snapshot; returns a function that unsubscribes."""
        return self._publisher.subscribe(observer)

    @property
    def name(self) -> str:
        """The name this host announces."""
        return self.node.name

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the network's indexes asked for have arrived."""
        await self.node.settle(timeout)
        self._publisher.flush()

    @property
    def node_status(self) -> NodeStatus:
        """The node's latest snapshot: the network as of now (``status`` may lag a turn)."""
        return self.node.status

    async def wait_for_change(self, timeout: float) -> None:
        """Return at the node's next change, or after ``timeout`` seconds."""
        await self.node.wait_for_change(timeout)

    def local_content_id(self, path: str) -> bytes | None:
        """The content id of ``path`` in our shared folders (the first that has it), if any."""
        found = next((local for s in self.node.shares if (local := s.get(path)) is not None), None)
        return found.hashes.content_id if found is not None else None

    def local_version(self) -> tuple[tuple[Path, int], ...]:
        """Changes whenever ``local_content_id`` may answer differently: a folder was added or
        removed, or what one holds changed (every change bumps its share set's generation)."""
        return tuple((share.root, share.generation) for share in self.node.shares)

    def verification_code(self, key: bytes) -> str:
        """The code both sides of a pair of hosts see, to compare aloud before trusting."""
        return verification_code(self.node.identity.public_key, key)

    def report_error(self, message: str) -> None:
        """Record an error for the status bar (the newest last, the oldest dropped)."""
        log.error("%s", message)
        self._errors.append(message)
        del self._errors[:-MAX_ERRORS]
        self._changed()

    def clear_errors(self) -> None:
        """Forget the errors shown so far."""
        self._errors.clear()
        self._changed()

    # -- folders --------------------------------------------------------------------------

    @property
    def folders(self) -> tuple[FolderConfig, ...]:
        """The folders this service shares or syncs (busy ones too)."""
        return self._desk.folders

    async def add_folder(self, path: Path, mode: str = FolderMode.SHARE) -> FolderConfig:
        """Share ``path`` (and sync it, in sync mode) as a new folder; saved."""
        return await self._desk.add(await check_folder(path), mode)

    async def remove_folder(self, path: Path) -> None:
        """Stop sharing ``path`` (its files stay where they are)."""
        await self._desk.remove(path)

    async def set_folder_mode(self, path: Path, mode: str) -> None:
        """Switch a shared folder between share only and sync."""
        await self._desk.set_mode(path, mode)

    def set_folder_devices(self, path: Path, devices: Audience | None) -> None:
        """Set who may see a shared folder and whose changes it takes (None: the default for
        the trust list); saved, and in force at every peer's next request."""
        self._desk.set_devices(path, devices)

    # -- downloads ------------------------------------------------------------------------

    @property
    def download_folder(self) -> Path:
        """Where downloads go unless the user picks another folder."""
        configured = self.config.download_folder
        return Path(configured).expanduser() if configured else locations.download_dir()

    def download(self, paths: Iterable[str], dest: Path | None = None,
                 folder: FolderId = DEFAULT_FOLDER) -> int:
        """Queue the named files of the network's folder ``folder`` into ``dest`` (default:
        the download folder); how many were not queued already. The folder is created in a
        worker thread first (if it cannot be, the error is reported and nothing is queued)."""
        return self.transfers.download(paths, dest or self.download_folder, folder)

    def pause_transfer(self, key: tuple[Path, str]) -> None:
        """Pause one transfer (its partial file stays; resume continues it)."""
        self.transfers.pause(key)

    def resume_transfer(self, key: tuple[Path, str]) -> None:
        """Resume one paused transfer."""
        self.transfers.resume(key)

    def cancel_transfer(self, key: tuple[Path, str]) -> None:
        """Cancel one transfer and discard what it had received."""
        self.transfers.cancel(key)

    def clear_finished(self) -> int:
        """Take finished transfers off the list; how many were."""
        return self.transfers.clear_finished()

    # -- pause ----------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Pause or resume every transfer by hand."""
        self.transfers.pause_all(PauseReason.USER if paused else PauseReason.NONE)

    def set_on_battery(self, on_battery: bool) -> None:
        """Tell the engine about the power source: with pause-on-battery, on battery pauses
        transfers and slows announcements, and mains power undoes both."""
        self._on_battery = on_battery
        slow = on_battery and self.config.pause_on_battery
        self.node.set_beat(self._base.beat * (BATTERY_BEAT_FACTOR if slow else 1))
        reason = self.transfers.pause_reason
        if slow and not reason:
            self.transfers.pause_all(PauseReason.BATTERY)
        elif not slow and reason == PauseReason.BATTERY:
            self.transfers.pause_all(PauseReason.NONE)
        self._changed()

    # -- trust and settings ---------------------------------------------------------------

    def set_trust(self, trusted_keys: frozenset[bytes], key_names: dict[bytes, str]) -> None:
        """Replace the trust list (and key names): applied to connections at once, and saved
        in the background (a failed save shows among the errors)."""
        self._save({
            "trustedKeys": to_json_value("trustedKeys", trusted_keys),
            "keyNames": to_json_value("keyNames", key_names),
        })
        self.node.set_trust(trusted_keys | self._base.trusted_keys,
                            {**self._base.key_names, **key_names})
        log.info("trust list changed: %s", self.config.describe_trust())
        self._changed()

    def update_settings(self, updates: dict[str, Any]) -> Config:
        """Change settings (JSON keys and values as ``config.json`` holds them); returns the
        new configuration at once and saves it in the background, after every earlier save.

        ``ServiceError`` when the change cannot be saved (a bad value, a broken file). A save
        that fails later (the disk) shows among the errors. Notification and battery settings
        apply at once; network settings at the next start.
        """
        self._save(updates)
        if updates.keys() & {"acceptFromTrusted", "acceptFromAnyone"}:
            self.set_accept_policy(_policy_of(self.config, self.offers.policy))
        if "pauseOnBattery" in updates:
            self.set_on_battery(self._on_battery)
        self._changed()
        return self.config

    def set_accept_policy(self, policy: AcceptPolicy) -> None:
        """Which offers of files are accepted without asking (from the settings at start)."""
        self.offers.set_accept_policy(policy)

    def _save(self, updates: dict[str, Any]) -> None:
        if self._writer is None:
            raise ServiceError("this run does not change the settings")
        try:
            self.config = self._writer.preview(updates)
        except ConfigError as exc:
            raise ServiceError(str(exc)) from None
        self._writer.save(updates)

    def _saved(self, config: Config) -> None:
        self.config = config
        self._changed()

    # -- helpers --------------------------------------------------------------------------

    def _save_folders(self, folders: tuple[FolderConfig, ...]) -> None:
        self._save({"folders": to_json_value("folders", folders)})

    def _node_changed(self, status: NodeStatus) -> None:
        if self.invitations is not None:
            self.invitations.update(status, self.config.ignored_folders)
        self._changed()

    def _ignore_folder(self, folder: FolderId) -> None:
        self._save({"ignoredFolders": to_json_value(
            "ignoredFolders", self.config.ignored_folders | {folder})})

    def _changed(self) -> None:
        self._publisher.changed()

    def _snapshot(self) -> ServiceStatus:
        return ServiceStatus(
            node=self.node.status, transfers=self.transfers.everything(),
            folders=self._desk.folders, own_key=self.node.identity.public_key,
            trusted_keys=self.config.trusted_keys | self._base.trusted_keys,
            key_names=tuple(sorted(self.config.key_names.items())),
            pause_reason=self.transfers.pause_reason, on_battery=self._on_battery,
            errors=tuple(self._errors), busy=self._desk.busy,
            invitations=self.invitations.current if self.invitations else (),
            outgoing=self.offers.outgoing, incoming=self.offers.incoming,
        )


def _policy_of(config: Config, base: AcceptPolicy | None = None) -> AcceptPolicy:
    """The accept policy ``config``'s settings make (keeping ``base``'s other fields)."""
    return dataclasses.replace(base or AcceptPolicy(), auto_trusted=config.accept_from_trusted,
                               auto_all=config.accept_from_anyone)


def _start_error(exc: Exception) -> StartError:
    """What stopped a start, in the front ends' terms (the network's and the store's
    exceptions stay inside the engine)."""
    if isinstance(exc, PortInUse):
        return StartError(StartFailure.PORT_IN_USE, exc.strerror or str(exc))
    if isinstance(exc, InterfaceError):
        return StartError(StartFailure.SETTING, str(exc))
    if isinstance(exc, ShareSetError):
        return StartError(StartFailure.FOLDER, str(exc))
    return StartError(StartFailure.NETWORK, f"cannot start networking: {exc}")


def app_service(config_path: Path, *, explicit: bool, key_path: Path,
                trusted_keys: frozenset[bytes] = frozenset(),
                command: str = APP_COMMAND, wait_when_busy: bool = False) -> Service:
    """The service of the desktop app (and of ``mfsync daemon``, which runs the app's folders
    without a window): every folder of the config file at ``config_path``, its settings, the
    identity at ``key_path`` (made on first use), plus ``trusted_keys`` for this run only.

    It saves to ``config_path`` what changes while it runs, and on its first start the ids it
    gave to folders that had none. ``command`` names it to a process refused a folder it
    serves; ``wait_when_busy`` (the app's) starts without a folder another process serves
    and takes it over later, where the daemon refuses to start. Raises ``ConfigError`` or
    ``IdentityError`` for a file it cannot use (never started here).
    """
    config = load_config(config_path, explicit=explicit)
    identity, _ = load_or_create_identity(key_path)
    options = dataclasses.replace(node_options_for(config, identity), trusted_keys=trusted_keys)
    return Service(options, config, config_path=config_path, command=command,
                   wait_when_busy=wait_when_busy)
