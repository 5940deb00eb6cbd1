"""The downloader's turns on the network, shared so that no host holds them all.

Turns (``Turns``): the downloader receives at most ``count`` files at once, each attempt in a
turn given in line order. No host holds every turn while a job that could use another host
waits: when one host has held them all for ``BUSY_AFTER`` (it took them when nobody else was
waiting, or before the other host was heard), a job that will ask another host starts on a spare
turn (``SPARE_TURNS``), and jobs waiting for the busy host that another host could serve choose
again (``choose_source`` in ``engine.sources`` prefers a host that does not hold every turn). A
trickling host that took every turn therefore does not make other hosts' files wait for its
``RATE_GRACE``.
"""

import asyncio
import time
from collections.abc import Callable, Iterable

from mfsync.engine.loop import current_loop
from mfsync.engine.status import HostRef

__all__ = ["BUSY_AFTER", "SPARE_TURNS", "Endpoint", "Turn", "Turns", "busy_host", "endpoint",
           "holding_every_turn"]

#: Transfers that may run beyond the downloader's turns, and only while one host holds every
#: turn: one, for a job that will ask another host. It exists because a host may take every
#: turn when nobody else is waiting (or before another host is heard), and whether it is slow
#: is known only after ``RATE_GRACE``; one is enough for the other hosts' files to flow (one at
#: a time) until then, and bounds what a busy host adds to the downloader's load.
SPARE_TURNS = 1
#: A host that holds every turn counts as busy (turns are shared, see ``Turns``) once the
#: youngest of its turns is this old (seconds). A host serving small files turns its turns over
#: in a fraction of a second: its downloads keep their turns (and their kept connections to it).
#: A trickler, or a host busy with large files, counts as busy after this; it is a quarter of
#: ``RATE_GRACE``, so sharing comes well before the verdict.
BUSY_AFTER = 0.5

#: Where a host listens, (address, port): what the turns know a host by. The same host may be
#: known under two ``HostRef``s at once (through ``--peer``, without an instance id, and as it
#: announces itself), and it holds its turns under either.
Endpoint = tuple[str, int]


def endpoint(host: HostRef) -> Endpoint:
    """Where ``host`` listens."""
    return (host.address, host.port)


def holding_every_turn(holders: Iterable[Endpoint], count: int) -> Endpoint | None:
    """The host that holds every one of ``count`` turns (``holders``: the host of each turn
    held), if one does."""
    hosts = list(holders)
    return hosts[0] if len(hosts) >= count and len(set(hosts)) == 1 else None


def busy_host(held: Iterable[tuple[Endpoint, float]], count: int, now: float,
              after: float = BUSY_AFTER) -> Endpoint | None:
    """The host that holds every one of ``count`` turns (``held``: each turn's host and when it
    was taken), once the youngest of them is ``after`` seconds old; else None."""
    turns = list(held)
    host = holding_every_turn((h for h, _ in turns), count)
    return host if host is not None and now - max(t for _, t in turns) >= after else None


