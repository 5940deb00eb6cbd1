"""The command line's grammar: modes, options, and their checks.

Options that take values are never greedy (one value each, repeatable, commas allowed where a
list makes sense), so they cannot swallow a mode's arguments. The shared options are accepted
both before and after the mode (``mfsync -v share DIR`` and ``mfsync share DIR -v``); their
defaults are filled in later from the config file, so that the command line wins over the file
and the file over built-in defaults.
"""

import argparse
import sys
from typing import NoReturn

from mfsync import __version__
from mfsync.audience import EVERYONE, TRUSTED, Audience
from mfsync.crypto.keys import parse_key
from mfsync.defaults import DEFAULT_CONCURRENCY
from mfsync.protocol.endpoints import (
    DEFAULT_GROUP,
    DEFAULT_TCP_PORT,
    DEFAULT_TTL,
    DEFAULT_UDP_PORT,
    check_group,
    parse_host_port,
)

__all__ = ["DEFAULT_WINDOW", "UsageError", "build_parser", "parse_keys"]

#: Seconds that fetch and --list-hosts listen before they answer.
DEFAULT_WINDOW = 3.0

EPILOG = f"""\
modes:
  share DIR           serve the files in DIR to the network
  fetch               list every file the network offers
  get [NAME ...] DEST download files (or everything) into DEST
  folders             list the folders the network offers
  sync DIR            share DIR and fetch what the others offer into it
  send PATH... --to H send files or folders to a host (it accepts or declines)
  receive [DEST]      take the files other hosts send (asks, or --accept-from KEY)
  daemon              run the desktop app's folders (config.json) without a window
  gui                 the desktop app (also mfsync-gui)

examples:
  mfsync share ~/Public
  mfsync fetch --long
  mfsync get photos/ ~/Downloads
  mfsync get Notes: ~/Downloads
  mfsync send ~/Photos/trip notes.txt --to office-pc
  mfsync receive ~/Downloads --accept-from KEY
  mfsync --list-hosts
  mfsync --public-key
  mfsync --verify KEY

Discovery uses UDP multicast {DEFAULT_GROUP}:{DEFAULT_UDP_PORT}, transfers TCP port \
{DEFAULT_TCP_PORT}.
"""


