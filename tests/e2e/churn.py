#!/usr/bin/env python3
"""A churn soak: hosts in network namespaces run ``mfsync sync`` while they are killed and
restarted, their links flap and files are added and edited; at the end everything must converge.

How it works. :class:`Soak` takes a :class:`netns.Lan` of N hosts, gives each its own ``HOME``
and identity and a trust list of all N keys (``trustedKeys`` in its ``config.json``, as a careful
user sets it up), and starts ``mfsync sync DIR -v`` on each. For a bounded time a seeded RNG then
picks one step per tick of about a second:

- add one to three files on a random host: random nested names, some non-ASCII and a few in
  decomposed Unicode (as macOS writes names); sizes from zero bytes to a few MiB, some on block
  boundaries; random, all-zero or mixed content;
- edit a file (replaced atomically as an editor saves, or rewritten in place), possibly on a
  host that is down at the time;
- edit one file on two hosts at once: a true conflict;
- kill a host with SIGKILL, or stop it with SIGTERM (it must exit cleanly, with 143), and
  restart it a few seconds later;
- flap a host's link for a few seconds: the interface taken down inside the host, or its cable
  pulled at the bridge;
- freeze a host (SIGSTOP) for a few seconds, then let it go on (SIGCONT).

Each host's egress is limited to a few tens of Mbit/s, so that transfers of the larger files
are still in flight when a fault strikes (some kills are timed for that, just after a large
file appears elsewhere).

Then the faults stop: links come back, stopped hosts restart, and the soak waits (bounded) until
every folder holds what it should. It stops every host with SIGINT (exit 130 expected) and checks
the folders once more on disk.

What every folder should hold follows README's "Sync rules". Every file added is there with its
content. An edited file holds its last edit: edits are made on a host that holds the latest
version (else on the host that wrote it), each with a modification time newer than any before,
so the last edit wins any conflict that a kill at the wrong moment may cause. A file edited on
two hosts at once holds the later edit, and the earlier one is on every host under the conflict
name the rules give (its time, its host's key) -- unless the file is a conflict copy itself: a
conflict copy is never copied again (as in Syncthing), the earlier edit is then just gone. Other
conflict copies may appear (a host killed before it recorded a download, then edited, makes a
conflict that is not a real one); each must then be on every host, named ``*.sync-conflict-*``
after one of our files and holding one of that file's earlier contents. Deletions do not
propagate and the soak deletes nothing, so nothing else may be there: no partial download
(``*.mfsync-part``), no stray file, no two files whose names differ only in Unicode
normalisation. A crash is a process that exited
without being told to, one that did not exit cleanly when told to, or a Python traceback in a log.

The seed replays the same decisions (steps, hosts, names, sizes, contents); how they interleave
with mfsync's own timing differs from run to run. Standalone, as root::

    .venv/bin/python tests/e2e/churn.py --seconds 1800 [--seed N] [--hosts 5]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: find the harness

from mfsync_cli import CliHost, cli_hosts, limit_egress
from netns import Lan, netns_available

__all__ = [
    "PathHistory",
    "Scan",
    "Soak",
    "SoakResult",
    "Verdict",
    "check",
    "main",
    "scan_folder",
]

PARTIAL_SUFFIX = ".mfsync-part"
"""Suffix of mfsync's partial downloads (``store/ignore.py``); none may be left at the end."""
BLOCK = 128 * 1024
"""mfsync's block size for files below 250 MiB: sizes around its multiples are worth trying."""
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
"""What ``mfsync`` exits with after a clean shutdown on SIGINT and on SIGTERM."""
STOP_TIMEOUT = 30.0
"""How long a host asked to stop may take before it counts as hung (then it gets SIGKILL)."""
READY_TIMEOUT = 30.0
"""How long a first start may take to print its "Syncing ..." line."""
DEFAULT_MAX_SIZE = 4 * 1024 * 1024

CONFLICT_RE = re.compile(
    r"^(?P<stem>.+)\.sync-conflict-\d{8}-\d{6}-[0-9a-f]{6}(?P<ext>\.[^.]+)?$"
)
"""A conflict copy's base name (``store/conflicts.py``): ``stem.sync-conflict-STAMP-KEY.ext``."""
CRASH_RE = re.compile(
    r"Traceback \(most recent call last\)|Task exception was never retrieved"
    r"|Future exception was never retrieved|Exception in callback|Fatal Python error"
)
"""Lines in a log that mean a Python error escaped somewhere, even if the process lived on."""
SYNCING_RE = re.compile(r"Syncing \d+ files in ")
NO_TRUST_WARNING = "no trusted keys"
"""What ``sync`` says at start without a trust list (ours has one: it must not say it)."""

# Name parts: NFC on the whole (a few are turned into NFD when written); directories have no
# dot and files always have an extension, so a file and a folder never want the same name.
_DIR_WORDS = (
    "docs", "photos", "Müsli", "données", "日本語", "Привет", "ελληνικά", "smørrebrød",
    "Łódź", "a b", "2024", "deep", "x", "ÅÄÖ", "emoji 🎉", "naïve café",
)  # fmt: skip
_FILE_WORDS = (
    "report", "notes", "Grüße", "résumé", "数据", "фото", "dziękuję", "IMG_0042", "a",
    "long name with spaces", "ünïcödé", "🎵 song", "Ärger", "ĳssel",
)  # fmt: skip
_EXTENSIONS = (".bin", ".txt", ".dat", ".jpg", ".tar.gz", ".md")


