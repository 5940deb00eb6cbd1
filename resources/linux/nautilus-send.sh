#!/bin/sh
# Nautilus (GNOME Files) script "Send with mfsync…": Nautilus runs it in the folder shown, with
# the selected files' names as arguments.
exec @EXEC@ --send "$@"
