#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Install mfsync for the current user, without root, from the checkout this script lives in:
# a virtual environment in ~/.local/share/mfsync/venv, the commands mfsync and mfsync-gui in
# ~/.local/bin, a menu entry, an icon, systemd user units and the file managers' "Send with
# mfsync…" and "Share with mfsync" (paths.sh has the exact places, XDG variables apply).
#
# Run it again to upgrade after `git pull`: everything is refreshed and what the new version no
# longer installs is removed. Every file and folder it creates is listed in
# ~/.local/share/mfsync/installed-files, which installer/linux/uninstall.sh removes exactly.
# It never replaces a file it did not create.
#
# pip's own variables apply: PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR installs offline from wheels.
# PYTHON=/path/to/python picks the interpreter (default: the newest python3.11+ on PATH).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=paths.sh
source "$HERE/paths.sh"
# for pick_python, the same choice of interpreter as ./run and ./test
# shellcheck source=../../scripts/venv.sh
source "$REPO/scripts/venv.sh"

usage() {
    cat <<EOF
Usage: installer/linux/install.sh

Installs (or upgrades) mfsync for $USER_NAME from $REPO:
  $APP_VENV            the program, in a virtual environment
  $BIN_DIR/mfsync, mfsync-gui   the commands
  $APPLICATIONS_DIR/(app id).desktop   the menu entry
  $SYSTEMD_USER_DIR/mfsync.service, mfsync-sync@.service   systemd user units
  "Send with mfsync…", "Share with mfsync" in Dolphin, Nemo and Nautilus
Remove it with installer/linux/uninstall.sh.
EOF
}

# -- what this run and the previous ones created ---------------------------------------------------

# "KIND PATH" lines of this run (see MANIFEST in paths.sh)
CREATED=()
# the paths of this run's files and links, to tell what an upgrade no longer installs
declare -A INSTALLED=()
# set once this run recorded anything: the manifest is then written, even if a later step fails
TOUCHED=0

record() { # KIND PATH
    CREATED+=("$1 $2")
    TOUCHED=1
    if [ "$1" = file ] || [ "$1" = link ]; then
        INSTALLED["$2"]=1
    fi
}

# Whether PATH was created by an earlier run (it is in the manifest).
in_manifest() {
    local line
    for line in "${MANIFEST_LINES[@]}"; do
        [ "${line#* }" = "$1" ] && return 0
    done
    return 1
}

# Whether PATH may be (re)written: it does not exist, or an earlier run made it.
ours() {
    local path="$1"
    [ -e "$path" ] || [ -L "$path" ] || return 0
    in_manifest "$path" && return 0
    # a link into our own venv is ours even if the manifest was lost
    [ -L "$path" ] && [[ "$(readlink "$path")" == "$APP_VENV/bin/"* ]]
}

write_manifest() {
    [ "$TOUCHED" = 1 ] || return 0
    local line lines=()
    # earlier entries still on disk stay listed: a folder made by the first run is ours
    # even though this run found it there
    for line in "${MANIFEST_LINES[@]}" "${CREATED[@]}"; do
        [ -n "$line" ] || continue
        if [ -e "${line#* }" ] || [ -L "${line#* }" ]; then
            lines+=("$line")
        fi
    done
    mkdir -p "$APP_HOME"
    printf '%s\n' "${lines[@]}" | LC_ALL=C sort -u >"$MANIFEST.tmp"
    mv -f "$MANIFEST.tmp" "$MANIFEST"
}

# -- steps -----------------------------------------------------------------------------------------

# make_dir DIR: create DIR and its missing parents, recording each one created
make_dir() {
    local dir="$1" missing=()
    while [ ! -d "$dir" ]; do
        missing=("$dir" "${missing[@]}")
        dir="$(dirname "$dir")"
    done
    for dir in "${missing[@]}"; do
        mkdir "$dir"
        record dir "$dir"
    done
}

