"""Fault injection, end to end: real ``mfsync share``/``get``/``sync`` processes on a private LAN
of network namespaces, with the fault landing in the middle of a transfer.

What a user can rely on, case by case (each test says how it checks it):

a. The network drops out for a few seconds (here: the getter's cable pulled at the switch)
   -> the same ``get`` carries on once it is back: nothing to rerun, nothing fetched twice.
b. The sharer dies (SIGKILL) -> the getter moves to another host offering the same content, or
   waits for one (the same sharer restarted) and resumes from its partial file.
c. The sharer freezes (SIGSTOP: a laptop suspended, a process stuck) -> the getter gives up on
   it after the read timeout (``REQUEST_TIMEOUT``), never hangs, and finishes from another host.
d. The receiver's disk is full -> ``get`` refuses up front a file that cannot fit; when the
   disk fills during the download, a clear error (no traceback) and exit 1, the partial kept,
   no final file; once space is freed, the same command resumes from the partial (only the
   rest crosses the wire). ``sync`` replacing a file with a newer version: the old file stays
   whole in place while the disk is full, the failure is retried calmly (a growing delay, not
   a tight loop), and the replacement completes by itself once there is room.
e. The shared file is rewritten in place (twice) or appended to while it is sent -> the
   receiver ends with one whole version (the newest, after the sharer's rescan), never a mix,
   and a sharer whose file changed is not written off as sending corrupt data.
f. The receiver is killed around the final fsync and rename -> the final file is absent or
   complete and correct, never truncated; running the command again completes.

Timing: the sharer's link is capped with ``tc`` (a ``tbf`` qdisc) so that a transfer lasts
seconds and the test can place its fault by watching the partial file grow (it is sparse, so
the space it occupies is what has arrived). No test asserts a speed; bounds are generous.
Each test records what it did under ``faults`` (see ``tests/figures.py``). A small disk is a
tmpfs in a private mount namespace (``faults.SmallDisk``), never mounted on the machine itself.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from faults import (
    MiB,
    SmallDisk,
    never_mounted_here,
    occupied,
    partials,
    poll,
    run_to_end,
    serving_host,
    sha256_of,
    signal_group,
    start_with_prefix,
    wait_occupied,
    write_random,
)
from mfsync_cli import CliHost, Running, cli_hosts, kill_now, limit_egress, tx_bytes

import figures
from mfsync.engine.swarm_fetch import CHUNK_BYTES
from mfsync.net.channel import REQUEST_TIMEOUT
from mfsync.protocol.content import block_size_for

pytestmark = pytest.mark.timeout(240)

#: The sharers' links are capped at this rate (about 10 MB/s) while a fault is placed.
RATE = "80mbit"
SIZE = 40 * MiB
#: A transfer's tcp/Noise/framing overhead allowed on top of the bytes that were missing.
OVERHEAD = 0.10
#: Generous bound for a get that should finish (functional, not a speed target).
FINISH = 120.0


def _record(case: str, *, faults: int, transfers: int, nbytes: int, verified: int,
            corrupt: int, lost: int) -> None:
    """Add one case's figures to the ``faults`` suite (recorded before the asserts)."""
    figures.record("faults", cases=1, faults_injected=faults, transfers=transfers,
                   bytes=nbytes, files_verified=verified, corrupt_final_files=corrupt,
                   data_lost=lost, **{case: faults})


def _record_transfer(case: str, final: Path, want: str, size: int, faults: int = 1) -> str | None:
    """The SHA-256 of ``final`` (None when it is absent), after recording the figures of a case
    whose one transfer of ``size`` bytes should have produced ``want``."""
    got = sha256_of(final) if final.exists() else None
    _record(case, faults=faults, transfers=1, nbytes=size if got == want else 0,
            verified=int(got == want), corrupt=int(got not in (None, want)),
            lost=int(got != want))
    return got


