"""mfsync: share and synchronise files on a LAN without typing an address."""

__version__ = "0.3.0"

__all__ = ["__version__"]
