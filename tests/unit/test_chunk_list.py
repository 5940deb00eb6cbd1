"""The work list of a file fetched from several hosts: hand-out, return on failure, slow hosts,
the endgame, and every block done exactly once whatever the workers do."""

from __future__ import annotations

import asyncio
import random

import pytest

from mfsync.engine.chunk_list import MAX_HOLDERS, Chunk, ChunkList
from mfsync.engine.status import HostRef
from mfsync.engine.swarm_fetch import FIRST_RANGE, growing_runs
from mfsync.engine.turns import Turns

HOST = HostRef(b"k" * 32, "192.0.2.1", 8000)
OTHER = HostRef(b"o" * 32, "192.0.2.2", 8000)


def _blocks(chunk: Chunk[str]) -> list[int]:
    return list(range(chunk.first, chunk.last + 1))


def test_chunks_come_in_order_and_shrink_near_the_end() -> None:
    work: ChunkList[str] = ChunkList([(0, 99)], 16)
    work.join("a")
    work.join("b")
    sizes = []
    firsts = []
    while (chunk := work.take("a" if len(sizes) % 2 else "b")) is not None:
        if chunk.holders != {"a" if len(sizes) % 2 else "b"}:
            break  # (the endgame: nothing left to hand out)
        sizes.append(chunk.blocks)
        firsts.append(chunk.first)
    assert sum(sizes) == 100
    assert firsts == sorted(firsts)
    assert max(sizes) == 16
    assert sizes[-1] < 16  # the tail is cut small
    assert sizes[-1] >= 1


def test_runs_with_holes_are_never_crossed() -> None:
    work: ChunkList[str] = ChunkList([(0, 2), (10, 11)], 16)
    work.join("a")
    got: list[int] = []
    while (chunk := work.take("a")) is not None:
        assert chunk.last <= 2 or chunk.first >= 10  # (blocks 3-9 are held already)
        got.extend(_blocks(chunk))
        work.done(chunk, "a")
    assert got == [0, 1, 2, 10, 11]
    assert work.finished


def test_runs_that_touch_are_one() -> None:
    work: ChunkList[str] = ChunkList([(0, 1), (2, 5), (6, 6), (9, 9)], 16)
    work.join("a")
    first = work.take("a")
    # (8 blocks for one worker: chunks of about half; the first spans the runs 0-1 and 2-5)
    assert first is not None and (first.first, first.last) == (0, 3)


def test_a_failed_chunk_goes_back_first_for_another_worker() -> None:
    work: ChunkList[str] = ChunkList([(0, 63)], 8)
    work.join("a")
    work.join("b")
    lost = work.take("a")
    assert lost is not None
    other = work.take("b")
    assert other is not None and other.first > lost.last
    work.failed(lost, "a")
    again = work.take("b")
    assert again is not None and (again.first, again.last) == (lost.first, lost.last)


def test_a_worker_that_leaves_gives_back_what_it_holds() -> None:
    work: ChunkList[str] = ChunkList([(0, 63)], 8)
    work.join("a")
    work.join("b")
    held = work.take("a")
    assert held is not None
    work.leave("a")
    assert work.workers == 1
    assert work.take("a") is None  # (gone: it gets nothing)
    back = work.take("b")
    assert back is not None and back.first == held.first


def test_a_slow_worker_gets_nothing_new_while_another_is_not_slow() -> None:
    work: ChunkList[str] = ChunkList([(0, 63)], 8)
    work.join("fast")
    work.join("slow")
    assert work.take("slow") is not None
    work.set_slow("slow", True)
    assert work.benched("slow")
    assert work.take("slow") is None
    assert work.take("fast") is not None
    # Alone (the fast one left) it is asked again: a lone slow source keeps going.
    work.leave("fast")
    assert not work.benched("slow")
    assert work.take("slow") is not None
    # Both slow: neither is benched.
    work.join("other")
    work.set_slow("other", True)
    assert not work.benched("slow") and not work.benched("other")


def test_endgame_races_the_outstanding_chunk_and_the_first_answer_wins() -> None:
    work: ChunkList[str] = ChunkList([(0, 7)], 8)
    work.join("slow")
    work.join("fast")
    chunk = work.take("slow")
    assert chunk is not None and chunk.blocks >= 1
    # Everything else goes to "fast" ...
    while (more := work.take("fast")) is not None and more is not chunk and work.pending:
        work.done(more, "fast")
    if more is not None and more is not chunk:
        work.done(more, "fast")
        more = work.take("fast")
    # ... then, nothing left to hand out, it races the chunk "slow" still holds.
    assert more is chunk and chunk.holders == {"slow", "fast"}
    assert len(chunk.holders) == MAX_HOLDERS
    assert work.take("fast") is None  # (it holds it already)
    assert work.done(chunk, "fast") == frozenset({"slow"})  # the loser, to be stopped
    assert work.done(chunk, "slow") == frozenset()  # (a late finish changes nothing)
    work.failed(chunk, "slow")  # (nor a late failure)
    assert work.finished and not work.pending