class UsageError(Exception):
    """A command line that cannot be run; the message is shown with a usage hint."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.stderr.write(f"Try '{self.prog} --help' for more information.\n")
        raise SystemExit(2)


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)")
    return int(text)


def _ttl(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TTL (0 to 255)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 10**9:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _group(text: str) -> str:
    try:
        return check_group(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _peer(text: str) -> tuple[str, int | None]:
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common_options() -> "_Parser":
    # default=SUPPRESS: a value given before the mode must survive the subparser's defaults.
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    g = common.add_argument_group("common options")
    g.add_argument("-v", "--verbose", action="count", help="more log output (-vv for debug)")
    g.add_argument("-w", "--wait-until", type=_seconds, metavar="SECONDS",
                   help="stop after SECONDS, whatever the mode")
    g.add_argument("--config", metavar="PATH",
                   help="configuration file (default ~/.mfsync/config.json)")
    g.add_argument("--key-file", metavar="PATH", help="identity key (default ~/.mfsync/key.bin)")
    g.add_argument("--trusted-keys", action="append", metavar="KEY[,KEY...]",
                   help="also trust these public keys (repeatable)")
    g.add_argument("--peer", action="append", type=_peer, metavar="HOST[:PORT]",
                   help="reach this host directly, without multicast (repeatable)")
    g.add_argument("--port", type=_port,
                   help=f"TCP port for transfers (default {DEFAULT_TCP_PORT})")
    g.add_argument("--multicast-address", type=_group, metavar="GROUP",
                   help=f"multicast group for discovery (default {DEFAULT_GROUP})")
    g.add_argument("--multicast-port", type=_port, metavar="PORT",
                   help=f"UDP port for discovery (default {DEFAULT_UDP_PORT})")
    g.add_argument("--interface", action="append", metavar="NAME|ADDRESS",
                   help="use only this interface for discovery (repeatable)")
    g.add_argument("--ttl", type=_ttl,
                   help=f"multicast TTL (default {DEFAULT_TTL}: the local network)")
    g.add_argument("--name", help="name announced to others (default: the host name)")
    g.add_argument("--window", type=_seconds, metavar="SECONDS",
                   help="how long fetch and --list-hosts listen for hosts (default 3)")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The complete parser with every mode."""
    common = _common_options()
    parser = _Parser(
        prog="mfsync", parents=[common], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Share and synchronise files on your network without typing an address.",
    )
    actions = parser.add_argument_group("actions")
    actions.add_argument("--version", action="version", version=f"mfsync {__version__}")
    actions.add_argument("--public-key", action="store_true", default=False,
                         help="print this host's public key and exit")
    actions.add_argument("--list-hosts", action="store_true", default=False,
                         help="list the hosts on the network and exit")
    actions.add_argument("--verify", metavar="KEY", default=None,
                         help="print the verification code for this host and KEY (the other "
                         "host's public key), to compare with the code shown there, and exit")
    modes = parser.add_subparsers(dest="mode", metavar="MODE")

    share = modes.add_parser("share", parents=[common], help="serve the files in DIR",
                             description="Serve the files in DIR to the network.")
    share.add_argument("dir", metavar="DIR", help="folder to share")
    _add_folder_options(share)

    fetch = modes.add_parser(
        "fetch", parents=[common], help="list every file the network offers",
        description="List every file the network offers, one name per line, as it is found: "
        "its path in the default folder, LABEL:path in another (ID:path when two folders "
        "have that label).",
    )
    fetch.add_argument("--long", action="store_true", default=False,
                       help="SIZE  HOSTS  CONTENT-ID  FOLDER-ID  NAME, one line per distinct "
                       "content")
    fetch.add_argument("--json", action="store_true", default=False,
                       help="one JSON object per line: name, path, folder, folderLabel, size, "
                       "content_id, hosts")
    fetch.add_argument("--follow", action="store_true", default=False,
                       help="keep listening and print files as they appear")

    sync = modes.add_parser(
        "sync", parents=[common], help="share DIR and fetch what others offer into it",
        description="Share DIR and fetch into it every file other hosts offer, so files spread "
        "to every host. Changed files replace older versions everywhere; concurrent changes are "
        "kept as name.sync-conflict-DATE-TIME-KEY.ext; deletions do not spread.",
    )
    sync.add_argument("dir", metavar="DIR", help="folder to synchronise")
    _add_folder_options(sync)
    _add_download_options(sync)

    get = modes.add_parser(
        "get", parents=[common], help="download files into DEST",
        description="Download the named files (exact paths, or folders ending in '/') into "
        "DEST, or everything offered when no names are given. Verified block by block; an "
        "interrupted download resumes where it stopped.",
    )
    get.add_argument("names", nargs="*", metavar="NAME",
                     help="files or folders (ending in /) to fetch, as fetch names them; "
                     "LABEL: for a whole shared folder (into DEST/LABEL); none: everything")
    get.add_argument("dest", metavar="DEST", help="the destination folder")
    _add_download_options(get)
    get.add_argument("--follow", action="store_true", default=False,
                     help="keep running and fetch new files as they appear")

    folders = modes.add_parser(
        "folders", parents=[common], help="list the folders the network offers",
        description="List the folders the hosts on the network offer us: id, label, hosts, "
        "files, size, whether a host syncs it, and whether we have it (in config.json).",
    )
    folders.add_argument("--json", action="store_true", default=False,
                         help="one JSON object per line: id, label, hosts, files, size, sync, "
                         "have")

    modes.add_parser(
        "daemon", parents=[common], help="run the desktop app's folders without a window",
        description="Run every folder of config.json as the desktop app does (each with its "
        "id, label, mode and devices; any number of sync folders), without a window, until "
        "Ctrl-C or SIGTERM. Network settings come from config.json as well; the ids given to "
        "folders that had none are saved there, as the app's first start does.",
    )

    _add_offer_modes(modes, common)

    gui = modes.add_parser(
        "gui", parents=[common], help="start the desktop app (as mfsync-gui does)",
        description="Start the desktop app: a window and a tray icon over the same engine. "
        "Network settings come from the config file (the app's Settings dialog edits it).",
    )
    gui.add_argument("--hidden", action="store_true", default=False,
                     help="start in the tray without a window")
    return parser


