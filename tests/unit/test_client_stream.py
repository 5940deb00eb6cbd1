"""``stream_range`` against a scripted server: what a wrong ``End`` is called."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from mfsync.net.channel import ChannelError, SecureChannel
from mfsync.net.client import stream_range
from mfsync.protocol.messages import Data, End, Message


class ScriptedChannel:
    """Answers every request with the messages it was given, in order."""

    def __init__(self, answers: Sequence[Message]) -> None:
        self.answers = list(answers)
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def receive(self) -> Message:
        return self.answers.pop(0)


async def _drain(answers: Sequence[Message]) -> bytes:
    channel = cast(SecureChannel, cast(Any, ScriptedChannel(answers)))
    return b"".join([bytes(d.payload) async for d in
                     stream_range(channel, "f.bin", b"\x00" * 32, 1000, 10)])


async def test_a_well_formed_range_arrives_whole() -> None:
    assert await _drain([Data(1000, b"01234"), Data(1005, b"56789"), End(1010)]) == b"0123456789"


async def test_an_early_end_says_how_much_arrived() -> None:
    with pytest.raises(ChannelError,
                       match=r"ended after 5 of 10 bytes \(at offset 1005, not 1010\)"):
        await _drain([Data(1000, b"01234"), End(1005)])


async def test_a_complete_range_with_a_wrong_end_offset_says_so() -> None:
    # Every byte arrived but the End names another offset: the old message read
    # "ended at 1010, not 1010".
    with pytest.raises(ChannelError, match=r"sent every byte, then an End at offset 999 "
                                           r"instead of 1010"):
        await _drain([Data(1000, b"0123456789"), End(999)])
