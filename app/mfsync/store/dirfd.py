"""Descriptor-relative file operations below a root: the one place that knows how.

A path string is resolved again by every call that takes it, so a folder of it replaced by a
symlink between two calls redirects the second one (outside the shared folder, say). Here a
path below a root is instead opened one component at a time, each relative to the descriptor of
the folder above it and with ``O_NOFOLLOW``: a symlink anywhere below the root is refused, never
followed, and whatever is done next (open, stat, rename, utime, unlink) is done in a folder
that is held open, not in whatever the path names by then.

The root itself is the user's choice and may be reached through symlinks; everything below it
may not.

Where the platform has no ``dir_fd`` support (Windows), the nearest equivalent: every component
is checked with ``lstat`` (not a symlink, a real folder) and the resolved path must stay inside
the resolved root, then the path itself is used. That narrows the window but cannot close it;
Windows needs privileges to create symlinks at all, which is the rest of the defence there.

Every function here blocks: the engine calls them off the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "DIR_FD_SUPPORTED", "Folder", "HeldFolders", "UnsafeComponent", "open_folder", "open_under",
    "rename_below", "rename_between", "unlink_below",
]

#: Whether this platform can open, stat, rename and create relative to a folder descriptor.
DIR_FD_SUPPORTED = (
    hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW")
    and all(func in os.supports_dir_fd for func in (os.open, os.stat, os.rename, os.mkdir,
                                                    os.unlink))
)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: How a folder below the root is opened: never through a symlink.
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
#: How the root is opened: it may be a symlink (the user named it).
_ROOT_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC


_SYMLINK = "is a symlink; not following it"
_NOT_A_FOLDER = "is not a folder"


class UnsafeComponent(OSError):
    """A component below the root is a symlink or not a folder: not followed."""

    def __init__(self, where: Path, what: str) -> None:
        super().__init__(errno.ELOOP, f"{where} {what}")

    def __str__(self) -> str:
        return str(self.strerror)


class Folder:
    """A folder below a root, held open: what is done in it is done in this folder, whatever
    its path names meanwhile. ``path`` is for messages (and the fallback without ``dir_fd``)."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    def open(self, name: str, flags: int, mode: int = 0o644) -> int:
        """Open ``name`` in this folder, never through a symlink (``O_NOFOLLOW``)."""
        flags |= _NOFOLLOW | _CLOEXEC
        try:
            if self.fd is not None:
                return os.open(name, flags, mode, dir_fd=self.fd)
            _check_fallback(self.path / name)
            return os.open(self.path / name, flags, mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeComponent(self.path / name, _SYMLINK) from None
            raise

    def lstat(self, name: str) -> os.stat_result:
        """``name``'s own status (a symlink's, not its target's)."""
        if self.fd is not None:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        return os.lstat(self.path / name)

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, both in this folder, atomically replacing ``dst``."""
        if self.fd is not None:
            os.rename(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            return
        _check_fallback(self.path / dst)
        os.replace(self.path / src, self.path / dst)

    def unlink(self, name: str) -> None:
        """Delete ``name`` from this folder (a symlink itself, never its target)."""
        if self.fd is not None:
            os.unlink(name, dir_fd=self.fd)
        else:
            os.unlink(self.path / name)

    def fsync(self) -> None:
        """Flush this folder's entries to disk; where that cannot be done, nothing."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.fsync(self.fd)

    def close(self) -> None:
        """Let go of the folder."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_folder(root: Path, parts: Sequence[str], *, create: bool = False) -> Folder:
    """The folder ``root/parts...``, opened from ``root``'s descriptor one component at a time
    with ``O_NOFOLLOW``: ``UnsafeComponent`` if one is a symlink or not a folder. With
    ``create``, missing folders are made on the way (``FileNotFoundError`` otherwise)."""
    if not DIR_FD_SUPPORTED:
        return _open_folder_fallback(root, parts, create=create)
    fd = os.open(root, _ROOT_FLAGS)
    where = root
    try:
        for part in parts:
            where = where / part
            parent, fd = fd, -1  # (_step closes the parent whatever happens)
            fd = _step(parent, part, where, create=create)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return Folder(where, fd)


class HeldFolders:
    """Folders below roots, each opened once (as ``open_folder`` opens it) and held for a
    batch of files landing together, then closed together (``close``). A folder is opened
    from the nearest folder above it already held, one component at a time, never through a
    symlink: what the batch does in it is done in that folder, as with ``open_folder``."""

    def __init__(self) -> None:
        self._held: dict[tuple[Path, tuple[str, ...]], Folder] = {}

    def get(self, root: Path, parts: Sequence[str], *, create: bool = False) -> Folder:
        """The folder ``root/parts...``, held until ``close`` (callers must not close it)."""
        key = (root, tuple(parts))
        folder = self._held.get(key)
        if folder is not None:
            return folder
        if not DIR_FD_SUPPORTED or not parts:
            folder = open_folder(root, parts, create=create)
        else:
            above = self.get(root, parts[:-1], create=create)
            assert above.fd is not None
            where = above.path / parts[-1]
            folder = Folder(where, _step(os.dup(above.fd), parts[-1], where, create=create))
        self._held[key] = folder
        return folder

    def close(self) -> None:
        """Let go of every folder held."""
        for folder in self._held.values():
            folder.close()
        self._held.clear()


def _step(parent: int, part: str, where: Path, *, create: bool) -> int:
    """Open folder ``part`` of the folder ``parent`` (closing ``parent``)."""
    try:
        try:
            return os.open(part, _FOLDER_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            # (made meanwhile, by a concurrent download, say: open what is there)
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=parent)
            return os.open(part, _FOLDER_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.stat(part, dir_fd=parent, follow_symlinks=False)
            what = _SYMLINK if stat.S_ISLNK(st.st_mode) else _NOT_A_FOLDER
            raise UnsafeComponent(where, what) from None
    finally:
        os.close(parent)


def open_under(root: Path, rel: str, flags: int = os.O_RDONLY) -> int:
    """Open the file at ``rel`` (``/``-separated, relative) below ``root``: every folder on the
    way and the file itself opened without following a symlink. A descriptor to close."""
    *folders, name = rel.split("/")
    with open_folder(root, folders) as folder:
        return folder.open(name, flags)


def rename_between(src: Folder, src_name: str, dst: Folder, dst_name: str) -> None:
    """``renameat`` from one held folder to another (replacing ``dst_name``)."""
    if src.fd is not None and dst.fd is not None:
        os.rename(src_name, dst_name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)
        return
    _check_fallback(dst.path / dst_name)
    os.replace(src.path / src_name, dst.path / dst_name)


def rename_below(root: Path, src: str, dst: str) -> None:
    """Rename ``src`` to ``dst`` (both ``/``-separated, relative to ``root``), each folder on
    the way opened from ``root`` without following a symlink; the renamed entry itself is
    moved as it is (a symlink stays a symlink), never followed."""
    *src_folders, src_name = src.split("/")
    *dst_folders, dst_name = dst.split("/")
    with open_folder(root, src_folders) as a, open_folder(root, dst_folders) as b:
        rename_between(a, src_name, b, dst_name)


def unlink_below(root: Path, rel: str) -> None:
    """Delete ``rel`` (``/``-separated) below ``root``, in its folder opened from ``root``
    without following a symlink."""
    *folders, name = rel.split("/")
    with open_folder(root, folders) as folder:
        folder.unlink(name)


# -- without dir_fd (Windows) -----------------------------------------------------------------


def _open_folder_fallback(root: Path, parts: Sequence[str], *, create: bool) -> Folder:
    where = root
    for part in parts:
        where = where / part
        try:
            st = os.lstat(where)
        except FileNotFoundError:
            if not create:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(where)
            st = os.lstat(where)
        if stat.S_ISLNK(st.st_mode) or _is_junction(where):
            raise UnsafeComponent(where, _SYMLINK)
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeComponent(where, _NOT_A_FOLDER)
    _check_fallback(where, root)
    return Folder(where, None)


def _is_junction(path: Path) -> bool:
    is_junction = getattr(os.path, "isjunction", None)  # (Python 3.12+)
    return bool(is_junction(path)) if is_junction is not None else False


def _check_fallback(path: Path, root: Path | None = None) -> None:
    """Without ``dir_fd``: ``path`` is no symlink, and resolves to a place inside ``root`` (by
    default: inside its own folder, which the caller checked already)."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode) or _is_junction(path):
            raise UnsafeComponent(path, _SYMLINK)
    except FileNotFoundError:
        pass
    inside = os.path.realpath(root if root is not None else path.parent)
    resolved = os.path.realpath(path)
    if os.path.commonpath([inside, resolved]) != inside:
        raise UnsafeComponent(path, "leads outside its folder; not following it")
