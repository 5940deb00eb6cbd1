"""``mfsync daemon``: the desktop app's folders without its window.

It runs every folder of ``config.json`` as the app does: the same ``Service``, built by the same
function (``engine.service.app_service``), with the same settings from the same file, until
SIGINT or SIGTERM. Like the app, it saves to ``config.json`` the ids it gives, on its first
start, to folders that had none (it serves the app's folders, so their ids must stay the ones
the app will show); it changes nothing else in the file. Network settings come from the file
too, so the options that would override them are refused (as for ``mfsync gui``).
"""

import asyncio
import logging
from pathlib import Path

from mfsync.cli.modes import start_failure
from mfsync.cli.parser import UsageError
from mfsync.config import ConfigError, FolderConfig
from mfsync.crypto.keys import IdentityError, short_key
from mfsync.display import shown
from mfsync.engine.loop_probe import probe_loop
from mfsync.engine.service import Service, StartError, app_service
from mfsync.store import locations

__all__ = ["DAEMON_COMMAND", "NOT_FOR_APP", "refuse_app_options", "run_daemon"]

log = logging.getLogger("mfsync.daemon")

#: How the daemon is named to another process refused a folder it serves.
DAEMON_COMMAND = "mfsync daemon"

#: Options of the command line that the app's folders take from ``config.json`` instead.
NOT_FOR_APP = ("peer", "port", "multicast_address", "multicast_port", "interface", "ttl", "name",
               "window")


def refuse_app_options(given: object, what: str) -> None:
    """``UsageError`` for the first option in ``given`` (parsed arguments) that ``config.json``
    sets for the app's folders; ``what`` names the mode in the message."""
    for name in NOT_FOR_APP:
        if getattr(given, name, None) is not None:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} does not apply to {what}: set it in the desktop app's "
                             "Settings (they are saved in config.json)")


def folder_line(folder: FolderConfig) -> str:
    """``Serving LABEL (ID), MODE: DIR`` for the log of what the daemon serves."""
    return (f"Serving {shown(folder.label)} ({folder.id}), {folder.mode}: "
            f"{shown(str(folder.path))}")


async def run_daemon(config: str | None, key_file: str | None,
                     trusted_keys: frozenset[bytes]) -> int:
    """Run the config file's folders until cancelled (SIGINT/SIGTERM, or ``-w``)."""
    config_path = Path(config).expanduser() if config else locations.config_path()
    key_path = Path(key_file).expanduser() if key_file else locations.key_path()
    try:
        service: Service = await asyncio.to_thread(
            app_service, config_path, explicit=config is not None, key_path=key_path,
            trusted_keys=trusted_keys, command=DAEMON_COMMAND)
    except (ConfigError, IdentityError) as exc:
        raise UsageError(str(exc)) from None
    try:
        await service.start()
    except StartError as exc:
        raise start_failure(exc) from None
    try:
        with probe_loop():
            status = service.status
            for folder in status.folders:
                print(folder_line(folder), flush=True)
            count = len(status.folders)
            print(f"Daemon running {count} folder{'s' * (count != 1)} from {config_path} as "
                  f"{service.name!r} on TCP port {status.node.tcp_port} (key "
                  f"{short_key(status.own_key)}…). Press Ctrl-C to stop.", flush=True)
            if not count:
                log.warning("config file %s names no folder: add some with the desktop app",
                            config_path)
            await asyncio.Event().wait()
    finally:
        await service.stop()
    return 0
