"""The direction of imports (ARCHITECTURE.md): checked on the source, and in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "app" / "mfsync"

#: What each area may import of ours (besides itself). Top-level modules (cli, config, service)
#: may import any core area; nothing may import gui, except the CLI's ``gui`` mode, inside a
#: function (so that the CLI loads without Qt).
ALLOWED: dict[str, set[str]] = {
    "protocol": {"crypto"},
    "crypto": set(),
    "net": {"protocol", "crypto"},
    "store": {"protocol", "crypto"},
    "watch": {"protocol", "crypto", "store"},
    "engine": {"net", "store", "watch", "protocol", "crypto"},
}


def _area(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


LAZY_GUI_IMPORTERS = {"cli"}


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
            found.add(node.module)
    return found


def test_layers_import_only_downwards() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        area = _area(path)
        eager = _imports(path, lazy=False)
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] in {"PySide6", "qasync"} and area != "gui":
                problems.append(f"{path.relative_to(PACKAGE)} imports Qt ({name})")
            if parts[0] != "mfsync" or len(parts) < 2 or parts[1] == "__init__":
                continue
            target = parts[1]
            if target == area:
                continue
            if target == "gui" and (area not in LAZY_GUI_IMPORTERS or name in eager):
                problems.append(f"{path.relative_to(PACKAGE)} imports the GUI ({name})")
            elif target == "gui":
                continue
            elif area in ALLOWED and target not in ALLOWED[area]:
                problems.append(f"{path.relative_to(PACKAGE)} ({area}) imports {name}")
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from mfsync.engine.node import Node\nimport PySide6.QtCore\n"
                   "def later():\n    import mfsync.gui.app\n")
    assert _imports(bad) == {"mfsync.engine.node", "PySide6.QtCore", "mfsync.gui.app"}
    assert _imports(bad, lazy=False) == {"mfsync.engine.node", "PySide6.QtCore"}


def test_core_and_cli_load_without_qt() -> None:
    code = (
        "import sys, mfsync.cli, mfsync.engine.node, mfsync.config;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6')"
        " or m.startswith('mfsync.gui')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