# -- the expected state and the check ---------------------------------------------------------


@dataclass
class PathHistory:
    """Everything the soak wrote under one name: each version's hash, size, time and writer."""

    path: str
    """The name on the wire (NFC, relative POSIX)."""
    disk_names: dict[int, str] = field(default_factory=dict)
    """Host index -> the name it was written under there (NFD where the soak chose so)."""
    hashes: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)
    writers: list[int] = field(default_factory=list)

    @property
    def final(self) -> str:
        """The hash of the last content written: what every host must hold at the end."""
        return self.hashes[-1]

    def add(self, host: int, disk_name: str, digest: str, size: int, mtime_ns: int) -> None:
        """Record a version written on ``host``."""
        self.disk_names[host] = disk_name
        self.hashes.append(digest)
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)
        self.writers.append(host)


@dataclass
class Scan:
    """What one host's folder holds, read from disk."""

    files: dict[str, str] = field(default_factory=dict)
    """NFC name -> SHA-256 (hex) of the content."""
    disk: dict[str, str] = field(default_factory=dict)
    """NFC name -> the name on disk."""
    partials: list[str] = field(default_factory=list)
    """Partial downloads (``*.mfsync-part``) present."""
    duplicates: list[str] = field(default_factory=list)
    """NFC names that more than one name on disk maps to."""
    others: list[str] = field(default_factory=list)
    """Anything that is neither a regular file nor a folder (a symlink, a socket)."""


@dataclass
class Verdict:
    """The outcome of :func:`check`."""

    problems: list[str] = field(default_factory=list)
    files_verified: int = 0
    """(host, file) pairs found with the expected content."""
    conflict_copies: int = 0
    """Distinct conflict copies found on every host: those expected after two hosts edited a
    file at once, and any other (with an earlier content of its file)."""
    partials_left: int = 0
    data_lost: int = 0
    """Names of ours whose final content is not on every host."""

    @property
    def ok(self) -> bool:
        return not self.problems


_HashCache = dict[tuple[str, int, int, int, int], str]