def _copy_same(src: Path, dst: Path) -> None:
    """A second copy of a shared file, with the same modification time (same offer)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _no_traceback(*runs: Running) -> None:
    for run in runs:
        assert "Traceback" not in run.stderr.text, run.describe()


def _partial(dest: Path, name: str) -> Path:
    return dest / f".{name}.mfsync-part"


# -- a. the link cut mid-transfer, then restored ---------------------------------------------

#: Long enough for TCP to back off several times; shorter than REQUEST_TIMEOUT, so that the
#: connection is expected to survive it (a silence beyond that is case c's timeout path).
CUT_SECONDS = 8.0


def test_link_cut_mid_transfer_then_restored(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    source = tmp_path / "share"
    source.mkdir()
    want = write_random(source / "big.bin", SIZE)
    share = a.share(source)
    dest = tmp_path / "dest"
    partial = _partial(dest, "big.bin")
    limit_egress(a, RATE)
    sent_before = tx_bytes(a)

    get = b.start("get", "big.bin", dest, "-v")
    at_cut = wait_occupied(partial, int(0.2 * SIZE), int(0.6 * SIZE), get)
    assert at_cut is not None, get.describe()
    b.host.cut_link()
    try:
        assert not b.host.link_up()
        time.sleep(1.0)  # blocks already received are written; then nothing more arrives
        frozen = occupied(partial)
        time.sleep(CUT_SECONDS - 1.0)
        during = occupied(partial)
        alive_during_cut = get.alive()
    finally:
        b.host.restore_link()
    assert b.host.link_up()
    code = get.wait(FINISH)
    sent = tx_bytes(a) - sent_before
    got = _record_transfer("link_cut", dest / "big.bin", want, SIZE)

    assert during == frozen < SIZE, (at_cut, frozen, during)  # the cut really cut
    assert alive_during_cut, get.describe()
    assert code == 0, get.describe()
    assert got == want
    assert partials(dest) == [], get.describe()
    # Carried on where it was: the file crossed the wire once (plus overhead), not twice.
    assert SIZE <= sent < (1 + OVERHEAD) * SIZE, sent
    assert share.alive(), share.describe()
    _no_traceback(share, get)


@dataclass
class _TwoSharers:
    """Hosts a and c share the same file; b's ``get`` of it is under way, from ``victim``."""

    getter: CliHost
    shares: dict[CliHost, Running]
    want: str
    dest: Path
    partial: Path
    get: Running
    victim: CliHost
    other: CliHost


def _two_sharers_and_a_getter(lan_factory, tmp_path: Path) -> _TwoSharers:
    """Three hosts: a and c share the same ``big.bin`` (each throttled to RATE), b gets it;
    returned once 10 to 40 % of it has arrived, with the host it is coming from."""
    lan = lan_factory(3)
    a, b, c = cli_hosts(lan, tmp_path)
    (tmp_path / "share-a").mkdir()
    want = write_random(tmp_path / "share-a" / "big.bin", SIZE)
    _copy_same(tmp_path / "share-a" / "big.bin", tmp_path / "share-c" / "big.bin")
    shares = {a: a.share(tmp_path / "share-a"), c: c.share(tmp_path / "share-c")}
    for host in shares:
        limit_egress(host, RATE)
    dest = tmp_path / "dest"
    partial = _partial(dest, "big.bin")
    get = b.start("get", "big.bin", dest, "-v")
    assert wait_occupied(partial, int(0.1 * SIZE), int(0.4 * SIZE), get), get.describe()
    # (both may be sending: a file two hosts offer is fetched from both at once)
    victim = serving_host([a, c], alone=False)
    return _TwoSharers(b, shares, want, dest, partial, get, victim, c if victim is a else a)


# -- b. the serving process killed ------------------------------------------------------------

