"""The one check of a received block (``PartialFile.block_matches``), for listed files and for a
small file fetched without its list, and the ``BlockWriter`` that cuts a byte stream into blocks
and writes them."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from mfsync.protocol.content import MIN_BLOCK_SIZE, block_size_for, content_id_of
from mfsync.store.partial import BadBlock, BlockWriter, PartialFile, missing_runs

DATA = os.urandom(4 * MIN_BLOCK_SIZE + 12345)  # five blocks, the last one short


def _listed(target: Path, data: bytes) -> PartialFile:
    block = block_size_for(len(data))
    hashes = tuple(blake3.blake3(data[i : i + block]).digest()
                   for i in range(0, len(data), block))
    return PartialFile(target, len(data), block, hashes)


def _unlisted(target: Path, data: bytes, cid: bytes | None = None) -> PartialFile:
    block = block_size_for(len(data))
    hashes = (blake3.blake3(data).digest(),) if data else ()
    return PartialFile.unlisted(target, len(data), block,
                                cid or content_id_of(len(data), block, hashes))


@pytest.mark.parametrize("size", [0, 1, 4096, MIN_BLOCK_SIZE])
def test_an_unlisted_block_is_proven_by_the_content_id(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    partial = _unlisted(tmp_path / "f", data)
    assert partial.blocks == 0  # nothing known before the block arrives
    assert partial.block_matches(0, data)
    # Proven, its hash is the block list now (the landing writes it, FileHashes holds it).
    assert partial.hashes == ((blake3.blake3(data).digest(),) if size else ())
    if size:
        assert partial.block_matches(0, data)  # checked against the list from now on


@pytest.mark.parametrize("size", [0, 1, 4096, MIN_BLOCK_SIZE])
def test_an_unlisted_block_that_does_not_match_the_content_id_is_refused(
        tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    partial = _unlisted(tmp_path / "f", data, cid=b"\x00" * 32)
    assert not partial.block_matches(0, data)
    assert partial.hashes == ()
    if size:
        honest = _unlisted(tmp_path / "f", data)
        assert not honest.block_matches(0, bytes([data[0] ^ 1]) + data[1:])  # one bit off
        assert not honest.block_matches(0, data[:-1])  # short


def test_a_listed_block_must_match_its_own_hash(tmp_path: Path) -> None:
    partial = _listed(tmp_path / "f", DATA)
    block = partial.block_size
    assert partial.block_matches(1, DATA[block : 2 * block])
    assert not partial.block_matches(2, DATA[block : 2 * block])  # another block's bytes
    assert not partial.block_matches(4, DATA[4 * block :] + b"\x00")  # too long


@pytest.mark.parametrize("chunk", [1000, MIN_BLOCK_SIZE, MIN_BLOCK_SIZE + 7, 3 * MIN_BLOCK_SIZE])
async def test_the_writer_cuts_any_chunking_into_blocks(tmp_path: Path, chunk: int) -> None:
    root = tmp_path
    partial = _listed(root / "f.bin", DATA)
    assert partial.resume() == [False] * 5
    written: list[int] = []
    writer = BlockWriter(partial, written.append)
    try:
        for first, last in missing_runs([False] * 5, partial.block_size):
            offset = partial.block_range(first)[0]
            end = sum(partial.block_range(last))
            writer.start(first)
            for at in range(offset, end, chunk):
                await writer.feed(memoryview(DATA)[at : min(at + chunk, end)])
        await writer.drain()
    finally:
        await writer.abandon()
    assert sum(written) == len(DATA) and len(written) == 5
    partial.finalize(0)
    assert (root / "f.bin").read_bytes() == DATA


async def test_the_writer_fails_a_corrupt_block_and_resume_keeps_the_good_ones(
        tmp_path: Path) -> None:
    partial = _listed(tmp_path / "f.bin", DATA)
    partial.resume()
    block = partial.block_size
    corrupt = bytearray(DATA)
    corrupt[2 * block + 5] ^= 0xFF
    writer = BlockWriter(partial, lambda _length: None)
    writer.start(0)
    with pytest.raises(BadBlock, match="block 2"):
        try:
            await writer.feed(bytes(corrupt))
            await writer.drain()
        finally:
            await writer.abandon()
    partial.close()
    again = _listed(tmp_path / "f.bin", DATA)
    have = again.resume()
    assert not have[2] and have[0] and have[1]
    again.close()
