"""The long-running engine behind the desktop app: one node, its folders, downloads and sync.

How it works: a ``Service`` owns a ``Node`` that always serves (so folders can be added while it
runs), a ``Downloader`` for files the user asks for, and a ``Syncer`` for the one folder in sync
mode. Folder, trust and pause changes are applied to the running engine at once and saved to
``config.json`` (the file the command line reads too). Every change publishes an immutable
``ServiceStatus``; a user interface renders those and calls the methods here, and nothing else:
it holds no engine logic of its own. Nothing here knows about Qt.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfsync.config import Config, ConfigError, FolderConfig, save_config, to_json_value
from mfsync.crypto.keys import Identity, short_key
from mfsync.crypto.verify import verification_code
from mfsync.engine.node import Node, NodeOptions
from mfsync.engine.status import NodeStatus
from mfsync.engine.sync import Syncer
from mfsync.engine.transfer_status import TransfersStatus
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.net.addresses import format_host_port
from mfsync.store import locations
from mfsync.store.shareset import ShareSet

__all__ = [
    "BATTERY_BEAT_FACTOR",
    "FolderMode",
    "PauseReason",
    "Service",
    "ServiceError",
    "ServiceStatus",
    "node_options_for",
]

log = logging.getLogger("mfsync.service")

#: On battery (with pause-on-battery on), announcements go out this many times less often.
BATTERY_BEAT_FACTOR = 4
#: How many recent errors the status keeps.
MAX_ERRORS = 20


def node_options_for(config: Config, identity: Identity) -> NodeOptions:
    """The node the desktop app runs, from ``config.json`` (the CLI merges its own options in
    ``cli.setup``; the app has no command-line overrides for them)."""
    return NodeOptions(
        identity=identity, name=config.name, tcp_port=config.port,
        tcp_port_explicit="port" in config.explicit, group=config.multicast_address,
        udp_port=config.multicast_port, interfaces=config.interfaces, ttl=config.ttl,
        static_peers=config.peers, known_hosts_path=locations.known_hosts_path(),
        state_dir=locations.state_dir(),
    )


class FolderMode:
    """What the app does with a folder: serve it, or serve it and fetch into it."""

    SHARE = "share"
    SYNC = "sync"


class PauseReason:
    """Why transfers are paused."""

    NONE = ""
    USER = "paused"
    BATTERY = "paused on battery"


class ServiceError(Exception):
    """A request that cannot be carried out; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """Everything a user interface shows, at one moment."""

    node: NodeStatus
    transfers: TransfersStatus
    folders: tuple[FolderConfig, ...]
    own_key: bytes
    trusted_keys: frozenset[bytes]
    key_names: tuple[tuple[bytes, str], ...]
    pause_reason: str = PauseReason.NONE
    on_battery: bool = False
    errors: tuple[str, ...] = ()

    @property
    def paused(self) -> bool:
        """Whether transfers are paused (by hand or on battery)."""
        return bool(self.pause_reason)

    def name_of(self, key: bytes) -> str:
        """The name configured for ``key``, or an empty string."""
        return dict(self.key_names).get(key, "")

    def host_label(self, source: str) -> str:
        """A transfer's source (``address:port``) as people know the host: the name configured
        for its key, else the name it announces, else the address."""
        for peer in self.node.peers:
            if format_host_port(peer.address, peer.port) == source:
                key = peer.key or peer.announced_key
                return (self.name_of(key) if key else "") or peer.name or source
        return source


ServiceObserver = Callable[[ServiceStatus], None]


