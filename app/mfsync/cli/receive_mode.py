"""``mfsync receive [DEST] [--accept-from KEY...] [--accept-all]``: take what others send.

How it works: the run is a service that serves no folder but listens (senders connect to it
with their offers) and takes offers into DEST (the download folder unless named: the
service's download folder is DEST for this run). The service's accept policy decides what is
accepted at once: the ``--accept-from`` keys, anyone with ``--accept-all``, and trusted keys
when ``acceptFromTrusted`` is on (the default). With a trust list, the engine refuses keys not
on it before anything reaches this mode, so such a sender leaves no trace here. An offer left
for a person is asked about on a terminal, one at a time (:func:`mfsync.cli.prompt.ask`, until
the offer expires), when neither option was given; otherwise it is declined with a log line.
Each delivery is printed once every file is in place and verified. Until Ctrl-C.
"""

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import TextIO

from mfsync.cli.modes import ModeError, running_service
from mfsync.cli.offer_lines import host_text, offer_question, received_line
from mfsync.cli.parser import UsageError
from mfsync.cli.prompt import LineSource, ask
from mfsync.cli.setup import Settings
from mfsync.crypto.keys import format_key, short_key
from mfsync.display import shown
from mfsync.engine.folder_names import FolderId
from mfsync.engine.inbox import AcceptPolicy, IncomingOffer, IncomingState
from mfsync.engine.service import RunPlan, Service, ServiceError, prepare_folder

__all__ = ["RECEIVE_COMMAND", "run_receive"]

log = logging.getLogger("mfsync.cli")

#: How the run is named to other processes.
RECEIVE_COMMAND = "mfsync receive"


async def run_receive(settings: Settings, dest: str | None, *,
                      accept_from: frozenset[bytes] = frozenset(), accept_all: bool = False,
                      stdin: TextIO | None = None) -> int:
    """Take offers until cancelled; see the module's text. ``stdin`` (default ``sys.stdin``)
    is where a person answers."""
    config = settings.config
    root: Path | None = None
    if dest is not None:
        root = Path(dest).expanduser()
        if root.exists() and not root.is_dir():
            raise UsageError(f"{dest} is not a folder")
        try:
            root = await prepare_folder(root, shown_as=dest)
        except ServiceError as exc:
            raise ModeError(str(exc)) from None
    stdin = stdin if stdin is not None else sys.stdin
    asking = not accept_from and not accept_all and _is_terminal(stdin)
    run = RunPlan(command=RECEIVE_COMMAND, takes_offers=True)
    async with running_service(settings, run, wants=False, serve=True) as service:
        service.offers.set_destination(root)
        service.set_accept_policy(AcceptPolicy(
            auto_trusted=config.accept_from_trusted,
            auto_all=accept_all or config.accept_from_anyone, accept_from=accept_from,
            ask=asking))
        status = service.status
        print(f"Receiving into {service.offers.destination()} as {service.name!r} on TCP port "
              f"{status.node.tcp_port} (key {short_key(status.own_key)}…); "
              f"{_policy_text(accept_from, accept_all, asking)}. Press Ctrl-C to stop.",
              flush=True)
        await _Desk(service, LineSource(stdin) if asking else None).run()
    return 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):
        return False


def _policy_text(accept_from: frozenset[bytes], accept_all: bool, asking: bool) -> str:
    if accept_all:
        return "accepting every offer"
    parts = []
    if accept_from:
        parts.append(f"accepting offers from {len(accept_from)} key"
                     f"{'s' * (len(accept_from) != 1)}")
    parts.append("asking about others" if asking else "declining others")
    return ", ".join(parts)


class _Desk:
    """Follows the service's incoming offers: asks about (or declines) those left for a
    person, prints each delivery."""

    def __init__(self, service: Service, lines: LineSource | None) -> None:
        self._service = service
        self._lines = lines
        self._seen: set[FolderId] = set()
        self._ended: set[FolderId] = set()
        self._questions: asyncio.Queue[IncomingOffer] = asyncio.Queue()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        self._service.subscribe(lambda _status: self._changed.set())
        asker = asyncio.get_running_loop().create_task(self._ask_each())
        try:
            while True:
                self._look(self._service.status.incoming)
                self._changed.clear()
                await self._changed.wait()
        finally:
            asker.cancel()

    def _look(self, incoming: tuple[IncomingOffer, ...]) -> None:
        for offer in incoming:
            new = offer.offer not in self._seen
            self._seen.add(offer.offer)
            if new and offer.state is IncomingState.PENDING and self._lines is not None:
                self._questions.put_nowait(offer)
            elif new and offer.state is IncomingState.DECLINED and self._lines is None:
                # Declined by the engine at once: nobody here to ask (see the policy's ask).
                log.warning("declined %s from %s: nobody here to ask; to take offers from this "
                            "host, start `mfsync receive` on a terminal or with --accept-from "
                            "%s", shown(offer.label), _who(offer), format_key(offer.from_key))
            if offer.offer not in self._ended and offer.state in _ENDS:
                self._ended.add(offer.offer)
                self._ending(offer)

    def _ending(self, offer: IncomingOffer) -> None:
        if offer.state is IncomingState.RECEIVED:
            where = str(offer.dest) if offer.dest is not None else "the download folder"
            print(received_line(offer.from_name, offer.from_key, offer.files, offer.bytes,
                                label=offer.label, where=where), flush=True)
        elif offer.state is not IncomingState.DECLINED:
            why = f": {shown(offer.reason)}" if offer.reason else ""
            log.warning("%s from %s %s%s", shown(offer.label), _who(offer), offer.state.value,
                        why)

    async def _ask_each(self) -> None:
        assert self._lines is not None
        while True:
            offer = await self._questions.get()
            left = offer.expires_at - time.time()  # the offer's clock is the wall clock
            current = next((o for o in self._service.status.incoming
                            if o.offer == offer.offer), None)
            if left <= 0 or current is None or current.state is not IncomingState.PENDING:
                continue  # it ended while an earlier one was asked about
            question = offer_question(offer.from_name, offer.from_key, offer.files, offer.bytes,
                                      offer.label, paths=[path for path, _ in offer.first_entries])
            answer = await ask(question, self._lines, sys.stdout, timeout=left)
            if answer is not None:
                self._answer(offer, answer)

    def _answer(self, offer: IncomingOffer, accepted: bool) -> None:
        try:
            if accepted:
                self._service.offers.accept(offer.offer)
            else:
                self._service.offers.decline(offer.offer)
        except (ServiceError, LookupError):  # it ended meanwhile (cancelled, expired)
            log.warning("the offer of %s from %s ended before the answer", shown(offer.label),
                        _who(offer))


#: The states an incoming offer ends in.
_ENDS = frozenset({IncomingState.RECEIVED, IncomingState.DECLINED, IncomingState.CANCELLED,
                   IncomingState.FAILED})


def _who(offer: IncomingOffer) -> str:
    """The sender for a log line: its name and short key."""
    return host_text(offer.from_name, offer.from_key)
