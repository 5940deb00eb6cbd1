"""The wheels and the PyInstaller onedir bundle: ``build.py prepare`` and ``build.py bundle``.

How it works: ``prepare`` is the only step that needs the network. It builds mfsync's wheel
from a clean copy of the checkout and puts it in ``layout.WHEELS`` beside the wheels of every
dependency, PyInstaller and the build backend. ``bundle`` then works offline: it keeps a
virtual environment at ``layout.BUILD_VENV``, installs everything there from those wheels (mfsync
itself always afresh, so the bundle is of the current source even when the version did not
change) and runs PyInstaller on ``mfsync.spec`` in it. Freezing the installed package rather
than the checkout means the bundle holds exactly what the wheel ships (its package data).
Progress goes to stderr: stdout is kept for the path that ``build.py`` prints last.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Sequence
from pathlib import Path

import layout

__all__ = ["bundle", "prepare"]

#: Requirements fetched beside mfsync's own: the build backend named in pyproject.toml's
#: [build-system], so that mfsync can also be built from source with ``--no-index``.
BUILD_REQUIREMENTS = ("setuptools>=77", "wheel")
#: Top-level names of the checkout that a wheel build never needs (and that may be large).
_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache",
               ".ruff_cache", ".pytest_cache")


def prepare() -> Path:
    """Fill ``layout.WHEELS`` with the wheels of mfsync (built from the current source), its
    dependencies, PyInstaller and the build backend; the folder. Needs the network (or a warm
    pip cache); every later step does not."""
    layout.WHEELS.mkdir(parents=True, exist_ok=True)
    # an older mfsync wheel of the same version would be taken for the current source
    for stale in layout.WHEELS.glob("mfsync-*.whl"):
        stale.unlink()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mfsync-src-") as tmp:
        # A copy: setuptools builds in the source tree, and its build/lib keeps files deleted
        # since the last build, which would end up in the wheel.
        source = Path(tmp) / "mfsync"
        shutil.copytree(layout.ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        _run([sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(layout.WHEELS),
              f"{source}[package]", *BUILD_REQUIREMENTS])
    _say(f"wheels ready in {layout.WHEELS} ({time.monotonic() - started:.0f} s)")
    return layout.WHEELS


def bundle() -> Path:
    """Build the onedir bundle ``layout.BUNDLE`` (``mfsync``, ``mfsync-gui`` and one shared
    ``_internal``; on macOS also ``mfsync.app``) from the wheels that ``prepare`` fetched;
    its path. Runs offline."""
    wheel = _mfsync_wheel()
    started = time.monotonic()
    python = _build_venv()
    offline = [str(python), "-m", "pip", "install", "--no-index", "--find-links",
               str(layout.WHEELS), "--disable-pip-version-check", "--quiet"]
    # dependencies and PyInstaller first; then mfsync itself, replaced even at the same version
    _run([*offline, f"{wheel}[package]"])
    _run([*offline, "--force-reinstall", "--no-deps", str(wheel)])
    _say(f"build environment ready ({time.monotonic() - started:.0f} s)")
    # only what the last build made: a file gone from the app must not survive in the bundle
    shutil.rmtree(layout.BUNDLE, ignore_errors=True)
    # the build runs outside the checkout, so that nothing imports mfsync from its source
    layout.PYINSTALLER_WORK.mkdir(parents=True, exist_ok=True)
    _run([str(python), "-m", "PyInstaller", str(layout.PACKAGING / "mfsync.spec"),
          "--distpath", str(layout.DIST), "--workpath", str(layout.PYINSTALLER_WORK),
          "--noconfirm", "--log-level", "WARN"], cwd=layout.PYINSTALLER_WORK)
    _say(f"bundle built in {time.monotonic() - started:.0f} s: {layout.BUNDLE}")
    return layout.BUNDLE


# -- helpers -------------------------------------------------------------------------------------

def _mfsync_wheel() -> Path:
    wheels = sorted(layout.WHEELS.glob("mfsync-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"build.py: expected one mfsync wheel in {layout.WHEELS}, found "
                         f"{len(wheels)}: run `python packaging/build.py prepare`")
    return wheels[0]


def _build_venv() -> Path:
    """The build venv's interpreter; the venv is created, or made anew when it was made by
    another Python version than this one (its packages would not import)."""
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    python = layout.BUILD_VENV / scripts / ("python.exe" if sys.platform == "win32" else "python")
    if python.exists() and _venv_version(layout.BUILD_VENV) == _this_version():
        return python
    _say(f"creating the build environment {layout.BUILD_VENV}")
    venv.EnvBuilder(with_pip=True, clear=True).create(layout.BUILD_VENV)
    return python


def _this_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _venv_version(root: Path) -> str | None:
    try:
        text = (root / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        # "version" before Python 3.11's "version_info"; either names the full version
        if key.strip() in ("version", "version_info"):
            return ".".join(value.strip().split(".")[:3])
    return None


def _run(command: Sequence[str], cwd: Path | None = None) -> None:
    _say("$ " + " ".join(command))
    # the child's output goes to our stderr: stdout carries only the built path
    done = subprocess.run(command, cwd=cwd, stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise SystemExit(f"build.py: command failed with exit code {done.returncode}")


def _say(message: str) -> None:
    print(f"build.py: {message}", file=sys.stderr, flush=True)
