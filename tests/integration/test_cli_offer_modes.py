"""``mfsync send`` and ``mfsync receive`` as coroutines in one process, on loopback: the modes'
own logic (the recipient found, the answer asked on a terminal, exit codes, Ctrl-C) over real
services, sockets and files. Discovery is pinned to 127.0.0.1 with TTL 0 (see conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from loopback import make_tree

from loopback_ports import GROUP
from mfsync.cli.parser import UsageError
from mfsync.cli.receive_mode import run_receive
from mfsync.cli.send_mode import run_send
from mfsync.cli.setup import Settings
from mfsync.config import Config
from mfsync.store.identity_file import load_or_create_identity


class _Terminal(io.TextIOWrapper):
    """The reading end of a pipe that says it is a terminal (someone types into the writer)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def settings_for(tmp_path: Path, udp_port: int) -> Callable[..., Settings]:
    def make(name: str, **changes: Any) -> Settings:
        fields: dict[str, Any] = {
            "config": Config(), "key_path": tmp_path / f"{name}.key",
            "trusted_keys": frozenset(), "peers": (), "name": name, "port": 0,
            "port_explicit": False, "group": GROUP, "udp_port": udp_port,
            "interfaces": ("127.0.0.1",), "ttl": 0, "window": 1.5, "wait_until": None,
        }
        fields.update(changes)
        return Settings(**fields)

    return make


def _key(settings: Settings) -> bytes:
    identity, _ = load_or_create_identity(settings.key_path)
    return identity.public_key


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


@contextlib.asynccontextmanager
async def _receiving(settings: Settings, dest: Path, **kwargs: Any) -> AsyncIterator[None]:
    """``run_receive`` in the background, until the block ends (then as after Ctrl-C)."""
    task = asyncio.ensure_future(run_receive(settings, str(dest), **kwargs))
    await asyncio.sleep(0.5)  # started, announcing
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_send_to_a_key_accepted_from_it(settings_for, tmp_path: Path, capsys) -> None:
    sender, receiver = settings_for("alpha"), settings_for("office-pc")
    source = make_tree(tmp_path / "Photos", {"a.jpg": os.urandom(300_000), "x/b.txt": b"b"})
    dest = tmp_path / "in"
    async with _receiving(receiver, dest, accept_from=frozenset({_key(sender)})):
        code = await run_send(sender, [str(source)], _key(receiver).hex())
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured
    assert f"sending 2 files (293 KiB) to office-pc (key {_key(receiver).hex().upper()[:12]}…)" \
        in out
    assert "office-pc received and verified 2 files" in out
    assert f"received Photos: 2 files (293 KiB) from alpha ({_key(sender).hex().upper()[:12]}…)" \
        f" into {dest}" in out
    assert _digests(dest / "Photos") == _digests(source)


async def test_asked_on_a_terminal_yes_then_no(settings_for, tmp_path: Path, capsys) -> None:
    sender, receiver = settings_for("alpha"), settings_for("office-pc")
    note = make_tree(tmp_path / "out", {"note.txt": b"hello\n"}) / "note.txt"
    read_fd, write_fd = os.pipe()
    terminal = _Terminal(os.fdopen(read_fd, "rb"), encoding="utf-8")
    typist = os.fdopen(write_fd, "w", encoding="utf-8")
    dest = tmp_path / "in"
    try:
        async with _receiving(receiver, dest, stdin=terminal):
            for answer, expected in (("y", 0), ("n", 1)):
                sending = asyncio.ensure_future(run_send(sender, [str(note)], "OFFICE-PC"))
                for _ in range(200):
                    if "accept? [y/N]" in capsys.readouterr().out:
                        break
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail("never asked")
                typist.write(answer + "\n")
                typist.flush()
                assert await sending == expected
    finally:
        typist.close()
    captured = capsys.readouterr()
    assert "alpha declined" not in captured.err
    assert "office-pc declined the files" in captured.err
    assert (dest / "note.txt").read_bytes() == b"hello\n"
    assert sorted(p.name for p in dest.iterdir()) == ["note.txt"]  # the second never came


async def test_nobody_to_ask_declines_with_a_log_line(settings_for, tmp_path: Path, capsys,
                                                      caplog) -> None:
    sender, receiver = settings_for("alpha"), settings_for("office-pc")
    note = make_tree(tmp_path / "out", {"note.txt": b"hello\n"}) / "note.txt"
    async with _receiving(receiver, tmp_path / "in", stdin=io.StringIO("")):
        code = await run_send(sender, [str(note)], _key(receiver).hex())
    assert code == 1
    assert "mfsync: error: office-pc declined the files" in capsys.readouterr().err
    assert f"--accept-from {_key(sender).hex().upper()}" in caplog.text
    assert list((tmp_path / "in").iterdir()) == []


async def test_a_name_two_hosts_have_is_a_usage_error(settings_for, tmp_path: Path) -> None:
    sender, one = settings_for("alpha"), settings_for("twin")
    two = settings_for("twin", key_path=tmp_path / "other-twin.key")
    note = make_tree(tmp_path / "out", {"note.txt": b"hello\n"}) / "note.txt"
    async with _receiving(one, tmp_path / "in1"), _receiving(two, tmp_path / "in2"):
        with pytest.raises(UsageError) as exc:
            await run_send(sender, [str(note)], "twin")
    assert "names 2 hosts" in str(exc.value)
    assert _key(one).hex().upper() in str(exc.value) and _key(two).hex().upper() in str(
        exc.value)


async def test_nothing_there_is_a_usage_error(settings_for, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        await run_send(settings_for("alpha"), [str(tmp_path / "nope")], "office-pc")


async def test_ctrl_c_cancels_on_both_sides(settings_for, tmp_path: Path, capsys,
                                            throttle) -> None:
    throttle.delay = 0.05  # every received block takes a while: the cancel lands mid-way
    sender, receiver = settings_for("alpha"), settings_for("office-pc")
    source = make_tree(tmp_path / "out", {"big.bin": os.urandom(4 * 1024 * 1024)})
    dest = tmp_path / "in"
    async with _receiving(receiver, dest, accept_all=True):
        sending = asyncio.ensure_future(
            run_send(sender, [str(source / "big.bin")], _key(receiver).hex()))
        for _ in range(200):
            if "accepted" in capsys.readouterr().out:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        sending.cancel()  # Ctrl-C (or -w): a failure, never a success
        assert await sending == 1
        assert "stopped before office-pc had received everything" in capsys.readouterr().err
        for _ in range(100):
            if not dest.exists() or not list(dest.iterdir()):
                break
            await asyncio.sleep(0.05)
        assert not dest.exists() or list(dest.iterdir()) == []  # no partial left behind
