"""One process per folder: the folder lock, across real processes."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mfsync.store.folder_lock import FolderInUse, FolderLock, FolderLocks, lock_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock (POSIX)")

APP = Path(__file__).resolve().parents[2] / "app"

#: A process that takes the lock, says so, and holds it until it is killed or its stdin closes.
HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mfsync.store.folder_lock import FolderLock, FolderInUse
    try:
        lock = FolderLock.acquire(Path(sys.argv[1]), Path(sys.argv[2]), command=sys.argv[3])
    except FolderInUse as exc:
        print("refused:", exc, flush=True)
        sys.exit(3)
    print("locked", flush=True)
    sys.stdin.read()
""")


def _holder(state: Path, folder: Path, command: str = "mfsync sync") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(APP)}
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(state), str(folder), command],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def _wait_locked(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"


def test_a_second_process_is_refused_with_the_holders_pid_and_command(tmp_path: Path) -> None:
    state, folder = tmp_path / "state", tmp_path / "Photos"
    folder.mkdir()
    holder = _holder(state, folder)
    try:
        _wait_locked(holder)
        with pytest.raises(FolderInUse) as caught:
            FolderLock.acquire(state, folder, command="mfsync share")
        assert str(caught.value).startswith(
            f"{folder} is already served by mfsync (pid {holder.pid}, `mfsync sync`)")
        assert (caught.value.pid, caught.value.command) == (holder.pid, "mfsync sync")
        # the same folder by another name (a symlink) is the same folder
        alias = tmp_path / "alias"
        alias.symlink_to(folder)
        with pytest.raises(FolderInUse):
            FolderLock.acquire(state, alias, command="mfsync share")
        # another ~/.mfsync is another set of locks
        FolderLock.acquire(tmp_path / "other-state", folder, command="x").release()
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    FolderLock.acquire(state, folder, command="mfsync share").release()  # the holder left


def test_a_killed_holder_leaves_no_lock(tmp_path: Path) -> None:
    state, folder = tmp_path / "state", tmp_path / "f"
    folder.mkdir()
    holder = _holder(state, folder)
    _wait_locked(holder)
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert lock_path(state, folder).exists()  # the file stays; the kernel released the lock
    lock = FolderLock.acquire(state, folder, command="mfsync share")
    assert lock.held
    lock.release()
    assert not lock.held
    lock.release()  # twice: nothing


def test_our_lock_refuses_another_process_until_released(tmp_path: Path) -> None:
    state, folder = tmp_path / "state", tmp_path / "f"
    folder.mkdir()
    locks = FolderLocks(state, command="mfsync-gui")
    locks.take_all([folder])
    locks.take(folder)  # held already: stays held
    second = _holder(state, folder)
    out, _ = second.communicate("", timeout=30)
    assert second.returncode == 3
    assert f"(pid {os.getpid()}, `mfsync-gui`)" in out
    locks.release_all()
    third = _holder(state, folder)
    _wait_locked(third)
    third.communicate("")


def test_take_all_takes_none_if_one_is_in_use(tmp_path: Path) -> None:
    state, free, busy = tmp_path / "state", tmp_path / "free", tmp_path / "busy"
    free.mkdir()
    busy.mkdir()
    holder = _holder(state, busy)
    try:
        _wait_locked(holder)
        locks = FolderLocks(state, command="mfsync")
        with pytest.raises(FolderInUse):
            locks.take_all([free, busy])
        FolderLock.acquire(state, free, command="x").release()  # released again
    finally:
        holder.communicate("")


def test_an_unreadable_note_still_refuses(tmp_path: Path) -> None:
    state, folder = tmp_path / "state", tmp_path / "f"
    folder.mkdir()
    lock = FolderLock.acquire(state, folder, command="x")
    try:
        lock_path(state, folder).write_text("not json")
        with pytest.raises(FolderInUse, match=r"is already served by mfsync; a folder"):
            FolderLock.acquire(state, folder, command="y")
    finally:
        lock.release()


def test_no_state_dir_no_lock_and_an_unwritable_one_only_warns(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    FolderLocks(None, command="x").take(tmp_path)
    state = tmp_path / "state"
    state.write_text("a file where the state folder should be")
    FolderLocks(state, command="x").take(tmp_path)
    assert "without the one-process check" in caplog.text
