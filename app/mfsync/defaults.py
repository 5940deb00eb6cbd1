"""Facts that the settings, the engine and the front ends all read, in a module that imports
nothing of ours, so that any layer may.

The protocol's own numbers (ports, group, TTL) are in ``protocol.endpoints``; here are the
application's: how many downloads run at once by default, and what a shared folder does.
"""

__all__ = ["DEFAULT_CONCURRENCY", "FOLDER_MODES", "FolderMode"]

#: Files downloaded at the same time unless the settings or the command line say otherwise.
DEFAULT_CONCURRENCY = 3


class FolderMode:
    """What the app does with a shared folder: serve it, or serve it and fetch into it.

    The values are the words ``config.json`` stores in a folder's ``mode``.
    """

    SHARE = "share"
    SYNC = "sync"


#: Every folder mode, in the order a user interface offers them.
FOLDER_MODES = (FolderMode.SHARE, FolderMode.SYNC)
