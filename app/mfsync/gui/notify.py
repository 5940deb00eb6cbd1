"""What the user is told about: finished downloads, failures and refused computers, batched.

How it works: the app reports each event (``downloaded``, ``failed``, ``refused``); events of one
kind collect in a batch that is shown when no new event of that kind came for ``window``
seconds, or at the latest ``max_delay`` after its first one, so a sync of 500 files gives one
notification ("500 files arrived in Photos from laptop-anna"), not 500; downloads name the
folder they arrived in (a synced folder's label, or the download folder), grouped by folder.
The notifier keeps no timer: the app asks ``pending_until()`` when to call ``flush()`` next,
and tests pass a fake clock. An untrusted
computer that keeps knocking is shown once per ``quiet`` period. Names come from peers, so
control and format characters (a bidi override can disguise ``gpj.exe`` as ``exe.jpg``) are
replaced before anything is shown. No Qt here.
"""

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from mfsync.display import shown
from mfsync.gui.i18n import tr

__all__ = [
    "DOWNLOAD",
    "FAILURE",
    "INVITATION",
    "KINDS",
    "REFUSED",
    "SENT",
    "NotificationSink",
    "Notifier",
    "enabled_from_config",
]

log = logging.getLogger("mfsync.gui")

DOWNLOAD = "download"
FAILURE = "failure"
REFUSED = "refused"
INVITATION = "invitation"
#: Files we sent to a host reached their end: delivered, declined, refused, ...
SENT = "sent"
#: Every kind of notification, in the order a flush shows them.
KINDS = (DOWNLOAD, FAILURE, REFUSED, INVITATION, SENT)
#: Seconds without a new event of a kind before its batch is shown.
DEFAULT_WINDOW = 2.0
#: A batch waits at most this many windows, however steadily events keep coming.
MAX_DELAY_WINDOWS = 5
#: Seconds during which the same refused key is not shown again.
REFUSED_QUIET = 600.0
#: Longest name shown (a file or host name); longer ones are shortened in the middle.
MAX_NAME = 60


class NotificationSink(Protocol):
    """Shows one notification: the tray balloon, a desktop notification, a test's list.

    ``kind`` is one of ``KINDS``; ``target`` is a file or folder to open when the notification
    is clicked, or None to open the window. Texts are plain text (a sink that hands them to a
    service which reads markup escapes them)."""

    def show(self, title: str, text: str, kind: str, target: str | None) -> None:
        """Show the notification now."""


@dataclass
class _Batch:
    first: float
    last: float
    #: the batch's events by what identifies them (a later event for the same key replaces one)
    items: dict[Any, tuple[str, ...]] = field(default_factory=dict)


