"""Receiving an accepted offer: the sender's folder fetched like any folder of the network.

How it works: ``receive_offer`` has the node fetch the sender as a temporary peer (its server
lists the offer's folder to us alone), waits until that folder's files are in the node's
status, and checks them against the offer: the same paths, sizes and content ids, nothing
more and nothing less (anything else: ``OfferFailed``, "the files changed"). It then plans the
names (``offer_names``) and queues one ordinary download job per file, its content pinned to
the offer's (block-verified and resumable, as every download), and waits until every job has
finished. A job that fails fails the offer (the others are cancelled, their partial files
removed); a cancelled run (the sender cancelled) cancels the jobs the same way.
``tell_sender`` carries what the receiver says back (answer, receipt, cancel) to the sender's
server.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mfsync.engine.download_jobs import DownloadJob, JobKey
from mfsync.engine.node import Node
from mfsync.engine.outbox import TELL_TIMEOUT
from mfsync.engine.status import RemoteFile
from mfsync.engine.transfer_status import FINISHED_STATES, TransfersStatus, TransferState
from mfsync.engine.transfers import Downloader
from mfsync.net.channel import ChannelError, PeerRefused
from mfsync.net.client import send_answer, send_cancel, send_receipt
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.offer_messages import (
    AnswerRequest,
    CancelRequest,
    OfferEntry,
    ReceiptRequest,
)

__all__ = [
    "INDEX_WAIT",
    "OfferFailed",
    "OfferSource",
    "offer_names",
    "receive_offer",
    "tell_sender",
]

log = logging.getLogger("mfsync.offers")

#: How long the sender's folder list may take to show the offer's files once accepted.
INDEX_WAIT = 30.0
#: Seconds between two tries of telling a sender out of reach (``tell_sender``).
TELL_RETRY = 5.0
#: At most this many "name (N)" tried for a folder received under a name that is taken.
MAX_NAME_TRIES = 1000


class OfferFailed(Exception):
    """The offer cannot be received; the message says why (it is told to the sender too)."""


@dataclass(frozen=True, slots=True)
class OfferSource:
    """Where an offer's files are fetched from: its sender's key and server."""

    offer: FolderId
    key: bytes
    address: str
    port: int


def offer_names(dest: Path, entries: Sequence[OfferEntry], taken: set[str]) -> dict[str, str]:
    """For each top-level folder of ``entries``, the name it is received under in ``dest``:
    its own, or "NAME (2)", "NAME (3)", ... when that is taken on disk or in ``taken`` (the
    casefolded names other offers are being received under; it is added to). Blocking
    (it looks at the disk): run it in a worker thread. Loose files keep their names here: the
    download's placement gives a file that is in the way a conflict name."""
    names: dict[str, str] = {}
    for top in dict.fromkeys(e.path.split("/", 1)[0] for e in entries if "/" in e.path):
        name, tries = top, 1
        while name.casefold() in taken or (dest / name).exists() or (dest / name).is_symlink():
            tries += 1
            if tries > MAX_NAME_TRIES:
                raise OfferFailed(f"no free name for {top!r} in {dest}")
            name = f"{top} ({tries})"
        taken.add(name.casefold())
        names[top] = name
    return names


def _stored(path: str, names: dict[str, str]) -> str | None:
    """The wire path ``path`` is written as (None: its own)."""
    top, sep, rest = path.partition("/")
    if not sep or names.get(top, top) == top:
        return None
    return f"{names[top]}/{rest}"


async def _offered_files(node: Node, source: OfferSource, count: int,
                         wait: float) -> dict[str, RemoteFile]:
    """The offer's files as the sender's folder list and index show them, once ``count`` are
    there (or whatever is there after ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        found = {f.path: f for f in node.status.files
                 if f.folder == source.offer and any(h.key == source.key for h in f.hosts)}
        left = deadline - time.monotonic()
        if len(found) >= count or left <= 0:
            return found
        await node.wait_for_change(min(left, 1.0))
        _raise_if_cancelled()


def _raise_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task is being cancelled: what it awaited may have
    swallowed the cancel (``asyncio.wait_for`` on Python 3.11 does, as the awaited completes)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _check(entries: Sequence[OfferEntry], found: dict[str, RemoteFile]) -> None:
    """``OfferFailed`` unless ``found`` holds exactly the offer's files."""
    if not found:
        raise OfferFailed("the sender's files did not appear")
    if len(found) != len(entries):
        raise OfferFailed("the files changed: the sender serves other files than it offered")
    for entry in entries:
        remote = found.get(entry.path)
        if remote is None or (remote.size, remote.content_id) != (entry.size, entry.content_id):
            raise OfferFailed(f"the files changed: {entry.path!r} is not what was offered")


