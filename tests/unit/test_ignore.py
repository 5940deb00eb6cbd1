"""Ignore rules: the built-ins, a folder's .mfsyncignore, and the share set honouring both."""

from __future__ import annotations

import logging
import os
import unicodedata
from pathlib import Path

import pytest

from mfsync.store.ignore import IGNORE_FILE, IgnoreRules
from mfsync.store.shareset import ShareSet

RULES = """\
# build output and logs
*.log

build/
!keep.log
/rootonly.txt
"""


def _write_rules(root: Path, text: str | bytes) -> None:
    path = root / IGNORE_FILE
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.mark.parametrize("rel", [
    "x.mfsync-part", ".x.mfsync-part", "sub/.movie.mkv.mfsync-part", ".DS_Store", "a/.DS_Store",
    "Thumbs.db", "deep/er/desktop.ini", ".notes.txt.swp", "backup~", ".#lock", ".mfsync",
    ".mfsync/state.db", "sub/.mfsyncignore", "old~/inside.txt",
])
def test_builtins_are_ignored_at_any_depth(tmp_path: Path, rel: str) -> None:
    rules = IgnoreRules.load(tmp_path)
    assert rules.is_ignored(rel, is_dir=False)


@pytest.mark.parametrize("rel", [
    "notes.txt", "sub/notes.txt", "report.sync-conflict-20240102-030405-ABCDEF.txt",
    "part.mfsync-partial", "swp", "mfsync",
])
def test_ordinary_names_and_conflict_copies_are_shared(tmp_path: Path, rel: str) -> None:
    rules = IgnoreRules.load(tmp_path)
    assert not rules.is_ignored(rel, is_dir=False)
    assert rules.patterns == ()


def test_the_root_itself_is_never_ignored(tmp_path: Path) -> None:
    _write_rules(tmp_path, "*\n")
    assert not IgnoreRules.load(tmp_path).is_ignored("", is_dir=True)


def test_mfsyncignore_patterns(tmp_path: Path) -> None:
    _write_rules(tmp_path, RULES)
    rules = IgnoreRules.load(tmp_path)
    # Comments and blank lines are not patterns.
    assert rules.patterns == ("*.log", "build/", "!keep.log", "/rootonly.txt")
    ignored = [
        ("a.log", False), ("sub/deep/a.log", False),
        ("build", True), ("sub/build", True), ("build/x.txt", False),
        ("sub/build/deep/x.o", False), ("rootonly.txt", False),
    ]
    shared = [
        ("keep.log", False), ("sub/keep.log", False), ("notes.txt", False),
        # `build/` names directories only.
        ("build", False), ("sub/build", False),
        # `/rootonly.txt` is anchored at the root.
        ("sub/rootonly.txt", False), ("logs", True),
    ]
    assert [p for p in ignored if not rules.is_ignored(*p)] == []
    assert [p for p in shared if rules.is_ignored(*p)] == []


def test_nothing_below_an_ignored_directory_comes_back(tmp_path: Path) -> None:
    # As in git: once `build/` is out, `!build/keep.txt` cannot bring a file back, whereas
    # `out/*` leaves the folder itself in, so its negation works.
    _write_rules(tmp_path, "build/\n!build/keep.txt\nout/*\n!out/keep.txt\n")
    rules = IgnoreRules.load(tmp_path)
    assert rules.is_ignored("build/keep.txt", is_dir=False)
    assert not rules.is_ignored("out", is_dir=True)
    assert not rules.is_ignored("out/keep.txt", is_dir=False)
    assert rules.is_ignored("out/other.txt", is_dir=False)


def test_decomposed_names_match_composed_patterns(tmp_path: Path) -> None:
    _write_rules(tmp_path, unicodedata.normalize("NFC", "Entwürfe/\n"))
    rules = IgnoreRules.load(tmp_path)
    nfd = unicodedata.normalize("NFD", "Entwürfe")
    assert rules.is_ignored(nfd, is_dir=True)
    assert rules.is_ignored(nfd + "/brief.txt", is_dir=False)


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    _write_rules(tmp_path, b"\xef\xbb\xbf*.log\n")
    assert IgnoreRules.load(tmp_path).is_ignored("a.log", is_dir=False)


