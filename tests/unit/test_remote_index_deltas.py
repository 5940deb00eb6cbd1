"""``RemoteIndexes`` taking deltas over a scripted channel: it asks from the generation it holds
only for the same host and instance, applies a delta (changes, removals, paths it never held
ignored), keeps the budget's charge in step, and a reply that breaks the delta rules (a delta
older than asked, a delta to a request from 0) leaves the table it held untouched."""

from __future__ import annotations

from typing import Any, cast

import pytest

from mfsync.engine.index_budget import entry_cost
from mfsync.engine.remote_index import RemoteIndexes
from mfsync.engine.status import HostRef
from mfsync.net.channel import ChannelError, SecureChannel
from mfsync.protocol.messages import IndexChunk, IndexEntry, IndexRequest, Message

ENDPOINT = ("192.0.2.7", 8000)
HOST = HostRef(b"\x07" * 32, *ENDPOINT, instance=b"\x01" * 8)


class Script:
    """A channel that records requests and answers from a script."""

    def __init__(self, *answers: Message) -> None:
        self.sent: list[Message] = []
        self.answers = list(answers)

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def receive(self, timeout: float = 0.0) -> Message:
        return self.answers.pop(0)


def _entry(path: str, byte: int) -> IndexEntry:
    return IndexEntry(path, byte, byte, bytes([byte]) * 32)


async def _receive(indexes: RemoteIndexes, script: Script, host: HostRef = HOST) -> int:
    channel = cast(SecureChannel, cast(Any, script))
    generation, _ = await indexes.receive(channel, ENDPOINT, host, "peer")
    return generation


def _paths(indexes: RemoteIndexes) -> dict[str, bytes]:
    return {f.path: f.content_id for f in indexes.files}


async def test_a_delta_is_applied_to_the_index_held() -> None:
    indexes = RemoteIndexes(lambda: None, lambda endpoint, why: None)
    whole = IndexChunk(5, (_entry("a", 1), _entry("b", 2), _entry("c", 3)), True)
    assert await _receive(indexes, Script(whole)) == 5
    assert indexes.budget.held(ENDPOINT) == sum(map(entry_cost, "abc"))
    delta = IndexChunk(7, (_entry("b", 9), _entry("d", 4)), True, delta=True,
                       removed_paths="c\0never-held")
    script = Script(delta)
    assert await _receive(indexes, script) == 7
    assert script.sent == [IndexRequest(5)]
    assert _paths(indexes) == {"a": b"\x01" * 32, "b": b"\x09" * 32, "d": b"\x04" * 32}
    # Charged for what it holds now: the replaced and removed entries were released.
    assert indexes.budget.held(ENDPOINT) == sum(map(entry_cost, "abd"))
    # Nothing changed since: an empty delta keeps the same table.
    files = indexes.files
    assert await _receive(indexes, Script(IndexChunk(7, (), True, delta=True))) == 7
    assert indexes.files is files


async def test_another_instance_is_asked_for_its_whole_index() -> None:
    indexes = RemoteIndexes(lambda: None, lambda endpoint, why: None)
    await _receive(indexes, Script(IndexChunk(5, (_entry("a", 1),), True)))
    restarted = HostRef(HOST.key, *ENDPOINT, instance=b"\x02" * 8)
    script = Script(IndexChunk(1, (_entry("z", 2),), True))
    await _receive(indexes, script, restarted)
    assert script.sent == [IndexRequest(0)]
    assert list(_paths(indexes)) == ["z"]
    unannounced = HostRef(HOST.key, *ENDPOINT)  # known by address only: no instance
    script = Script(IndexChunk(1, (_entry("y", 3),), True))
    await _receive(indexes, script, unannounced)
    assert script.sent == [IndexRequest(0)]


@pytest.mark.parametrize("reply", [
    IndexChunk(4, (_entry("x", 5),), True, delta=True),  # older than the generation asked from
    IndexChunk(6, (_entry("x", 5),), False, delta=True),  # then a whole-index chunk
])
async def test_a_delta_that_breaks_the_rules_leaves_the_held_index(reply: IndexChunk) -> None:
    indexes = RemoteIndexes(lambda: None, lambda endpoint, why: None)
    await _receive(indexes, Script(IndexChunk(5, (_entry("a", 1),), True)))
    before = indexes.files
    with pytest.raises(ChannelError):
        await _receive(indexes, Script(reply, IndexChunk(6, (), True)))
    assert indexes.files is before and list(_paths(indexes)) == ["a"]