async def receive_offer(node: Node, downloader: Downloader, source: OfferSource,
                        entries: Sequence[OfferEntry], dest: Path, *, names: dict[str, str],
                        index_wait: float = INDEX_WAIT) -> None:
    """Fetch the offer's ``entries`` from ``source`` into ``dest`` (top-level folders renamed
    as ``names`` says); returns once every file is in place and verified. ``OfferFailed``
    says why not; cancelling it cancels the downloads (their partial files are removed)."""
    node.add_temporary_peer(source.address, source.port)
    keys: list[JobKey] = []
    try:
        found = await _offered_files(node, source, len(entries), index_wait)
        _check(entries, found)
        for entry in entries:
            job = DownloadJob(entry.path, dest, content_id=entry.content_id,
                              store_as=_stored(entry.path, names), folder=source.offer)
            if not downloader.add(job):
                raise OfferFailed(f"{job.stored!r} is being received already")
            keys.append(job.key)
        await _finished(downloader, keys)
    except BaseException:
        for key in keys:
            downloader.cancel(key)  # (a finished one stays; a running one loses its partial)
        raise
    finally:
        node.remove_temporary_peer(source.address, source.port)


async def _finished(downloader: Downloader, keys: list[JobKey]) -> None:
    """Wait until every job of ``keys`` has finished; ``OfferFailed`` if one did not succeed."""
    changed = asyncio.Event()
    unsubscribe = downloader.subscribe(lambda _status: changed.set())
    try:
        while True:
            failure = _outcome(downloader.status, set(keys))
            if failure is not None:
                if failure:
                    raise OfferFailed(failure)
                return
            changed.clear()
            # (``asyncio.timeout``, not ``wait_for``: on Python 3.11 a cancel that comes as the
            # event is set is lost in ``wait_for``, and a cancelled offer went on receiving)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await changed.wait()
    finally:
        unsubscribe()


def _outcome(status: TransfersStatus, keys: set[JobKey]) -> str | None:
    """Why a job of ``keys`` did not succeed (the first to fail decides at once); else None
    while some is under way, "" once all succeeded."""
    states = {t.key: t for t in status.transfers if t.key in keys}
    for transfer in states.values():
        if transfer.state is TransferState.FAILED:
            return f"{transfer.path}: {transfer.error}"
        if transfer.state is TransferState.CANCELLED:
            return f"{transfer.path}: cancelled"
    if len(states) < len(keys) or any(t.state not in FINISHED_STATES for t in states.values()):
        return None
    return ""


async def tell_sender(node: Node, source: OfferSource,
                      request: AnswerRequest | ReceiptRequest | CancelRequest, *, who: str,
                      tries: int = 1) -> bool:
    """Send ``request`` to the server of the offer's sender (``who``, for the log): where the
    offer came from, the port it named, proving its key. Whether it was taken. A sender out of
    reach is tried ``tries`` times in all, ``TELL_RETRY`` apart; one that refuses it (it no
    longer knows the offer) is not asked again."""
    send = {AnswerRequest: send_answer, ReceiptRequest: send_receipt,
            CancelRequest: send_cancel}[type(request)]
    for attempt in range(1, tries + 1):
        try:
            async with asyncio.timeout(TELL_TIMEOUT):
                channel = await node.open_to(source.address, source.port, source.key)
                try:
                    await send(channel, request)  # type: ignore[operator]
                finally:
                    await channel.close()
            return True
        except (ChannelError, OSError, TimeoutError) as exc:
            log.info("could not tell %s about offer %s: %s", who, source.offer,
                     str(exc) or type(exc).__name__)
            if isinstance(exc, PeerRefused) or attempt == tries:
                return False
        await asyncio.sleep(TELL_RETRY)
    return False
