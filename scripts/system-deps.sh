#!/usr/bin/env bash
# Debian packages the tests need: the libraries Qt loads (scripts/desktop-deps.sh, run first),
# iproute2 (network namespaces for the end-to-end tests), and for the desktop smoke test and
# scripts/screenshots.py an X server without a screen (xvfb), a tray host (trayer), xwininfo
# (x11-utils), xdotool, ImageMagick's `import` for screenshots, and a font.
# Installs only what is missing, and only where apt-get and root are at hand.
set -euo pipefail
"$(dirname "$0")/desktop-deps.sh"
PACKAGES=(
    iproute2 procps
    xvfb trayer x11-utils xdotool imagemagick fonts-dejavu-core
    desktop-file-utils appstream  # validate the menu entry and AppStream metadata (tests/install)
    systemd  # systemd-analyze verifies the user units (tests/install/test_systemd_units.py)
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
