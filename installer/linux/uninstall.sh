#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Remove what installer/linux/install.sh made for the current user: everything listed in
# ~/.local/share/mfsync/installed-files, the virtual environment, and the app's own "start at
# login" entry. Your data in ~/.mfsync (identity key, settings, trusted hosts) stays, so a
# reinstall keeps the identity others trust; --purge removes it too.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=paths.sh
source "$HERE/paths.sh"

usage() {
    cat <<EOF
Usage: installer/linux/uninstall.sh [--purge]

Removes mfsync as installed by installer/linux/install.sh for $USER_NAME (listed in $MANIFEST).
  --purge   also remove $USER_DATA (your identity key, settings and trusted hosts)
EOF
}

say_removed() {
    echo "  removed $1"
}

# Entries of one KIND from the manifest, one path a line.
entries() {
    local line
    for line in "${MANIFEST_LINES[@]}"; do
        [ "${line%% *}" = "$1" ] && printf '%s\n' "${line#* }"
    done
    return 0
}

# What update-desktop-database made is dropped with the last menu entry beside it, else
# refreshed without ours.
settle_cache() {
    local cache="$1" dir
    dir="$(dirname "$cache")"
    if compgen -G "$dir/*.desktop" >/dev/null; then
        if command -v update-desktop-database >/dev/null 2>&1; then
            update-desktop-database -q "$dir" 2>/dev/null || true
        fi
    elif [ -e "$cache" ]; then
        rm -f "$cache"
        say_removed "$cache"
    fi
}

main() {
    local purge=0
    case "${1:-}" in
        "") ;;
        --purge) purge=1 ;;
        -h | --help)
            usage
            return 0
            ;;
        *) die "unknown argument $1 (try --help)" ;;
    esac
    [ "$#" -le 1 ] || die "too many arguments (try --help)"

    read_manifest
    if pgrep -f -- "$APP_VENV/bin/" >/dev/null 2>&1; then
        echo "Note: mfsync is running; quit it (tray menu: Quit) so that nothing is left open."
    fi
    if [ "${#MANIFEST_LINES[@]}" = 0 ] && [ ! -d "$APP_VENV" ]; then
        echo "install.sh has not installed mfsync for $USER_NAME (there is no $MANIFEST)."
    fi
    echo "Removing mfsync for $USER_NAME:"
    local path
    # commands: only while they still point into our venv (the user may have replaced them)
    while IFS= read -r path; do
        if [ -L "$path" ] && [[ "$(readlink "$path")" == "$APP_VENV/bin/"* ]]; then
            rm -f "$path"
            say_removed "$path"
        elif [ -e "$path" ] || [ -L "$path" ]; then
            echo "  kept $path: it was replaced since the install"
        fi
    done < <(entries link)
    while IFS= read -r path; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -f "$path"
            say_removed "$path"
        fi
    done < <(entries file)
    # the venv even without a manifest, but only if it is one
    if [ -f "$APP_VENV/pyvenv.cfg" ]; then
        rm -rf "$APP_VENV"
        say_removed "$APP_VENV"
    fi
    while IFS= read -r path; do
        settle_cache "$path"
    done < <(entries cache)
    # refresh a GTK icon cache that was there before (install.sh never makes one)
    if [ -f "$ICON_THEME_DIR/icon-theme.cache" ] &&
        command -v gtk-update-icon-cache >/dev/null 2>&1; then
        gtk-update-icon-cache -q -t -f "$ICON_THEME_DIR" 2>/dev/null || true
    fi
    if [ -e "$AUTOSTART_FILE" ]; then
        rm -f "$AUTOSTART_FILE"
        say_removed "$AUTOSTART_FILE (start at login)"
    fi
    rm -f "$MANIFEST" "$APP_HOME/pip.log"
    # folders last, the deepest first, and only if nothing else lives in them now
    while IFS= read -r path; do
        rmdir "$path" 2>/dev/null || true
    done < <(entries dir | LC_ALL=C sort -r)

    if [ "$purge" = 1 ]; then
        if [ -e "$USER_DATA" ]; then
            rm -rf "$USER_DATA"
            say_removed "$USER_DATA (your identity key and settings)"
        fi
        echo "mfsync is uninstalled, your data in $USER_DATA too."
    elif [ -e "$USER_DATA" ]; then
        echo "mfsync is uninstalled. Your data is kept in $USER_DATA (identity key, settings,"
        echo "trusted hosts): a reinstall uses it again. uninstall.sh --purge removes it too."
    else
        echo "mfsync is uninstalled."
    fi
}

main "$@"
