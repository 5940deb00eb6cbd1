"""Sources that keep failing, over real sockets: dropped for the content, given up on with a
reason, and forgiven when the host restarts (a new instance id in its announcements)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from loopback import make_tree

from mfsync.crypto.keys import Identity
from mfsync.engine.serve import FileServer
from mfsync.engine.sources import MAX_FAILURES
from mfsync.engine.transfer_status import TransferState
from mfsync.engine.transfers import Downloader, DownloadJob
from mfsync.net.channel import SecureChannel
from mfsync.protocol.messages import BlockList, BlocksRequest
from waiting import wait_for

JOIN_TIMEOUT = 30.0


@pytest.fixture
def bad_block_lists(monkeypatch):
    """While ``state["on"]``, every sharer answers block-list requests with random hashes;
    ``state["asked"]`` counts those requests."""
    original = FileServer.send_blocks
    state = {"on": True, "asked": 0}

    async def send_blocks(self: FileServer, channel: SecureChannel,
                          request: BlocksRequest) -> None:
        if not state["on"]:
            await original(self, channel, request)
            return
        state["asked"] += 1
        found = self.find(request.path)
        assert found is not None
        hashes = found[1].hashes
        await channel.send(BlockList(hashes.content_id, hashes.size, hashes.block_size, 0,
                                     tuple(os.urandom(32) for _ in hashes.block_hashes), True))

    monkeypatch.setattr(FileServer, "send_blocks", send_blocks)
    return state


async def test_a_restarted_host_is_asked_again(make_node, bad_block_lists, tmp_path: Path,
                                               caplog) -> None:
    caplog.set_level(logging.INFO, logger="mfsync.transfer")
    content = os.urandom(1024 * 1024)
    folder = make_tree(tmp_path / "share", {"f.bin": content})
    identity = Identity.generate()
    sharer = await make_node(identity=identity, share_dir=folder)
    port = sharer.server.port
    fetcher = await make_node(wants=True)
    await wait_for(lambda: bool(fetcher.files_for("f.bin")), 15)
    [before] = fetcher.files_for("f.bin")[0].hosts
    assert before.instance == sharer.instance_id
    dest = tmp_path / "dest"
    dest.mkdir()
    downloader = Downloader(fetcher)
    try:
        # Bad block lists every time: dropped after MAX_FAILURES tries, and the job gives up
        # with the reason (no other host offers it).
        assert downloader.add(DownloadJob("f.bin", dest))
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        [failed] = downloader.results
        assert failed.state is TransferState.FAILED
        assert failed.error.startswith(f"every host offering it failed: 127.0.0.1:{port} (key ")
        assert "sent a block list that does not match the file" in failed.error
        assert bad_block_lists["asked"] == MAX_FAILURES
        assert failed.remote is not None and downloader.given_up(failed.remote)

        # The same host (key, address, port) restarts, fixed: a new instance id, a clean slate.
        await sharer.stop()
        bad_block_lists["on"] = False
        again = await make_node(identity=identity, share_dir=folder, tcp_port=port)
        assert again.instance_id != sharer.instance_id
        await wait_for(lambda: any(h.instance == again.instance_id
                                   for f in fetcher.files_for("f.bin") for h in f.hosts), 15)
        [after] = [h for f in fetcher.files_for("f.bin") for h in f.hosts]
        assert (after.key, after.address, after.port) == (before.key, before.address, before.port)
        [remote] = fetcher.files_for("f.bin")
        assert not downloader.given_up(remote)
        assert downloader.add(DownloadJob("f.bin", dest))
        await asyncio.wait_for(downloader.join(), JOIN_TIMEOUT)
        assert downloader.results[-1].state is TransferState.DONE
        assert (dest / "f.bin").read_bytes() == content
    finally:
        await downloader.stop()
