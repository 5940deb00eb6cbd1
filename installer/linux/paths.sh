# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this file
# Sourced by install.sh and uninstall.sh: where the per-user install puts things, in one place.
#
# The XDG base directories decide the data and config folders (a relative value is ignored, as
# the XDG spec says). Commands go to ~/.local/bin: systemd's file-hierarchy(7) names it, and most
# distributions put it on a login shell's PATH once it exists.

# xdg_dir VALUE DEFAULT: VALUE if it is an absolute path, else DEFAULT
xdg_dir() {
    case "${1:-}" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$2" ;;
    esac
}

DATA_HOME="$(xdg_dir "${XDG_DATA_HOME:-}" "$HOME/.local/share")"
CONFIG_HOME="$(xdg_dir "${XDG_CONFIG_HOME:-}" "$HOME/.config")"
USER_NAME="${USER:-$(id -un)}"

#: The installer's own folder: the virtual environment and the manifest.
APP_HOME="$DATA_HOME/mfsync"
APP_VENV="$APP_HOME/venv"
#: What install.sh created, one "KIND PATH" line each (KIND: dir, venv, link, file, cache);
#: uninstall.sh removes exactly these.
MANIFEST="$APP_HOME/installed-files"
BIN_DIR="$HOME/.local/bin"
#: The commands linked into BIN_DIR (the console and gui scripts of pyproject.toml).
COMMANDS=(mfsync mfsync-gui)
APPLICATIONS_DIR="$DATA_HOME/applications"
ICON_THEME_DIR="$DATA_HOME/icons/hicolor"
#: Written by the app itself when the user switches on "start at login" (mfsync.gui.autostart).
AUTOSTART_FILE="$CONFIG_HOME/autostart/mfsync.desktop"
#: The user's identity key, settings and trust lists (mfsync.store.locations): never the
#: installer's to remove unless asked (--purge).
USER_DATA="$HOME/.mfsync"

# Say something on stderr and stop.
die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# read_manifest: the manifest's lines into the array MANIFEST_LINES (empty if there is none)
read_manifest() {
    MANIFEST_LINES=()
    if [ -f "$MANIFEST" ]; then
        mapfile -t MANIFEST_LINES <"$MANIFEST"
    fi
}
