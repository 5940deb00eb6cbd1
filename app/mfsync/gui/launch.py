"""``mfsync-gui``: its options, and a platform check before Qt is loaded at all.

This module imports no Qt: when a library Qt needs is missing, importing Qt may fail or
starting it may abort the process, and the user must see ``gui.platform_check``'s explanation
(exit code 2) instead. Only once the check passed is ``gui.app`` imported and run.
"""

import argparse
import sys
import textwrap

from mfsync import __version__
from mfsync.gui.platform_check import platform_problem

__all__ = ["EXIT_CANNOT_START", "main", "parser"]

#: The exit code when the desktop app cannot start here (as for a usage error).
EXIT_CANNOT_START = 2


def parser() -> argparse.ArgumentParser:
    """The options of ``mfsync-gui``."""
    options = argparse.ArgumentParser(prog="mfsync-gui", description=(
        "The mfsync desktop app: share folders, see the network's files, get notified."))
    options.add_argument("--hidden", action="store_true",
                         help="start in the tray without a window (a window shows when no tray "
                              "exists)")
    options.add_argument("--config", metavar="FILE",
                         help="config file (default ~/.mfsync/config.json)")
    options.add_argument("--key-file", metavar="PATH",
                         help="identity key (default ~/.mfsync/key.bin)")
    options.add_argument("--trusted-keys", action="append", default=[], metavar="KEY[,KEY…]",
                         help="trust these keys too for this run (not saved)")
    options.add_argument("--send", nargs="+", metavar="PATH",
                         help="send these files or folders: asks which host gets them (the file "
                              "manager's \"Send with mfsync…\"); reaches the running app")
    options.add_argument("--share", metavar="DIR",
                         help="share this folder (the file manager's \"Share with mfsync\"); "
                              "reaches the running app")
    options.add_argument("paths", nargs="*", metavar="PATH",
                         help="files or folders to send, as \"Open with\" passes them")
    options.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    options.add_argument("--version", action="version", version=f"mfsync-gui {__version__}")
    return options


def main(argv: list[str] | None = None) -> int:
    """Run the desktop app, or say why it cannot start here; the exit code."""
    options = parser()
    args = options.parse_args(argv)
    if args.share and (args.send or args.paths):
        options.error("--share takes one folder and nothing to send")
    problem = platform_problem()
    if problem is not None:
        sys.stderr.write(textwrap.fill(problem, width=78, break_on_hyphens=False) + "\n")
        return EXIT_CANNOT_START
    from mfsync.gui.app import run  # noqa: PLC0415 - Qt loads only once it can start

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