def test_endgame_prefers_a_slow_holder_and_a_slow_worker_never_races() -> None:
    work: ChunkList[str] = ChunkList([(0, 2)], 1)
    for name in ("a", "b", "c"):
        work.join(name)
    first, second = work.take("a"), work.take("b")
    third = work.take("c")
    assert first is not None and second is not None and third is not None
    work.set_slow("b", True)
    work.done(third, "c")
    raced = work.take("c")
    assert raced is second  # the slow holder's chunk first, though "a"'s is older
    work.set_slow("c", True)
    assert work.take("a") is None or not work.benched("a")


def test_a_chunk_raced_and_failed_by_one_holder_stays_with_the_other() -> None:
    work: ChunkList[str] = ChunkList([(0, 0)], 1)
    work.join("a")
    work.join("b")
    chunk = work.take("a")
    assert chunk is not None
    assert work.take("b") is chunk
    work.failed(chunk, "a")
    assert chunk.holders == {"b"} and not work.pending
    work.failed(chunk, "b")
    assert work.pending and not work.finished


@pytest.mark.parametrize("seed", range(40))
def test_every_block_is_done_exactly_once(seed: int) -> None:
    rng = random.Random(seed)
    blocks = rng.randint(1, 300)
    have = [rng.random() < 0.3 for _ in range(blocks)]
    runs: list[tuple[int, int]] = []
    index = 0
    while index < blocks:
        if have[index]:
            index += 1
            continue
        start = index
        while index < blocks and not have[index]:
            index += 1
        runs.append((start, index - 1))
    work: ChunkList[str] = ChunkList(runs, rng.randint(1, 20))
    workers = ["a", "b", "c"][: rng.randint(1, 3)]
    for worker in workers:
        work.join(worker)
    held: dict[str, Chunk[str] | None] = dict.fromkeys(workers)
    done_blocks: list[int] = []
    for _ in range(100_000):
        if work.finished:
            break
        worker = rng.choice(workers)
        chunk = held[worker]
        if chunk is None:
            held[worker] = work.take(worker)
            continue
        roll = rng.random()
        if roll < 0.15:
            work.failed(chunk, worker)
        elif roll < 0.2:
            work.set_slow(worker, rng.random() < 0.5)
            continue
        else:
            if not chunk.done:
                done_blocks.extend(_blocks(chunk))
            for loser in work.done(chunk, worker):
                held[loser] = None  # (stopped)
        held[worker] = None
    assert work.finished
    assert sorted(done_blocks) == [i for i, ok in enumerate(have) if not ok]


def test_the_first_ranges_of_one_host_grow_so_helpers_are_looked_for_early() -> None:
    step = FIRST_RANGE // (256 * 1024)  # blocks of the first range, for 256 KiB blocks
    cut = growing_runs([(0, 511)], 256 * 1024)
    assert cut[:4] == [(0, step - 1), (step, 3 * step - 1), (3 * step, 7 * step - 1),
                       (7 * step, 15 * step - 1)]
    assert cut[-1][1] == 511 and len(cut) <= 8
    # Runs keep their holes, and every block is asked exactly once.
    runs = [(0, 255), (300, 301), (400, 1000)]
    cut = growing_runs(runs, 128 * 1024)
    blocks = [i for first, last in cut for i in range(first, last + 1)]
    assert blocks == [i for first, last in runs for i in range(first, last + 1)]
    assert all(last >= first for first, last in cut)


def test_a_free_turn_is_taken_at_once_and_never_ahead_of_anyone_in_line() -> None:
    async def body() -> None:
        turns = Turns(2, busy_after=60.0)
        first = turns.place()
        await first.wait(HOST)
        extra = await turns.take_free(OTHER)  # one left, nobody waiting: it is taken
        assert extra is not None and not extra.waiting
        assert not turns.free()
        assert await turns.take_free(OTHER) is None  # every turn held
        extra.release()
        assert turns.free()
        # Someone in line for a turn: a free turn goes to them, never to an extra host.
        blocker = turns.place()
        await blocker.wait(HOST)
        waiting = turns.place()
        await asyncio.sleep(0)
        assert waiting.waiting
        first.release()
        assert await turns.take_free(OTHER) is None
        await waiting.wait(HOST)
        for turn in (blocker, waiting):
            turn.release()
        assert turns.free()

    asyncio.run(body())
