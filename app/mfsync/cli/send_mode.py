"""``mfsync send PATH... --to NAME|KEY|HOST[:PORT]``: offer files to one host, wait for it.

How it works: the run is a service that serves on a free port (the offer names it; the
receiver pulls the files from there) and takes no folder of its own. It finds the recipient
(:mod:`mfsync.cli.recipient`: a key seen on the network, the one key a name gives, or the key
the host at an address proves), then hands the paths to ``service.offers.send`` and follows
the offer's ``OutgoingStatus`` until it ends: it prints the key the files go to, that it waits
for an answer, the progress while the receiver pulls, and how it ended. Exit 0 only when the
receiver has received and verified every file; 1 when it declined, did not answer in time,
refused, or the transfer failed; Ctrl-C cancels the offer on both sides.
"""

import asyncio
import contextlib
import dataclasses
import logging
import sys
from pathlib import Path
from typing import TextIO

from mfsync.cli.modes import ModeError, running_service
from mfsync.cli.offer_lines import delivered_line, send_progress_line, sending_line
from mfsync.cli.parser import UsageError
from mfsync.cli.recipient import (
    AddressTarget,
    KeyTarget,
    NameTarget,
    Target,
    check_one,
    keys_named,
    parse_target,
    peer_at,
    proven_at,
    seen_with_key,
)
from mfsync.cli.setup import Settings
from mfsync.cli.terminal import CLEAR_LINE, should_enable
from mfsync.crypto.keys import format_key
from mfsync.display import shown
from mfsync.engine.folder_names import FolderId
from mfsync.engine.outbox import OutgoingState, OutgoingStatus
from mfsync.engine.service import RunPlan, Service, ServiceError

__all__ = ["CONNECT_TIMEOUT", "SEND_COMMAND", "failure_text", "run_send"]

log = logging.getLogger("mfsync.cli")

#: How the run is named to other processes.
SEND_COMMAND = "mfsync send"
#: How long ``--to HOST:PORT`` waits for the host there to prove its key.
CONNECT_TIMEOUT = 15.0
#: The progress line is redrawn at most this often (seconds).
REDRAW_INTERVAL = 0.2
#: After Ctrl-C, how long the run waits for the receiver to hear of the cancel.
CANCEL_GRACE = 3.0

#: The states an offer ends in, and whether the run succeeded.
_FINAL = {
    OutgoingState.DELIVERED: True,
    OutgoingState.DECLINED: False,
    OutgoingState.REFUSED: False,
    OutgoingState.TIMED_OUT: False,
    OutgoingState.CANCELLED: False,
    OutgoingState.FAILED: False,
}


async def run_send(settings: Settings, paths: list[str], to: str, *, verbose: int = 0) -> int:
    """Send ``paths`` to the host ``to`` names; the exit code (see the module's text)."""
    target = parse_target(to)
    sources = [_source(path) for path in paths]
    peers = settings.peers
    if isinstance(target, AddressTarget):
        peers = (*peers, (target.host, target.port))
    # The server the receiver pulls from: a free port, unless --port (or the file) names one.
    port = settings.port if settings.port_explicit else 0
    run_settings = dataclasses.replace(settings, peers=peers, port=port)
    run = RunPlan(command=SEND_COMMAND)
    async with running_service(run_settings, run, wants=False, serve=True) as service:
        key, address = await _recipient(service, target, settings)
        name = _name_of(service, key)
        try:
            offer = service.offers.send(sources, key, address)
        except ServiceError as exc:
            raise ModeError(str(exc)) from None
        return await _follow(service, offer, name, key, verbose=verbose)


def _source(path: str) -> Path:
    """A path to send, as given (``UsageError`` when there is nothing there)."""
    source = Path(path).expanduser()
    if not source.exists() and not source.is_symlink():
        raise UsageError(f"{path}: no such file or folder")
    return source


async def _recipient(service: Service, target: Target,
                     settings: Settings) -> tuple[bytes, tuple[str, int] | None]:
    """The key the files go to, once the network has shown it, and for ``--to HOST:PORT`` the
    address it proved it at (``ModeError`` when it does not in time; ``UsageError`` for a name
    several keys have)."""
    loop = asyncio.get_running_loop()
    if isinstance(target, AddressTarget):
        deadline = loop.time() + CONNECT_TIMEOUT
        while True:
            try:
                key = proven_at(target, service.node_status.peers)
            except LookupError as exc:
                raise ModeError(str(exc)) from None
            peer = peer_at(target, service.node_status.peers)
            if key is not None and peer is not None:
                print(f"{target} proved the key {format_key(key)}", flush=True)
                return key, (peer.address, peer.port)
            if loop.time() >= deadline:
                raise ModeError(f"{target} did not answer within {CONNECT_TIMEOUT:g} s")
            await service.wait_for_change(min(0.5, max(0.05, deadline - loop.time())))
    deadline = loop.time() + settings.window
    if isinstance(target, KeyTarget):
        while seen_with_key(target.key, service.node_status.peers) is None:
            if loop.time() >= deadline:
                raise ModeError(
                    f"no host with the key {format_key(target.key)} was seen within "
                    f"{settings.window:g} s. Is `mfsync receive` (or the app) running there? "
                    "If multicast is blocked here, give its address: --to HOST:PORT.")
            await service.wait_for_change(min(0.5, max(0.05, deadline - loop.time())))
        return target.key, None
    assert isinstance(target, NameTarget)
    # A name waits out the whole window: a second host of that name must not be missed.
    while loop.time() < deadline:
        await service.wait_for_change(max(0.05, deadline - loop.time()))
    peers = service.node_status.peers
    names = settings.config.key_names
    try:
        return check_one(target.name, keys_named(target.name, names, peers), names, peers), None
    except LookupError as exc:
        raise ModeError(f"{exc} within {settings.window:g} s. Give its key (--to KEY) or "
                        "its address (--to HOST:PORT); `mfsync --list-hosts` lists the hosts "
                        "seen.") from None


