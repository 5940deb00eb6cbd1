"""Entry script of the frozen ``mfsync`` command (PyInstaller freezes this file, not a console
script: the bundle has no ``bin`` wrapper to run)."""

import sys

from mfsync.cli import main

sys.exit(main())
