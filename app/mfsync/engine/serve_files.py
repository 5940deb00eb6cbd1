"""Reading what is served: one file opened safely, and a batch of small files in one trip.

A served file is opened from the share root's descriptor one component at a time, none followed
if it is a symlink (``store.dirfd.open_under``), and must still have the size and modification
time the index holds; otherwise it is no longer the content asked for (CHANGED).

``send_batch`` answers a ``GetFilesRequest`` (PROTOCOL.md 3.15): it looks every file up in the
index, reads all that are found in **one** worker-thread trip (a trip per 4 KiB file cost more
than reading it), then sends each file's ``FileData`` or ``FileFailed`` back to back and the
closing ``End``. A file that changed since it was indexed gets CHANGED and a rescan, and the
others still go. The caps (``MAX_BATCH_FILE_SIZE`` per file, ``MAX_BATCH_BYTES`` in all) are
checked on the sizes the request names, before anything is read: a request over them is
refused whole with BAD_REQUEST.
"""

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from mfsync.engine.folder_view import ServedRoot
from mfsync.protocol.messages import (
    MAX_BATCH_BYTES,
    MAX_BATCH_FILE_SIZE,
    End,
    ErrorCode,
    ErrorMessage,
    FileData,
    FileFailed,
    GetFilesRequest,
    Message,
)
from mfsync.store.dirfd import open_under
from mfsync.store.local_file import LocalFile

__all__ = ["open_unchanged", "read_piece", "send_batch", "unchanged"]

log = logging.getLogger("mfsync.serve")

#: How a batch looks a path up: the share set that offers it and its file there, or None.
Find = Callable[[str], tuple[ServedRoot, LocalFile] | None]


def unchanged(st: os.stat_result, local: LocalFile) -> bool:
    """Whether a file's status still shows the size and modification time indexed."""
    return (st.st_size, st.st_mtime_ns) == (local.size, local.mtime_ns)


def open_unchanged(root: Path, local: LocalFile) -> int:
    """Open ``local`` for serving: from the share root's descriptor one component at a time,
    none followed if it is a symlink (a folder swapped for a symlink after the scan must not
    serve what is outside the share); ``OSError`` if it is not the file indexed any more."""
    fd = open_under(root, local.disk_path)
    if not unchanged(os.fstat(fd), local):
        os.close(fd)
        raise OSError(f"{local.path} changed since it was indexed")
    return fd


def read_piece(root: Path, local: LocalFile, offset: int, length: int) -> bytes | None:
    """``length`` bytes of ``local`` (below ``root``) from ``offset``, or None if the file is
    no longer the one indexed (or shrank)."""
    fd = open_unchanged(root, local)
    try:
        data = os.pread(fd, length, offset)
        if len(data) != length or not unchanged(os.fstat(fd), local):
            return None
        return data
    finally:
        os.close(fd)


def _read_all(found: list[tuple[Path, LocalFile]]) -> list[bytes | None]:
    """Every one of ``found`` whole, or None for one that is not the file indexed any more
    (changed, gone, unreadable). Blocks: one worker-thread trip for the whole batch."""
    contents: list[bytes | None] = []
    for root, local in found:
        try:
            contents.append(read_piece(root, local, 0, local.size))
        except OSError as exc:
            log.debug("cannot serve %s: %s", local.path, exc)
            contents.append(None)
    return contents


async def send_batch(send: Callable[[Message], Awaitable[None]], request: GetFilesRequest,
                     find: Find, on_changed: Callable[[], None],
                     sent: Callable[[int], None]) -> ErrorMessage | None:
    """Answer ``request`` through ``send`` (see the module's docstring), looking paths up with
    ``find``; ``on_changed`` asks for a rescan, ``sent`` counts the bytes served. Returns the
    refusal of the whole request for the caller to send (BAD_REQUEST), or None once answered."""
    files = request.files
    if (any(file.size > MAX_BATCH_FILE_SIZE for file in files)
            or sum(file.size for file in files) > MAX_BATCH_BYTES):
        return ErrorMessage(ErrorCode.BAD_REQUEST,
                            f"a batch of files over {MAX_BATCH_FILE_SIZE} bytes each or "
                            f"{MAX_BATCH_BYTES} in all")
    answers: list[ErrorMessage | None] = []
    to_read: list[tuple[Path, LocalFile]] = []
    for file in files:
        found = find(file.path)
        if found is None:
            answers.append(ErrorMessage(ErrorCode.NOT_FOUND, f"{file.path!r} is not shared here"))
        elif found[1].hashes.content_id != file.content_id:
            answers.append(ErrorMessage(ErrorCode.CHANGED, f"{file.path!r} has changed"))
        elif found[1].size != file.size:
            answers.append(ErrorMessage(ErrorCode.BAD_REQUEST,
                                        f"{file.path!r} is {found[1].size} bytes"))
        else:
            answers.append(None)
            to_read.append((found[0].root, found[1]))
    contents = await asyncio.to_thread(_read_all, to_read) if to_read else []
    read = iter(contents)
    rescan = False
    for index, (file, refusal) in enumerate(zip(files, answers, strict=True)):
        data = next(read) if refusal is None else None
        if data is not None:
            await send(FileData(index, data))
            sent(len(data))
            continue
        if refusal is None:  # found, but not the file indexed any more
            rescan = True
        await send(FileFailed(index, refusal or ErrorMessage(
            ErrorCode.CHANGED, f"{file.path!r} has changed")))
    if rescan:
        log.info("a file of a batch changed since it was indexed: rescanning")
        on_changed()
    await send(End(len(files)))
    return None