class Turns:
    """The downloader's turns on the network: ``count`` of them, given in line order, plus
    ``SPARE_TURNS`` that ``grant_spare`` gives to a waiting ``Turn`` while one host holds all the
    others (see the module's docstring). ``changed`` is called whenever a turn is taken or given
    back, so that the owner can look again at who waits."""

    def __init__(self, count: int, changed: Callable[[], None] = lambda: None, *,
                 busy_after: float = BUSY_AFTER) -> None:
        self.count = max(1, count)
        self._busy_after = busy_after
        self._semaphore = asyncio.Semaphore(self.count)
        self._held: dict[Turn, tuple[Endpoint, float]] = {}
        self._spares: set[Turn] = set()
        #: Places taken and neither taken up nor given up yet (some may hold a turn granted
        #: but not yet taken: ``Turn.waiting`` tells).
        self._placed: set[Turn] = set()
        self._changed = changed

    def place(self) -> "Turn":
        """A place in line, taken now; ``Turn.wait`` for it later."""
        return Turn(self)

    @property
    def waiting(self) -> bool:
        """Whether a place in line waits for its turn (whoever took it: a job, or a batch of
        small files, which takes its places here directly)."""
        return any(turn.waiting for turn in self._placed)

    def free(self) -> bool:
        """Whether a turn is free now and nobody waits in line for one."""
        return not self._semaphore.locked()

    async def take_free(self, host: HostRef) -> "Turn | None":
        """A turn for ``host`` if one is free now (nobody waits in line for it), held from
        now on; else None, at once: never a place in line (a file fetched from several hosts
        asks its extra hosts' turns this way, so it never goes ahead of a waiting download)."""
        if not self.free():
            return None
        turn = Turn(self)
        await asyncio.sleep(0)  # (the turn's request runs first: with a turn free, it has it)
        if not turn.granted:
            turn.release()
            return None
        await turn.wait(host)
        return turn

    def busy(self) -> Endpoint | None:
        """The host that holds every (regular) turn, for ``BUSY_AFTER`` s at least, if one
        does."""
        return busy_host(self._held.values(), self.count, time.monotonic(), self._busy_after)

    def spare_free(self) -> bool:
        """Whether a spare turn may be given now: one host holds every turn, and a spare is
        left."""
        return len(self._spares) < SPARE_TURNS and self.busy() is not None

    def grant_spare(self, turn: "Turn") -> bool:
        """Give ``turn`` (waiting) a spare turn if one is free; whether it was given."""
        if not self.spare_free() or not turn.waiting:
            return False
        self._spares.add(turn)
        turn._granted_spare()
        return True

    def _took(self, turn: "Turn", host: HostRef) -> None:
        if turn not in self._spares:
            self._held[turn] = (endpoint(host), time.monotonic())
            if holding_every_turn((h for h, _ in self._held.values()), self.count):
                # Look again when it would count as busy (nothing happens if it has changed).
                current_loop().call_later(self._busy_after, self._changed)
        self._changed()

    def _gave_back(self, turn: "Turn", *, semaphore: bool) -> None:
        self._held.pop(turn, None)
        self._spares.discard(turn)
        if semaphore:
            self._semaphore.release()
        self._changed()


class Turn:
    """A place in line for one of the ``Turns``, taken when made and waited for later. While it
    waits, the owner may give it a spare turn (``Turns.grant_spare``) or ask it to choose its
    host again (``nudge``); ``release`` gives back whatever it holds."""

    def __init__(self, turns: Turns) -> None:
        self._turns = turns
        loop = current_loop()
        self._asking = loop.create_task(turns._semaphore.acquire())
        self._woken: asyncio.Future[None] = loop.create_future()
        self.spare = False  #: it runs on a spare turn
        self.nudged = False  #: it was asked to choose its host again (it holds nothing)
        self._released = False
        self._taken = False
        turns._placed.add(self)

    @property
    def waiting(self) -> bool:
        """Whether it still waits for its turn."""
        return not (self._released or self._taken or self._woken.done()
                    or self._asking.done())

    @property
    def granted(self) -> bool:
        """Whether a regular turn was given to it (it may not have taken it yet)."""
        return (self._asking.done() and not self._asking.cancelled()
                and self._asking.exception() is None)

    def nudge(self) -> None:
        """Ask the waiting holder to choose its host again: ``wait`` returns with ``nudged``."""
        if self.waiting:
            self.nudged = True
            self._woken.set_result(None)

    def _granted_spare(self) -> None:
        self.spare = True
        self._woken.set_result(None)

    async def wait(self, host: HostRef) -> None:
        """Wait until it is this one's turn (regular or spare), or until ``nudge``; then it
        counts as held by ``host`` (unless nudged)."""
        either: set[asyncio.Future[object]] = {self._asking, self._woken}  # type: ignore[arg-type]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if self._asking.done() and not self._asking.cancelled():
            if self.spare or self.nudged:  # both at once: a regular turn is better
                self.spare = self.nudged = False
                self._turns._spares.discard(self)
        elif not self.nudged:
            self._asking.cancel()  # (Semaphore.acquire gives back a turn it got meanwhile)
        if self.nudged:
            self.release()
            return
        self._taken = True
        self._turns._placed.discard(self)
        self._turns._took(self, host)

    def release(self) -> None:
        """Give the turn back (or the place in line up); later calls do nothing."""
        if self._released:
            return
        self._released = True
        self._turns._placed.discard(self)
        regular = False
        if not self._asking.done():
            self._asking.cancel()
        elif not self._asking.cancelled() and self._asking.exception() is None:
            regular = True
        self._turns._gave_back(self, semaphore=regular)
