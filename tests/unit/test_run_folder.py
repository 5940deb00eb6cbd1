"""``share``/``sync`` ``--folder ID|LABEL`` and ``--share-with`` (engine/run_folder.py, the
parser): a new label gets a new id that the folder's index database keeps, so the next run with
that label (or that id) serves the same folder; a label or id that is not DIR's is refused. A
label DIR does not record joins the one folder of that label the network offers (several: an
error listing the ids; none: a new folder)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from mfsync.audience import EVERYONE, TRUSTED, Audience
from mfsync.cli.parser import build_parser
from mfsync.defaults import FolderMode
from mfsync.engine.local_folders import make_share
from mfsync.engine.run_folder import choose_offered, run_folder
from mfsync.engine.service_status import ServiceError
from mfsync.engine.status import HostRef, RemoteFolder
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


# -- a label the network offers -------------------------------------------------------------

NOTES_A, NOTES_B = FolderId.parse("k3x9-pq2m"), FolderId.parse("ab12-cd34")


def _offer(folder_id: FolderId, label: str, *addresses: str) -> RemoteFolder:
    hosts = tuple(HostRef(bytes([n]) * 32, address, 8000) for n, address in enumerate(addresses))
    return RemoteFolder(folder_id, label, hosts, files=1, size=1, sync=True)


class _Network:
    """The folders the network offers, and how often a run asked for them."""

    def __init__(self, *folders: RemoteFolder) -> None:
        self.folders = folders
        self.asked = 0

    async def __call__(self) -> tuple[RemoteFolder, ...]:
        self.asked += 1
        return self.folders


async def test_a_label_the_network_offers_joins_that_folder(tmp_path: Path) -> None:
    root, state = tmp_path / "notes", tmp_path / "state"
    root.mkdir()
    network = _Network(_offer(NOTES_B, "Photos", "10.0.0.2"), _offer(NOTES_A, "Notes", "10.0.0.1"))
    joined = await run_folder(root, FolderMode.SYNC, state_dir=state, folder="Notes",
                              devices=None, offered=network)
    assert (joined.id, joined.label, joined.mode, network.asked) == (
        NOTES_A, "Notes", FolderMode.SYNC, 1)
    await _serve_once(joined, state)
    # from now on DIR records it: the network is not asked again, even if it offers another
    elsewhere = _Network(_offer(NOTES_B, "Notes", "10.0.0.2"))
    again = await run_folder(root, FolderMode.SYNC, state_dir=state, folder="Notes",
                             devices=None, offered=elsewhere)
    assert (again.id, elsewhere.asked) == (NOTES_A, 0)


async def test_plain_runs_and_ids_never_ask_the_network(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    network = _Network(_offer(NOTES_A, "Notes", "10.0.0.1"))
    plain = await run_folder(root, FolderMode.SHARE, state_dir=tmp_path / "s", folder=None,
                             devices=None, offered=network)
    by_id = await run_folder(root, FolderMode.SHARE, state_dir=tmp_path / "s",
                             folder=str(NOTES_B), devices=None, offered=network)
    assert (plain.id, by_id.id, network.asked) == (DEFAULT_FOLDER, NOTES_B, 0)
    with pytest.raises(ServiceError, match="not a folder id, nor a label"):
        await run_folder(root, FolderMode.SHARE, state_dir=tmp_path / "s", folder="a/b",
                         devices=None, offered=network)
    assert network.asked == 0


async def test_a_label_nobody_offers_is_a_new_folder_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "d"
    root.mkdir()
    network = _Network(_offer(NOTES_A, "Photos", "10.0.0.1"))
    with caplog.at_level(logging.WARNING, logger="mfsync.run_folder"):
        new = await run_folder(root, FolderMode.SYNC, state_dir=tmp_path / "s", folder="Notes",
                               devices=None, offered=network)
    assert network.asked == 1 and new.id not in (NOTES_A, DEFAULT_FOLDER) and new.label == "Notes"
    assert f"no host offers a folder 'Notes'; made a new one, id {new.id}" in caplog.text


async def test_a_label_two_folders_have_is_an_error_listing_both(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    network = _Network(_offer(NOTES_A, "Notes", "10.0.0.1", "10.0.0.3"),
                       _offer(NOTES_B, "Notes", "10.0.0.2"))
    with pytest.raises(ServiceError) as caught:
        await run_folder(root, FolderMode.SYNC, state_dir=tmp_path / "s", folder="Notes",
                         devices=None, offered=network)
    message = str(caught.value)
    assert "2 folders on the network have that label" in message, message
    assert f"{NOTES_B} (on 10.0.0.2)" in message and f"{NOTES_A} (on 10.0.0.1, 10.0.0.3)" in message
    assert f"--folder {NOTES_B}" in message  # the first id in order, as an example
    assert not (tmp_path / "s").exists()  # nothing recorded for an error


def test_hostile_offers_do_not_pass_for_the_label() -> None:
    # near misses are other labels; a host labelling the default folder is not believed
    near = [_offer(NOTES_A, "notes", "h"), _offer(NOTES_A, "Notes ", "h"),
            _offer(NOTES_A, "No\u200btes", "h"), _offer(NOTES_A, "Notes\x1b[2J", "h"),
            _offer(DEFAULT_FOLDER, "Notes", "h")]
    assert choose_offered("Notes", near) is None
    assert choose_offered("Notes", [*near, _offer(NOTES_B, "Notes", "h")]) == NOTES_B
    # a hostile label shown in the error comes out as the user's own label, ids and addresses
    with pytest.raises(ServiceError) as caught:
        choose_offered("Notes", [_offer(NOTES_A, "Notes", "h1"), _offer(NOTES_B, "Notes", "h2"),
                                 _offer(DEFAULT_FOLDER, "Notes", "h3")])
    assert "2 folders" in str(caught.value) and "h3" not in str(caught.value)
    assert choose_offered("Notes", []) is None
