"""The ``mfsync`` command: parse, build a ``Node``, run a mode, map the outcome to an exit code.

Exit codes: 0 success; 1 the work failed or was cut short; 2 usage or configuration error (one
line on stderr, then a hint); 130 after Ctrl-C (143 after SIGTERM), once everything has shut
down cleanly.
"""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

from mfsync.cli.daemon_mode import refuse_app_options, run_daemon
from mfsync.cli.folders_mode import run_folders
from mfsync.cli.modes import (
    FolderChoice,
    ModeError,
    run_fetch,
    run_get,
    run_list_hosts,
    run_share,
    run_sync,
)
from mfsync.cli.parser import UsageError, build_parser
from mfsync.cli.receive_mode import run_receive
from mfsync.cli.send_mode import run_send
from mfsync.cli.setup import Settings, load_settings
from mfsync.crypto.keys import IdentityError, parse_key
from mfsync.crypto.verify import verification_code
from mfsync.display import EscapingFormatter
from mfsync.memory import keep_large_buffers, tune_collector
from mfsync.store.identity_file import load_or_create_identity

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

log = logging.getLogger("mfsync")


@contextlib.contextmanager
def _logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Log to stderr at ``verbosity`` for the duration; then the root logger is as it was, so
    that ``main`` called as a function (tests, embedding) leaves no handler on a stream that
    its caller may close."""
    root = logging.getLogger()
    asyncio_logger = logging.getLogger("asyncio")
    saved = root.handlers[:], root.level, asyncio_logger.level
    _setup_logging(verbosity)
    try:
        yield
    finally:
        root.handlers[:], level, asyncio_level = saved
        root.setLevel(level)
        asyncio_logger.setLevel(asyncio_level)


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter(
        "mfsync: %(message)s" if verbosity < 2 else "%(asctime)s %(name)s %(levelname)s %(message)s"
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbosity < 3:
        logging.getLogger("asyncio").setLevel(logging.WARNING)


def _usage_error(message: str) -> int:
    sys.stderr.write(f"mfsync: error: {message}\n")
    sys.stderr.write("Try 'mfsync --help' for more information.\n")
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_large_buffers()
    tune_collector()
    with _logging_to_stderr(getattr(args, "verbose", 0) or 0):
        return _main(parser, args)


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
        if args.public_key:
            identity, _ = load_or_create_identity(settings.key_path)
            print(identity.public_key_text)
            return EXIT_OK
        if args.verify is not None:
            return _verify(args.verify, settings)
        if args.mode == "gui":
            return _gui(args)
        if args.mode == "daemon":
            refuse_app_options(args, "mfsync daemon")
        if not args.list_hosts and args.mode is None:
            parser.print_usage(sys.stderr)
            return _usage_error(
                "choose a mode (share, fetch, get, sync, folders, send, receive, daemon) or "
                "an action (--list-hosts)"
            )
        return _run(_dispatch(args, settings), settings.wait_until)
    except (UsageError, IdentityError) as exc:
        return _usage_error(str(exc))
    except ModeError as exc:
        sys.stderr.write(f"mfsync: error: {exc}\n")
        return EXIT_FAILURE


def _gui(args: argparse.Namespace) -> int:
    if getattr(args, "wait_until", None) is not None:
        raise UsageError("--wait-until does not apply to the desktop app")
    refuse_app_options(args, "the desktop app")
    from mfsync.gui.launch import main as gui_main  # noqa: PLC0415 - Qt loads only for the GUI

    argv = ["--hidden"] if args.hidden else []
    if getattr(args, "config", None):
        argv += ["--config", args.config]
    if getattr(args, "key_file", None):
        argv += ["--key-file", args.key_file]
    for keys in getattr(args, "trusted_keys", None) or []:
        argv += ["--trusted-keys", keys]
    argv += ["-v"] * (getattr(args, "verbose", 0) or 0)
    return gui_main(argv)


def _verify(text: str, settings: Settings) -> int:
    try:
        other = parse_key(text)
    except ValueError as exc:
        raise UsageError(f"--verify: {exc}") from None
    identity, _ = load_or_create_identity(settings.key_path)
    print(f"Verification code: {verification_code(identity.public_key, other)}")
    print("Compare it with the code the other host shows for this host's key "
          f"(mfsync --verify {identity.public_key_text} there): if the codes differ, the key is "
          "not the one that host holds; do not trust it.")
    return EXIT_OK


def _dispatch(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, int]:
    if args.list_hosts:
        return run_list_hosts(settings)
    if args.mode == "share":
        return run_share(settings, args.dir, FolderChoice(args.folder, args.share_with))
    if args.mode == "fetch":
        return run_fetch(settings, long=args.long, as_json=args.json, follow=args.follow)
    if args.mode == "folders":
        return run_folders(settings, as_json=args.json)
    if args.mode == "get":
        return run_get(settings, args.names, args.dest, concurrency=args.concurrent_downloads,
                       follow=args.follow, verbose=getattr(args, "verbose", 0) or 0)
    if args.mode == "send":
        return run_send(settings, args.paths, args.to, verbose=getattr(args, "verbose", 0) or 0)
    if args.mode == "receive":
        return run_receive(settings, args.dest,
                           accept_from=frozenset().union(*args.accept_from),
                           accept_all=args.accept_all)
    if args.mode == "daemon":
        return run_daemon(getattr(args, "config", None), getattr(args, "key_file", None),
                          settings.trusted_keys - settings.config.trusted_keys)
    if args.mode == "sync":
        return run_sync(settings, args.dir, concurrency=args.concurrent_downloads,
                        verbose=getattr(args, "verbose", 0) or 0,
                        choice=FolderChoice(args.folder, args.share_with))
    raise UsageError(f"unknown mode {args.mode!r}")


def _run(work: Coroutine[Any, Any, int], wait_until: float | None) -> int:
    """Run ``work`` on a fresh loop; Ctrl-C/SIGTERM and ``-w`` cancel it and let it clean up."""
    received: list[int] = []

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            received.append(signum)
            task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        inner = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({inner}, timeout=wait_until)
            if inner in done:
                return inner.result()
            log.info("stopping: -w %g s reached", wait_until)
            inner.cancel()
            try:
                result = await inner
            except asyncio.CancelledError:
                return EXIT_OK
            return result
        except asyncio.CancelledError:
            inner.cancel()
            with contextlib.suppress(asyncio.CancelledError, ModeError):
                await inner
            return EXIT_INTERRUPTED if received[-1:] != [signal.SIGTERM] else EXIT_TERMINATED

    try:
        return asyncio.run(guarded())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
