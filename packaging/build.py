#!/usr/bin/env python3
"""Build what ships: ``python packaging/build.py STEP`` (see packaging/README.md).

Steps:
  prepare       fetch the wheels of mfsync, its dependencies and PyInstaller (build/packaging)
  icons         the hicolor PNGs, mfsync.ico and mfsync.icns from the SVG (build/packaging/icons)
  bundle        the PyInstaller onedir bundle dist/mfsync (mfsync + mfsync-gui), after prepare;
                draws the icons first, so the executables and installers carry them
  deb           dist/mfsync_VERSION_ARCH.deb from the bundle, after bundle
  inno-defines  the /D arguments that installer/windows/mfsync.iss needs (version, ports)

``--offline`` makes ``bundle`` and ``deb`` use only what ``prepare`` fetched.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run one build step; the exit code."""
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "icons", "bundle", "deb", "inno-defines"])
    parser.add_argument("--offline", action="store_true",
                        help="use only the wheels that `prepare` fetched")
    args = parser.parse_args(argv)
    # each step imports only what it needs: inno-defines runs on Windows without dpkg
    if args.step == "prepare":
        import freeze  # noqa: PLC0415

        freeze.prepare()
    elif args.step == "icons":
        import render_icons  # noqa: PLC0415

        print(render_icons.render_icons()[-1].parent)
    elif args.step == "bundle":
        import freeze  # noqa: PLC0415
        import render_icons  # noqa: PLC0415

        if not args.offline:
            freeze.prepare()
        # the spec and installer/windows read the .ico and .icns drawn here
        render_icons.render_icons()
        print(freeze.bundle())
    elif args.step == "deb":
        import debian  # noqa: PLC0415

        print(debian.build_deb())
    else:
        import inno  # noqa: PLC0415

        print(" ".join(inno.defines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
