"""Where mfsync keeps its own files: one place that knows every path under ``~/.mfsync``, and
where downloads go by default."""

import hashlib
import os
import shlex
from pathlib import Path

__all__ = ["config_path", "download_dir", "folder_digest", "key_path", "known_hosts_path",
           "locks_dir", "state_dir"]

#: The folder created inside the user's download folder.
DOWNLOAD_SUBDIR = "mfsync"


def state_dir() -> Path:
    """``~/.mfsync``: identity, configuration and remembered hosts."""
    return Path.home() / ".mfsync"


def config_path() -> Path:
    """The default configuration file."""
    return state_dir() / "config.json"


def key_path() -> Path:
    """The default identity key file."""
    return state_dir() / "key.bin"


def known_hosts_path() -> Path:
    """Addresses of hosts reached once, tried again at the next start."""
    return state_dir() / "known_hosts.json"


def locks_dir(state: Path) -> Path:
    """Where the locks of the folders served from the state directory ``state`` live."""
    return state / "locks"


def folder_digest(folder: Path) -> str:
    """The name of the files kept for ``folder`` under ``~/.mfsync`` (its index database, its
    lock): a hash of its resolved path, so any folder name (and any later rename of the state
    directory) is a safe file name, and two spellings of one folder are one name."""
    # surrogateescape: a name that is not valid UTF-8 (POSIX bytes) still hashes.
    name = str(folder.resolve()).encode("utf-8", "surrogateescape")
    return hashlib.sha256(name).hexdigest()[:16]


def download_dir() -> Path:
    """The default download folder: ``mfsync`` inside the desktop's download folder (the
    ``XDG_DOWNLOAD_DIR`` of the environment or of ``user-dirs.dirs``, else ``~/Downloads``),
    whether or not that exists yet: the first download creates it, as a browser would. Nothing
    is created here. (A download folder saved in the settings is used instead, as saved.)"""
    home = Path.home()
    return (_xdg_download_dir(home) or home / "Downloads") / DOWNLOAD_SUBDIR


def _xdg_download_dir(home: Path) -> Path | None:
    # Desktops with a translated folder name ("Téléchargements") record it in user-dirs.dirs;
    # the environment variable, where a session exports it, wins.
    value = os.environ.get("XDG_DOWNLOAD_DIR") or _user_dirs_entry(home, "XDG_DOWNLOAD_DIR")
    if not value:
        return None
    path = Path(os.path.expandvars(value.replace("$HOME", str(home)))).expanduser()
    # A relative value is meaningless (and $HOME itself means "not configured", per xdg-user-dirs).
    return path if path.is_absolute() and path != home else None


def _user_dirs_entry(home: Path, name: str) -> str | None:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    try:
        text = (Path(config_home) / "user-dirs.dirs").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == name:
            try:
                parts = shlex.split(value)  # the file is shell syntax: "$HOME/Downloads"
            except ValueError:
                return None
            return parts[0] if len(parts) == 1 else None
    return None
