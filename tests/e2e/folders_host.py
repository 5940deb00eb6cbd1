"""A host that offers named folders, for the end-to-end tests of naming them on the command line.

Run as a script inside a namespace of the harness (never in the root namespace)::

    host.popen([sys.executable, folders_host.__file__, DEFAULT_DIR, ID:LABEL:DIR, ...])

It runs a real ``Node`` (discovery and TCP on their default ports, inside its namespace) that
serves DEFAULT_DIR as the default folder and each ``ID:LABEL:DIR`` as a folder of that id and
label, seen by everyone. (The command line's ``--folder`` is the local side's; this host lets
the tests of the remote side run on their own.) It prints ``READY`` once it serves, and runs
until it is sent SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from mfsync.crypto.keys import Identity
from mfsync.engine.folder_view import LocalFolderView, admit_everyone
from mfsync.engine.node import Node, NodeOptions
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.store.shareset import ShareSet

FOLDERS_HOST_SCRIPT = str(Path(__file__).resolve())


async def serve(default_dir: Path, named: list[tuple[FolderId, str, Path]]) -> None:
    node = Node(NodeOptions(identity=Identity.generate(), name="folders-host", beat=0.5,
                            share_dir=default_dir, watch=False))
    shares = [(folder, label, ShareSet(path)) for folder, label, path in named]
    for _, _, share in shares:
        await share.rescan()

    def views() -> list[LocalFolderView]:
        listed = [LocalFolderView(DEFAULT_FOLDER, "default", tuple(node.shares),
                                  admit_everyone, node.generation)]
        listed += [LocalFolderView(folder, label, (share,), admit_everyone, share.generation)
                   for folder, label, share in shares]
        return listed

    node._files._folders = views
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await node.start()
    print("READY", flush=True)
    try:
        await stop.wait()
    finally:
        await node.stop()
        for _, _, share in shares:
            share.close()


def main(argv: list[str]) -> None:
    named = []
    for spec in argv[1:]:
        folder, label, path = spec.split(":", 2)
        named.append((FolderId.parse(folder), label, Path(path)))
    asyncio.run(serve(Path(argv[0]), named))


if __name__ == "__main__":
    main(sys.argv[1:])
