"""``share``/``sync`` ``--folder ID|LABEL`` and ``--share-with`` (engine/run_folder.py, the
parser): a new label gets a new id that the folder's index database keeps, so the next run with
that label (or that id) serves the same folder; a label or id that is not DIR's is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mfsync.audience import EVERYONE, TRUSTED, Audience
from mfsync.cli.parser import build_parser
from mfsync.defaults import FolderMode
from mfsync.engine.local_folders import make_share
from mfsync.engine.run_folder import run_folder
from mfsync.engine.service_status import ServiceError
from mfsync.folder_config import FolderConfig
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId

KEY_A = "a1" * 32
KEY_B = "b2" * 32


async def _serve_once(config: FolderConfig, state_dir: Path) -> None:
    """What a run does with its folder's index: open it (recording a named folder's id)."""
    share = make_share(config.path, config, state_dir, bytes(32))
    await share.rescan()
    await asyncio.to_thread(share.close)


async def test_a_label_keeps_its_id_across_runs(tmp_path: Path) -> None:
    root, state = tmp_path / "notes", tmp_path / "state"
    root.mkdir()
    plain = await run_folder(root, FolderMode.SHARE, state_dir=state, folder=None, devices=None)
    assert (plain.id, plain.devices) == (DEFAULT_FOLDER, None)

    first = await run_folder(root, FolderMode.SYNC, state_dir=state, folder="Notes",
                             devices=TRUSTED)
    assert (first.label, first.mode, first.devices) == ("Notes", FolderMode.SYNC, TRUSTED)
    assert not first.id.is_default
    await _serve_once(first, state)
    again = await run_folder(root, FolderMode.SHARE, state_dir=state, folder="Notes",
                             devices=None)
    by_id = await run_folder(root, FolderMode.SHARE, state_dir=state, folder=str(first.id),
                             devices=None)
    assert again.id == by_id.id == first.id and by_id.label == "Notes"

    with pytest.raises(ServiceError, match=rf"is the folder {first.id} \('Notes'\), not 'Work'"):
        await run_folder(root, FolderMode.SHARE, state_dir=state, folder="Work", devices=None)
    other = FolderId.parse("zzzz-zzzz")
    with pytest.raises(ServiceError, match=f"not {other}; name it with --folder {first.id}"):
        await run_folder(root, FolderMode.SHARE, state_dir=state, folder=str(other),
                         devices=None)
    with pytest.raises(ServiceError, match="not a folder id, nor a label"):
        await run_folder(root, FolderMode.SHARE, state_dir=state, folder="a:b", devices=None)


async def test_an_id_names_a_new_folder_outright(tmp_path: Path) -> None:
    root = tmp_path / "Shared Photos"
    root.mkdir()
    chosen = await run_folder(root, FolderMode.SHARE, state_dir=tmp_path / "state",
                              folder="k3x9-pq2m", devices=None)
    assert (str(chosen.id), chosen.label) == ("k3x9-pq2m", "Shared Photos")


def test_share_with_names_keys_trusted_or_everyone() -> None:
    parse = build_parser().parse_args
    args = parse(["share", "DIR", "--folder", "Notes", "--share-with", f"{KEY_A},{KEY_B}"])
    assert args.folder == "Notes"
    assert args.share_with == Audience.of_keys(frozenset({bytes.fromhex(KEY_A),
                                                          bytes.fromhex(KEY_B)}))
    assert parse(["sync", "DIR", "--share-with", "trusted"]).share_with == TRUSTED
    assert parse(["sync", "DIR", "--share-with", "everyone"]).share_with == EVERYONE
    assert parse(["sync", "DIR"]).share_with is None and parse(["share", "D"]).folder is None
    with pytest.raises(SystemExit):
        parse(["share", "DIR", "--share-with", "nobody"])


async def test_a_label_of_eight_letters_is_a_label_not_an_id(tmp_path: Path) -> None:
    # "Notebook" spells an id too (o reads as 0): only k3x9-pq2m, with its hyphen, is an id.
    root, state = tmp_path / "nb", tmp_path / "state"
    root.mkdir()
    named = await run_folder(root, FolderMode.SHARE, state_dir=state, folder="Notebook",
                             devices=None)
    assert named.label == "Notebook" and named.id != FolderId.parse("Notebook")
    by_id = await run_folder(root, FolderMode.SHARE, state_dir=state, folder="k3x9-pq2m",
                             devices=None)
    assert by_id.id == FolderId.parse("k3x9-pq2m")
