"""``~/.mfsync/config.json``: the settings, declared once with type, default and help.

The file is a JSON object. ``trustedKeys`` (a list of public keys) is the trust list as mfsync 0.2
reads it; ``keyNames`` maps keys to names people recognise. The other settings mirror command
line options of the same meaning, or belong to the desktop app; the command line wins over the
file, the file over defaults, and the command line never writes the file. Unknown keys are kept
and warned about, so a file written by a newer mfsync still loads. The folders, with their ids,
labels and devices (and their migration from files without ids), are ``folder_config``'s.

Each ``Setting`` carries what a user interface needs to build an editor for it (``label``,
``kind``, ``limits``) and how to turn the loaded value back into JSON (``dump``), so the settings
dialog and ``save_config`` are generated from the one table below.
"""

import json
import logging
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfsync.crypto.keys import format_key, parse_key
from mfsync.defaults import DEFAULT_CONCURRENCY, FOLDER_MODES, FolderMode
from mfsync.folder_config import (
    FolderConfig,
    dump_folders,
    folder_path,
    lacks_ids,
    parse_folders,
)
from mfsync.protocol.endpoints import (
    DEFAULT_GROUP,
    DEFAULT_TCP_PORT,
    DEFAULT_TTL,
    DEFAULT_UDP_PORT,
    check_group,
    format_host_port,
    parse_host_port,
)
from mfsync.protocol.folder_id import FolderId
from mfsync.store.files import JSONTextError, atomic_write, parse_json, warn_if_exposed

__all__ = [
    "FOLDER_MODES",
    "KINDS",
    "MAX_CONCURRENT_DOWNLOADS",
    "SETTINGS",
    "Config",
    "ConfigError",
    "FolderConfig",
    "FolderMode",
    "Setting",
    "load_config",
    "preview_save",
    "save_config",
    "setting",
    "to_json_value",
]

log = logging.getLogger("mfsync.config")

#: The most downloads the app runs at once (the command line allows more, for benchmarks).
MAX_CONCURRENT_DOWNLOADS = 16

