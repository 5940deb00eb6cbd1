"""Index fetches are capped in all, and a stale unproven fetch gives its slot up to a better
claim; with fetches that never connect (what forged announcements lead to)."""

from __future__ import annotations

import asyncio
import os

import mfsync.engine.dialer as dialer_module
import mfsync.engine.index_fetches as fetches_module
from mfsync.protocol.announce import Announcement, Flags, Kind
from waiting import wait_for


def _claim(port: int) -> Announcement:
    return Announcement(Kind.ANNOUNCE, Flags.SHARES, os.urandom(8), os.urandom(32), port,
                        0xFFFF, 1, "claim")


async def test_unproven_fetches_are_capped_and_stale_ones_make_room(make_node,
                                                                     monkeypatch) -> None:
    attempts: list[tuple[str, int]] = []

    async def never_answers(host, port, *args, **kwargs):
        attempts.append((host, port))
        await asyncio.sleep(3600)  # a neighbour that does not exist

    monkeypatch.setattr(dialer_module, "open_channel", never_answers)
    node = await make_node(discovery=False)
    # Forged claims: 40 addresses, 8 endpoints each (more than the fetch slots and the limiter's
    # burst of 4 per address allow at once).
    for n in range(320):
        node._peers.on_announcement(_claim(20000 + n), (f"10.9.0.{n % 40}", 30001))
    await asyncio.sleep(0.3)
    assert len(attempts) == fetches_module.MAX_UNPROVEN_FETCHES
    assert node.status.peers  # the claims are in the table, waiting
    # A host with a single endpoint appears: once the stale fetches have had their patience,
    # it takes a slot (and the number of fetches stays at the cap).
    node._peers.on_announcement(_claim(8000), ("10.9.1.1", 30001))
    await wait_for(lambda: ("10.9.1.1", 8000) in attempts,
                   fetches_module.UNPROVEN_PATIENCE + 2.0)
    await asyncio.sleep(0.1)
    assert node._peers.fetches.running <= fetches_module.MAX_UNPROVEN_FETCHES