def test_sharer_killed_another_host_takes_over(lan_factory, tmp_path: Path) -> None:
    run = _two_sharers_and_a_getter(lan_factory, tmp_path)
    shares, want, dest, partial, get = run.shares, run.want, run.dest, run.partial, run.get
    victim, other = run.victim, run.other
    kill_now(shares[victim])
    at_kill = occupied(partial)
    other_before = tx_bytes(other)

    code = get.wait(FINISH)
    sent_by_other = tx_bytes(other) - other_before
    got = _record_transfer("sharer_sigkill", dest / "big.bin", want, SIZE)

    assert shares[victim].proc.returncode == -signal.SIGKILL
    assert code == 0, get.describe()
    assert got == want
    assert partials(dest) == []
    # The getter said which source it lost, and took the rest from the other host.
    assert re.search(rf"lost {re.escape(victim.address)}:\d+ while fetching big\.bin",
                     get.stderr.text), get.describe()
    assert re.search(r"downloaded big\.bin ", get.stderr.text), get.describe()
    # (at_kill, read just after the kill, is a lower bound of what the partial held when the
    # getter switched: blocks still in its socket buffer were written after it). A chunk the
    # victim had part-sent when both were sending (2.7 step 5b) is asked of the other whole.
    assert sent_by_other < (1 - at_kill / SIZE + OVERHEAD) * SIZE + CHUNK_BYTES, (
        sent_by_other, at_kill)
    assert shares[other].alive(), shares[other].describe()
    _no_traceback(get, shares[other])