def test_reload_after_the_file_changes(tmp_path: Path) -> None:
    _write_rules(tmp_path, "*.log\n")
    rules = IgnoreRules.load(tmp_path)
    assert rules.reload_if_changed() is False
    assert rules.is_ignored("a.log", is_dir=False)

    _write_rules(tmp_path, "*.tmp\nbuild/\n")
    assert rules.reload_if_changed() is True
    assert not rules.is_ignored("a.log", is_dir=False)
    assert rules.is_ignored("a.tmp", is_dir=False)
    assert rules.is_ignored("build/x", is_dir=False)
    assert rules.reload_if_changed() is False

    # A comment changes the file but not the rules.
    _write_rules(tmp_path, "# scratch files\n*.tmp\nbuild/\n")
    assert rules.reload_if_changed() is False

    (tmp_path / IGNORE_FILE).unlink()
    assert rules.reload_if_changed() is True
    assert not rules.is_ignored("a.tmp", is_dir=False)
    assert not rules.is_ignored("build/x", is_dir=False)
    assert rules.is_ignored(".DS_Store", is_dir=False)


def test_a_file_with_bad_bytes_warns_and_keeps_its_valid_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_rules(tmp_path, b"*.log\n\xff\xfe caf\xe9\n")
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        rules = IgnoreRules.load(tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not valid UTF-8" in warnings[0]
    assert IGNORE_FILE in warnings[0]
    # An editor saving one Latin-1 character must not make everything excluded shared again.
    assert rules.is_ignored("a.log", is_dir=False)
    assert rules.is_ignored("x.mfsync-part", is_dir=False)

    # Warned once, not on every scan.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        assert rules.reload_if_changed() is False
    assert caplog.records == []

    # Once fixed, the rules apply.
    _write_rules(tmp_path, "*.log\n*.tmp\n")
    assert rules.reload_if_changed() is True
    assert rules.is_ignored("a.tmp", is_dir=False)


def test_a_file_that_becomes_unreadable_keeps_the_rules_in_effect(tmp_path: Path) -> None:
    _write_rules(tmp_path, "*.log\n")
    rules = IgnoreRules.load(tmp_path)
    (tmp_path / IGNORE_FILE).unlink()
    (tmp_path / IGNORE_FILE).mkdir()  # now unreadable as a file
    assert rules.reload_if_changed() is False
    assert rules.is_ignored("a.log", is_dir=False)


def test_an_unreadable_file_warns_and_falls_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / IGNORE_FILE).mkdir()  # a folder where the file should be: reading it fails
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        rules = IgnoreRules.load(tmp_path)
    assert "cannot read" in caplog.text
    assert rules.patterns == ()
    assert rules.is_ignored(".DS_Store", is_dir=False)


def test_an_invalid_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_rules(tmp_path, "!\n*.log\n")
    with caplog.at_level(logging.WARNING, logger="mfsync.store"):
        rules = IgnoreRules.load(tmp_path)
    assert "line 1" in caplog.text
    assert rules.patterns == ("*.log",)
    assert rules.is_ignored("a.log", is_dir=False)


async def test_shareset_skips_what_mfsyncignore_names(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "keep.txt": b"k", "scratch.tmp": b"x", "sub/also.tmp": b"x", "sub/keep2.txt": b"k",
        "build/out.bin": b"x", "build/deep/more.bin": b"x", "src/build/obj.o": b"x",
        ".DS_Store": b"x",
    })
    _write_rules(tmp_path, "*.tmp\nbuild/\n")
    shares = ShareSet(tmp_path)
    await shares.rescan()
    assert [e.path for e in shares.entries()] == ["keep.txt", "sub/keep2.txt"]


async def test_shareset_never_walks_an_ignored_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path, {"keep.txt": b"k", "build/deep/out.bin": b"x", "node_modules/a/b.js": b"x"})
    _write_rules(tmp_path, "build/\nnode_modules\n")
    walked: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str | os.PathLike[str]) -> object:
        walked.append(Path(path).relative_to(tmp_path).as_posix())
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    shares = ShareSet(tmp_path)
    await shares.rescan()
    assert sorted(shares.files) == ["keep.txt"]
    assert walked == ["."]


async def test_shareset_follows_changes_to_mfsyncignore(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.txt": b"a", "b.log": b"b"})
    shares = ShareSet(tmp_path)
    await shares.rescan()
    assert sorted(shares.files) == ["a.txt", "b.log"]

    _write_rules(tmp_path, "*.log\n")
    assert await shares.rescan() is True
    assert sorted(shares.files) == ["a.txt"]

    (tmp_path / IGNORE_FILE).unlink()
    assert await shares.rescan() is True
    assert sorted(shares.files) == ["a.txt", "b.log"]
