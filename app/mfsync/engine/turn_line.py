"""The line for turns on the network: which jobs wait for one, and the host each will ask.

A job joins the line as soon as it has chosen its host (``chose``), before its local checks,
so that a job that just left a slow host for another one is seen as waiting even before it is
back in line; it takes its place in line (``place``) once its checks are done, and leaves the
line when its turn comes. While one host holds every turn (``Turns.busy``), ``share`` looks at
the jobs in line: one waiting for the busy host that would now choose another host is nudged to
choose again (once per change of the network's offer or of a slow mark: the policy's
``epoch``), and one waiting for another host that is not slow gets a spare turn. ``watch_rates``
measures the attempts holding turns and takes the turn of a slow one that someone else can use.
"""

import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mfsync.engine.attempts import Attempt
from mfsync.engine.download_jobs import JobKey
from mfsync.engine.sources import SourcePolicy
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.turns import Endpoint, Turn, Turns, endpoint

__all__ = ["TurnLine"]

log = logging.getLogger("mfsync.transfer")

#: A job's path and its offer now (None: not offered), by its key; None for a job gone.
OfferOf = Callable[[JobKey], tuple[str, RemoteFile | None] | None]


@dataclass
class _Place:
    """A job's place in line for a turn, as ``TurnLine.share`` sees it."""

    turn: Turn
    #: The hosts (address, port) cooling down for the job when it chose its host.
    cooling: frozenset[Endpoint]
    #: The busy host and choices epoch when the job's choice was last looked at.
    checked: tuple[Endpoint, int] | None = None


class TurnLine:
    """``count`` turns and the jobs waiting for them (see the module's docstring). ``offer_of``
    tells a job's path and current offer; ``queued`` whether jobs wait that have not chosen a
    host yet."""

    def __init__(self, count: int, policy: SourcePolicy, offer_of: OfferOf,
                 queued: Callable[[], bool]) -> None:
        self.turns = Turns(count, self.share)
        self._policy = policy
        self._offer_of = offer_of
        self._queued = queued
        #: Jobs on their way to a turn (checking their target, or waiting), and their hosts.
        self._waiters: dict[JobKey, HostRef] = {}
        #: The places in line of the jobs waiting for a turn.
        self._places: dict[JobKey, _Place] = {}
        #: The attempts receiving now (holding turns), watched for their rate.
        self.attempts: dict[JobKey, Attempt] = {}

    def chose(self, key: JobKey, host: HostRef) -> None:
        """The job ``key`` will ask ``host``: it waits for a turn from now on."""
        self._waiters[key] = host

    def place(self, key: JobKey, cooling: frozenset[Endpoint]) -> Turn:
        """Take the job's place in line now (``cooling``: the hosts cooling down for it when it
        chose); wait for it with ``wait``."""
        turn = self.turns.place()
        self._places[key] = _Place(turn, cooling)
        self.share()
        return turn

    async def wait(self, key: JobKey, turn: Turn, host: HostRef) -> None:
        """Wait for the job's turn (or a nudge), then leave the line."""
        await turn.wait(host)
        self.leave(key)

    def leave(self, key: JobKey) -> None:
        """The job is no longer in line (its turn came, or it stopped)."""
        self._places.pop(key, None)
        self._waiters.pop(key, None)

    def offer_changed(self) -> None:
        """The network's offer changed: choices may differ now."""
        self._policy.offer_changed()
        self.share()

    def share(self) -> None:
        """While one host holds every turn: jobs waiting for it that would now choose another
        host choose again, and a job waiting for another host (not slow) starts on a spare
        turn. Called whenever turns change hands or the network's offer changes."""
        busy = self.turns.busy()
        if busy is None:
            return
        policy = self._policy
        for key, place in list(self._places.items()):
            host = self._waiters.get(key)
            turn = place.turn
            if host is None or not turn.waiting:
                continue
            if endpoint(host) == busy:
                if place.checked == (busy, policy.epoch):
                    continue  # nothing changed since it was looked at
                place.checked = (busy, policy.epoch)
                offer = self._offer_of(key)
                # Chosen as the job would choose now (the same hosts cooling down): only a
                # different answer wakes it, so it cannot be woken again for nothing.
                if offer is not None and policy.choose_again(*offer, place.cooling, busy):
                    turn.nudge()
            elif policy.may_take_spare(host) and self.turns.spare_free():
                self.turns.grant_spare(turn)

    def waiting(self) -> bool:
        """Whether any download waits for a turn (in line, or not yet started)."""
        return self._queued() or self.turns.waiting

    def others_waiting(self, slow: HostRef) -> bool:
        """Whether work that does not need ``slow`` waits for a turn (see
        ``SourcePolicy.others_waiting``)."""
        return self._policy.others_waiting(slow, self._queued(), self._waiting_offers())

    def watch_rates(self) -> None:
        """Measure every attempt receiving now; take the turn of a slow one if someone else can
        use it (``SourcePolicy.preemption``)."""
        now = time.monotonic()
        for key, attempt in list(self.attempts.items()):
            if attempt.meter is None or attempt.preempted:
                continue
            slow = attempt.meter.sample(now, attempt.received())
            if slow is None:
                continue
            if news := self._policy.measured(attempt.host, slow):
                log.info("%s", news)
            offer = self._offer_of(key)
            if not slow or offer is None:
                continue
            why = self._policy.preemption(offer[1], attempt.host,
                                          functools.partial(self.others_waiting, attempt.host))
            if why:
                attempt.preempt(why)

    def _waiting_offers(self) -> Iterator[tuple[HostRef, RemoteFile | None]]:
        for key, host in list(self._waiters.items()):
            offer = self._offer_of(key)
            yield host, None if offer is None else offer[1]
