"""The direction of imports (docs/architecture.md): checked on the source, and in a fresh
interpreter.

Every module under ``app/mfsync`` belongs to an area (its package, or a top-level module) and
every area has a row in ``ALLOWED``: what it may import of ours besides itself. A row names an
area (``store``) or one module of it (``store.locations``). The checker is a plain function of a
source tree, so the tests below can feed it a tree with wrong imports and watch it fail.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "app" / "mfsync"

#: What a front end may import: the engine's front door (``engine.service``) and the snapshots
#: it shows, the settings, the application's shared facts and a few leaf helpers that turn
#: things into text for people and back (keys, ``HOST[:PORT]``), where our files live, the
#: identity file, the trust files people import and export (read capped, written atomically)
#: and atomic writes of the front end's own files (autostart entries). Never the
#: network or the rest of the store: what can go wrong there reaches a front end as the
#: engine's ``StartError`` or ``ServiceError``.
FRONT_END = {
    "engine", "config", "defaults", "display", "memory", "crypto", "audience", "folder_config",
    "reports",
    "protocol.endpoints", "store.locations", "store.identity_file", "store.files",
    "store.trust_file",
}

#: What each area may import of ours (besides itself).
ALLOWED: dict[str, set[str]] = {
    # the leaves: the package's face, the shared facts and small helpers
    "__init__": set(),
    "defaults": set(),
    "display": set(),
    "memory": set(),
    # what the engine says to people, as text and as a code with arguments
    "reports": set(),
    # who may see a folder: a leaf of the settings, the engine and the front ends
    "audience": {"crypto.keys"},
    # the core, bottom up
    "crypto": set(),
    "protocol": {"crypto"},
    "net": {"protocol", "crypto"},
    "store": {"protocol", "crypto"},
    "watch": {"protocol", "crypto", "store"},
    # the settings sit below the engine: loading them loads neither the engine nor the network
    "config": {"protocol", "crypto", "store", "defaults", "audience", "folder_config"},
    "folder_config": {"protocol", "defaults", "audience"},
    "engine": {"net", "store", "watch", "protocol", "crypto", "config", "defaults", "audience",
               "folder_config", "reports"},
    # the front ends; only the CLI's ``gui`` mode reaches the GUI, inside a function, so that
    # the command line loads without Qt
    "cli": FRONT_END,
    "gui": FRONT_END,
    "__main__": {"cli"},
}

#: Areas that may import the GUI inside a function (never at module level).
LAZY_GUI_IMPORTERS = {"cli"}
#: Qt's packages: only the GUI imports them.
QT = {"PySide6", "qasync", "shiboken6"}


def _area(package: Path, path: Path) -> str:
    rel = path.relative_to(package)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path, *, lazy: bool = True) -> set[str]:
    """Modules ``path`` imports; with ``lazy=False``, only those imported at module level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if lazy else (
        n for top in tree.body for n in ast.walk(top)
        if not isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.count(".") == 1:  # from mfsync.store import locations: a module
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def _allowed(rows: set[str], target: str) -> bool:
    """Whether ``target`` (``net.server``, say) is within one of ``rows``."""
    return any(target == row or target.startswith(row + ".") for row in rows)


def check_tree(package: Path) -> list[str]:
    """Every wrong import under ``package`` (a tree laid out as ``app/mfsync``), one line each."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package)
        area = _area(package, path)
        if area not in ALLOWED:
            problems.append(f"{where}: area {area!r} has no row in ALLOWED")
            continue
        eager = _imports(path, lazy=False)
        for name in sorted(_imports(path)):
            parts = name.split(".")
            if parts[0] in QT and area != "gui":
                problems.append(f"{where} imports Qt ({name})")
            if parts[0] != "mfsync" or len(parts) < 2 or parts[1] == "__init__":
                continue
            target = ".".join(parts[1:])
            if parts[1] == area:
                continue
            if parts[1] == "gui":
                if area not in LAZY_GUI_IMPORTERS or name in eager:
                    problems.append(f"{where} imports the GUI ({name})")
                continue
            if not _allowed(ALLOWED[area], target):
                problems.append(f"{where} ({area}) imports {name}")
    return problems


def test_layers_import_only_downwards() -> None:
    problems = check_tree(PACKAGE)
    assert not problems, "\n".join(problems)


def test_every_package_has_a_row() -> None:
    areas = {_area(PACKAGE, path) for path in PACKAGE.rglob("*.py")}
    assert areas <= set(ALLOWED), areas - set(ALLOWED)
    for package in ("protocol", "crypto", "net", "store", "watch", "engine", "cli", "gui"):
        assert package in areas and package in ALLOWED, package


def _tree(root: Path, files: dict[str, str]) -> Path:
    package = root / "mfsync"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


@pytest.mark.parametrize(
    ("name", "source", "problem"),
    [
        ("config.py", "from mfsync.net.server import DEFAULT_TCP_PORT\n",
         "config.py (config) imports mfsync.net.server"),
        ("config.py", "from mfsync.engine.transfers import DEFAULT_CONCURRENCY\n",
         "config.py (config) imports mfsync.engine.transfers"),
        ("cli/modes.py", "from mfsync.net.server import PortInUse\n",
         "cli/modes.py (cli) imports mfsync.net.server"),
        ("gui/app.py", "from mfsync.store.shareset import ShareSet\n",
         "gui/app.py (gui) imports mfsync.store.shareset"),
        ("engine/node.py", "import mfsync.cli.modes\n",
         "engine/node.py (engine) imports mfsync.cli.modes"),
        ("engine/node.py", "from mfsync.gui.app import main\n",
         "engine/node.py imports the GUI (mfsync.gui.app)"),
        ("cli/__init__.py", "from mfsync.gui.app import main\n",
         "cli/__init__.py imports the GUI (mfsync.gui.app)"),
        ("store/files.py", "import PySide6.QtCore\n", "store/files.py imports Qt (PySide6.QtCore)"),
        ("net/server.py", "from mfsync.engine.node import Node\n",
         "net/server.py (net) imports mfsync.engine.node"),
        ("defaults.py", "from mfsync.protocol.endpoints import DEFAULT_TCP_PORT\n",
         "defaults.py (defaults) imports mfsync.protocol.endpoints"),
        ("attic.py", "", "attic.py: area 'attic' has no row in ALLOWED"),
    ],
)
def test_the_checker_catches_a_wrong_import(tmp_path: Path, name: str, source: str,
                                            problem: str) -> None:
    package = _tree(tmp_path, {name: source})
    assert check_tree(package) == [problem]


def test_the_checker_passes_the_allowed_ones(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "config.py": "from mfsync.protocol.endpoints import DEFAULT_TCP_PORT\n"
                     "from mfsync.defaults import FolderMode\n",
        "cli/__init__.py": "from mfsync.engine.service import StartError\n"
                           "from mfsync.store.locations import key_path\n"
                           "def gui():\n    from mfsync.gui.app import main\n",
        "gui/app.py": "import PySide6.QtCore\nfrom mfsync.engine.service import Service\n",
    })
    assert check_tree(package) == []


def test_imports_sees_lazy_and_eager_ones(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from mfsync.engine.node import Node\nimport PySide6.QtCore\n"
                   "def later():\n    import mfsync.gui.app\n")
    assert _imports(bad) == {"mfsync.engine.node", "PySide6.QtCore", "mfsync.gui.app"}
    assert _imports(bad, lazy=False) == {"mfsync.engine.node", "PySide6.QtCore"}


def _loaded_by(statement: str, forbidden: str) -> list[str]:
    """The modules matching ``forbidden`` (a Python expression on ``m``) that ``statement``
    loads in a fresh interpreter."""
    code = (f"import sys; {statement};"
            f"bad = sorted(m for m in sys.modules if {forbidden}); print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    return list(ast.literal_eval(result.stdout.strip()))


def test_core_and_cli_load_without_qt() -> None:
    assert _loaded_by(
        "import mfsync.cli, mfsync.engine.service, mfsync.config",
        "m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6') or m.startswith('mfsync.gui')",
    ) == []


def test_config_loads_without_engine_or_network() -> None:
    assert _loaded_by(
        "import mfsync.config",
        "m.startswith(('mfsync.engine', 'mfsync.net', 'mfsync.watch', 'watchdog'))",
    ) == []
