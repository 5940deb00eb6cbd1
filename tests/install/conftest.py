"""What ships, built once per run: the frozen bundle, the .deb, and homes to install them into.

The build steps run as ``packaging/build.py STEP --offline``: ``./test`` runs ``build.py
prepare`` first (it fetches every wheel), so these tests need no network. ``MFSYNC_BUNDLE``
names an already built bundle folder to test instead of building one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))

import layout  # noqa: E402 - packaging/ is not a package, its scripts are found by path


def build_step(step: str, *args: str, timeout: float = 1500) -> str:
    """Run ``packaging/build.py STEP --offline``; its last line of output (the built path)."""
    if not any(layout.WHEELS.glob("mfsync-*.whl")):
        pytest.fail(f"no wheels in {layout.WHEELS}: run `python packaging/build.py prepare` first "
                    "(./test does)")
    done = subprocess.run([sys.executable, str(PACKAGING / "build.py"), step, "--offline", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        pytest.fail(f"build.py {step} failed ({done.returncode}):\n{done.stdout[-4000:]}\n"
                    f"{done.stderr[-8000:]}")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The onedir bundle (``dist/mfsync``), built from the current source once per run."""
    given = os.environ.get("MFSYNC_BUNDLE")
    path = Path(given) if given else Path(build_step("bundle"))
    assert (path / layout.CLI_NAME).is_file(), f"no {layout.CLI_NAME} in {path}"
    return path


@pytest.fixture(scope="session")
def deb_file(bundle: Path) -> Path:
    """The .deb built from ``bundle``."""
    path = Path(build_step("deb"))
    assert path.is_file() and path.suffix == ".deb", path
    return path


@pytest.fixture
def temp_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose HOME and XDG folders are fresh folders under ``tmp_path``."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CACHE_HOME=str(home / ".cache"), QT_QPA_PLATFORM="offscreen")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    yield env