def test_sharer_killed_getter_waits_for_its_restart(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    source = tmp_path / "share"
    source.mkdir()
    want = write_random(source / "big.bin", SIZE)
    share = a.share(source)
    limit_egress(a, RATE)
    dest = tmp_path / "dest"
    partial = _partial(dest, "big.bin")
    get = b.start("get", "big.bin", dest, "-v")
    assert wait_occupied(partial, int(0.2 * SIZE), int(0.6 * SIZE), get), get.describe()
    kill_now(share)
    time.sleep(0.5)
    at_kill = occupied(partial)
    # No host offers the file now: the getter waits for one (it does not fail, and the
    # partial stays), saying which source it lost.
    lost = get.stderr.wait_line(
        re.compile(rf"lost {re.escape(a.address)}:\d+ while fetching big\.bin"), 10)
    time.sleep(3.0)
    waited = get.alive() and occupied(partial) == at_kill and not (dest / "big.bin").exists()
    before = tx_bytes(a)
    restarted = a.share(source)  # same host, same identity, same folder

    code = get.wait(FINISH)
    sent = tx_bytes(a) - before
    got = _record_transfer("sharer_sigkill", dest / "big.bin", want, SIZE)

    assert lost is not None, get.describe()
    assert waited, get.describe()
    assert code == 0, get.describe()
    assert got == want
    assert partials(dest) == []
    assert SIZE - at_kill <= sent < (1 - at_kill / SIZE + OVERHEAD) * SIZE, (sent, at_kill)
    _no_traceback(get, restarted)


# -- c. the serving process frozen ------------------------------------------------------------

def test_sharer_frozen_getter_times_it_out_and_moves_on(lan_factory, tmp_path: Path) -> None:
    run = _two_sharers_and_a_getter(lan_factory, tmp_path)
    shares, want, dest, partial, get = run.shares, run.want, run.dest, run.partial, run.get
    victim, b = run.victim, run.getter
    frozen_at = time.monotonic()
    signal_group(shares[victim], signal.SIGSTOP)
    try:
        time.sleep(3.0)
        stalled = occupied(partial)
        # Within the read timeout (and a generous margin) the getter gives up on the frozen
        # host and finishes from the other one; it never hangs.
        code = get.wait(REQUEST_TIMEOUT + FINISH)
        took = time.monotonic() - frozen_at
    finally:
        signal_group(shares[victim], signal.SIGCONT)
    got = _record_transfer("sharer_sigstop", dest / "big.bin", want, SIZE)

    assert stalled < SIZE, stalled
    assert code == 0, get.describe()
    assert got == want
    assert partials(dest) == []
    # Given up on by the slow-source rule (engine/sources.py: below MIN_RATE while another host
    # offers the file) within seconds, or at the latest by the 60 s read timeout; or, with
    # both hosts sending at once (2.7 step 5b), its chunk was raced and finished by the other
    # (the endgame), which then sent the rest.
    timed_out = (rf"lost {re.escape(victim.address)}:\d+ while fetching big\.bin: no message"
                 rf"|{re.escape(victim.address)}:\d+ \(key \w+\) sends less than"
                 rf"|big\.bin: fetched from .*{re.escape(run.other.address)}:\d+ \([1-9]")
    assert re.search(timed_out, get.stderr.text), get.describe()
    assert re.search(r"downloaded big\.bin ", get.stderr.text), get.describe()
    print(f"frozen sharer given up and the file finished from the other after {took:.1f} s")
    # Thawed, the frozen sharer carries on serving (its stale connection is simply closed).
    listing = b.mfsync("fetch", "--long", timeout=60)
    assert listing.returncode == 0, listing
    # SIZE  HOSTS  CONTENT-ID  FOLDER-ID  NAME
    assert re.search(r"\s2\s+\S+\s+0000-0000\s+big\.bin$", listing.stdout, re.M), listing
    for share in shares.values():
        assert share.alive(), share.describe()
    _no_traceback(get, *shares.values())


# -- d. the receiver's disk full --------------------------------------------------------------

DISK_FILE = 24 * MiB


def _fill(folder: Path) -> int:
    """Write a filler file into ``folder`` until its file system is full (another program
    taking the space); returns the bytes written."""
    written = 0
    chunk = b"\xa5" * MiB
    with (folder / "filler.bin").open("wb", buffering=0) as out:
        try:
            while True:
                written += out.write(chunk) or 0
        except OSError as exc:
            assert exc.errno == 28, exc  # ENOSPC
    return written


def test_disk_full_keeps_the_partial_and_resumes(lan_factory, tmp_path: Path) -> None:
    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    source = tmp_path / "share"
    source.mkdir()
    want = write_random(source / "big.bin", DISK_FILE)
    share = a.share(source)
    mountpoint = tmp_path / "small-disk"
    faults = 0
    with SmallDisk(b, mountpoint, "8m") as disk:
        assert never_mounted_here(mountpoint)
        dest = mountpoint / "dest"
        seen = disk.path(dest)  # the same folder, as the test process sees it

        # 1. A file that cannot fit is refused before anything is written.
        faults += 1
        refused = start_with_prefix(b, disk.prefix, "get", "big.bin", dest)
        refused_run = run_to_end(refused, FINISH)
        refused_left = sorted(p.name for p in seen.iterdir()) if seen.exists() else []

        # 2. Room for it (and the reserve), but the disk fills up during the download.
        disk.resize("48m")
        limit_egress(a, RATE)
        faults += 1
        get = start_with_prefix(b, disk.prefix, "get", "big.bin", dest)
        partial = _partial(seen, "big.bin")
        assert wait_occupied(partial, int(0.2 * DISK_FILE), int(0.5 * DISK_FILE), get), (
            get.describe())
        _fill(disk.path())
        full_run = run_to_end(get, FINISH)
        kept = occupied(partial)
        after_full = sorted(p.name for p in seen.iterdir())

        # 3. Space freed (the disk grown): the same command completes from the partial.
        disk.resize("96m")
        limit_egress(a, None)
        time.sleep(0.5)
        before = tx_bytes(a)
        again = run_to_end(start_with_prefix(b, disk.prefix, "get", "big.bin", dest), FINISH)
        sent = tx_bytes(a) - before
        got = _record_transfer("disk_full", seen / "big.bin", want, DISK_FILE, faults=faults)
        finished = sorted(p.name for p in seen.iterdir())
    assert never_mounted_here(mountpoint)

    assert refused_run.returncode == 1, refused_run
    assert re.search(r"mfsync: error: big\.bin: not enough free space in .*: 24\.0 MiB needed",
                     refused_run.stderr), refused_run
    assert refused_left == [], refused_left  # no partial, no final file

    assert full_run.returncode == 1, full_run
    assert "mfsync: error: big.bin: No space left on device" in full_run.stderr, full_run
    assert "Traceback" not in full_run.stderr, full_run
    assert after_full == [".big.bin.mfsync-part"], after_full  # partial kept, no final file
    assert kept >= 0.2 * DISK_FILE, kept

    assert again.returncode == 0, again
    assert got == want
    assert finished == ["big.bin"], finished
    # Only what was missing crossed the wire (the partial's verified blocks were kept).
    assert sent < (1 - kept / DISK_FILE + OVERHEAD) * DISK_FILE, (sent, kept)
    _no_traceback(share)


# -- e. the shared file modified during its transfer ------------------------------------------

def _rewrite_in_place(path: Path) -> str:
    """Overwrite ``path`` with new random bytes of the same size, in place; the new SHA-256."""
    return write_random(path, path.stat().st_size, in_place=True)


def _append(path: Path, extra: int) -> str:
    """Append ``extra`` random bytes to ``path`` (a log growing); returns the new SHA-256."""
    with path.open("ab") as f:
        f.write(os.urandom(extra))
    return sha256_of(path)


#: The getter noticed the new content: blocks that did not match, or the sharer's CHANGED
#: (a rewrite is closed after writing, so the sharer rescans at once and refuses the old one).
CORRUPT_RE = re.compile(
    r"sent corrupt data for data\.bin|refused data\.bin: 'data\.bin' has changed")


@pytest.mark.parametrize("change", ["rewrite", "append"])
def test_shared_file_modified_during_transfer(lan_factory, tmp_path: Path, change: str) -> None:
    """``rewrite``: the file is overwritten in place twice, each time while it is streaming
    (the first time in the first attempt, the second in the attempt that follows), so blocks
    of the new content arrive where old ones were expected; ``append``: it grows while it is
    sent (its first bytes stay the same)."""
    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    source = tmp_path / "share"
    source.mkdir()
    versions = [write_random(source / "data.bin", SIZE)]
    share = a.share(source, "-v")
    limit_egress(a, RATE)
    dest = tmp_path / "dest"
    partial = _partial(dest, "data.bin")
    get = b.start("get", "data.bin", dest, "-v")
    assert wait_occupied(partial, int(0.2 * SIZE), int(0.5 * SIZE), get), get.describe()
    if change == "append":
        versions.append(_append(source / "data.bin", 3 * MiB + 5))
    else:
        versions.append(_rewrite_in_place(source / "data.bin"))
        # Once the getter has noticed, and the next attempt is streaming, once more.
        noticed = get.stderr.wait_line(CORRUPT_RE, 30)
        sent = tx_bytes(a)
        if noticed and poll(lambda: tx_bytes(a) - sent > 4 * MiB, 30, 0.01):
            versions.append(_rewrite_in_place(source / "data.bin"))
    # (well within SOURCE_WAIT: a getter that stopped asking the sharer would only give up
    # after that)
    try:
        code: int | None = get.wait(60)
    except subprocess.TimeoutExpired:
        code = None
    final = dest / "data.bin"
    got = sha256_of(final) if final.exists() else None
    _record(f"modified_{change}", faults=len(versions) - 1, transfers=1,
            nbytes=final.stat().st_size if got in versions else 0,
            verified=int(got in versions), corrupt=int(got not in (None, *versions)),
            lost=int(got not in versions))

    assert got in (*versions, None), "a mixed file"
    assert code == 0, get.describe()
    assert len(versions) == (2 if change == "append" else 3), get.describe()
    assert partials(dest) == [], get.describe()
    # The sharer noticed (a rescan: a new generation); the getter said why it stopped (the
    # sharer's CHANGED, or blocks that did not match what it expected) and took the new
    # version once the sharer offered it.
    assert share.stderr.wait_line(re.compile(r"share set: 1 files \(generation 2\)"), 5), (
        share.describe())
    if change == "append":
        assert "data.bin changed while it was being sent" in share.stderr.text, share.describe()
        assert "refused data.bin: 'data.bin' has changed" in get.stderr.text, get.describe()
    assert got == versions[-1], "finished with an old version although the sharer had a new one"
    _no_traceback(share, get)


# -- f. the receiver killed around the final fsync and rename ---------------------------------

KILL_ROUNDS = 8
KILL_FILE = 8 * MiB
#: Seconds the last block of a KILL_FILE takes at RATE (80 Mbit/s).
LAST_BLOCK = block_size_for(KILL_FILE) * 8 / 80e6


def test_receiver_killed_near_the_end_never_leaves_a_bad_file(lan_factory,
                                                              tmp_path: Path) -> None:
    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    source = tmp_path / "share"
    source.mkdir()
    names = [f"f{i}.bin" for i in range(KILL_ROUNDS)]
    want = {name: write_random(source / name, KILL_FILE) for name in names}
    share = a.share(source)
    limit_egress(a, RATE)
    dest = tmp_path / "dest"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"kill timings from seed {seed}")
    outcomes: dict[str, int] = {"before_rename": 0, "after_rename": 0, "exited_first": 0}
    problems: list[str] = []
    for name in names:
        get = b.start("get", name, dest)
        partial, final = _partial(dest, name), dest / name
        # Kill at a random moment near the end: either while the last block is on its way
        # (the partial holds all the others), or once the partial holds everything and only
        # the fsync, the rename and the directory's fsync are left (a few milliseconds).
        # The delays stay within what is left of the download (the last block at RATE, or the
        # final fsync and rename), so that the kill lands while the receiver still runs.
        if rng.random() < 0.5:
            threshold, delay = KILL_FILE - block_size_for(KILL_FILE), rng.uniform(0.0, LAST_BLOCK)
        else:
            threshold, delay = KILL_FILE, rng.uniform(0.0, 0.006)
        def reached(partial: Path = partial, final: Path = final, get: Running = get,
                    threshold: int = threshold) -> bool:
            return occupied(partial) >= threshold or final.exists() or not get.alive()

        assert poll(reached, FINISH, 0.001), get.describe()
        time.sleep(delay)
        if get.alive():
            kill_now(get)
        else:
            get.wait(10)
        # The invariant: the final file is absent or complete and correct; never both it and
        # its partial; never neither (the partial is kept for the rerun).
        if final.exists():
            outcomes["after_rename" if get.proc.returncode == -9 else "exited_first"] += 1
            if sha256_of(final) != want[name]:
                problems.append(f"{name}: a final file with wrong content")
            if partial.exists():
                problems.append(f"{name}: final file and partial both there")
        else:
            outcomes["before_rename"] += 1
            if not partial.exists():
                problems.append(f"{name}: neither final file nor partial")
            if get.proc.returncode != -9:
                problems.append(f"{name}: exited {get.proc.returncode} without a final file")
    limit_egress(a, None)
    rerun = b.mfsync("get", dest, timeout=FINISH)
    got = {name: sha256_of(dest / name) if (dest / name).exists() else None for name in names}
    good = sum(got[name] == want[name] for name in names)
    kills = outcomes["before_rename"] + outcomes["after_rename"]
    _record("receiver_sigkill", faults=kills, transfers=len(names), nbytes=good * KILL_FILE,
            verified=good, corrupt=sum(1 for p in problems if "wrong content" in p),
            lost=len(names) - good)
    print(f"receiver kills: {outcomes}")

    assert problems == [], problems
    assert kills >= KILL_ROUNDS // 2, outcomes  # most rounds really killed it
    assert rerun.returncode == 0, rerun
    assert got == want
    assert partials(dest) == [], rerun
    _no_traceback(share)


