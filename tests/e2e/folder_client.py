"""A test client that speaks to a host with a given key (run inside a host's namespace).

``python folder_client.py KEY_FILE HOST PORT FOLDER_ID...``: opens a channel to HOST:PORT with
the identity in KEY_FILE, asks for the folder list, then for the index of each FOLDER_ID, and
prints one JSON object: ``{"listed": [ids], "index": {id: "files:N" | "ErrorMessage:CODE"}}``.
It is how a test shows what a host with that key learns, message by message.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from mfsync.net.channel import PeerRefused, SecureChannel, open_channel
from mfsync.net.client import request_folders, request_index
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.messages import Hello
from mfsync.store.identity_file import load_or_create_identity

__all__ = ["FOLDER_CLIENT_SCRIPT"]

FOLDER_CLIENT_SCRIPT = str(Path(__file__).resolve())


async def _ask(key_file: str, host: str, port: int, folders: list[str]) -> dict[str, object]:
    """Each question on a channel of its own, so that one refusal cannot hide the next."""
    identity, _ = load_or_create_identity(Path(key_file))

    async def channel() -> SecureChannel:
        return await open_channel(host, port, identity, authorize=lambda _key: True,
                                  hello=Hello(capabilities=("index",), name="folder-client"))

    first = await channel()
    try:
        listed = [str(f.id) for f in (await request_folders(first)).folders]
    finally:
        await first.close()
    answers: dict[str, str] = {}
    for text in folders:
        opened = await channel()
        try:
            _generation, entries = await request_index(opened, folder=FolderId.parse(text))
            answers[text] = f"files:{len(entries)}"
        except PeerRefused as exc:
            answers[text] = f"ErrorMessage:{exc.code.name}"
        finally:
            await opened.close()
    return {"listed": listed, "index": answers}


if __name__ == "__main__":
    key_file, host, port, *ids = sys.argv[1:]
    print(json.dumps(asyncio.run(_ask(key_file, host, int(port), ids))), flush=True)
