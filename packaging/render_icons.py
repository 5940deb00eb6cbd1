#!/usr/bin/env python3
"""Draw the app icon, ``resources/icons/mfsync.svg``, into the files that installers need.

``python packaging/render_icons.py [OUT]`` writes into ``build/packaging/icons`` (or OUT):

- ``hicolor/NxN/apps/net.mfsync.mfsync.png`` for every size of ``HICOLOR_SIZES`` and
  ``hicolor/scalable/apps/net.mfsync.mfsync.svg``: the freedesktop icon theme layout, copied
  as it is into ``/usr/share/icons`` (some panels and docks draw only PNGs);
- ``mfsync.ico`` (Windows: the executables and the installer) and ``mfsync.icns`` (macOS).

How it works: Qt's SVG renderer paints each size onto a transparent image, offscreen (no
display needed). Qt writes only one image per ``.ico`` or ``.icns`` file, so both containers
are put together here; each is a short header, a table of contents and the images. The ``.ico``
holds 32-bit bitmaps up to 64 px (what every Windows reader understands) and a PNG at 256 px
(Windows' own format for the large size, a tenth of the bitmap's size); the ``.icns`` holds
PNGs, which macOS reads at every size since 10.7.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgRenderer

import layout

__all__ = [
    "HICOLOR_SIZES",
    "ICNS_TYPES",
    "ICO_SIZES",
    "SVG",
    "hicolor_png",
    "icns_bytes",
    "ico_bytes",
    "main",
    "render",
    "render_icons",
]

#: The app icon, the source of every rendering.
SVG = layout.RESOURCES / "icons" / "mfsync.svg"
#: The PNG sizes of the freedesktop hicolor theme that an app usually installs.
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
#: The sizes in the Windows icon: the small ones for lists, title bars and the taskbar.
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 256)
#: Up to this size the .ico holds bitmaps, above it a PNG.
_ICO_BITMAP_MAX = 64
#: The macOS icon's entries: type code and pixel size (``ic11``-``ic14`` are the @2x ones).
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256),
    (b"ic09", 512), (b"ic10", 1024), (b"ic11", 32), (b"ic12", 64), (b"ic13", 256),
    (b"ic14", 512),
)


def render(size: int, svg: Path = SVG) -> QImage:
    """The icon drawn at ``size`` x ``size`` pixels on a transparent background (ARGB32, not
    premultiplied). Needs a ``QGuiApplication`` (``render_icons`` makes one if there is none)."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"not a valid SVG: {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
    finally:
        painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def png_bytes(image: QImage) -> bytes:
    """``image`` encoded as PNG."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # QImageWriter, not QImage.save: PySide6's stubs and its runtime disagree on save's format
    writer = QImageWriter(buffer, b"png")
    if not writer.write(image):
        raise OSError(f"Qt could not encode a PNG: {writer.errorString()}")
    buffer.close()
    return bytes(data.data())


def hicolor_png(root: Path, size: int, app_id: str) -> Path:
    """Where the theme layout under ``root`` keeps the PNG of ``size`` pixels."""
    return root / "hicolor" / f"{size}x{size}" / "apps" / f"{app_id}.png"


def ico_bytes(images: dict[int, QImage]) -> bytes:
    """A Windows ``.ico`` holding ``images`` (size to ARGB32 image), smallest first."""
    entries = [_ico_bitmap(images[size]) if size <= _ICO_BITMAP_MAX else png_bytes(images[size])
               for size in sorted(images)]
    # ICONDIR: reserved, type 1 (icon), count; then one 16-byte ICONDIRENTRY per image
    header = struct.pack("<HHH", 0, 1, len(entries))
    offset = len(header) + 16 * len(entries)
    directory = b""
    for size, data in zip(sorted(images), entries, strict=True):
        side = size if size < 256 else 0  # one byte each: 0 stands for 256
        directory += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return header + directory + b"".join(entries)


def icns_bytes(images: dict[int, QImage]) -> bytes:
    """A macOS ``.icns`` with an entry of ``ICNS_TYPES`` for each size in ``images``."""
    pngs = {size: png_bytes(image) for size, image in images.items()}
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
                    for kind, size in ICNS_TYPES if size in pngs)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def render_icons(out: Path = layout.ICONS, svg: Path = SVG) -> list[Path]:
    """Write the hicolor PNGs and SVG, ``mfsync.ico`` and ``mfsync.icns`` under ``out``; the
    paths written."""
    # QSvgRenderer and QPainter need the GUI half of Qt; offscreen needs no display
    app = QGuiApplication.instance() or QGuiApplication(["render_icons", "-platform", "offscreen"])
    app_id = layout.app_id()
    sizes = set(HICOLOR_SIZES) | set(ICO_SIZES) | {size for _kind, size in ICNS_TYPES}
    images = {size: render(size, svg) for size in sorted(sizes)}
    written = []
    for size in HICOLOR_SIZES:
        written.append(_write(hicolor_png(out, size, app_id), png_bytes(images[size])))
    scalable = out / "hicolor" / "scalable" / "apps" / f"{app_id}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable)
    written.append(scalable)
    written.append(_write(out / "mfsync.ico", ico_bytes({s: images[s] for s in ICO_SIZES})))
    icns_sizes = {size for _kind, size in ICNS_TYPES}
    written.append(_write(out / "mfsync.icns", icns_bytes({s: images[s] for s in icns_sizes})))
    del app  # kept alive until here: the images were drawn with it
    return written


def main(argv: list[str] | None = None) -> int:
    """Render into ``argv[0]`` (default ``build/packaging/icons``) and print each path."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else layout.ICONS
    for path in render_icons(out):
        print(path)
    return 0


# -- helpers -------------------------------------------------------------------------------------


def _ico_bitmap(image: QImage) -> bytes:
    """``image`` as an icon bitmap: a BITMAPINFOHEADER of twice the height (the colour rows,
    then the 1-bit transparency mask), the rows bottom-up as BGRA, then the mask, all zero
    because the alpha channel already says what is transparent."""
    size = image.width()
    # RGBA8888 has the same byte order on every machine; a bitmap wants B, G, R, A. The
    # converted image stays in a name while its bits are copied: the memoryview does not keep
    # it alive.
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = bytearray(rgba.constBits())
    data[0::4], data[2::4] = data[2::4], data[0::4]
    stride = size * 4  # no padding: a row of 4-byte pixels is already 4-byte aligned
    pixels = b"".join(data[row * stride:(row + 1) * stride] for row in reversed(range(size)))
    mask_stride = (size + 31) // 32 * 4  # 1 bit a pixel, rows padded to 4 bytes
    mask = bytes(mask_stride * size)
    header = struct.pack("<IiiHHIIiiII", 40, size, 2 * size, 1, 32, 0,
                         len(pixels) + len(mask), 0, 0, 0, 0)
    return header + pixels + mask


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


if __name__ == "__main__":
    sys.exit(main())
