"""The source policy on its own, without sockets: which host is asked, when a slow source gives
up its turn, when a job waiting for a busy host chooses again, what a failure says about its
host, and which offer a job downloads."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfsync.engine.download_jobs import DownloadJob
from mfsync.engine.sources import (
    ANOTHER_HOST,
    MAX_FAILURES,
    MIN_RATE,
    OTHERS_WAITING,
    BadBlock,
    Failure,
    SourcePolicy,
    endpoint,
    offer_for,
)
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.net.channel import ChannelClosed, PeerRefused, ProtocolBroken
from mfsync.net.client import ClosedMidReply
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import ErrorCode, ErrorMessage

A = HostRef(b"a" * 32, "10.0.0.2", 8000, b"i")
B = HostRef(b"b" * 32, "10.0.0.3", 8000, b"i")
C = HostRef(b"c" * 32, "10.0.0.4", 8000, b"i")
CID = b"x" * 32


def _remote(*hosts: HostRef, path: str = "f", cid: bytes = CID, mtime: int = 1) -> RemoteFile:
    return RemoteFile(path, 10, mtime, cid, hosts)


def _path_choosing(hosts: list[HostRef], wanted: HostRef) -> str:
    """A path that ``choose_source`` maps to ``wanted`` among ``hosts`` (by its crc32)."""
    return next(p for p in (f"f{i}" for i in range(1000))
                if hosts[zlib.crc32(p.encode()) % len(hosts)] == wanted)


def test_candidates_leave_out_dropped_and_cooling_hosts() -> None:
    policy = SourcePolicy()
    remote = _remote(A, B, C)
    for _ in range(MAX_FAILURES):
        policy.tracker.failed(A, CID, Failure.PROTOCOL)
    assert policy.candidates(remote) == [B, C]
    assert policy.candidates(remote, {endpoint(B)}) == [C]
    assert policy.given_up(remote) == ""
    for _ in range(MAX_FAILURES):
        policy.tracker.failed(B, CID, Failure.PROTOCOL)
        policy.tracker.failed(C, CID, Failure.PROTOCOL)
    assert "broke the protocol" in policy.given_up(remote)


def test_pick_prefers_fast_hosts_then_hosts_not_holding_every_turn() -> None:
    policy = SourcePolicy()
    path = _path_choosing([A, B], A)
    assert policy.pick(path, [A, B], None) == A
    assert policy.pick(path, [A, B], endpoint(A)) == B  # A holds every turn
    policy.measured(B, slow=True)
    assert policy.pick(path, [A, B], endpoint(A)) == A  # B is slow: busy beats slow
    policy.measured(A, slow=True)
    assert policy.pick(path, [A, B], None) == A  # both slow: the usual choice


def test_slow_marks_change_the_epoch_once_per_change() -> None:
    policy = SourcePolicy()
    assert policy.measured(A, slow=False) == ""
    news = policy.measured(A, slow=True)
    assert f"sends less than {MIN_RATE} bytes a second" in news
    assert policy.epoch == 1 and policy.is_slow(A)
    assert policy.measured(A, slow=True) == ""  # already slow: no news
    assert policy.epoch == 1
    assert "at the minimum rate again" in policy.measured(A, slow=False)
    assert policy.epoch == 2 and not policy.is_slow(A)
    policy.offer_changed()
    assert policy.epoch == 3


def test_better_source_is_another_usable_host_that_is_not_slow() -> None:
    policy = SourcePolicy()
    assert not policy.better_source(None, A)
    assert not policy.better_source(_remote(A), A)  # a lone source
    assert policy.better_source(_remote(A, B), A)
    policy.measured(B, slow=True)
    assert not policy.better_source(_remote(A, B), A)
    for _ in range(MAX_FAILURES):
        policy.tracker.failed(C, CID, Failure.CLOSED)
    assert not policy.better_source(_remote(A, B, C), A)  # C is dropped for it


def test_preemption_only_when_someone_else_can_use_the_turn() -> None:
    policy = SourcePolicy()
    asked: list[bool] = []

    def waiting(answer: bool) -> bool:
        asked.append(answer)
        return answer

    assert policy.preemption(_remote(A, B), A, lambda: waiting(False)) == ANOTHER_HOST
    assert asked == []  # another host is enough: the line is not looked at
    assert policy.preemption(_remote(A), A, lambda: waiting(True)) == OTHERS_WAITING
    assert policy.preemption(_remote(A), A, lambda: waiting(False)) == ""  # keeps its turn


def test_others_waiting() -> None:
    policy = SourcePolicy()
    assert policy.others_waiting(A, True, [])  # a job not started yet
    assert not policy.others_waiting(A, False, [])
    assert not policy.others_waiting(A, False, [(A, _remote(A))])  # waits for A too
    assert policy.others_waiting(A, False, [(B, _remote(B))])  # waits for B, not slow
    policy.measured(B, slow=True)
    assert not policy.others_waiting(A, False, [(B, _remote(B))])
    # A job that chose slow B may ask C, which appeared since.
    assert policy.others_waiting(A, False, [(B, _remote(B, C))])

    def lazily() -> Iterator[tuple[HostRef, RemoteFile | None]]:
        yield (C, _remote(C))
        raise AssertionError("read past the first waiter that answers")

    assert policy.others_waiting(A, False, lazily())


def test_choose_again_only_when_the_answer_differs() -> None:
    policy = SourcePolicy()
    path = _path_choosing([A, B], A)
    busy = endpoint(A)
    assert not policy.choose_again(path, None, frozenset(), busy)
    assert not policy.choose_again(path, _remote(A), frozenset(), busy)  # only A offers it
    assert policy.choose_again(path, _remote(A, B), frozenset(), busy)
    # B was cooling down when the job chose A: it would choose A again.
    assert not policy.choose_again(path, _remote(A, B), frozenset({endpoint(B)}), busy)
    assert policy.may_take_spare(B)
    policy.measured(B, slow=True)
    assert not policy.may_take_spare(B)


def _refused(code: ErrorCode) -> PeerRefused:
    return PeerRefused(ErrorMessage(code, "no"))


@pytest.mark.parametrize(("exc", "refresh", "failure", "level"), [
    (BadBlock("block 3"), True, Failure.CORRUPT, logging.WARNING),
    (ProtocolBroken("empty Data message"), False, Failure.PROTOCOL, logging.INFO),
    (ClosedMidReply("closed"), False, Failure.CLOSED, logging.INFO),
    (_refused(ErrorCode.CHANGED), True, Failure.REFUSED, logging.INFO),
    (_refused(ErrorCode.NOT_FOUND), True, Failure.REFUSED, logging.INFO),
    (_refused(ErrorCode.INTERNAL), False, Failure.REFUSED, logging.INFO),
    (_refused(ErrorCode.NOT_TRUSTED), True, None, logging.INFO),
    (_refused(ErrorCode.BUSY), False, None, logging.INFO),
    (ChannelClosed("connection lost"), False, None, logging.INFO),
])
def test_judge_says_what_a_failure_means(exc: BaseException, refresh: bool,
                                         failure: Failure | None, level: int) -> None:
    policy = SourcePolicy()
    verdict = policy.judge(A, "f", CID, exc, 0)
    assert (verdict.refresh, verdict.failure, verdict.level) == (refresh, failure, level)
    assert not verdict.dropped
    assert "f" in verdict.message
    if failure is None:
        assert verdict.message.startswith("lost 10.0.0.2:8000 while fetching f")


def test_judge_drops_after_a_row_and_progress_starts_a_new_one() -> None:
    policy = SourcePolicy()
    exc = ProtocolBroken("bad")
    for _ in range(MAX_FAILURES - 1):
        assert not policy.judge(A, "f", CID, exc, 0).dropped
    # Some bytes were verified in this attempt: the row starts again before this failure.
    assert not policy.judge(A, "f", CID, exc, 100).dropped
    for _ in range(MAX_FAILURES - 2):
        assert not policy.judge(A, "f", CID, exc, 0).dropped
    verdict = policy.judge(A, "f", CID, exc, 0)
    assert verdict.dropped and verdict.level == logging.WARNING
    assert verdict.message.endswith("not using it again for this file")
    assert policy.candidates(_remote(A, B)) == [B]


def test_offer_for_pinned_content_newest_then_most_offered(tmp_path: Path) -> None:
    old = _remote(A, B, C, cid=b"o" * 32, mtime=1)
    new = _remote(A, cid=b"n" * 32, mtime=2)
    offers = {"f": [old, new], "copy": [_remote(B, path="copy", cid=b"o" * 32)]}

    def files_for(path: str, folder: FolderId) -> list[RemoteFile]:
        return offers.get(path, []) if folder == DEFAULT_FOLDER else []

    assert offer_for(DownloadJob("f", tmp_path), files_for) == new
    assert offer_for(DownloadJob("f", tmp_path, content_id=b"o" * 32), files_for) == old
    assert offer_for(DownloadJob("f", tmp_path, content_id=b"z" * 32), files_for) is None
    # A job names its folder: the same path in another folder is not its offer.
    assert offer_for(DownloadJob("f", tmp_path, folder=FolderId.parse("k3x9-pq2m")),
                     files_for) is None
    offers["f"] = [new]
    # The pinned content, gone under its name, is still offered under the name it is stored as.
    job = DownloadJob("f", tmp_path, content_id=b"o" * 32, store_as="copy")
    assert offer_for(job, files_for) == offers["copy"][0]
