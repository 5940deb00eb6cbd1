"""mfsync: share and synchronise files on a LAN without typing an address."""

__version__ = "0.3.0"
#: The reverse-DNS application id: desktop file, AppStream metadata, macOS bundle identifier.
APP_ID = "net.mfsync.mfsync"

__all__ = ["APP_ID", "__version__"]