def _name_of(service: Service, key: bytes) -> str:
    """The host of ``key`` as people know it: the name given to its key, else the name it
    announces (empty when it has neither)."""
    given = service.status.name_of(key)
    if given:
        return given
    seen = seen_with_key(key, service.node_status.peers)
    return seen.name if seen is not None else ""


def failure_text(status: OutgoingStatus, who: str) -> str:
    """Why an offer that did not arrive ended, for the error line of ``send``."""
    # (the receiver's default reason is the state's own word: "declined: declined" says less)
    said = status.reason and status.reason.casefold() != status.state.value
    reason = f": {shown(status.reason)}" if said else ""
    if status.state is OutgoingState.DECLINED:
        return f"{who} declined the files{reason}"
    if status.state is OutgoingState.TIMED_OUT:
        return f"{who} did not answer within two minutes; nothing was sent"
    if status.state is OutgoingState.REFUSED:
        return f"{who} refused the files{reason}"
    if status.state is OutgoingState.CANCELLED:
        return f"the transfer was cancelled{reason}"
    return f"sending to {who} failed{reason}"


async def _follow(service: Service, offer: FolderId, name: str, key: bytes, *,
                  verbose: int) -> int:
    """Print the offer's progress until it ends; the exit code."""
    changed = asyncio.Event()
    service.subscribe(lambda _status: changed.set())
    progress = _ProgressLine(sys.stderr, enabled=should_enable(sys.stderr, verbose))
    who = name or "the receiver"
    announced: set[OutgoingState] = set()
    final: OutgoingStatus | None = None
    loop = asyncio.get_running_loop()
    accepted_at: float | None = None
    try:
        while final is None:
            status = _find(service, offer)
            if status is not None:
                if status.state is not OutgoingState.STAGING and not announced:
                    print(sending_line(status.files, status.bytes, name, key), flush=True)
                    announced.add(OutgoingState.STAGING)
                if status.state is OutgoingState.WAITING and status.state not in announced:
                    announced.add(status.state)
                    print(f"waiting for {shown(who)} to accept", flush=True)
                if status.state is OutgoingState.SENDING:
                    if status.state not in announced:
                        announced.add(status.state)
                        accepted_at = loop.time()
                        progress.message(f"{shown(who)} accepted; sending")
                    progress.show(send_progress_line(status.bytes_sent, status.bytes,
                                                     status.speed, status.seconds_left))
                if status.state in _FINAL:
                    final = status
                    break
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), REDRAW_INTERVAL * 5)
    except asyncio.CancelledError:
        # Ctrl-C or -w: the receiver is told (it discards what it received), and the run
        # fails (an exit 0 means delivered; Ctrl-C's own exit code wins over this one).
        progress.close()
        await _cancel(service, offer)
        sys.stderr.write(f"mfsync: error: stopped before {shown(who)} had received "
                         "everything; the offer is cancelled\n")
        return 1
    progress.close()
    if _FINAL[final.state]:
        took = loop.time() - accepted_at if accepted_at is not None else None
        print(delivered_line(name, key, final.files, final.bytes, took), flush=True)
        return 0
    sys.stderr.write(f"mfsync: error: {failure_text(final, shown(who))}\n")
    return 1


def _find(service: Service, offer: FolderId) -> OutgoingStatus | None:
    return next((o for o in service.status.outgoing if o.offer == offer), None)


async def _cancel(service: Service, offer: FolderId) -> None:
    """Ctrl-C: cancel the offer, and give the receiver a moment to hear of it (so that it
    discards what it received rather than keeping a partial)."""
    with contextlib.suppress(ServiceError):
        service.offers.cancel(offer)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_GRACE
    while loop.time() < deadline:
        status = _find(service, offer)
        if status is None or status.state in _FINAL:
            return
        await asyncio.sleep(0.05)


class _ProgressLine:
    """One progress line redrawn in place on a terminal (nothing when not enabled)."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._shown = False

    def show(self, line: str) -> None:
        if self._enabled:
            self._stream.write(f"\r{line}{CLEAR_LINE}")
            self._stream.flush()
            self._shown = True

    def message(self, line: str) -> None:
        if self._shown:
            self._stream.write(f"\r{CLEAR_LINE}")
            self._shown = False
        print(line, flush=True)

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False
