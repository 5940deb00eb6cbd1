"""The packaged icons and templates: present, valid, drawable; and pyproject installs them."""

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from pytestqt.qtbot import QtBot

from mfsync.gui.icons import ICON_NAMES, icon, icon_path, resource_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ICON_NAMES)
def test_icon_is_a_valid_svg_that_draws_something(qtbot: QtBot, name: str) -> None:
    path = icon_path(name)
    assert path == icon_path(f"{name}.svg")
    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    for size in (16, 256):
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        opaque = sum(image.pixelColor(x, y).alpha() > 200
                     for x in range(size) for y in range(size))
        assert opaque > size * size // 3, (name, size)


@pytest.mark.parametrize("name", ICON_NAMES)
def test_qicon(qtbot: QtBot, name: str) -> None:
    result = icon(name)
    assert not result.isNull()
    assert result.pixmap(22).width() == 22


def test_missing_resources_are_an_error() -> None:
    with pytest.raises(FileNotFoundError, match=r"icons/nope\.svg"):
        icon_path("nope")
    assert resource_path("linux", "mfsync-autostart.desktop").is_file()
    assert resource_path("macos", "net.mfsync.gui.plist").is_file()


def test_pyproject_installs_every_package_and_resource() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    setuptools = tool["setuptools"]
    listed = set(setuptools["packages"])
    package_dir = setuptools["package-dir"]
    # every folder of Python code under app/mfsync must be listed, or the wheel lacks it
    app = ROOT / package_dir[""]
    packages = {".".join(p.parent.relative_to(app).parts) for p in app.rglob("__init__.py")}
    assert packages - listed == set()
    # every resource file is caught by a package-data glob of its folder
    resources = ROOT / package_dir["mfsync.resources"]
    data = setuptools["package-data"]
    for file in resources.rglob("*"):
        if not file.is_file() or file.suffix == ".py" or "__pycache__" in file.parts:
            continue
        package = ".".join(("mfsync.resources", *file.parent.relative_to(resources).parts))
        assert package in listed, file
        assert any(fnmatch(file.name, glob) for glob in data.get(package, [])), file
