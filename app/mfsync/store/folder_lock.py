"""One process per folder: the lock a process holds for as long as it serves a folder.

How it works: serving a folder (the desktop app, ``mfsync share``, ``mfsync sync``) takes an
advisory lock on ``~/.mfsync/locks/<hash of the folder's resolved path>.lock`` (the hash names
its index database too, see ``locations.folder_digest``) and holds it until the process stops
serving the folder. Two processes serving one folder from one ``~/.mfsync`` would each scan
and write its index database and each fetch into it; the second is refused instead, with a
message naming the folder and, read from the lock file, the pid and command of the first.
``fetch`` and ``get`` serve no folder and take no lock.

The lock is ``flock(LOCK_EX | LOCK_NB)``: the kernel releases it when the process ends, however
it ends (killed too), so a stale lock file never blocks anyone; the file is never removed
(removing it would race with a process taking it). On Windows ``msvcrt.locking`` locks one byte
far past the holder's note (the Windows build is not tested here). Taking and releasing touch
the disk: an event loop calls them in a worker thread.
"""

import json
import logging
import os
import sys
from pathlib import Path

from mfsync.store.locations import folder_digest, locks_dir

if sys.platform != "win32":
    import fcntl

__all__ = ["FolderInUse", "FolderLock", "FolderLockError", "FolderLocks", "lock_path"]

log = logging.getLogger("mfsync.store")

#: The most of a lock file read for the holder's note (it is a line of JSON).
_NOTE_LIMIT = 4096
#: Where the byte locked on Windows lies (past any note, so the note stays readable).
_WINDOWS_LOCK_OFFSET = 1 << 20


class FolderLockError(Exception):
    """The folder's lock cannot be taken; the message names the folder and says why."""


class FolderInUse(FolderLockError):
    """Another process serves the folder (from the same ``~/.mfsync``)."""

    def __init__(self, folder: Path, pid: int | None, command: str) -> None:
        self.folder, self.pid, self.command = folder, pid, command
        holder = f" (pid {pid}, `{command}`)" if pid is not None and command else (
            f" (pid {pid})" if pid is not None else "")
        super().__init__(f"{folder} is already served by mfsync{holder}; a folder is served by "
                         "one process at a time (fetch and get can run beside it)")


def lock_path(state_dir: Path, folder: Path) -> Path:
    """The lock file of ``folder`` under the state directory ``state_dir``."""
    return locks_dir(state_dir) / f"{folder_digest(folder)}.lock"


class FolderLock:
    """The lock on one folder, held until ``release`` (or until the process ends)."""

    def __init__(self, folder: Path, path: Path, fd: int) -> None:
        self.folder = folder
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path, folder: Path, *, command: str) -> "FolderLock":
        """Take the lock of ``folder`` for this process, noting our pid and ``command`` in it;
        ``FolderInUse`` if another process holds it, ``FolderLockError`` if it cannot be
        taken at all."""
        path = lock_path(state_dir, folder)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise FolderLockError(f"cannot lock {folder} ({path}): {exc.strerror or exc}") from None
        try:
            if not _try_lock(fd):
                pid, holder = _read_note(fd)
                raise FolderInUse(folder, pid, holder)
            note = json.dumps({"pid": os.getpid(), "command": command, "folder": str(folder)},
                              ensure_ascii=False)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)  # (not pwrite: Windows has none)
            os.write(fd, (note + "\n").encode("utf-8", "surrogateescape"))
        except FolderLockError:
            os.close(fd)
            raise
        except OSError as exc:
            os.close(fd)
            raise FolderLockError(f"cannot lock {folder} ({path}): {exc.strerror or exc}") from None
        log.debug("locked %s (%s)", folder, path)
        return cls(folder, path, fd)

    @property
    def held(self) -> bool:
        """Whether the lock is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Let the folder go (closing the file releases the lock); later calls do nothing."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
            log.debug("unlocked %s", self.folder)


class FolderLocks:
    """The folder locks one process holds, by folder; without a state directory (a run that
    keeps nothing under ``~/.mfsync``) it takes none."""

    def __init__(self, state_dir: Path | None, *, command: str) -> None:
        self._state_dir = state_dir
        self._command = command
        self._held: dict[Path, FolderLock] = {}

    def take(self, folder: Path) -> None:
        """Lock ``folder`` (a folder held already stays held); ``FolderInUse`` if another
        process serves it. A lock that cannot be taken at all (the locks folder cannot be
        written) is logged and the folder served without it: the lock guards against a second
        process, and refusing the first would not help; the folder's index, under the same
        folder, then says what is wrong if anything is."""
        if self._state_dir is None or folder in self._held:
            return
        try:
            self._held[folder] = FolderLock.acquire(self._state_dir, folder,
                                                    command=self._command)
        except FolderInUse:
            raise
        except FolderLockError as exc:
            log.warning("%s; serving it without the one-process check", exc)

    def take_all(self, folders: list[Path]) -> None:
        """Lock every one of ``folders``, or none: if one is in use, those taken here are
        released and ``FolderInUse`` raised."""
        taken: list[Path] = []
        try:
            for folder in folders:
                if folder not in self._held:
                    self.take(folder)
                    taken.append(folder)
        except FolderInUse:
            for folder in taken:
                self.release(folder)
            raise

    def release(self, folder: Path) -> None:
        """Let ``folder`` go (nothing if it is not held)."""
        lock = self._held.pop(folder, None)
        if lock is not None:
            lock.release()

    def release_all(self) -> None:
        """Let every folder go."""
        for folder in list(self._held):
            self.release(folder)


def _try_lock(fd: int) -> bool:
    """Whether the exclusive lock on ``fd`` was taken (False: another process holds it)."""
    if sys.platform == "win32":
        import msvcrt  # noqa: PLC0415 - Windows only

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_note(fd: int) -> tuple[int | None, str]:
    """The holder's pid and command as its note says (None and "" where it cannot be read:
    the holder may not have written it yet, or be an older mfsync)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, _NOTE_LIMIT).decode("utf-8", "replace")
        note = json.loads(text)
    except (OSError, ValueError):
        return None, ""
    if not isinstance(note, dict):
        return None, ""
    pid, command = note.get("pid"), note.get("command")
    return (pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            command if isinstance(command, str) else "")
