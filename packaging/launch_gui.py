"""Entry script of the frozen ``mfsync-gui`` desktop app."""

import sys

from mfsync.gui.app import main

sys.exit(main())