def _occupied_tree(folder: Path) -> int:
    """Bytes that the files in ``folder`` occupy on disk."""
    return sum(max(0, occupied(path)) for path in folder.iterdir())


SYNCING_RE = re.compile(r"Syncing \d+ files in .* on TCP port \d+ ")


def test_sync_disk_full_never_replaces_the_good_file(lan_factory, tmp_path: Path) -> None:
    """``sync`` replacing a file with a newer version from another host, when the disk fills up
    during that download: the old version stays in place, whole, until the new one is complete;
    once space is freed, sync finishes the download by itself."""
    lan = lan_factory(2)
    a, b = cli_hosts(lan, tmp_path)
    mountpoint = tmp_path / "small-disk"
    dir_a = tmp_path / "sync-a"
    dir_a.mkdir()
    with SmallDisk(b, mountpoint, "48m") as disk:
        dir_b = mountpoint / "sync"
        seen = disk.path(dir_b)
        seen.mkdir()
        v1 = write_random(seen / "doc.bin", MiB)
        sync_b = start_with_prefix(b, disk.prefix, "sync", dir_b, "-v")
        assert sync_b.stderr.wait_line(SYNCING_RE, 20), sync_b.describe()
        sync_a = a.start("sync", dir_a, "-v")
        assert sync_a.stderr.wait_line(SYNCING_RE, 20), sync_a.describe()
        assert poll(lambda: (dir_a / "doc.bin").exists() and not partials(dir_a)
                    and sha256_of(dir_a / "doc.bin") == v1, 30), sync_a.describe()
        before = (seen / "doc.bin").stat()

        # A edits it (a new, bigger version); B fetches it to replace its own, and meanwhile
        # another program fills B's disk.
        limit_egress(a, RATE)
        staged = tmp_path / "doc.new"
        v2 = write_random(staged, DISK_FILE)
        staged.replace(dir_a / "doc.bin")
        partial = _partial(seen, "doc.bin")
        # (what the folder occupies, wherever the download writes: the partial, it should be)
        assert poll(lambda: 0.2 * DISK_FILE <= _occupied_tree(seen) - MiB <= 0.6 * DISK_FILE,
                    60, 0.005), sync_b.describe()
        _fill(disk.path())
        failed = sync_b.stderr.wait_line(re.compile(r"doc\.bin: No space left on device"), 30)
        time.sleep(5.0)  # sync keeps running; what does it do meanwhile?
        errors_while_full = sum("cannot download doc.bin" in line
                                for line in sync_b.stderr.snapshot())
        after = (seen / "doc.bin").stat()
        intact = sha256_of(seen / "doc.bin") == v1
        kept = partial.exists()

        # Space freed: sync completes the replacement by itself, from the partial.
        disk.resize("96m")
        limit_egress(a, None)
        done = poll(lambda: (seen / "doc.bin").stat().st_size == DISK_FILE
                    and sha256_of(seen / "doc.bin") == v2, 60, 0.2)
        left = partials(seen)
        got = sha256_of(seen / "doc.bin")
        alive = sync_b.alive() and sync_a.alive()
    _record("disk_full", faults=1, transfers=2, nbytes=(MiB if intact else 0)
            + (DISK_FILE if got == v2 else 0), verified=int(intact) + int(got == v2),
            corrupt=int(got not in (v1, v2)), lost=int(not intact) + int(got != v2))
    print(f"while the disk was full, sync reported the failure {errors_while_full} times")

    assert failed, sync_b.describe()
    # Retried calmly (after 2 s, 4 s, ...), not reconnecting and logging in a tight loop.
    assert errors_while_full <= 4, sync_b.describe()
    assert intact and (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert kept, sync_b.describe()
    assert done, sync_b.describe()
    assert left == [], left
    assert alive, sync_b.describe()
    _no_traceback(sync_a, sync_b)