def _add_offer_modes(modes: "argparse._SubParsersAction[_Parser]", common: _Parser) -> None:
    send = modes.add_parser(
        "send", parents=[common], help="send files or folders to a host",
        description="Offer files and folders to one host and wait for its answer; once it "
        "accepts, it pulls them (verified block by block; a dropped link resumes). Exit 0 only "
        "when it has received and verified every file; 1 when it declined, did not answer "
        "within two minutes, or refused.",
    )
    send.add_argument("paths", nargs="+", metavar="PATH",
                      help="files and folders to send (a folder keeps its name at the other end)")
    send.add_argument("--to", required=True, metavar="NAME|KEY|HOST[:PORT]",
                      help="the host: a name (from keyNames or as it announces itself), its "
                      "public key, or an address (an IP address, or HOST:PORT; its key is "
                      "proven by the handshake and printed)")

    receive = modes.add_parser(
        "receive", parents=[common], help="take the files other hosts send",
        description="Take offers of files from other hosts, until Ctrl-C, into DEST (default: "
        "the download folder; a folder sent arrives as DEST/NAME, never over an existing file). "
        "Offers from --accept-from keys (and from trusted keys with acceptFromTrusted) are "
        "accepted at once; on a terminal, others are asked about; otherwise they are declined.",
    )
    receive.add_argument("dest", nargs="?", default=None, metavar="DEST",
                         help="where received files go (default: the download folder)")
    receive.add_argument("--accept-from", action="append", type=parse_keys, default=[],
                         metavar="KEY[,KEY...]",
                         help="accept offers from these keys without asking (repeatable)")
    receive.add_argument("--accept-all", action="store_true", default=False,
                         help="accept every offer without asking (offers from keys not on a "
                         "trust list are still refused)")


def parse_keys(text: str) -> frozenset[bytes]:
    """Public keys as a KEY[,KEY...] option gives them (``ArgumentTypeError`` for a bad one)."""
    try:
        keys = frozenset(parse_key(k) for k in text.split(",") if k.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if not keys:
        raise argparse.ArgumentTypeError("give at least one public key")
    return keys


def _add_download_options(mode: argparse.ArgumentParser) -> None:
    mode.add_argument("--concurrent-downloads", type=_count, default=DEFAULT_CONCURRENCY,
                      metavar="N", help=f"files downloaded at once (default {DEFAULT_CONCURRENCY})")


def _add_folder_options(mode: argparse.ArgumentParser) -> None:
    mode.add_argument("--folder", metavar="ID|LABEL", default=None,
                      help="serve DIR as this named folder (an id like k3x9-pq2m, or a label: "
                      "DIR's folder of that label, else the one of that label the network "
                      "offers, else a new one); default: the default folder")
    mode.add_argument("--share-with", type=_audience, metavar="KEY[,KEY...]|trusted|everyone",
                      default=None, help="who may see the folder and whose changes it takes "
                      "(default: everyone for the default folder, else the trusted keys when "
                      "a trust list is set)")


def _audience(text: str) -> Audience:
    """A folder's devices as ``--share-with`` names them."""
    if text in (EVERYONE.kind.value, TRUSTED.kind.value):
        return EVERYONE if text == EVERYONE.kind.value else TRUSTED
    try:
        return Audience.of_keys(frozenset(parse_key(k) for k in text.split(",") if k.strip()))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}; give keys (comma-separated), "
                                         "'trusted' or 'everyone'") from None


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 64")
    return int(text)
