#!/bin/sh
# Nautilus (GNOME Files) script "Share with mfsync": shares the selected folder, or the folder
# shown when nothing is selected.
exec @EXEC@ --share "${1:-.}"
