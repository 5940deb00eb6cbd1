"""Index deltas on loopback, node to node: once a peer holds a host's index, a change there
reaches it as a delta (only what changed, deletions included) merged into what it holds; a host
that restarted (a new instance, its generations started again) is asked for its whole index."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from loopback import make_tree

from mfsync.engine.node import Node
from mfsync.protocol.messages import IndexChunk
from waiting import wait_for


class Spy:
    """Records (since generation asked, chunks answered) of a node's file server."""

    def __init__(self, node: Node) -> None:
        self.answers: list[tuple[int, list[IndexChunk]]] = []
        answers = node._files._answers
        real = answers.chunks

        def chunks(view: Any, since: int = 0) -> list[IndexChunk]:
            answer = real(view, since)
            self.answers.append((since, answer))
            return answer

        answers.chunks = chunks  # type: ignore[method-assign]


def _old(path: Path) -> None:
    past = time.time() - 3600
    os.utime(path, (past, past))


def _listed(node: Node) -> dict[str, bytes]:
    return {f.path: f.content_id for f in node.status.files}


async def test_a_peer_gets_only_the_changes_and_deletions_arrive(
    make_node: Any, tmp_path: Path
) -> None:
    files = {f"dir/f{i:03}.txt": f"file {i}".encode() for i in range(200)}
    root = make_tree(tmp_path / "share", files)
    sharer: Node = await make_node(start=False)
    await sharer.add_share(root)
    spy = Spy(sharer)
    await sharer.start()
    fetcher: Node = await make_node()
    await wait_for(lambda: len(fetcher.status.files) == 200)
    before = _listed(fetcher)

    (root / "dir" / "f000.txt").unlink()
    (root / "dir" / "f001.txt").write_bytes(b"changed")
    (root / "added.txt").write_bytes(b"added")
    for rel in ("dir/f001.txt", "added.txt"):
        _old(root / rel)
    await sharer.rescan()
    await wait_for(lambda: "added.txt" in _listed(fetcher)
                   and "dir/f000.txt" not in _listed(fetcher),
                   detail=lambda: sorted(_listed(fetcher))[:3])
    after = _listed(fetcher)
    assert len(after) == 200
    assert after["dir/f001.txt"] != before["dir/f001.txt"]
    unchanged = set(before) - {"dir/f000.txt", "dir/f001.txt"}
    assert all(after[p] == before[p] for p in unchanged)
    since, chunks = spy.answers[-1]
    assert since > 0 and all(c.delta for c in chunks)
    assert [e.path for c in chunks for e in c.read_entries()] == ["added.txt", "dir/f001.txt"]
    assert [p for c in chunks for p in c.removed] == ["dir/f000.txt"]


async def test_a_restarted_host_is_asked_for_its_whole_index(
    make_node: Any, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "share", {f"f{i}.txt": b"%d" % i for i in range(10)})
    first: Node = await make_node(start=False)
    await first.add_share(root)
    await first.start()
    fetcher: Node = await make_node()
    await wait_for(lambda: len(fetcher.status.files) == 10)
    assert first.server is not None
    port = first.server.port
    await first.stop()
    # The same folder, the same port, a new process: generations start again from 1, as the
    # first one's did, so only the instance tells the two apart.
    (root / "f0.txt").unlink()
    again: Node = await make_node(start=False, tcp_port=port)
    await again.add_share(root)
    spy = Spy(again)
    await again.start()
    await wait_for(lambda: spy.answers and "f0.txt" not in _listed(fetcher),
                   detail=lambda: (spy.answers, sorted(_listed(fetcher))))
    since, chunks = spy.answers[0]
    assert since == 0 and not any(c.delta for c in chunks)
    assert sorted(_listed(fetcher)) == sorted(f"f{i}.txt" for i in range(1, 10))
