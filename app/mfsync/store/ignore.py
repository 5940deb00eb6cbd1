"""Which paths of a shared folder stay out of the share set.

Two sources of rules. The built-in ones (our partial downloads, OS litter, editor swap files, our
own ``.mfsync`` folder and the ignore file itself) match a single name at any depth and cannot be
switched off: a partial download must never be offered, whatever the user writes. The user's
``.mfsyncignore`` at the root of the folder is read in gitignore syntax by ``pathspec``.

As in git, nothing below an ignored directory can come back: ``build/`` followed by
``!build/keep.txt`` still leaves ``build/keep.txt`` out, because git never looks inside an
excluded directory (and our scan never walks into one). ``pathspec`` alone would say otherwise for
a file path, so :meth:`IgnoreRules.is_ignored` checks the parent directories first; their verdicts
are cached, so a scan pays for each directory once rather than once per file in it.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from pathspec import GitIgnoreSpec

from mfsync.protocol.names import IGNORE_FILE, PARTIAL_SUFFIX, STATE_DIR, reserved_name_reason

__all__ = [
    "BUILTIN_IGNORES", "IGNORE_FILE", "MAX_IGNORE_FILE_BYTES", "PARTIAL_SUFFIX", "STATE_DIR",
    "IgnoreRules",
]

log = logging.getLogger("mfsync.store")

#: Never shared: OS litter and editor swap files. Each pattern is matched (``fnmatch``,
#: case-sensitive) against every name of a path, so a match on a folder leaves out all that is
#: below it. Conflict copies (``*.sync-conflict-*``) are deliberately absent: they are shared as
#: ordinary files. Our own names (partial downloads ``*.mfsync-part``, the ``.mfsync`` folder,
#: the ignore file) are left out too, by ``reserved_name_reason``: the same rule that refuses
#: them from the wire, so what we never accept is exactly what we never offer.
BUILTIN_IGNORES = (".DS_Store", "Thumbs.db", "desktop.ini", ".*.swp", "*~", ".#*")

#: A bigger ignore file is surely not one a person wrote; refusing it bounds what a scan reads.
MAX_IGNORE_FILE_BYTES = 1024 * 1024

_BUILTIN = re.compile("|".join(fnmatch.translate(pattern) for pattern in BUILTIN_IGNORES))

#: Directory verdicts kept between calls; cleared whole when full (a scan visits a directory's
#: files together, so a simple cache hits nearly always).
_DIR_CACHE_SIZE = 4096

#: What the ignore file looked like when last read: (mtime, size, inode, ctime), or None when
#: there is none. The ctime catches a rewrite within one mtime tick that keeps the size.
_Signature = tuple[int, ...] | None


class IgnoreRules:
    """The built-in ignores plus a folder's ``.mfsyncignore``."""

    def __init__(self, root: Path, lines: Iterable[str] = ()) -> None:
        """Rules for ``root`` from ``lines`` (gitignore syntax) without reading any file.

        Use :meth:`load` to read the folder's ``.mfsyncignore``.
        """
        self.root = root
        self._patterns: tuple[str, ...] = ()
        self._spec: GitIgnoreSpec | None = None
        self._signature: _Signature = None
        self._dir_cache: dict[str, bool] = {}
        self._set_lines(lines)

    @classmethod
    def load(cls, root: Path) -> IgnoreRules:
        """The rules of the folder at ``root``.

        A missing ``.mfsyncignore`` means only the built-ins; one that cannot be read or is not
        UTF-8 is warned about and the built-ins alone apply.
        """
        rules = cls(root)
        rules.reload_if_changed()
        return rules

    @property
    def patterns(self) -> tuple[str, ...]:
        """The user's patterns in effect (comments, blank and invalid lines left out)."""
        return self._patterns

    def is_ignored(self, rel_posix_path: str, is_dir: bool) -> bool:
        """Whether the path (relative to the root, ``/``-separated, as on disk) is left out.

        ``is_dir`` says whether the path is a directory, for patterns such as ``build/`` that
        only match directories. A path below an ignored directory is ignored too. The root
        itself (``""``) never is.
        """
        if not rel_posix_path:
            return False
        parent, _, name = rel_posix_path.rpartition("/")
        if parent and self._dir_ignored(parent):
            return True
        return self._matches(rel_posix_path, name, is_dir)

    def reload_if_changed(self) -> bool:
        """Read ``.mfsyncignore`` again if it changed (or appeared, or went away) since last time.

        Returns whether the rules in effect changed. Cheap when nothing changed: one ``stat``.
        """
        path = self.root / IGNORE_FILE
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            signature: _Signature = None
        except OSError as exc:
            # Remember the failure too, so that an unreadable file is warned about once, not on
            # every scan.
            signature = (-1, exc.errno or 0)
            if signature != self._signature:
                log.warning("cannot read %s: %s; only the built-in ignores apply",
                            path, exc.strerror or exc)
        else:
            signature = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)
        if signature == self._signature:
            return False
        self._signature = signature
        if signature is None:
            return self._set_lines([])
        lines = self._read(path) if signature[0] >= 0 else None
        if lines is None:
            # Keep what was in effect: a file that is unreadable for a moment (an editor saving
            # it, say) must not suddenly share everything it excluded.
            return False
        return self._set_lines(lines)

    def _read(self, path: Path) -> list[str] | None:
        """The file's lines, or None when it cannot be used (the rules in effect then stay)."""
        try:
            with path.open("rb") as file:
                data = file.read(MAX_IGNORE_FILE_BYTES + 1)
        except OSError as exc:
            log.warning("cannot read %s: %s; the rules in effect stay (at first: only the "
                        "built-in ignores)", path, exc.strerror or exc)
            return None
        if len(data) > MAX_IGNORE_FILE_BYTES:
            log.warning("%s is larger than %d bytes; the rules in effect stay (at first: only "
                        "the built-in ignores)", path, MAX_IGNORE_FILE_BYTES)
            return None
        try:
            # utf-8-sig: git skips a byte order mark at the start, and so do we.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            # Every valid line still applies; a line with a bad byte matches nothing it meant.
            log.warning("%s is not valid UTF-8 (byte %d); its other lines still apply",
                        path, exc.start)
            text = data.decode("utf-8-sig", "replace")
        return text.splitlines()

    def _set_lines(self, lines: Iterable[str]) -> bool:
        patterns: list[str] = []
        for number, raw in enumerate(lines, 1):
            # Names are compared in NFC (see _matches), so the patterns must be NFC as well.
            line = unicodedata.normalize("NFC", raw)
            if not line.strip() or line.startswith("#"):
                continue
            try:
                GitIgnoreSpec.from_lines([line])
            except ValueError as exc:
                # git silently skips a line it cannot use; we say so, since the user meant
                # something by it.
                log.warning("%s line %d: %s; line skipped", IGNORE_FILE, number, exc)
                continue
            patterns.append(line)
        new = tuple(patterns)
        if new == self._patterns:
            return False
        self._patterns = new
        self._spec = GitIgnoreSpec.from_lines(new) if new else None
        self._dir_cache.clear()
        return True

    def _dir_ignored(self, rel_dir: str) -> bool:
        # Walk up to the nearest directory with a known verdict, then decide the ones below it
        # top-down. A loop rather than recursion: paths may be deeper than the recursion limit.
        unknown: list[str] = []
        verdict = False
        probe = rel_dir
        while probe:
            cached = self._dir_cache.get(probe)
            if cached is not None:
                verdict = cached
                break
            unknown.append(probe)
            probe = probe.rpartition("/")[0]
        for folder in reversed(unknown):
            verdict = verdict or self._matches(folder, folder.rpartition("/")[2], True)
            if len(self._dir_cache) >= _DIR_CACHE_SIZE:
                self._dir_cache.clear()
            self._dir_cache[folder] = verdict
        return verdict

    def _matches(self, rel: str, name: str, is_dir: bool) -> bool:
        """Whether the path itself is matched (its parents are not looked at)."""
        if _BUILTIN.match(name) or reserved_name_reason(name) is not None:
            return True
        if self._spec is None:
            return False
        # macOS stores names decomposed; the user typed the pattern composed.
        path = unicodedata.normalize("NFC", rel)
        return self._spec.match_file(path + "/" if is_dir else path)