#: Widget kinds a settings dialog builds from ``Setting.kind``:
#: ``bool`` check box; ``int`` spin box within ``Setting.limits``; ``port`` 1..65535;
#: ``text`` line edit; ``path`` folder chooser (empty means the default); ``list`` one string
#: per line; ``internal`` edited elsewhere (trust dialog, folder list), not in the dialog.
KINDS = ("bool", "int", "port", "text", "path", "list", "internal")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the problem."""


# -- parsers: JSON value -> loaded value; ValueError says what is wrong -----------------------

def _keys(value: Any) -> frozenset[bytes]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ValueError("must be a list of key strings")
    return frozenset(parse_key(k) for k in value)


def _key_names(value: Any) -> dict[bytes, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("must be an object mapping keys to names")
    return {parse_key(k): v for k, v in value.items()}


def _peers(value: Any) -> tuple[tuple[str, int | None], ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError('must be a list of "HOST[:PORT]" strings')
    return tuple(parse_host_port(p) for p in value)


def _port(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value
    return parse


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")
    return tuple(value)


def _group(value: Any) -> str:
    return check_group(_text(value))


def _download_folder(value: Any) -> str:
    text = _text(value)
    if text:
        folder_path(text)
    return text


def _folder_ids(value: Any) -> frozenset[FolderId]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('must be a list of folder ids ("k3x9-pq2m")')
    return frozenset(FolderId.parse(v) for v in value)


# -- dumpers: loaded value -> JSON value ------------------------------------------------------

def _same(value: Any) -> Any:
    return value


def _dump_keys(value: frozenset[bytes]) -> list[str]:
    return sorted(format_key(k) for k in value)


def _dump_key_names(value: Mapping[bytes, str]) -> dict[str, str]:
    return {format_key(k): value[k] for k in sorted(value)}


def _dump_peers(value: tuple[tuple[str, int | None], ...]) -> list[str]:
    return [(f"[{h}]" if ":" in h else h) if p is None else format_host_port(h, p)
            for h, p in value]


def _dump_folder_ids(value: frozenset[FolderId]) -> list[str]:
    return sorted(str(f) for f in value)


def _dump_texts(value: tuple[str, ...]) -> list[str]:
    return list(value)


@dataclass(frozen=True)
class Setting:
    """One configuration setting, declared once: its JSON key, ``Config`` attribute, parser
    (JSON value -> loaded value), default, help text, the ``label`` and widget ``kind`` (one of
    ``KINDS``) a user interface shows, the inclusive ``limits`` of an ``int``, and ``dump``
    (loaded value -> JSON value)."""

    key: str
    attr: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    label: str
    kind: str
    limits: tuple[int, int] | None = None
    dump: Callable[[Any], Any] = _same


SETTINGS: tuple[Setting, ...] = (
    Setting("trustedKeys", "trusted_keys", _keys, frozenset(),
            "public keys allowed to connect; empty means anyone",
            "Trusted keys", "internal", dump=_dump_keys),
    Setting("keyNames", "key_names", _key_names, {}, "names shown for keys",
            "Key names", "internal", dump=_dump_key_names),
    Setting("peers", "peers", _peers, (), "HOST[:PORT] to reach directly where multicast fails",
            "Hosts to reach directly", "list", dump=_dump_peers),
    Setting("name", "name", _text, "", "host name announced to others (default: the hostname)",
            "Name of this computer", "text"),
    Setting("port", "port", _port, DEFAULT_TCP_PORT, "TCP port for transfers",
            "Transfer port", "port", (1, 65535)),
    Setting("multicastAddress", "multicast_address", _group, DEFAULT_GROUP,
            "multicast group for discovery", "Discovery group", "text"),
    Setting("multicastPort", "multicast_port", _port, DEFAULT_UDP_PORT, "UDP port for discovery",
            "Discovery port", "port", (1, 65535)),
    Setting("interfaces", "interfaces", _texts, (),
            "interface names or IPv4 addresses to use (default: all multicast-capable ones)",
            "Network interfaces", "list", dump=_dump_texts),
    Setting("ttl", "ttl", _whole(0, 255), DEFAULT_TTL,
            "multicast TTL (1 keeps discovery on the local link)", "Multicast TTL", "int",
            (0, 255)),
    Setting("downloadFolder", "download_folder", _download_folder, "",
            "where downloads go (empty: Downloads/mfsync in your home folder)",
            "Download folder", "path"),
    Setting("folders", "folders", parse_folders, (),
            'folders to share: [{"path": ..., "mode": "share" or "sync", "id": ..., "label": ...,'
            ' "devices": ...}]; any number may sync', "Shared folders", "internal",
            dump=dump_folders),
    Setting("ignoredFolders", "ignored_folders", _folder_ids, frozenset(),
            "ids of folders offered to sync whose invitations were ignored",
            "Ignored invitations", "internal", dump=_dump_folder_ids),
    Setting("concurrentDownloads", "concurrent_downloads", _whole(1, MAX_CONCURRENT_DOWNLOADS),
            DEFAULT_CONCURRENCY, "how many files are downloaded at the same time",
            "Downloads at once", "int", (1, MAX_CONCURRENT_DOWNLOADS)),
    Setting("notifyDownloads", "notify_downloads", _bool, True,
            "show a notification when downloads finish", "Notify when downloads finish", "bool"),
    Setting("notifyFailures", "notify_failures", _bool, True,
            "show a notification when a download fails", "Notify when a download fails",
            "bool"),
    Setting("notifyRefused", "notify_refused", _bool, True,
            "show a notification when an untrusted computer is refused",
            "Notify when an untrusted computer is refused", "bool"),
    Setting("notifyInvitations", "notify_invitations", _bool, True,
            "show a notification when a computer offers a folder to sync",
            "Notify when a computer offers a folder to sync", "bool"),
    Setting("autostart", "autostart", _bool, False, "start the app when you log in",
            "Start when I log in", "bool"),
    Setting("pauseOnBattery", "pause_on_battery", _bool, False,
            "pause transfers and announce less often while on battery power",
            "Pause on battery power", "bool"),
    Setting("acceptFromTrusted", "accept_from_trusted", _bool, True,
            "accept files sent by trusted keys without asking (trusted: listed in trustedKeys)",
            "Accept files from trusted computers without asking", "bool"),
    Setting("acceptFromAnyone", "accept_from_anyone", _bool, False,
            "accept files sent by anyone without asking",
            "Accept files from anyone without asking", "bool"),
)

_BY_KEY = {s.key: s for s in SETTINGS}


def setting(key: str) -> Setting:
    """The setting with JSON key ``key``; ``KeyError`` if there is none."""
    return _BY_KEY[key]


def to_json_value(key: str, value: Any) -> Any:
    """Turn a loaded value of setting ``key`` (as ``Config`` holds it) back into the JSON value
    ``config.json`` holds, for ``save_config``; ``KeyError`` for an unknown key."""
    return _BY_KEY[key].dump(value)


@dataclass(frozen=True)
class Config:
    """The settings after loading; ``explicit`` lists the keys the file set."""

    trusted_keys: frozenset[bytes] = frozenset()
    key_names: dict[bytes, str] = field(default_factory=dict)
    peers: tuple[tuple[str, int | None], ...] = ()
    name: str = ""
    port: int = DEFAULT_TCP_PORT
    multicast_address: str = DEFAULT_GROUP
    multicast_port: int = DEFAULT_UDP_PORT
    interfaces: tuple[str, ...] = ()
    ttl: int = DEFAULT_TTL
    download_folder: str = ""
    folders: tuple[FolderConfig, ...] = ()
    ignored_folders: frozenset[FolderId] = frozenset()
    concurrent_downloads: int = DEFAULT_CONCURRENCY
    notify_downloads: bool = True
    notify_failures: bool = True
    notify_refused: bool = True
    notify_invitations: bool = True
    autostart: bool = False
    pause_on_battery: bool = False
    accept_from_trusted: bool = True
    accept_from_anyone: bool = False
    path: Path | None = None
    explicit: frozenset[str] = frozenset()
    #: Settings that loading completed and the file does not hold yet: ``folders`` whose
    #: entries were given ids (see ``folder_config``). The desktop app saves them once, at its
    #: first start; the command line never writes the file.
    migrated: frozenset[str] = frozenset()

    def name_of(self, key: bytes) -> str:
        """The configured name of ``key``, or an empty string."""
        return self.key_names.get(key, "")

    def describe_trust(self) -> str:
        """A line for logs: who may connect."""
        if not self.trusted_keys:
            return "anyone may connect (no trusted keys configured)"
        names = ", ".join(self.name_of(k) or format_key(k)[:12] for k in sorted(self.trusted_keys))
        return f"only {len(self.trusted_keys)} trusted key(s) may connect: {names}"


def load_config(path: Path, *, explicit: bool) -> Config:
    """Load ``path``; a missing file gives the defaults unless it was named explicitly."""
    data = _read(path, missing_ok=not explicit)
    if data is None:
        return Config()
    values = _parse(path, data)
    known = set(_BY_KEY)
    for unknown in sorted(set(data) - known):
        log.warning("config file %s: unknown setting %r is ignored", path, unknown)
    return Config(**values, path=path, explicit=frozenset(set(data) & known),
                  migrated=_migrated(data))


#: One writer at a time within this process, so two saves (say the trust dialog and the
#: settings dialog) cannot each miss the other's change. Across processes the last one wins.
_save_lock = threading.Lock()


def save_config(path: Path, updates: Mapping[str, Any]) -> Config:
    """Set the JSON keys in ``updates`` (values as ``config.json`` holds them, see
    ``to_json_value``; ``None`` removes a key, so its default applies) and keep every other key
    of the file, unknown ones too. The result is checked with the same parsers as
    ``load_config``; if anything is wrong ``ConfigError`` is raised and nothing is written. The
    file is replaced atomically with mode 0600 (its folder is created with mode 0700). Returns
    the configuration as loaded back from the file. It reads, writes and syncs the disk: an
    event loop calls it from a thread (``engine.config_writer`` does)."""
    _check_keys(path, updates)
    with _save_lock:
        # a broken file is refused rather than replaced: it may hold what the user typed
        data = _merged(_read(path, missing_ok=True) or {}, updates)
        _parse(path, data)
        text = _encode(path, data)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(path, text.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise ConfigError(f"cannot write config file {path}: {exc}") from None
        log.info("config file %s: saved %s", path, ", ".join(sorted(updates)))
        return load_config(path, explicit=True)


def preview_save(path: Path, updates: Mapping[str, Any]) -> Config:
    """What ``save_config(path, updates)`` would load back, checked the same way (the same
    ``ConfigError`` for an unknown key, a bad value or a broken file), without writing: a
    user interface shows the result at once and saves it in the background. It reads the small
    file but neither writes nor syncs the disk."""
    _check_keys(path, updates)
    data = _merged(_read(path, missing_ok=True) or {}, updates)
    values = _parse(path, data)
    _encode(path, data)
    return Config(**values, path=path, explicit=frozenset(set(data) & set(_BY_KEY)),
                  migrated=_migrated(data))


def _migrated(data: Mapping[str, Any]) -> frozenset[str]:
    return frozenset({"folders"}) if lacks_ids(data.get("folders")) else frozenset()


def _check_keys(path: Path, updates: Mapping[str, Any]) -> None:
    for key in updates:
        if key not in _BY_KEY:
            raise ConfigError(f"config file {path}: no setting called {key!r}")


def _merged(data: dict[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in updates.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _encode(path: Path, data: Mapping[str, Any]) -> str:
    try:
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config file {path}: cannot be written as JSON: {exc}") from None


def _read(path: Path, *, missing_ok: bool) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    warn_if_exposed(path, "config file", stat.S_IRWXG | stat.S_IRWXO)
    try:
        data = parse_json(text)
    except JSONTextError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a JSON object")
    return data


def _parse(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in SETTINGS:
        if item.key not in data:
            continue
        try:
            values[item.attr] = item.parse(data[item.key])
        except ValueError as exc:
            raise ConfigError(f"config file {path}: {item.key!r} {exc}") from None
    return values