# put_file SOURCE TARGET [MODE]: install a copy (mode 644, or MODE) unless TARGET already has
# that content and mode
put_file() {
    local source="$1" target="$2" mode="${3:-644}"
    make_dir "$(dirname "$target")"
    if [ -f "$target" ] && [ ! -L "$target" ] && cmp -s "$source" "$target" &&
        [ "$(stat -c %a "$target")" = "$mode" ]; then
        record file "$target"
        return 0
    fi
    local verb=created
    { [ -e "$target" ] || [ -L "$target" ]; } && verb=updated
    install -m "$mode" "$source" "$target.tmp"
    mv -f "$target.tmp" "$target"
    record file "$target"
    echo "  $verb $target"
}

# put_link TARGET LINK: LINK -> TARGET
put_link() {
    local target="$1" link="$2"
    make_dir "$(dirname "$link")"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
        record link "$link"
        return 0
    fi
    local verb=created
    { [ -e "$link" ] || [ -L "$link" ]; } && verb=updated
    ln -sfn "$target" "$link.tmp"
    mv -Tf "$link.tmp" "$link"
    record link "$link"
    echo "  $verb $link -> $target"
}

# A working venv of Python 3.11+ (a venv whose interpreter went away in a system upgrade is
# made again), then mfsync from a clean copy of the checkout: a build in the checkout itself
# would reuse its build/ folder, where files deleted from the source live on.
install_venv() {
    local python
    if ! "$APP_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        2>/dev/null; then
        python="$(pick_python)"
        make_dir "$APP_HOME"
        rm -rf "$APP_VENV"
        echo "  creating $APP_VENV with $("$python" --version 2>&1)"
        record venv "$APP_VENV"
        "$python" -m venv "$APP_VENV"
    fi
    record venv "$APP_VENV"
    SOURCE_COPY="$(mktemp -d)"
    tar -C "$REPO" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
        --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C "$SOURCE_COPY" -xf -
    local log="$APP_HOME/pip.log"
    echo "  installing mfsync from $REPO into $APP_VENV ..."
    if ! "$APP_VENV/bin/python" -m pip --disable-pip-version-check install --upgrade \
        "$SOURCE_COPY" >"$log" 2>&1; then
        cat "$log" >&2
        die "pip could not install mfsync (log: $log)"
    fi
    rm -f "$log"
}

# the manifest is written however the run ends: a half-done install is still removable
SOURCE_COPY=""
on_exit() {
    [ -z "$SOURCE_COPY" ] || rm -rf "$SOURCE_COPY"
    write_manifest
}