def scan_folder(root: Path, cache: _HashCache | None = None) -> Scan | None:
    """Read ``root``: names, content hashes, partials; None when a file vanished mid-way (a
    download was being renamed into place), so the caller reads again later.

    ``cache`` maps (name, size, mtime, ctime, inode) to a hash, so that polling a folder of
    unchanged files does not hash them again.
    """
    scan = Scan()
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if name.endswith(PARTIAL_SUFFIX):
                scan.partials.append(rel)
                continue
            try:
                st = path.lstat()
                if not path.is_file() or path.is_symlink():
                    scan.others.append(rel)
                    continue
                key = (rel, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                digest = cache.get(key) if cache is not None else None
                if digest is None:
                    digest = _sha256_file(path)
                    if cache is not None:
                        cache[key] = digest
            except FileNotFoundError:
                return None
            wire = unicodedata.normalize("NFC", rel)
            if wire in scan.files:
                scan.duplicates.append(wire)
                continue
            scan.files[wire] = digest
            scan.disk[wire] = rel
    return scan


def conflict_base(name: str) -> str | None:
    """The name a conflict copy was made from (through nested copies too), else None."""
    folder, _, base = name.rpartition("/")
    m = CONFLICT_RE.match(base)
    if m is None:
        return None
    original = m.group("stem") + (m.group("ext") or "")
    original = f"{folder}/{original}" if folder else original
    return conflict_base(original) or original


def is_copy_of_a_copy(name: str) -> bool:
    """Whether ``name`` is a conflict copy of a conflict copy (the rules never make one)."""
    m = CONFLICT_RE.match(name.rpartition("/")[2])
    return m is not None and CONFLICT_RE.match(m.group("stem") + (m.group("ext") or "")) is not None


def check(scans: Mapping[int, Scan], histories: Mapping[str, PathHistory]) -> Verdict:
    """Compare every host's folder with what the soak wrote (see the module's docstring)."""
    verdict = Verdict()
    hosts = sorted(scans)
    for h in hosts:
        scan = scans[h]
        verdict.partials_left += len(scan.partials)
        for rel in scan.partials:
            verdict.problems.append(f"h{h}: partial download left: {rel}")
        for name in scan.duplicates:
            verdict.problems.append(f"h{h}: two files on disk are both named {name!r} (NFC)")
        for rel in scan.others:
            verdict.problems.append(f"h{h}: not a regular file: {rel}")
    for path, history in sorted(histories.items()):
        lost = False
        for h in hosts:
            got = scans[h].files.get(path)
            if got == history.final:
                verdict.files_verified += 1
                continue
            lost = True
            if got is None:
                verdict.problems.append(f"h{h}: missing {path}")
            elif got in history.hashes:
                version = history.hashes.index(got) + 1
                verdict.problems.append(
                    f"h{h}: {path} holds version {version} of {len(history.hashes)}, not the last"
                )
            else:
                verdict.problems.append(f"h{h}: {path} holds content the soak never wrote")
        verdict.data_lost += lost
        if not lost and conflict_base(path) is not None:
            verdict.conflict_copies += 1  # one the soak made on purpose, and expected
    extras = sorted({name for h in hosts for name in scans[h].files} - set(histories))
    for name in extras:
        base = conflict_base(name)
        history = histories.get(base) if base is not None else None
        if history is None:
            where = ", ".join(f"h{h}" for h in hosts if name in scans[h].files)
            verdict.problems.append(f"stray file {name!r} on {where}")
            continue
        present = [h for h in hosts if name in scans[h].files]
        contents = {scans[h].files[name] for h in present}
        problems: list[str] = []
        if is_copy_of_a_copy(name):
            problems.append(f"conflict copy of a conflict copy: {name}")
        if len(present) < len(hosts):
            missing = ", ".join(f"h{h}" for h in hosts if h not in present)
            problems.append(f"conflict copy {name} missing on {missing}")
        if len(contents) > 1:
            problems.append(f"conflict copy {name} differs between hosts")
        if contents - set(history.hashes):
            problems.append(f"conflict copy {name} holds content never written to {base}")
        verdict.problems += problems
        if not problems:
            verdict.conflict_copies += 1
            verdict.files_verified += len(hosts)
    # One version kept twice under different conflict names: the rules name a loser the same
    # on every host, so that copies never multiply.
    copies: dict[tuple[str, str], list[str]] = {}
    for h in hosts:
        for name, digest in scans[h].files.items():
            base = conflict_base(name)
            if base is not None and name not in copies.setdefault((base, digest), []):
                copies[(base, digest)].append(name)
    for (base, _), names in sorted(copies.items()):
        if len(names) > 1:
            verdict.problems.append(
                f"one version of {base} kept as {len(names)} conflict copies: {sorted(names)}"
            )
    return verdict


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# -- the soak ---------------------------------------------------------------------------------


class SoakHost:
    """One host of the soak: its ``mfsync sync`` process (restartable), folder and logs."""

    def __init__(self, cli: CliHost, folder: Path, logs: Path) -> None:
        self.cli = cli
        self.index = cli.host.index
        self.folder = folder
        self.logs = logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.expect: tuple[int, ...] | None = None
        """The exits that the signal we sent allows (empty after SIGKILL: any); None while
        nobody asked it to stop."""
        self.stop_deadline = 0.0
        self.restart_at: float | None = None
        """When a stopped host is to be started again (None: it is running, or stays down)."""
        self.link_cut: str | None = None
        """``"link_down"`` or ``"unplug"`` while the link is cut."""
        self.link_back_at = 0.0
        self.kill_at: float | None = None
        """When to SIGKILL it (a kill timed to hit a download in progress)."""
        self.kill_downtime = 0.0
        self.frozen_until: float | None = None
        """While frozen (SIGSTOP): when it gets SIGCONT."""
        self.log_paths: list[Path] = []
        self.cache: _HashCache = {}

    @property
    def name(self) -> str:
        return f"h{self.index}"

    def start(self) -> None:
        """Start ``mfsync sync FOLDER -v`` with its output in a new log file."""
        log_path = self.logs / f"{self.name}-run{len(self.log_paths) + 1:03d}.log"
        with log_path.open("wb") as out:
            self.proc = self.cli.host.popen(
                self.cli.argv("sync", self.folder, "-v"), env=self.cli.env,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.log_paths.append(log_path)
        self.expect = None
        self.restart_at = None

    @property
    def up(self) -> bool:
        """Running, not frozen, and not asked to stop."""
        return (self.proc is not None and self.expect is None and self.frozen_until is None
                and self.proc.poll() is None)

    def ready(self) -> bool:
        """Up, and has said "Syncing ...": its signal handlers are in place, so SIGINT or
        SIGTERM now must end in a clean shutdown."""
        return self.up and SYNCING_RE.search(self.log_text()) is not None

    def thaw(self) -> None:
        """SIGCONT after a freeze."""
        if self.frozen_until is not None:
            self.frozen_until = None
            self.send(signal.SIGCONT)

    def send(self, sig: int) -> bool:
        """Signal the process group (only while its leader is unreaped, so the group id is
        still ours)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
            return True
        return False

    def log_text(self, run: int = -1) -> str:
        if not self.log_paths:
            return ""
        return self.log_paths[run].read_text(errors="replace")


@dataclass
class SoakResult:
    """What a soak did and how it ended."""

    hosts: int
    seed: int
    seconds: float = 0.0
    """How long faults were injected."""
    counts: Counter[str] = field(default_factory=Counter)
    """Faults and steps by kind: sigkill, sigterm, restarts, link_down, unplug, files_added, ..."""
    bytes_written: int = 0
    converged: bool = False
    converge_seconds: float = 0.0
    crashes: int = 0
    tracebacks: int = 0
    verdict: Verdict = field(default_factory=Verdict)
    problems: list[str] = field(default_factory=list)
    """Everything that went wrong (the verdict's problems included)."""
    workdir: Path | None = None
    link_rates: str = "no limit"
    """Each host's egress limit (slower links keep transfers in flight for faults to hit)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def figures(self) -> dict[str, Any]:
        """The numbers for ``figures.record("churn-soak", ...)``."""
        c = self.counts
        return {
            "hosts": self.hosts,
            "seed": self.seed,
            "seconds": round(self.seconds),
            "kills": c["sigkill"] + c["sigterm"],
            "sigkill": c["sigkill"],
            "sigterm": c["sigterm"],
            "restarts": c["restarts"],
            "link_flaps": c["link_down"] + c["unplug"],
            "freezes": c["freezes"],
            "files_added": c["files_added"],
            "files_edited": c["files_edited"],
            "conflicts_made": c["conflicts_made"],
            "bytes": self.bytes_written,
            "files_verified": self.verdict.files_verified,
            "conflict_copies": self.verdict.conflict_copies,
            "partials_left": self.verdict.partials_left,
            "crashes": self.crashes,
            "data_lost": self.verdict.data_lost,
            "converge_seconds": round(self.converge_seconds, 1),
        }

    def report(self) -> str:
        """A human-readable account: faults by kind, files, bytes, outcome."""
        c = self.counts
        mib = self.bytes_written / (1024 * 1024)
        lines = [
            f"churn soak: {self.hosts} hosts, seed {self.seed}, {self.seconds:.0f} s of faults",
            f"  faults:   SIGKILL {c['sigkill']} ({c['mid_transfer_kills']} timed to hit a "
            f"download), SIGTERM {c['sigterm']}, restarts "
            f"{c['restarts']}, links down {c['link_down']}, cables pulled {c['unplug']} "
            f"(link flaps {c['link_down'] + c['unplug']}), frozen (SIGSTOP) {c['freezes']}",
            f"  links:    egress limited to {self.link_rates}",
            f"  files:    added {c['files_added']} ({c['nfd_names']} with decomposed names), "
            f"conflicts made {c['conflicts_made']} (two hosts editing one file at once), "
            f"edited {c['files_edited']} ({c['edits_in_place']} in place, "
            f"{c['edits_offline']} on a stopped host); {mib:.1f} MiB written",
            f"  outcome:  {'converged' if self.converged else 'DID NOT CONVERGE'} "
            f"{self.converge_seconds:.1f} s after the faults stopped; "
            f"{self.verdict.files_verified} files verified on {self.hosts} hosts; "
            f"conflict copies {self.verdict.conflict_copies}; partials left "
            f"{self.verdict.partials_left}; crashes {self.crashes} "
            f"(tracebacks {self.tracebacks}); data lost {self.verdict.data_lost}",
            f"  result:   {'PASS' if self.ok else 'FAIL'}",
        ]
        if self.problems:
            shown = self.problems[:40]
            lines += ["  problems:"] + [f"    - {p}" for p in shown]
            if len(self.problems) > len(shown):
                lines.append(f"    ... and {len(self.problems) - len(shown)} more")
        if self.workdir is not None:
            lines.append(f"  folders and logs: {self.workdir}")
        return "\n".join(lines)


class Soak:
    """The churn soak on a LAN (see the module's docstring)."""

    def __init__(
        self,
        lan: Lan,
        workdir: Path,
        *,
        seed: int,
        seconds: float,
        converge_timeout: float = 120.0,
        max_size: int = DEFAULT_MAX_SIZE,
        log: Callable[[str], None] = print,
        verbose: bool = False,
    ) -> None:
        self.lan = lan
        self.workdir = workdir
        self.seconds = seconds
        self.converge_timeout = converge_timeout
        self.max_size = max_size
        self.rng = random.Random(seed)
        self.say = log
        self.verbose = verbose
        self.result = SoakResult(hosts=len(lan.hosts), seed=seed, workdir=workdir)
        self.histories: dict[str, PathHistory] = {}
        self._serial = 0
        self._last_mtime = 0
        self._t0 = time.monotonic()
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.hosts = [
            SoakHost(cli, workdir / f"folder-{cli.host.index}", logs)
            for cli in cli_hosts(lan, workdir)
        ]
        self.max_down = max(1, len(self.hosts) // 2)
        self.max_cut = max(1, len(self.hosts) // 2)
        self.keys: list[str] = []

    # -- the phases ---------------------------------------------------------------------------

    def run(self, *, corrupt: bool = False) -> SoakResult:
        """Set up, inject faults, converge, stop, verify. ``corrupt`` spoils one file on one
        host after the stop, to show that the check catches it (the result must then fail)."""
        try:
            self._setup()
            self._faults()
            self._quiesce()
            self._converge()
        finally:
            self._stop_all()
        if corrupt:
            self._corrupt_one()
        self._verify()
        return self.result

    def _setup(self) -> None:
        keys = self.keys = [h.cli.public_key() for h in self.hosts]
        for h in self.hosts:
            h.folder.mkdir(parents=True, exist_ok=True)
            config = {
                "trustedKeys": keys,
                "keyNames": {key: f"soak-h{i}" for i, key in enumerate(keys)},
            }
            path = h.cli.state_dir / "config.json"
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(config, out, indent=2)
        rates = []
        for h in self.hosts:
            # Slower links keep transfers in flight long enough for kills and flaps to hit them.
            rate = self.rng.choice((16, 24, 32, 48, 64))
            limit_egress(h.cli, f"{rate}mbit")
            rates.append(f"h{h.index} {rate} Mbit/s")
        self.result.link_rates = ", ".join(rates)
        for h in self.hosts:
            h.start()
        deadline = time.monotonic() + READY_TIMEOUT
        for h in self.hosts:
            while not SYNCING_RE.search(h.log_text()):
                if h.proc is not None and h.proc.poll() is not None:
                    raise RuntimeError(f"{h.name} exited at start:\n{h.log_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{h.name} did not start:\n{h.log_text()}")
                time.sleep(0.2)
            if NO_TRUST_WARNING in h.log_text():
                raise RuntimeError(f"{h.name} did not take in its trust list:\n{h.log_text()}")
        self.say(f"churn soak: {len(self.hosts)} hosts up, trusting each other; seed "
                 f"{self.result.seed} (replay with --seed {self.result.seed}); "
                 f"{self.seconds:.0f} s of faults")

    def _faults(self) -> None:
        start = time.monotonic()
        end = start + self.seconds
        next_note = start + 30
        while (now := time.monotonic()) < end:
            self._housekeeping(now)
            self._step()
            if now >= next_note:
                next_note += 30
                c = self.result.counts
                self.say(f"  {now - start:5.0f} s: files {c['files_added']} (+{c['files_edited']}"
                         f" edits), kills {c['sigkill'] + c['sigterm']}, link flaps "
                         f"{c['link_down'] + c['unplug']}, crashes {self.result.crashes}")
            time.sleep(self.rng.uniform(0.3, 1.2))
        self.result.seconds = time.monotonic() - start

    def _quiesce(self) -> None:
        """No more faults: every link back, every host running."""
        for h in self.hosts:
            h.kill_at = None
            h.thaw()
            if h.link_cut is not None:
                self._restore_link(h)
        deadline = time.monotonic() + STOP_TIMEOUT + 5
        while any(h.proc is not None and h.expect is not None for h in self.hosts):
            self._housekeeping(time.monotonic())
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for h in self.hosts:
            if h.proc is None:
                self._restart(h)
        self._note("faults stopped: every link up, every host running")

    def _converge(self) -> None:
        start = time.monotonic()
        deadline = start + self.converge_timeout
        while True:
            self._housekeeping(time.monotonic())
            for h in self.hosts:
                if h.proc is None:  # died by itself while converging: counted; run it again
                    self._restart(h)
            scans = self._scan_all()
            if scans is not None and check(scans, self.histories).ok and all(
                h.ready() for h in self.hosts
            ):
                self.result.converged = True
                break
            if time.monotonic() > deadline:
                break
            time.sleep(1.0)
        self.result.converge_seconds = time.monotonic() - start
        if not self.result.converged:
            self.result.problems.append(
                f"did not converge within {self.converge_timeout:.0f} s after the faults stopped"
            )
        self.say(f"  {'converged' if self.result.converged else 'not converged'} after "
                 f"{self.result.converge_seconds:.1f} s")

    def _stop_all(self) -> None:
        """SIGINT every running host and wait for its clean exit (130)."""
        for h in self.hosts:
            h.thaw()
            if h.link_cut is not None:
                with contextlib.suppress(RuntimeError):
                    self._restore_link(h)
            if h.proc is not None and h.expect is None and h.send(signal.SIGINT):
                h.expect = (EXIT_INTERRUPTED,)
                h.stop_deadline = time.monotonic() + STOP_TIMEOUT
        while any(h.proc is not None for h in self.hosts):
            self._housekeeping(time.monotonic(), restart=False)
            time.sleep(0.1)

    def _verify(self) -> None:
        # What was written, for a post-mortem next to the folders and logs.
        manifest = {
            path: {"hashes": h.hashes, "sizes": h.sizes, "mtimes": h.mtimes,
                   "writers": h.writers, "disk_names": h.disk_names}
            for path, h in sorted(self.histories.items())
        }
        (self.workdir / "expected.json").write_text(
            json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        scans: dict[int, Scan] = {}
        for h in self.hosts:
            scan = scan_folder(h.folder, h.cache)
            assert scan is not None, "nothing runs any more: a folder cannot change under us"
            scans[h.index] = scan
        self.result.verdict = verdict = check(scans, self.histories)
        self.result.problems.extend(verdict.problems)
        for h in self.hosts:
            for run, path in enumerate(h.log_paths, 1):
                found = CRASH_RE.findall(path.read_text(errors="replace"))
                if found:
                    self.result.tracebacks += len(found)
                    self.result.crashes += 1
                    self.result.problems.append(
                        f"{h.name} run {run}: {len(found)} Python error(s) in {path}"
                    )

    def _corrupt_one(self) -> None:
        """Flip a byte of one non-empty file on one host (a self-check of the verification)."""
        candidates = sorted(p for p, hist in self.histories.items() if hist.sizes[-1] > 0)
        if not candidates:
            return
        h = self.hosts[self.rng.randrange(len(self.hosts))]
        path = self.rng.choice(candidates)
        scan = scan_folder(h.folder)
        disk = scan.disk.get(path, path) if scan is not None else path
        target = h.folder / disk
        with target.open("r+b") as f:
            byte = f.read(1)
            f.seek(0)
            f.write(bytes([(byte[0] ^ 0xFF) if byte else 0]))
        self.say(f"  self-check: corrupted the first byte of {path} on {h.name}")

    # -- housekeeping: exits, restarts, links -------------------------------------------------

    def _housekeeping(self, now: float, *, restart: bool = True) -> None:
        for h in self.hosts:
            self._reap(h, now)
            if h.kill_at is not None and now >= h.kill_at:
                h.kill_at = None
                if restart:  # (not while stopping everything)
                    self.result.counts["mid_transfer_kills"] += self._kill(
                        h, signal.SIGKILL, h.kill_downtime
                    )
            if restart and h.proc is None and h.restart_at is not None and now >= h.restart_at:
                self._restart(h)
            if h.link_cut is not None and now >= h.link_back_at:
                self._restore_link(h)
            if h.frozen_until is not None and now >= h.frozen_until:
                h.thaw()
                self._note(f"{h.name} thawed")

    def _reap(self, h: SoakHost, now: float) -> None:
        if h.proc is None:
            return
        code = h.proc.poll()
        if code is None:
            if h.expect is not None and now > h.stop_deadline:
                self._problem(f"{h.name} hung: still running {STOP_TIMEOUT:.0f} s after it was "
                              f"asked to stop (exit {h.expect} expected); killed")
                self.result.crashes += 1
                h.expect = ()
                h.send(signal.SIGKILL)
            return
        if h.expect is None:
            self.result.crashes += 1
            self._problem(f"{h.name} exited by itself with {code} (log {h.log_paths[-1]}):\n"
                          + _tail(h.log_text()))
            h.restart_at = now + 1.0
        elif h.expect and code not in h.expect:
            self.result.crashes += 1
            self._problem(f"{h.name} exited with {code} instead of {h.expect} "
                          f"(log {h.log_paths[-1]}):\n" + _tail(h.log_text()))
        h.proc = None
        h.expect = None

    def _restart(self, h: SoakHost) -> None:
        h.start()
        self.result.counts["restarts"] += 1
        self._note(f"{h.name} restarted")

    def _restore_link(self, h: SoakHost) -> None:
        if h.link_cut == "link_down":
            h.cli.host.interface_up()
        elif h.link_cut == "unplug":
            h.cli.host.restore_link()
        h.link_cut = None
        self._note(f"{h.name} link back")

    # -- the steps ----------------------------------------------------------------------------

    def _step(self) -> None:
        rng = self.rng
        roll = rng.random()
        h = self.hosts[rng.randrange(len(self.hosts))]
        if roll < 0.35:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                self._add_file(h)
        elif roll < 0.44:
            self._edit_file(h)
        elif roll < 0.47:
            self._concurrent_edits()
        elif roll < 0.65:
            sig = signal.SIGKILL if roll < 0.59 else signal.SIGTERM
            self._kill(h, sig, downtime=rng.uniform(1.0, 10.0))
        elif roll < 0.77:
            kind = "link_down" if rng.random() < 0.5 else "unplug"
            self._cut_link(h, kind, downtime=rng.uniform(2.0, 8.0))
        elif roll < 0.81:
            self._freeze(h, rng.uniform(2.0, 6.0))
        # else: a quiet tick, in which mfsync gets on with its work

    def _kill(self, h: SoakHost, sig: int, downtime: float) -> bool:
        down = sum(1 for x in self.hosts if not x.up)
        if not h.up or down >= self.max_down:
            self.result.counts["kills_skipped"] += 1
            return False
        if not h.send(sig):
            return False
        now = time.monotonic()
        # SIGTERM before mfsync has set up its handler (just after a restart) ends it at once,
        # as it would end any program: that is fine too (nothing is written but through a
        # partial file and a rename).
        h.expect = () if sig == signal.SIGKILL else (EXIT_TERMINATED, -signal.SIGTERM)
        h.stop_deadline = now + STOP_TIMEOUT
        h.restart_at = now + downtime
        kind = "sigkill" if sig == signal.SIGKILL else "sigterm"
        self.result.counts[kind] += 1
        self._note(f"{h.name} {kind.upper()}, back in {downtime:.1f} s")
        return True

    def _freeze(self, h: SoakHost, seconds: float) -> None:
        """SIGSTOP a host for a while: its connections stay open but nothing answers."""
        down = sum(1 for x in self.hosts if not x.up)
        if not h.up or down >= self.max_down or not h.send(signal.SIGSTOP):
            return
        h.frozen_until = time.monotonic() + seconds
        self.result.counts["freezes"] += 1
        self._note(f"{h.name} frozen for {seconds:.1f} s")

    def _cut_link(self, h: SoakHost, kind: str, downtime: float) -> None:
        cut = sum(1 for x in self.hosts if x.link_cut is not None)
        if h.link_cut is not None or cut >= self.max_cut:
            return
        if kind == "link_down":
            h.cli.host.interface_down()
        else:
            h.cli.host.cut_link()
        h.link_cut = kind
        h.link_back_at = time.monotonic() + downtime
        self.result.counts[kind] += 1
        self._note(f"{h.name} {kind} for {downtime:.1f} s")

    def _new_name(self) -> tuple[str, str]:
        """A fresh (wire name, name on disk): nested, often non-ASCII, now and then NFD."""
        rng = self.rng
        self._serial += 1
        depth = rng.choice((0, 0, 1, 1, 2, 3))
        parts = [rng.choice(_DIR_WORDS) for _ in range(depth)]
        parts.append(f"{rng.choice(_FILE_WORDS)}-{self._serial}{rng.choice(_EXTENSIONS)}")
        wire = unicodedata.normalize("NFC", "/".join(parts))
        disk = wire
        if rng.random() < 0.15:
            decomposed = unicodedata.normalize("NFD", wire)
            if decomposed != wire:
                disk = decomposed
                self.result.counts["nfd_names"] += 1
        return wire, disk

    def _size(self) -> int:
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            return 0
        if roll < 0.15:
            return max(0, min(self.max_size, BLOCK * rng.randint(1, 8) + rng.choice((-1, 0, 1))))
        return int(math.exp(rng.uniform(0.0, math.log(self.max_size))))

    def _content(self, size: int) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.7:
            return rng.randbytes(size)
        if roll < 0.8:
            return bytes(size)  # all zeros: holes in a partial file, one content under many names
        return b"".join(
            rng.randbytes(min(BLOCK, size - off)) if rng.random() < 0.5
            else bytes(min(BLOCK, size - off))
            for off in range(0, size, BLOCK)
        )  # fmt: skip

    def _next_mtime(self, after: int = 0) -> int:
        # Strictly newer than any version before, by at least a second: the last edit wins any
        # conflict, and conflict copies (named by the second) never share a name.
        mtime = max(time.time_ns(), after + 1_000_000_000, self._last_mtime + 1)
        self._last_mtime = mtime
        return mtime

    def _add_file(self, h: SoakHost) -> None:
        wire, disk = self._new_name()
        size = self._size()
        data = self._content(size)
        target = h.folder / disk
        target.parent.mkdir(parents=True, exist_ok=True)
        _save(target, data)
        mtime = target.stat().st_mtime_ns
        self._last_mtime = max(self._last_mtime, mtime)
        history = self.histories[wire] = PathHistory(wire)
        history.add(h.index, disk, hashlib.sha256(data).hexdigest(), size, mtime)
        self.result.counts["files_added"] += 1
        self.result.bytes_written += size
        self._note(f"{h.name} + {disk!r} ({size} B)")
        if size > 1024 * 1024 and self.rng.random() < 0.4:
            # Kill another host in a moment, while it is likely downloading this file.
            victim = self.hosts[self.rng.randrange(len(self.hosts))]
            if victim is not h and victim.kill_at is None:
                victim.kill_at = time.monotonic() + self.rng.uniform(0.2, 1.5)
                victim.kill_downtime = self.rng.uniform(1.0, 8.0)

    def _edit_file(self, h: SoakHost) -> None:
        if not self.histories:
            return
        rng = self.rng
        path = rng.choice(sorted(self.histories))
        history = self.histories[path]
        size = self._size()
        data = self._content(size)
        in_place = rng.random() < 0.3
        target = self._holder(h, history) or self._holder(
            self.hosts[history.writers[-1]], history
        )
        if target is None:
            self.result.counts["edits_skipped"] += 1
            return
        host, file = target
        mtime = self._next_mtime(after=max(history.mtimes))
        if in_place:
            # Truncate and rewrite the same inode, as a program that overwrites a file does.
            fd = os.open(file, os.O_WRONLY | os.O_TRUNC)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.utime(file, ns=(mtime, mtime))
            self.result.counts["edits_in_place"] += 1
        else:
            _save(file, data, mtime)
        if not host.up:
            self.result.counts["edits_offline"] += 1
        history.add(host.index, file.relative_to(host.folder).as_posix(),
                    hashlib.sha256(data).hexdigest(), size, mtime)
        self.result.counts["files_edited"] += 1
        self.result.bytes_written += size
        self._note(f"{host.name} ~ {path!r} ({size} B{', in place' if in_place else ''})")

    def _concurrent_edits(self) -> None:
        """Edit one file on two hosts at once: a true conflict. The later edit (the newer
        modification time) must take the name everywhere, the earlier one must be kept on every
        host as ``NAME.sync-conflict-<its time>-<its host's key>.EXT``."""
        if not self.histories:
            return
        rng = self.rng
        path = rng.choice(sorted(self.histories))
        history = self.histories[path]
        contents = [self._content(self._size()) for _ in range(2)]
        holders = []
        for i in rng.sample(range(len(self.hosts)), len(self.hosts)):
            found = self._holder(self.hosts[i], history)
            if found is not None:
                holders.append(found)
            if len(holders) == 2:
                break
        if len(holders) < 2:
            self.result.counts["conflicts_skipped"] += 1
            return
        (loser, loser_file), (winner, winner_file) = holders
        loser_mtime = self._next_mtime(after=max(history.mtimes))
        winner_mtime = self._next_mtime(after=loser_mtime)
        digests = [hashlib.sha256(data).hexdigest() for data in contents]
        # Both saved before either host can have scanned the other's (mfsync waits for a file
        # to be quiet for a moment), so neither edit has seen the other.
        _save(loser_file, contents[0], loser_mtime)
        _save(winner_file, contents[1], winner_mtime)
        for host, file, digest, data, mtime in (
            (loser, loser_file, digests[0], contents[0], loser_mtime),
            (winner, winner_file, digests[1], contents[1], winner_mtime),
        ):
            history.add(host.index, file.relative_to(host.folder).as_posix(), digest, len(data),
                        mtime)
            self.result.bytes_written += len(data)
        self.result.counts["files_edited"] += 2
        self.result.counts["conflicts_made"] += 1
        if conflict_base(path) is not None:  # a conflict copy is never copied again
            self._note(f"{loser.name} and {winner.name} both edit the conflict copy {path!r}: "
                       "expecting no copy of it")
            return
        copy = expected_conflict_name(path, loser_mtime, self.keys[loser.index])
        self.histories[copy] = PathHistory(copy)
        self.histories[copy].add(loser.index, copy, digests[0], len(contents[0]), loser_mtime)
        self._note(f"{loser.name} and {winner.name} both edit {path!r}: expecting {copy!r}")

    def _holder(self, h: SoakHost, history: PathHistory) -> tuple[SoakHost, Path] | None:
        """(host, file) if ``h`` holds the latest version of ``history`` on disk."""
        for name in (history.disk_names.get(h.index), history.path):
            if name is None:
                continue
            file = h.folder / name
            with contextlib.suppress(OSError):
                if file.is_file() and _sha256_file(file) == history.final:
                    return h, file
        return None

    # -- helpers ------------------------------------------------------------------------------

    def _scan_all(self) -> dict[int, Scan] | None:
        scans: dict[int, Scan] = {}
        for h in self.hosts:
            scan = scan_folder(h.folder, h.cache)
            if scan is None:
                return None
            scans[h.index] = scan
        return scans

    def _note(self, text: str) -> None:
        if self.verbose:
            self.say(f"  [{time.monotonic() - self._t0:7.1f}] {text}")

    def _problem(self, text: str) -> None:
        self.result.problems.append(text)
        self.say(f"  PROBLEM: {text}")


def expected_conflict_name(path: str, mtime_ns: int, key_text: str) -> str:
    """The conflict copy's name as README's "Sync rules" give it: ``stem.sync-conflict-
    YYYYMMDD-HHMMSS-xxxxxx.ext``, the loser's modification time (UTC) and the first six hex
    digits of the key of the host that made it (``ext``: after the last dot of the name)."""
    folder, _, name = path.rpartition("/")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(mtime_ns // 1_000_000_000))
    stem, dot, ext = name.rpartition(".")
    tag = f".sync-conflict-{stamp}-{key_text.lower()[:6]}"
    copy = f"{stem}{tag}.{ext}" if dot and stem else f"{name}{tag}"
    return f"{folder}/{copy}" if folder else copy


def _save(path: Path, data: bytes, mtime_ns: int | None = None) -> None:
    """Write as an editor saves: a swap file beside it (never shared), then one rename."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_bytes(data)
    if mtime_ns is not None:
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.replace(tmp, path)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join("    | " + line for line in text.splitlines()[-lines:])


# -- the command line -------------------------------------------------------------------------


def main(argv: Iterable[str] | None = None) -> int:
    """Run a soak from the command line; 0 when it passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="how long to inject faults (default 120)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run's decisions")
    parser.add_argument("--hosts", type=int, default=5, help="hosts on the LAN (default 5)")
    parser.add_argument("--converge-timeout", type=float, default=None,
                        help="bound on the final convergence (default 120 s + 10%% of --seconds)")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE,
                        help="largest file written, in bytes (default 4 MiB)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the folders and logs go (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the folders and logs after a passing run too")
    parser.add_argument("--corrupt", action="store_true",
                        help="self-check: spoil one file after the stop; the run must FAIL")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every step")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.hosts < 2:
        parser.error("--hosts must be at least 2")
    reason = netns_available()
    if reason is not None:
        print(f"churn soak: cannot run: {reason}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    converge = args.converge_timeout or 120.0 + args.seconds / 10
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mfsync-churn-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"churn soak: seed {seed}; folders and logs in {workdir}", flush=True)
    with Lan(args.hosts) as lan:
        soak = Soak(lan, workdir, seed=seed, seconds=args.seconds, converge_timeout=converge,
                    max_size=args.max_size, verbose=args.verbose,
                    log=lambda text: print(text, flush=True))
        result = soak.run(corrupt=args.corrupt)
    print(result.report())
    if result.ok and not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
