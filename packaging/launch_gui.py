"""Entry script of the frozen ``mfsync-gui`` desktop app."""

import sys

from mfsync.gui.launch import main

sys.exit(main())