# ARG as one word of a desktop entry's Exec key: quoted as the Desktop Entry spec says when it
# holds a reserved character, % doubled (it starts field codes), then escaped as a string value.
# Character by character: bash's ${//} replacement text means different things across versions.
desktop_exec_word() {
    local arg="$1" reserved=$' \t\n"\'\\><~|&;$*?#()`' quote=0 word="" value="" ch i
    for ((i = 0; i < ${#arg}; i++)); do
        [[ "$reserved" == *"${arg:i:1}"* ]] && quote=1
    done
    for ((i = 0; i < ${#arg}; i++)); do
        ch="${arg:i:1}"
        if [ "$quote" = 1 ] && [[ "$ch" == [\"\`\$\\] ]]; then
            word+="\\$ch"
        elif [ "$ch" = % ]; then
            word+="%%"
        else
            word+="$ch"
        fi
    done
    [ "$quote" = 1 ] && word="\"$word\""
    for ((i = 0; i < ${#word}; i++)); do
        ch="${word:i:1}"
        case "$ch" in
            \\) value+="\\\\" ;;
            $'\n') value+="\\n" ;;
            $'\t') value+="\\t" ;;
            *) value+="$ch" ;;
        esac
    done
    printf '%s' "$value"
}

# substitute TEXT PLACEHOLDER VALUE: TEXT with every PLACEHOLDER replaced (literally)
substitute() {
    local text="$1" placeholder="$2" value="$3" out=""
    while [[ "$text" == *"$placeholder"* ]]; do
        out+="${text%%"$placeholder"*}$value"
        text="${text#*"$placeholder"}"
    done
    printf '%s' "$out$text"
}

install_menu_entry() {
    local template="$REPO/resources/linux/$APP_ID.desktop" rendered
    rendered="$(mktemp)"
    substitute "$(substitute "$(cat "$template")" @EXEC@ \
        "$(desktop_exec_word "$APP_VENV/bin/mfsync-gui")")" @ICON@ "$APP_ID" >"$rendered"
    echo >>"$rendered"
    put_file "$rendered" "$APPLICATIONS_DIR/$APP_ID.desktop"
    rm -f "$rendered"
    # the menu's MIME cache: only worth it if the entry claims types, harmless otherwise
    if command -v update-desktop-database >/dev/null 2>&1; then
        local cache="$APPLICATIONS_DIR/mimeinfo.cache" had=0
        [ -e "$cache" ] && had=1
        update-desktop-database -q "$APPLICATIONS_DIR" 2>/dev/null || true
        if [ "$had" = 0 ] && [ -e "$cache" ]; then record cache "$cache"; fi
    fi
}

# ARG as one word of a systemd unit's command line: quoted when it holds a space or a quote
# (systemd.service(5) "Command lines"), and every "%" doubled (systemd's specifiers).
unit_exec_word() {
    local value="${1//%/%%}"
    if [[ "$value" =~ [[:space:]\"\'\\] ]]; then
        value="${value//\\/\\\\}"
        value="\"${value//\"/\\\"}\""
    fi
    printf '%s' "$value"
}

# The systemd user units, starting this install's mfsync; the user's systemd is told when one
# runs (it reads units again), nothing is enabled.
install_user_units() {
    local template rendered
    for template in "$REPO"/resources/linux/*.service; do
        rendered="$(mktemp)"
        substitute "$(cat "$template")" @MFSYNC@ "$(unit_exec_word "$APP_VENV/bin/mfsync")" \
            >"$rendered"
        echo >>"$rendered"
        put_file "$rendered" "$SYSTEMD_USER_DIR/$(basename "$template")"
        rm -f "$rendered"
    done
    if command -v systemctl >/dev/null 2>&1; then
        systemctl --user daemon-reload >/dev/null 2>&1 || true
    fi
}

# The file managers' "Send with mfsync…" and "Share with mfsync" (FILE_MANAGER_ENTRIES): the
# desktop-entry kinds start the app by its Exec word, the Nautilus scripts by a shell word.
# (Dolphin runs a user's service menu only when it is executable.)
install_file_manager_entries() {
    local entry template target mode word rendered
    for entry in "${FILE_MANAGER_ENTRIES[@]}"; do
        IFS='|' read -r template target mode <<<"$entry"
        if [[ "$template" == *.sh ]]; then
            word="$(printf '%q' "$APP_VENV/bin/mfsync-gui")"
        else
            word="$(desktop_exec_word "$APP_VENV/bin/mfsync-gui")"
        fi
        rendered="$(mktemp)"
        substitute "$(substitute "$(cat "$REPO/resources/linux/$template")" @EXEC@ "$word")" \
            @ICON@ "$APP_ID" >"$rendered"
        echo >>"$rendered"
        put_file "$rendered" "$target" "$mode"
        rm -f "$rendered"
    done
}

install_icons() {
    put_file "$REPO/resources/icons/mfsync.svg" "$ICON_THEME_DIR/scalable/apps/$APP_ID.svg"
    # PNGs too if packaging/render_icons.py drew them (some panels do not draw SVG)
    local png size target
    for png in "$REPO"/build/packaging/icons/hicolor/*/apps/"$APP_ID.png"; do
        [ -f "$png" ] || continue
        size="$(basename "$(dirname "$(dirname "$png")")")"
        target="$ICON_THEME_DIR/$size/apps/$APP_ID.png"
        if ours "$target"; then
            put_file "$png" "$target"
        else
            echo "  kept $target: this installer did not make it"
        fi
    done
    # GTK reads a user icon cache only if it is newer than the folders, and scans them without
    # one: refresh a cache that exists, never create one
    if [ -f "$ICON_THEME_DIR/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1
    then
        gtk-update-icon-cache -q -t -f "$ICON_THEME_DIR" 2>/dev/null || true
    fi
}

# Files and links an earlier version installed and this one does not.
remove_stale() {
    local line kind path
    for line in "${MANIFEST_LINES[@]}"; do
        kind="${line%% *}"
        path="${line#* }"
        if { [ "$kind" = file ] || [ "$kind" = link ]; } && [ -z "${INSTALLED[$path]:-}" ] &&
            { [ -e "$path" ] || [ -L "$path" ]; }; then
            rm -f "$path"
            echo "  removed $path (no longer installed)"
        fi
    done
}

# -- main ------------------------------------------------------------------------------------------

main() {
    case "${1:-}" in
        "") ;;
        -h | --help)
            usage
            return 0
            ;;
        *) die "install.sh takes no arguments (try --help)" ;;
    esac
    local python
    python="$(pick_python)"
    # the app id names the menu entry and the icon; the checkout's mfsync/__init__.py is plain
    APP_ID="$("$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import mfsync
print(mfsync.APP_ID)' "$REPO/app")"
    read_manifest

    # refuse before changing anything
    local path name foreign=()
    for path in "$APPLICATIONS_DIR/$APP_ID.desktop" "$ICON_THEME_DIR/scalable/apps/$APP_ID.svg"
    do
        ours "$path" || foreign+=("$path")
    done
    for name in "${COMMANDS[@]}"; do
        ours "$BIN_DIR/$name" || foreign+=("$BIN_DIR/$name")
    done
    for path in "$REPO"/resources/linux/*.service; do
        path="$SYSTEMD_USER_DIR/$(basename "$path")"
        ours "$path" || foreign+=("$path")
    done
    local entry
    for entry in "${FILE_MANAGER_ENTRIES[@]}"; do
        IFS='|' read -r _ path _ <<<"$entry"
        ours "$path" || foreign+=("$path")
    done
    if [ -e "$APP_VENV" ] && ! in_manifest "$APP_VENV" && [ ! -f "$APP_VENV/pyvenv.cfg" ]; then
        foreign+=("$APP_VENV")
    fi
    if [ "${#foreign[@]}" -gt 0 ]; then
        printf 'install.sh: not installing: these exist and were not made by this installer:\n' >&2
        printf '  %s\n' "${foreign[@]}" >&2
        die "Move them away, then run it again (another mfsync installed with pip?" \
            "\`pip uninstall mfsync\` removes it)."
    fi
    [ -f "$REPO/resources/linux/$APP_ID.desktop" ] ||
        die "no menu entry template $REPO/resources/linux/$APP_ID.desktop in this checkout"

    echo "Installing mfsync for $USER_NAME:"
    trap on_exit EXIT
    make_dir "$APP_HOME"
    install_venv
    for name in "${COMMANDS[@]}"; do
        put_link "$APP_VENV/bin/$name" "$BIN_DIR/$name"
    done
    install_icons
    install_menu_entry
    install_user_units
    install_file_manager_entries
    remove_stale
    write_manifest

    # the version and ports as installed, from the modules that own them
    local version tcp udp
    read -r version tcp udp < <("$APP_VENV/bin/python" -c 'import mfsync
from mfsync.net.discovery import DEFAULT_UDP_PORT
from mfsync.net.server import DEFAULT_TCP_PORT
print(mfsync.__version__, DEFAULT_TCP_PORT, DEFAULT_UDP_PORT)')
    echo "mfsync $version is installed: run mfsync-gui, or open mfsync from the menu."
    echo "Without a window: systemctl --user enable --now mfsync (the app's folders), or"
    echo "  systemctl --user enable --now \"mfsync-sync@\$(systemd-escape --path DIR).service\""
    echo "Everything installed is listed in $MANIFEST; installer/linux/uninstall.sh removes it."
    case ":$PATH:" in
        *":$BIN_DIR:"*) ;;
        *)
            echo "Note: $BIN_DIR is not on your PATH: log out and in again (most distributions"
            echo "add it once it exists) or add it in ~/.profile, or run $BIN_DIR/mfsync."
            ;;
    esac
    cat <<EOF
Other computers reach mfsync on TCP port $tcp (transfers) and UDP port $udp (discovery):
allow both in from your local network if a firewall is on, for example
  sudo ufw allow proto tcp from 192.168.0.0/16 to any port $tcp comment mfsync
  sudo ufw allow proto udp from 192.168.0.0/16 to any port $udp comment mfsync
  sudo firewall-cmd --permanent --add-port=$tcp/tcp --add-port=$udp/udp
  sudo firewall-cmd --reload
EOF
}

main "$@"
