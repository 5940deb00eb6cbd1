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
#: The systemd user units (mfsync.service, mfsync-sync@.service): a folder the user's systemd
#: reads units from (systemd.unit(5)), so `systemctl --user enable --now mfsync` works.
SYSTEMD_USER_DIR="$DATA_HOME/systemd/user"
#: "Send with mfsync…" and "Share with mfsync" in the file managers: Dolphin's service menus,
#: Nemo's actions, Nautilus's scripts (each file manager's folder for a user's own entries).
#: Each line: TEMPLATE (in resources/linux) TARGET MODE.
FILE_MANAGER_ENTRIES=(
    "net.mfsync.mfsync-send.servicemenu.desktop|$DATA_HOME/kio/servicemenus/net.mfsync.mfsync-send.desktop|755"
    "net.mfsync.mfsync-share.servicemenu.desktop|$DATA_HOME/kio/servicemenus/net.mfsync.mfsync-share.desktop|755"
    "mfsync-send.nemo_action|$DATA_HOME/nemo/actions/mfsync-send.nemo_action|644"
    "mfsync-share.nemo_action|$DATA_HOME/nemo/actions/mfsync-share.nemo_action|644"
    "nautilus-send.sh|$DATA_HOME/nautilus/scripts/Send with mfsync…|755"
    "nautilus-share.sh|$DATA_HOME/nautilus/scripts/Share with mfsync|755"
)
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
