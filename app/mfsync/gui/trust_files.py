"""The trust dialog's Import… and Export…: file choosers, and the file work in a worker thread.

The files are read and written by ``mfsync.store.trust_file`` (atomically, for an export)
through ``asyncio.to_thread``, so the GUI thread never waits on a disk; the outcome comes back
on the qasync loop, which is the GUI thread, and is shown in the dialog.
"""

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from mfsync.gui.background import BackgroundTasks
from mfsync.gui.dialogs import ask_open_file, ask_save_file
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.store.trust_file import TrustFileError, read_trust_file, write_trust_file

__all__ = ["EXPORT_NAME", "FILE_FILTER", "TrustListFiles"]

log = logging.getLogger("mfsync.gui")

FILE_FILTER = QT_TR_NOOP("JSON files (*.json);;All files (*)")
#: The file name an export suggests.
EXPORT_NAME = "mfsync-trusted-keys.json"


class TrustListFiles:
    """Exports the list as edited and merges imported lists into it.

    ``keys`` and ``names`` give the list as edited; ``merge(keys, names)`` adds imported keys
    and returns how many were new; ``show_error`` and ``clear_error`` drive the error line.
    """

    def __init__(self, parent: QWidget, *, keys: Callable[[], list[bytes]],
                 names: Callable[[], dict[bytes, str]],
                 merge: Callable[[list[bytes], dict[bytes, str]], int],
                 show_error: Callable[[str], None], clear_error: Callable[[], None]) -> None:
        self._parent = parent
        self._keys = keys
        self._names = names
        self._merge = merge
        self._show_error = show_error
        self._clear_error = clear_error
        self.tasks = BackgroundTasks(show_error)

    async def export_to(self, path: Path) -> bool:
        """Write the list as edited to ``path`` (atomically, in a worker thread) as
        ``{"trustedKeys": [...], "keyNames": {...}}``; False (and the error shown) if not."""
        keys = self._keys()
        try:
            await asyncio.to_thread(write_trust_file, path, keys, self._names())
        except TrustFileError as exc:
            self._show_error(str(exc))
            return False
        self._clear_error()
        log.info("exported %d trusted key(s) to %s", len(keys), path)
        return True

    async def import_from(self, path: Path) -> int | None:
        """Merge the keys in ``path`` into the list; returns how many were new, None on error.

        The file is what ``export_to`` writes, or a bare JSON list of keys; it is read in a
        worker thread. Every key is checked first; if any is malformed nothing is imported and
        the error lists them.
        """
        try:
            keys, names = await asyncio.to_thread(read_trust_file, path)
        except TrustFileError as exc:
            self._show_error(str(exc))
            return None
        added = self._merge(keys, names)
        self._clear_error()
        log.info("imported %d key(s) from %s (%d new)", len(keys), path, added)
        return added

    def choose_file(self, *, save: bool) -> QFileDialog:
        """Ask (without waiting) for a file to export to (``save``) or import from; the chosen
        file is exported to or imported in the background. Returns the file dialog."""
        if save:
            return ask_save_file(self._parent, tr("Export trusted keys"), EXPORT_NAME,
                                 tr(FILE_FILTER),
                                 lambda path: self.tasks.run(self.export_to(path)))
        return ask_open_file(self._parent, tr("Import trusted keys"), tr(FILE_FILTER),
                             lambda path: self.tasks.run(self.import_from(path)))
