#!/usr/bin/env bash
# Debian packages the tests need: iproute2 (network namespaces for the end-to-end tests), the
# libraries Qt loads, and for the desktop smoke test and scripts/screenshots.py an X server
# without a screen (xvfb), a tray host (trayer), xwininfo (x11-utils), xdotool, ImageMagick's
# `import` for screenshots, the xcb libraries Qt's X11 platform plugin loads, and a font.
# Installs only what is missing, and only where apt-get and root are at hand.
set -euo pipefail
PACKAGES=(
    iproute2 procps
    libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0
    xvfb trayer x11-utils xdotool imagemagick fonts-dejavu-core
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0
    desktop-file-utils appstream  # validate the menu entry and AppStream metadata (tests/install)
)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 0
fi
echo "Installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
