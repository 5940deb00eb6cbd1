"""The folder messages (``FoldersRequest``, ``FolderList``), the folder id that opens every
request, and ``NO_SUCH_FOLDER``: exact bytes, and every cap refused before anything is kept."""

import struct

import pytest

from mfsync.protocol.errors import LocalProtocolError, RemoteProtocolError
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.folder_messages import MAX_FOLDERS
from mfsync.protocol.messages import (
    BlocksRequest,
    ErrorCode,
    ErrorMessage,
    FolderFlags,
    FolderInfo,
    FolderList,
    FoldersRequest,
    GetRequest,
    IndexRequest,
    decode_message,
    encode_message,
)

K = FolderId.parse("k3x9-pq2m")
CID = bytes(range(32))
DEFAULT = FolderInfo(DEFAULT_FOLDER, "default", FolderFlags.ANNOUNCED, 1, 1, 5)


def _folder(raw: bytes, label: bytes = b"x", flags: int = 2) -> bytes:
    return raw + bytes([len(label)]) + label + bytes([flags]) + struct.pack(">QIQ", 1, 2, 3)


def test_exact_bytes_of_the_folder_messages() -> None:
    assert encode_message(FoldersRequest()) == b"\x09"
    assert encode_message(FolderList(())) == b"\x0a\x00\x00"
    assert encode_message(FolderList((DEFAULT,))) == (
        b"\x0a\x00\x01" + bytes(5) + b"\x07default\x02" + struct.pack(">QIQ", 1, 1, 5))
    both = FolderList((DEFAULT, FolderInfo(K, "Photos ü", FolderFlags.SYNC | FolderFlags.ANNOUNCED,
                                           2**64 - 1, 2**32 - 1, 2**64 - 1)))
    assert decode_message(encode_message(both)) == both
    assert encode_message(ErrorMessage(ErrorCode.NO_SUCH_FOLDER)) == b"\x7f\x00\x08\x00\x00"


def test_requests_open_with_their_folder_id() -> None:
    raw = K.raw
    assert raw == bytes.fromhex("98fa9b5c54")
    assert encode_message(IndexRequest(7, K)) == b"\x02" + raw + struct.pack(">Q", 7)
    assert encode_message(BlocksRequest("p", CID, K)) == b"\x04" + raw + b"\x00\x01p" + CID
    assert encode_message(GetRequest("p", CID, 1, 2, K)) == (
        b"\x06" + raw + b"\x00\x01p" + CID + struct.pack(">QQ", 1, 2))
    for request in (IndexRequest(7, K), BlocksRequest("p", CID, K), GetRequest("p", CID, 1, 2, K)):
        assert decode_message(encode_message(request)) == request


def test_a_request_cut_inside_its_folder_id_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_message(b"\x02" + K.raw[:3])
    with pytest.raises(RemoteProtocolError, match="trailing"):
        decode_message(b"\x09\x00")  # FoldersRequest has an empty body


@pytest.mark.parametrize(("body", "why"), [
    (struct.pack(">H", MAX_FOLDERS + 1), "at most 256"),
    (struct.pack(">H", 0xFFFF), "at most 256"),
    (struct.pack(">H", 3) + _folder(K.raw) * 2, "cannot fit"),
    (struct.pack(">H", 2) + _folder(K.raw) + _folder(K.raw, b"y"), "twice"),
    (struct.pack(">H", 1) + _folder(K.raw, flags=4), "flags"),
    (struct.pack(">H", 1) + _folder(K.raw, flags=0x80), "flags"),
    (struct.pack(">H", 1) + _folder(K.raw, b"a:b"), "cannot hold"),
    (struct.pack(">H", 1) + _folder(K.raw, b"a/b"), "cannot hold"),
    (struct.pack(">H", 1) + _folder(K.raw, b" a"), "space"),
    (struct.pack(">H", 1) + _folder(K.raw, b"a\x07"), "U\\+0007"),
    (struct.pack(">H", 1) + _folder(K.raw, b"a\xe2\x80\x8b"), "U\\+200B"),  # zero-width space
    (struct.pack(">H", 1) + _folder(K.raw, b"\xff"), "UTF-8"),
    (struct.pack(">H", 1) + _folder(K.raw, b"x" * 64), "exceeds the cap of 63"),
    (struct.pack(">H", 1) + _folder(K.raw)[:-1], None),
    (struct.pack(">H", 1) + _folder(K.raw) + b"\x00", "trailing"),
])
def test_a_malformed_folder_list_is_refused(body: bytes, why: str | None) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        decode_message(b"\x0a" + body)


def test_an_empty_label_is_refused() -> None:
    # A zero-length label fits the minimum size of 28 bytes only with a byte to spare.
    data = b"\x0a\x00\x01" + K.raw + b"\x00\x02" + struct.pack(">QIQ", 1, 2, 3) + b"x"
    with pytest.raises(RemoteProtocolError):
        decode_message(data)


def test_the_largest_list_decodes_and_one_more_is_refused_before_reading() -> None:
    folders = tuple(FolderInfo(FolderId(n.to_bytes(5, "big")), "f" * 63, FolderFlags.NONE, 0, 0, 0)
                    for n in range(MAX_FOLDERS))
    data = encode_message(FolderList(folders))
    assert len(data) == 3 + MAX_FOLDERS * 90
    assert decode_message(data) == FolderList(folders)
    with pytest.raises(LocalProtocolError):
        encode_message(FolderList((*folders, DEFAULT)))


def test_we_never_send_what_a_receiver_refuses() -> None:
    with pytest.raises(LocalProtocolError, match="twice"):
        encode_message(FolderList((DEFAULT, DEFAULT)))
    with pytest.raises(LocalProtocolError, match="cannot hold"):
        encode_message(FolderList((FolderInfo(K, "a:b", FolderFlags.NONE, 0, 0, 0),)))
    with pytest.raises(LocalProtocolError, match="flags"):
        encode_message(FolderList((FolderInfo(K, "a", FolderFlags(4), 0, 0, 0),)))


def test_folder_list_get() -> None:
    listed = FolderList((DEFAULT,))
    assert listed.get() is DEFAULT
    assert listed.get(K) is None
