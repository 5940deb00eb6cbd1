"""What one batch request takes of the small files waiting for a host
(``engine.small_batch._take``): the files in line, up to the file cap, the bytes cap and one
message; the files of jobs no longer waiting are dropped on the way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mfsync.engine.small_batch import _take
from mfsync.protocol.batch_messages import wanted_size
from mfsync.protocol.messages import (
    MAX_BATCH_BYTES,
    MAX_BATCH_FILE_SIZE,
    MAX_BATCH_FILES,
    MAX_MESSAGE_SIZE,
    GetFilesRequest,
    WantedFile,
    encode_message,
)

CID = bytes(32)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _waiting(loop, files: list[WantedFile]) -> list[tuple[WantedFile, asyncio.Future[bytes]]]:
    return [(file, loop.create_future()) for file in files]


def test_everything_waiting_goes_when_it_fits(loop) -> None:
    waiting = _waiting(loop, [WantedFile(f"f{n}", CID, 10) for n in range(5)])
    batch = _take(waiting)
    assert [w.path for w, _ in batch] == ["f0", "f1", "f2", "f3", "f4"] and waiting == []


def test_at_most_the_file_cap(loop) -> None:
    waiting = _waiting(loop, [WantedFile("f", CID, 1)] * (MAX_BATCH_FILES + 5))
    assert len(_take(waiting)) == MAX_BATCH_FILES and len(waiting) == 5


def test_at_most_the_bytes_cap(loop) -> None:
    count = MAX_BATCH_BYTES // MAX_BATCH_FILE_SIZE
    waiting = _waiting(loop, [WantedFile("f", CID, MAX_BATCH_FILE_SIZE)] * (count + 1))
    batch = _take(waiting)
    assert len(batch) == count and len(waiting) == 1
    assert sum(w.size for w, _ in batch) == MAX_BATCH_BYTES


def test_the_request_fits_one_message(loop) -> None:
    long = "d/" * 2000 + "f"  # about 4 KiB of path: 1,024 of them would not fit
    waiting = _waiting(loop, [WantedFile(long, CID, 1)] * MAX_BATCH_FILES)
    batch = _take(waiting)
    assert 200 < len(batch) < MAX_BATCH_FILES and waiting
    request = encode_message(GetFilesRequest(tuple(w for w, _ in batch)))
    assert len(request) <= MAX_MESSAGE_SIZE
    assert len(request) + wanted_size(waiting[0][0]) > MAX_MESSAGE_SIZE - 64


def test_files_of_jobs_gone_are_dropped(loop) -> None:
    waiting = _waiting(loop, [WantedFile(f"f{n}", CID, 10) for n in range(4)])
    waiting[0][1].cancel()
    waiting[2][1].cancel()
    assert [w.path for w, _ in _take(waiting)] == ["f1", "f3"] and waiting == []
