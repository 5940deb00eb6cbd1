#!/usr/bin/env bash
# The Debian packages the desktop app needs at run time: the libraries Qt's X11 platform plugin
# and Qt's GUI libraries load. The list is mfsync.gui.platform_check.LIBRARIES (the app checks
# the same libraries before it starts Qt, on any distribution). Installs what is missing where it
# runs as root; otherwise asks before using sudo on a terminal, or prints the one command to run.
# Never fails the caller: without the packages the app itself explains what to install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v dpkg-query >/dev/null 2>&1 || exit 0  # not Debian or Ubuntu: the app explains
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 || exit 0
mapfile -t PACKAGES < <(PYTHONPATH="$ROOT/app" "$PYTHON" -c \
    'from mfsync.gui.platform_check import desktop_packages; print(*desktop_packages(), sep="\n")')
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
install=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing the libraries the desktop app needs: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
        echo "warning: could not install them; run as root: ${install[*]}" >&2
    exit 0
fi
echo "The desktop app needs these Debian packages, which are not installed: ${missing[*]}" >&2
if [ -t 0 ] && [ -t 2 ] && command -v sudo >/dev/null 2>&1; then
    read -r -p "Install them now with 'sudo ${install[*]}'? [y/N] " answer
    if [[ "$answer" =~ ^[Yy] ]]; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive "${install[@]}" ||
            echo "warning: the installation failed" >&2
        exit 0
    fi
fi
echo "Install them with: sudo ${install[*]}" >&2
