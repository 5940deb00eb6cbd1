"""``python -m mfsync``: the same as the ``mfsync`` command."""

from mfsync.cli import main

raise SystemExit(main())