class Notifier:
    """Turns engine events into batched notifications on ``sink``."""

    def __init__(
        self,
        sink: NotificationSink,
        clock: Callable[[], float] = time.monotonic,
        window: float = DEFAULT_WINDOW,
        *,
        max_delay: float | None = None,
        quiet: float = REFUSED_QUIET,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.window = window
        self.max_delay = max_delay if max_delay is not None else window * MAX_DELAY_WINDOWS
        self.quiet = quiet
        #: Which kinds are shown; events of a switched-off kind are dropped.
        self.enabled: dict[str, bool] = dict.fromkeys(KINDS, True)
        self._batches: dict[str, _Batch] = {}
        self._refused_at: dict[str, float] = {}

    # -- events ---------------------------------------------------------------------------------

    def downloaded(self, path: str, target: Path, host_name: str, folder: str = "") -> None:
        """The network file ``path`` was saved as the local file ``target``, from ``host_name``,
        into the folder people call ``folder`` (a synced folder's label, "the download
        folder"; empty: not named)."""
        self._add(DOWNLOAD, str(target), (path, str(target), host_name, folder))

    def failed(self, path: str, error: str) -> None:
        """Downloading the network file ``path`` failed with ``error`` (a message for people)."""
        self._add(FAILURE, path, (path, error))

    def refused(self, host: str, key_text: str) -> None:
        """A computer (``host``: its name or address) with the untrusted key ``key_text`` was
        refused."""
        now = self.clock()
        last = self._refused_at.get(key_text)
        if last is not None and now - last < self.quiet:
            return
        if self._add(REFUSED, key_text, (host, key_text), now):
            self._refused_at[key_text] = now

    def invited(self, host: str, label: str, folder_id: str) -> None:
        """``host`` offers us the sync folder ``label`` (``folder_id``), which we do not have.
        (The engine limits how many one host may bring; the app tells of each folder once.)"""
        self._add(INVITATION, folder_id, (host, label, folder_id))

    def sent(self, offer: str, label: str, host: str, outcome: str, delivered: bool) -> None:
        """The files ``label`` we sent to ``host`` (the offer ``offer``) reached their end:
        ``outcome`` says how, for people ("delivered to office-pc", "declined"); whether
        ``delivered``."""
        self._add(SENT, offer, (label, host, outcome, "1" if delivered else ""))

    # -- showing --------------------------------------------------------------------------------

    def pending_until(self) -> float | None:
        """When (on the clock) the next batch is due, or None if nothing waits."""
        return min((self._due(b) for b in self._batches.values()), default=None)

    def flush(self, now: float | None = None) -> int:
        """Show every batch that is due at ``now`` (default: the clock; ``math.inf`` shows all,
        say at quit). Returns how many notifications were shown."""
        if now is None:
            now = self.clock()
        shown = 0
        for kind in KINDS:
            batch = self._batches.get(kind)
            if batch is None or self._due(batch) > now:
                continue
            del self._batches[kind]
            if not self.enabled.get(kind, True):
                continue
            title, text, target = _FORMATS[kind](list(batch.items.values()))
            log.debug("notification (%s): %s: %s", kind, title, text)
            self.sink.show(title, text, kind, target)
            shown += 1
        return shown

    def _add(self, kind: str, key: Any, item: tuple[str, ...], now: float | None = None) -> bool:
        if not self.enabled.get(kind, True):
            return False
        if now is None:
            now = self.clock()
        batch = self._batches.get(kind)
        if batch is None:
            batch = self._batches[kind] = _Batch(first=now, last=now)
        batch.last = now
        batch.items.pop(key, None)  # the latest event for a key counts, in arrival order
        batch.items[key] = item
        return True

    def _due(self, batch: _Batch) -> float:
        return min(batch.last + self.window, batch.first + self.max_delay)


def enabled_from_config(config: Any) -> dict[str, bool]:
    """The notifier's ``enabled`` switches from a ``mfsync.config.Config``."""
    return {
        DOWNLOAD: bool(config.notify_downloads),
        FAILURE: bool(config.notify_failures),
        REFUSED: bool(config.notify_refused),
        INVITATION: bool(config.notify_invitations),
        # the end of a send is the end of a transfer, as a finished download is
        SENT: bool(config.notify_downloads),
    }


# -- texts -----------------------------------------------------------------------------------------

def _downloads(items: list[tuple[str, ...]]) -> tuple[str, str, str | None]:
    hosts = _names(host or tr("another computer") for _path, _target, host, _folder in items)
    where = _arrived_in(folder for _path, _target, _host, folder in items)
    if len(items) == 1:
        path, target, _host, _folder = items[0]
        return (tr("Download finished"), tr("{file}{where} from {hosts}").format(
            file=_plain(PurePosixPath(path).name), where=where, hosts=hosts), target)
    folder = _common_folder(target for _path, target, _host, _folder in items)
    return (tr("Downloads finished"), tr("%n file(s){where} from {hosts}", "", len(items)).format(
        where=where, hosts=hosts), folder)


def _arrived_in(folders: Iterable[str]) -> str:
    """`` arrived in Photos``, `` arrived in Photos (8) and Notes (4)``, or nothing when no
    folder is named: the folders files arrived in, most files first, at most two named."""
    counts: dict[str, int] = {}
    for folder in folders:
        counts[folder] = counts.get(folder, 0) + 1
    if not any(counts):
        return ""
    named = sorted(((n, f) for f, n in counts.items() if f), key=lambda c: -c[0])
    others = len(counts) - len(named)  # files of no named folder count as one more place
    if len(named) == 1 and not others:
        return tr(" arrived in {folder}").format(folder=_plain(named[0][1]))
    parts = [f"{_plain(folder)} ({count})" for count, folder in named[:2]]
    rest = max(len(named) - 2, 0) + others
    if rest > 0:
        return tr(" arrived in {folders} and %n more folder(s)", "", rest).format(
            folders=", ".join(parts))
    return tr(" arrived in {first} and {second}").format(first=parts[0], second=parts[1])


def _failures(items: list[tuple[str, ...]]) -> tuple[str, str, str | None]:
    path, error = items[-1]
    text = f"{_plain(PurePosixPath(path).name)}: {_plain(error, 200)}"
    if len(items) == 1:
        return tr("Download failed"), text, None
    return (tr("%n download(s) failed", "", len(items)),
            tr("{text} (and %n more)", "", len(items) - 1).format(text=text), None)


def _refusals(items: list[tuple[str, ...]]) -> tuple[str, str, str | None]:
    if len(items) == 1:
        host, key_text = items[0]
        key = key_text if len(key_text) <= 16 else key_text[:12] + "…"
        return (tr("Refused an untrusted computer"),
                tr("{host} (key {key}) is not in your trusted keys").format(
                    host=_plain(host), key=_plain(key)), None)
    hosts = _names(host for host, _key in items)
    return (tr("Refused %n untrusted computer(s)", "", len(items)),
            tr("{hosts} are not in your trusted keys").format(hosts=hosts), None)


def _invitations(items: list[tuple[str, ...]]) -> tuple[str, str, str | None]:
    if len(items) == 1:
        host, label, folder_id = items[0]
        return (tr("{host} shares '{label}'").format(host=_plain(host), label=_plain(label)),
                tr("Sync it here, download it once or ignore it: open mfsync ({id}).").format(
                    id=folder_id), None)
    hosts = _names(host for host, _label, _id in items)
    labels = _names(f"'{label}'" for _host, label, _id in items)
    return (tr("%n folder(s) offered to sync", "", len(items)),
            tr("{hosts} share {labels}: open mfsync to sync, download or ignore them.").format(
                hosts=hosts, labels=labels), None)


def _sends(items: list[tuple[str, ...]]) -> tuple[str, str, str | None]:
    if len(items) == 1:
        label, host, outcome, delivered = items[0]
        if delivered:
            return (tr("Sent to {host}").format(host=_plain(host)),
                    tr("{label}: received and verified").format(label=_plain(label)), None)
        return (tr("Not sent to {host}").format(host=_plain(host)),
                f"{_plain(label)}: {_plain(outcome, 200)}", None)
    done = sum(1 for *_rest, delivered in items if delivered)
    hosts = _names(host for _label, host, _outcome, _delivered in items)
    title = (tr("{done} of %n send(s) delivered", "", len(items)).format(done=done)
             if done < len(items) else tr("%n send(s) delivered", "", len(items)))
    return title, tr("to {hosts}").format(hosts=hosts), None


_FORMATS = {DOWNLOAD: _downloads, FAILURE: _failures, REFUSED: _refusals,
            INVITATION: _invitations, SENT: _sends}


def _names(names: Iterable[str]) -> str:
    unique = list(dict.fromkeys(_plain(n) for n in names))
    if len(unique) == 1:
        return unique[0]
    if len(unique) == 2:
        return tr("{first} and {second}").format(first=unique[0], second=unique[1])
    return tr("{first}, {second} and %n more", "", len(unique) - 2).format(
        first=unique[0], second=unique[1])


def _common_folder(targets: Iterable[str]) -> str | None:
    try:
        return os.path.commonpath([os.path.dirname(t) for t in targets]) or None
    except ValueError:  # different drives, or relative and absolute mixed
        return None


def _plain(text: str, limit: int = MAX_NAME) -> str:
    # peers' names, shown as the command line shows them (escaped, see mfsync.display)
    text = shown(text)
    if len(text) > limit:
        half = (limit - 1) // 2
        text = text[:half] + "…" + text[-(limit - 1 - half):]
    return text