class Service:
    """Runs the engine for the desktop app; every public method is safe to call while it runs."""

    def __init__(self, options: NodeOptions, config: Config, *, config_path: Path) -> None:
        self._base = options
        self.config = config
        self._config_path = config_path
        self.node = Node(dataclasses.replace(
            options, share_dir=None, share_dirs=tuple(f.path for f in config.folders),
            serve=True, wants=True, trusted_keys=config.trusted_keys | options.trusted_keys,
            key_names={**options.key_names, **config.key_names},
        ))
        self.downloader = Downloader(self.node, concurrency=config.concurrent_downloads)
        self.syncer: Syncer | None = None
        self._observers: list[ServiceObserver] = []
        self._pause_reason = PauseReason.NONE
        self._on_battery = False
        self._errors: list[str] = []
        self._publish_handle: asyncio.Handle | None = None
        self._status = self._snapshot()
        self._started = False

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the node, then sync for the folder in sync mode (if any)."""
        await self.node.start()
        self.node.subscribe(lambda _s: self._changed())
        self.downloader.subscribe(lambda _s: self._changed())
        self._started = True
        sync = self._sync_folder()
        if sync is not None:
            self._start_syncer(sync.path)
        self._changed()

    async def stop(self) -> None:
        """Stop everything; partial downloads stay for the next start."""
        if self.syncer is not None:
            await self.syncer.stop()
        await self.downloader.stop()
        await self.node.stop()
        if self._publish_handle is not None:
            self._publish_handle.cancel()

    # -- status ---------------------------------------------------------------------------

    @property
    def status(self) -> ServiceStatus:
        """The latest snapshot (taken now if something changed since the last one)."""
        if self._publish_handle is not None:
            self._status = self._snapshot()
        return self._status

    def subscribe(self, observer: ServiceObserver) -> Callable[[], None]:
        """Call ``observer`` with every new snapshot; returns a function that unsubscribes."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def local_content_id(self, path: str) -> bytes | None:
        """The content id of ``path`` in our shared folders (the first that has it), if any."""
        for share in self.node.shares:
            local = share.get(path)
            if local is not None:
                return local.hashes.content_id
        return None

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

    async def add_folder(self, path: Path, mode: str = FolderMode.SHARE) -> FolderConfig:
        """Share ``path`` (and sync it, in sync mode); saved to the config file."""
        try:
            root = ShareSet.check_root(path)
        except Exception as exc:  # ShareSetError and OSError both mean "cannot use this"
            raise ServiceError(str(exc)) from None
        if any(f.path == root for f in self.config.folders):
            raise ServiceError(f"{root} is shared already")
        for folder in self.config.folders:
            if root.is_relative_to(folder.path) or folder.path.is_relative_to(root):
                raise ServiceError(f"{root} overlaps the shared folder {folder.path}")
        if mode == FolderMode.SYNC and self._sync_folder() is not None:
            raise ServiceError(self._one_sync_message())
        folder = FolderConfig(root, mode)
        await self.node.add_share(root)
        self._save_folders((*self.config.folders, folder))
        if mode == FolderMode.SYNC and self._started:
            self._start_syncer(root)
        self._changed()
        return folder

    async def remove_folder(self, path: Path) -> None:
        """Stop sharing ``path`` (its files stay where they are)."""
        folder = self._folder(path)
        if folder.mode == FolderMode.SYNC:
            await self._stop_syncer()
        await self.node.remove_share(folder.path)
        self._save_folders(tuple(f for f in self.config.folders if f.path != folder.path))
        self._changed()

    async def set_folder_mode(self, path: Path, mode: str) -> None:
        """Switch a shared folder between share only and sync."""
        folder = self._folder(path)
        if folder.mode == mode:
            return
        if mode == FolderMode.SYNC:
            current = self._sync_folder()
            if current is not None:
                raise ServiceError(self._one_sync_message())
            self._start_syncer(folder.path)
        else:
            await self._stop_syncer()
        self._save_folders(tuple(
            FolderConfig(f.path, mode) if f.path == folder.path else f
            for f in self.config.folders))
        self._changed()

    # -- downloads ------------------------------------------------------------------------

    @property
    def download_folder(self) -> Path:
        """Where downloads go unless the user picks another folder."""
        configured = self.config.download_folder
        return Path(configured).expanduser() if configured else locations.download_dir()

    def download(self, paths: Iterable[str], dest: Path | None = None) -> int:
        """Queue the named network files into ``dest`` (default: the download folder)."""
        root = (dest or self.download_folder).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(f"cannot create {root}: {exc.strerror or exc}") from None
        root = root.resolve()
        queued = sum(1 for path in paths if self.downloader.add(DownloadJob(path, root)))
        self._changed()
        return queued

    def _downloader_for(self, key: tuple[Path, str]) -> Downloader:
        if self.syncer is not None and any(
            t.key == key for t in self.syncer.downloader.status.transfers
        ):
            return self.syncer.downloader
        return self.downloader

    def pause_transfer(self, key: tuple[Path, str]) -> None:
        """Pause one transfer (its partial file stays; resume continues it)."""
        self._downloader_for(key).pause(key)

    def resume_transfer(self, key: tuple[Path, str]) -> None:
        """Resume one paused transfer."""
        self._downloader_for(key).resume(key)

    def cancel_transfer(self, key: tuple[Path, str]) -> None:
        """Cancel one transfer and discard what it had received."""
        self._downloader_for(key).cancel(key)

    def clear_finished(self) -> int:
        """Take finished transfers off the list; how many were."""
        cleared = sum(d.clear_finished() for d in self._downloaders())
        self._changed()
        return cleared

    # -- pause ----------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        """Pause or resume every transfer by hand."""
        self._apply_pause(PauseReason.USER if paused else PauseReason.NONE)

    def set_on_battery(self, on_battery: bool) -> None:
        """Tell the engine about the power source: with pause-on-battery, on battery pauses
        transfers and slows announcements, and mains power undoes both."""
        self._on_battery = on_battery
        slow = on_battery and self.config.pause_on_battery
        self.node.set_beat(self._base.beat * (BATTERY_BEAT_FACTOR if slow else 1))
        if slow and not self._pause_reason:
            self._apply_pause(PauseReason.BATTERY)
        elif not slow and self._pause_reason == PauseReason.BATTERY:
            self._apply_pause(PauseReason.NONE)
        self._changed()

    def _apply_pause(self, reason: str) -> None:
        self._pause_reason = reason
        for downloader in self._downloaders():
            if reason:
                downloader.pause()
            else:
                downloader.resume()
        log.info("transfers %s", reason or "resumed")
        self._changed()

    # -- trust and settings ---------------------------------------------------------------

    def set_trust(self, trusted_keys: frozenset[bytes], key_names: dict[bytes, str]) -> None:
        """Replace the trust list (and key names): saved, and applied to connections at once."""
        self._save({
            "trustedKeys": to_json_value("trustedKeys", trusted_keys),
            "keyNames": to_json_value("keyNames", key_names),
        })
        self.node.set_trust(trusted_keys | self._base.trusted_keys,
                            {**self._base.key_names, **key_names})
        log.info("trust list changed: %s", self.config.describe_trust())
        self._changed()

    def update_settings(self, updates: dict[str, Any]) -> Config:
        """Save settings (JSON keys and values as ``config.json`` holds them).

        Notification and battery settings apply at once; network settings at the next start.
        """
        self._save(updates)
        if "pauseOnBattery" in updates:
            self.set_on_battery(self._on_battery)
        self._changed()
        return self.config

    def _save(self, updates: dict[str, Any]) -> None:
        try:
            self.config = save_config(self._config_path, updates)
        except ConfigError as exc:
            raise ServiceError(str(exc)) from None

    # -- helpers --------------------------------------------------------------------------

    def _folder(self, path: Path) -> FolderConfig:
        for folder in self.config.folders:
            if folder.path == path or folder.path == path.expanduser().resolve():
                return folder
        raise ServiceError(f"{path} is not a shared folder")

    def _sync_folder(self) -> FolderConfig | None:
        return next((f for f in self.config.folders if f.mode == FolderMode.SYNC), None)

    def _one_sync_message(self) -> str:
        current = self._sync_folder()
        return (f"only one folder can be synced, and {current.path if current else '?'} is; "
                "switch it to share only first")

    def _save_folders(self, folders: tuple[FolderConfig, ...]) -> None:
        self._save({"folders": to_json_value("folders", folders)})

    def _start_syncer(self, root: Path) -> None:
        share = next((s for s in self.node.shares if s.root == root), None)
        if share is None:
            self.report_error(f"cannot sync {root}: it is not shared")
            return
        if not self.config.trusted_keys:
            log.warning("no trusted keys: anyone on this network can add files to %s", root)
        self.syncer = Syncer(self.node, share=share, concurrency=self.config.concurrent_downloads)
        self.syncer.downloader.subscribe(lambda _s: self._changed())
        if self._pause_reason:
            self.syncer.downloader.pause()
        self.syncer.start()

    async def _stop_syncer(self) -> None:
        if self.syncer is not None:
            await self.syncer.stop()
            self.syncer = None

    def _downloaders(self) -> list[Downloader]:
        return [self.downloader] + ([self.syncer.downloader] if self.syncer else [])

    def _changed(self) -> None:
        if self._publish_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not running yet: the snapshot is taken when asked for
                self._status = self._snapshot()
                return
            self._publish_handle = loop.call_soon(self._publish)

    def _publish(self) -> None:
        self._publish_handle = None
        self._status = self._snapshot()
        for observer in list(self._observers):
            try:
                observer(self._status)
            except Exception:
                log.exception("status observer failed")

    def _snapshot(self) -> ServiceStatus:
        transfers = tuple(t for d in self._downloaders() for t in d.status.transfers)
        return ServiceStatus(
            node=self.node.status, transfers=TransfersStatus(transfers),
            folders=self.config.folders, own_key=self.node.identity.public_key,
            trusted_keys=self.config.trusted_keys | self._base.trusted_keys,
            key_names=tuple(sorted(self.config.key_names.items())),
            pause_reason=self._pause_reason, on_battery=self._on_battery,
            errors=tuple(self._errors),
        )


def describe_key(status: ServiceStatus, key: bytes) -> str:
    """A host's key for people: its configured name with the short key, or the short key."""
    name = status.name_of(key)
    return f"{name} ({short_key(key)})" if name else short_key(key)

