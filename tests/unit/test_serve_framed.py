"""``FileServer`` sending a large range: each step of ``READ_SIZE`` is read into slots behind
room for each Data message's header and sent framed in place (``Data.framed``); what a client
gets is the file's bytes, in messages that encode exactly as ordinary Data messages do."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import pytest

from mfsync.engine import serve
from mfsync.engine.folder_view import DEFAULT_LABEL, LocalFolderView, admit_everyone
from mfsync.engine.serve import FileServer
from mfsync.net.channel import SecureChannel
from mfsync.protocol.folder_id import DEFAULT_FOLDER
from mfsync.protocol.messages import (
    MAX_DATA,
    Data,
    End,
    GetRequest,
    Message,
    encode_message,
)
from mfsync.store.shareset import ShareSet

CONTENT = os.urandom(9 * MAX_DATA + 5)


class CopyingRecorder:
    """A channel that keeps what each message encodes to at the moment it is sent (as a real
    channel encrypts it then): the server reuses its buffers afterwards."""

    def __init__(self) -> None:
        self.sent: list[tuple[Message, bytes]] = []
        self.peer_address = ("192.0.2.1", 1)
        self.remote_key = b"\x01" * 32

    async def send(self, message: Message) -> None:
        self.sent.append((message, bytes(encode_message(message))))


@pytest.fixture
async def server(tmp_path: Path) -> FileServer:
    (tmp_path / "big.bin").write_bytes(CONTENT)
    share = ShareSet(tmp_path)
    await share.rescan()
    view = LocalFolderView(DEFAULT_FOLDER, DEFAULT_LABEL, (share,), admit_everyone, 3)
    return FileServer(lambda: [view], lambda: None)


@pytest.mark.parametrize(("offset", "length"), [
    (0, len(CONTENT)),
    (1000, len(CONTENT) - 1007),
    (3 * MAX_DATA, 4 * MAX_DATA + 1),
])
@pytest.mark.parametrize("read_size", [serve.READ_SIZE, 3 * MAX_DATA // 2])
async def test_a_large_range_arrives_whole_in_framed_messages(
        server: FileServer, monkeypatch: pytest.MonkeyPatch, offset: int, length: int,
        read_size: int) -> None:
    monkeypatch.setattr(serve, "READ_SIZE", read_size)
    found = server.find("big.bin")
    assert found is not None
    request = GetRequest("big.bin", found[1].hashes.content_id, offset, length)
    recorder = CopyingRecorder()
    await server.answer(cast(SecureChannel, cast(Any, recorder)), request)
    *data, (end, _) = recorder.sent
    assert end == End(offset + length)
    received = bytearray()
    for message, encoded in data:
        assert isinstance(message, Data) and message.plaintext is not None  # framed in place
        assert len(message.payload) <= MAX_DATA
        assert message.offset == offset + len(received)
        start = message.offset
        plain = Data(start, CONTENT[start : start + len(message.payload)])
        assert encoded == encode_message(plain)  # byte for byte an ordinary Data message
        received += encoded[len(encoded) - len(message.payload):]
    assert bytes(received) == CONTENT[offset : offset + length]
