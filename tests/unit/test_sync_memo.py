"""The sync policy's memory between runs: the grouped offer follows the audience at once, and a
name counts as settled only while its offers and our copy are the very ones decided on."""

from mfsync.engine.folder_sources import FolderSources
from mfsync.engine.status import HostRef, RemoteFile
from mfsync.engine.sync_memo import PolicyMemo
from mfsync.protocol.folder_id import DEFAULT_FOLDER
from mfsync.store.change_log import ChangeLog

A = HostRef(b"a" * 32, "10.0.0.1", 8000)
B = HostRef(b"b" * 32, "10.0.0.2", 8000)


def _file(path: str, *hosts: HostRef) -> RemoteFile:
    return RemoteFile(path, 1, 1, bytes(32), hosts)


def _memo(admitted: set[bytes]) -> tuple[PolicyMemo, list[bytes]]:
    asked: list[bytes] = []

    def admits(key: bytes) -> bool:
        asked.append(key)
        return key in admitted

    return PolicyMemo(FolderSources(None, DEFAULT_FOLDER, admits)), asked  # type: ignore[arg-type]


def test_the_grouped_offer_asks_the_audience_once_per_host_and_follows_it() -> None:
    admitted = {A.key, B.key}
    memo, asked = _memo(admitted)
    files = tuple(_file(f"f{i}", A, B) for i in range(50))
    first = memo.by_path(files)
    assert len(first) == 50 and sorted(asked) == [A.key, B.key]
    assert memo.by_path(files) is first  # same files, same answers: kept
    admitted.discard(B.key)  # the folder's devices changed: B is no longer admitted
    again = memo.by_path(files)
    assert again is not first
    assert all(offer.hosts == (A,) for offers in again.values() for offer in offers)
    admitted.discard(A.key)
    assert memo.by_path(files) == {}
    assert memo.by_path(tuple(files)) == {}  # (a new tuple of equal files is looked at again)


def test_a_name_is_settled_only_for_the_offers_and_copy_decided_on() -> None:
    memo, _ = _memo({A.key})
    offers = [_file("x", A)]
    assert not memo.settled("x", offers, None, None)
    memo.settle("x", offers, None, None)
    assert memo.settled("x", offers, None, None)
    assert memo.settled("x", [_file("x", A)], None, None)  # equal offers
    assert not memo.settled("x", [_file("x", A, B)], None, None)  # another host offers it
    assert not memo.settled("x", offers, object(), None)  # type: ignore[arg-type]  # ours changed
    memo.keep_only(set())
    assert not memo.settled("x", offers, None, None)  # no longer offered: forgotten


class _Share:
    """What ``PolicyMemo.to_look_at`` asks of a share set: its generation and its change log
    (the real ``ChangeLog`` that index deltas are built from)."""

    def __init__(self) -> None:
        self.generation = 1
        self._log = ChangeLog()
        self._log.note(1, (), ())

    def change(self, changed: tuple[str, ...] = (), gone: tuple[str, ...] = ()) -> None:
        self.generation += 1
        self._log.note(self.generation, changed, gone)

    def changes_since(self, generation: int) -> tuple[set[str], set[str]] | None:
        return self._log.since(generation, self.generation)


def _run(memo: PolicyMemo, by_path: dict[str, list[RemoteFile]], share: _Share) -> list[str]:
    """A run that looks at every name it is given (and settles none)."""
    names = list(memo.to_look_at(by_path, share))
    for path in names:
        memo.settled(path, by_path[path], None, None)
    memo.completed()
    return names


def test_a_run_looks_only_at_names_not_settled_and_names_our_share_changed() -> None:
    memo, _ = _memo({A.key})
    share = _Share()
    files = tuple(_file(f"f{i}", A) for i in range(50))
    by_path = memo.by_path(files)
    assert _run(memo, by_path, share) == list(by_path)  # (a first run: all)
    for path, offers in by_path.items():
        if path != "f49":
            memo.settle(path, offers, None, None)
    assert _run(memo, by_path, share) == ["f49"]
    share.change(changed=("f3",))
    assert _run(memo, by_path, share) == ["f3", "f49"]
    share.change(gone=("f5",))
    share.change(changed=("f1",))
    assert _run(memo, by_path, share) == ["f1", "f5", "f49"]
    assert _run(memo, by_path, share) == ["f49"]
    # Another offer (a new grouping): every name again.
    regrouped = memo.by_path(tuple(files[:40]))
    assert _run(memo, regrouped, share) == list(regrouped)
    assert not memo.settled("f45", [_file("f45", A)], None, None)  # no longer offered
    assert _run(memo, regrouped, share) == []  # (f49 is no longer offered)
    # Changes that cannot be told (a share set whose log does not reach back): every name.
    assert _run(memo, regrouped, _Share()) == list(regrouped)


def test_a_run_stopped_early_leaves_the_next_one_to_look_at_every_name() -> None:
    """A name settled for older offers must be looked at after the offer changed, even when
    the run that saw the change stopped before it (the download window was full), and even
    after a run found it unsettled (a download failed, and its retry comes later)."""
    memo, _ = _memo({A.key, B.key})
    share = _Share()
    old = memo.by_path(tuple(_file(f"f{i}", A) for i in range(10)))
    for path, offers in old.items():
        memo.settle(path, offers, None, None)
    memo.completed()
    new = memo.by_path(tuple(_file(f"f{i}", A, B) for i in range(10)))  # B offers them too
    names = list(memo.to_look_at(new, share))
    assert names == list(new)
    for path in names[:3]:  # the window fills after three: the run stops
        assert not memo.settled(path, new[path], None, None)
    assert list(memo.to_look_at(new, share)) == list(new)  # stopped early: all again
    for path in new:
        memo.settled(path, new[path], None, None)
    memo.completed()
    # Every name was found unsettled (each queued a download, say, that failed): the next
    # run, with nothing changed at all, still looks at each of them.
    assert list(memo.to_look_at(new, share)) == list(new)
