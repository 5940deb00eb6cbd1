"""The rules of a batch's reply (``exchange_replies.FilesReply``, PROTOCOL.md 3.15), both ways:
each file answered once, in order, of the size asked for, then ``End`` at the file count; and
the batch messages' own layouts and caps."""

from __future__ import annotations

import pytest

from mfsync.protocol.errors import BrokenReply, LocalProtocolError, RemoteProtocolError
from mfsync.protocol.exchange import Exchange, State
from mfsync.protocol.exchange_events import FileArrived, FileRefused, FilesComplete
from mfsync.protocol.messages import (
    MAX_BATCH_FILE_SIZE,
    MAX_BATCH_FILES,
    Data,
    End,
    ErrorCode,
    ErrorMessage,
    FileData,
    FileFailed,
    GetFilesRequest,
    Message,
    WantedFile,
    decode_message,
    encode_message,
)
from mfsync.protocol.session import Role

CID = bytes(range(32))
BATCH = GetFilesRequest((WantedFile("a", CID, 3), WantedFile("b", CID, 0),
                         WantedFile("c", CID, 2)))
GONE = ErrorMessage(ErrorCode.NOT_FOUND, "'b' is not shared here")


def _client() -> Exchange:
    exchange = Exchange(Role.CLIENT)
    exchange.send(BATCH)
    return exchange


def _server() -> Exchange:
    exchange = Exchange(Role.SERVER)
    exchange.receive(BATCH)
    return exchange


def test_an_honest_reply_with_a_refused_file_in_the_middle() -> None:
    client = _client()
    assert isinstance(client.receive(FileData(0, b"abc")), FileArrived)
    assert isinstance(client.receive(FileFailed(1, GONE)), FileRefused)
    assert client.state is State.FILES  # one file's error does not end the reply
    assert isinstance(client.receive(FileData(2, b"xy")), FileArrived)
    assert client.receive(End(3)) == FilesComplete(3)
    assert client.state is State.IDLE


def test_an_empty_file_is_sent_as_empty_data() -> None:
    client = _client()
    client.receive(FileData(0, b"abc"))
    assert isinstance(client.receive(FileData(1, b"")), FileArrived)


BROKEN: dict[str, list[Message]] = {
    "a file skipped": [FileData(1, b"")],
    "a file twice": [FileData(0, b"abc"), FileData(0, b"abc")],
    "an error for a file answered": [FileData(0, b"abc"), FileFailed(0, GONE)],
    "too short": [FileData(0, b"ab")],
    "too long": [FileData(0, b"abcd")],
    "an empty file with bytes": [FileData(0, b"abc"), FileFailed(1, GONE), FileData(2, b"x")],
    "past the last file": [FileData(0, b"abc"), FileData(1, b""), FileData(2, b"xy"),
                           FileData(3, b"")],
    "End before the last file": [FileData(0, b"abc"), End(1)],
    "End at another count": [FileData(0, b"abc"), FileData(1, b""), FileData(2, b"xy"),
                             End(2)],
}
OUT_OF_PLACE: dict[str, list[Message]] = {
    "Data in a batch": [Data(0, b"abc")],
    "a file after the End": [FileData(0, b"abc"), FileData(1, b""), FileData(2, b"xy"), End(3),
                             FileData(0, b"abc")],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_reply_that_breaks_a_rule_is_refused_by_both_ends(name: str) -> None:
    *honest, last = BROKEN[name]
    client, server = _client(), _server()
    for message in honest:
        client.receive(message)
        server.send(message)
    with pytest.raises(BrokenReply):
        client.receive(last)
    with pytest.raises(LocalProtocolError):
        server.send(last)
    assert client.state is State.ERROR and server.state is State.ERROR


@pytest.mark.parametrize("name", sorted(OUT_OF_PLACE))
def test_a_message_out_of_place_in_a_batch_closes_the_connection(name: str) -> None:
    *honest, last = OUT_OF_PLACE[name]
    client = _client()
    for message in honest:
        client.receive(message)
    with pytest.raises(RemoteProtocolError):
        client.receive(last)
    assert client.state is State.ERROR


def test_the_whole_batch_may_be_refused_before_any_file() -> None:
    client = _client()
    client.receive(ErrorMessage(ErrorCode.NO_SUCH_FOLDER, "no such folder"))
    assert client.state is State.IDLE


def test_file_messages_from_a_client_are_no_requests() -> None:
    for message in (FileData(0, b"x"), FileFailed(0, GONE)):
        server = Exchange(Role.SERVER)
        server.receive(message)
        assert server.state is State.REFUSING
        server.send(ErrorMessage(ErrorCode.BAD_REQUEST, "unsupported request"))
        assert server.state is State.IDLE


def test_batch_caps_on_both_sides() -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(GetFilesRequest(()))
    with pytest.raises(LocalProtocolError):
        encode_message(GetFilesRequest((WantedFile("a", CID, 1),) * (MAX_BATCH_FILES + 1)))
    with pytest.raises(LocalProtocolError):
        encode_message(FileData(0, bytes(MAX_BATCH_FILE_SIZE + 1)))
    most = encode_message(GetFilesRequest((WantedFile("", CID, 1),) * MAX_BATCH_FILES))
    assert decode_message(most) == GetFilesRequest((WantedFile("", CID, 1),) * MAX_BATCH_FILES)
    too_many = most[:6] + (MAX_BATCH_FILES + 1).to_bytes(2, "big") + most[8:]
    with pytest.raises(RemoteProtocolError, match="1025 files"):
        decode_message(too_many)
    none = most[:6] + b"\x00\x00"
    with pytest.raises(RemoteProtocolError, match="0 files"):
        decode_message(none)
    whole = encode_message(FileData(7, bytes(MAX_BATCH_FILE_SIZE)))
    assert decode_message(whole) == FileData(7, bytes(MAX_BATCH_FILE_SIZE))
    over = whole[:5] + (MAX_BATCH_FILE_SIZE + 1).to_bytes(4, "big") + whole[9:] + b"x"
    with pytest.raises(RemoteProtocolError):
        decode_message(over)


def test_known_layouts_of_the_batch_messages() -> None:
    assert encode_message(GetFilesRequest((WantedFile("a", CID, 5),))).hex(" ") == (
        "11 00 00 00 00 00 00 01 00 01 61 " + CID.hex(" ") + " 00 00 00 00 00 00 00 05")
    assert encode_message(FileData(2, b"hi")).hex(" ") == "12 00 00 00 02 00 00 00 02 68 69"
    assert encode_message(FileFailed(1, ErrorMessage(ErrorCode.CHANGED, "x"))).hex(" ") == (
        "13 00 00 00 01 00 07 00 01 78")
