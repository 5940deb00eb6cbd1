"""``scripts/desktop-deps.sh`` (run by ``./run gui``): the Debian libraries Qt needs.

The script runs for real with ``dpkg-query``, ``apt-get``, ``sudo`` and ``id`` replaced on PATH
by small scripts that report one package missing and record what they were asked: as root it
installs what is missing and says so; as a user (without a terminal) it prints the one command
to run; with nothing missing it says nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mfsync.gui.platform_check import desktop_packages

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "desktop-deps.sh"


def fake_tools(bin_dir: Path, missing: set[str], uid: int) -> Path:
    """Fakes on ``bin_dir``; the file where apt-get and sudo record their arguments."""
    calls = bin_dir / "calls"
    bin_dir.mkdir()
    absent = " ".join(sorted(missing))
    scripts = {
        "dpkg-query": (f'for last; do :; done\necho "$last" >>"{bin_dir / "asked"}"\n'
                       f'case " {absent} " in *" $last "*) exit 1 ;; '
                       'esac\nprintf "install ok installed"\n'),
        "apt-get": f'echo "apt-get $*" >>"{calls}"\n',
        "sudo": f'echo "sudo $*" >>"{calls}"\n',
        "id": f'echo {uid}\n',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
        path.chmod(0o755)
    return calls


def run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run([str(SCRIPT)], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, check=False)


def test_as_root_it_installs_what_is_missing_and_says_so(tmp_path: Path) -> None:
    calls = fake_tools(tmp_path / "bin", {"libxcb-cursor0", "libxcb-icccm4"}, uid=0)
    done = run(tmp_path / "bin")
    assert done.returncode == 0, done.stderr
    assert "Installing the libraries the desktop app needs: libxcb-cursor0 libxcb-icccm4" in \
        done.stderr
    recorded = calls.read_text(encoding="utf-8").splitlines()
    assert recorded == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends "
                        "libxcb-cursor0 libxcb-icccm4"]


def test_as_a_user_it_names_the_one_command(tmp_path: Path) -> None:
    calls = fake_tools(tmp_path / "bin", {"libxcb-cursor0"}, uid=1000)
    done = run(tmp_path / "bin")
    assert done.returncode == 0
    assert "Install them with: sudo apt-get install -y --no-install-recommends libxcb-cursor0" \
        in done.stderr
    assert not calls.exists()  # nothing installed, no sudo without asking


def test_with_everything_installed_it_is_silent(tmp_path: Path) -> None:
    calls = fake_tools(tmp_path / "bin", set(), uid=0)
    done = run(tmp_path / "bin")
    assert done.returncode == 0 and done.stderr == "" and done.stdout == ""
    assert not calls.exists()


def test_it_asks_for_the_packages_the_app_checks(tmp_path: Path) -> None:
    # the list comes from the app's own table, so the script and the check never disagree
    fake_tools(tmp_path / "bin", set(), uid=0)
    assert run(tmp_path / "bin").returncode == 0
    asked = (tmp_path / "bin" / "asked").read_text(encoding="utf-8").split()
    assert asked == desktop_packages()
    assert "libxcb-cursor0" in asked
