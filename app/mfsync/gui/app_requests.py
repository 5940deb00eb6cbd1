"""What a start of ``mfsync-gui`` asks of the app: show it, send paths, share a folder.

The file manager's entries ("Send with mfsync…", "Share with mfsync", "Open with") and the
command line start ``mfsync-gui --send PATH…``, ``--share DIR`` or ``mfsync-gui PATH…``; a
plain start asks only to be shown. When the app is already running the request travels to it
as one message (``gui.single_instance``); otherwise the app starts and then carries it out
itself. Either way it ends in ``DesktopApp.carry_out``: the window comes to the front and,
for a send, asks which host gets the paths; for a share, the folder is added as shared.
Paths are made absolute by the start that received them (its working folder is the file
manager's), and the running app checks they exist: a message can come from any local program
of the user.
"""

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from mfsync.gui.single_instance import format_message, parse_message

__all__ = ["SEND", "SHARE", "SHOW", "AppRequest", "request_from_args", "request_from_message"]

SHOW, SEND, SHARE = "show", "send", "share"


@dataclass(frozen=True)
class AppRequest:
    """One request: ``command`` (``SHOW``, ``SEND`` or ``SHARE``) and its absolute paths."""

    command: str
    paths: tuple[Path, ...] = ()

    def message(self) -> bytes:
        """The request as a message to the running app."""
        return format_message(self.command, *(str(path) for path in self.paths))

    def existing(self) -> tuple[list[Path], list[Path]]:
        """The paths that exist (for ``SHARE``: folders), and the ones that do not."""
        found: list[Path] = []
        gone: list[Path] = []
        for path in self.paths:
            usable = path.is_dir() if self.command == SHARE else path.exists()
            (found if usable else gone).append(path)
        return found, gone


def request_from_args(args: argparse.Namespace, cwd: Path | None = None) -> AppRequest:
    """The request of ``mfsync-gui``'s options: ``--share DIR``, ``--send PATH…`` or
    positional paths (as "Open with" passes them: sent too), else to be shown."""
    here = cwd or Path.cwd()

    def absolute(value: str) -> Path:
        return Path(os.path.abspath(here / Path(value).expanduser()))

    if args.share:
        return AppRequest(SHARE, (absolute(args.share),))
    paths = [*(args.send or []), *(args.paths or [])]
    if paths:
        return AppRequest(SEND, tuple(absolute(p) for p in paths))
    return AppRequest(SHOW)


def request_from_message(line: bytes) -> AppRequest | None:
    """The request in a message line; None for anything else (another program, an older or
    newer app, a path that is not absolute)."""
    words = parse_message(line)
    if not words or words[0] not in (SHOW, SEND, SHARE):
        return None
    paths = tuple(Path(word) for word in words[1:])
    if not all(path.is_absolute() for path in paths):
        return None
    if (words[0] == SHARE and len(paths) != 1) or (words[0] == SEND and not paths):
        return None
    return AppRequest(words[0], paths)
