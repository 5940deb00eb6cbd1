#!/usr/bin/env bash
# Build dist/mfsync-VERSION.dmg on macOS: the frozen app (packaging/build.py bundle makes
# dist/mfsync.app, a tray-only app: LSUIElement) beside a link to /Applications, so that the
# user drags one onto the other. Needs hdiutil (part of macOS).
#
# Usage: installer/macos/build_dmg.sh [--skip-bundle]
#   --skip-bundle   package the dist/mfsync.app that is already there instead of building it
# PYTHON=/path/to/python runs packaging/build.py (default: .venv/bin/python, else python3).
#
# The app is not signed with a Developer ID nor notarized: on first start, macOS asks to confirm
# it (Control-click, Open). Starting at login is the app's own switch (a LaunchAgent made from
# resources/macos/net.mfsync.gui.plist); dragging the app to the Trash removes it, ~/.mfsync
# (identity key, settings) stays.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APP="$ROOT/dist/mfsync.app"

die() {
    printf '%s\n' "$*" >&2
    exit 1
}

skip_bundle=0
case "${1:-}" in
    "") ;;
    --skip-bundle) skip_bundle=1 ;;
    -h | --help)
        sed -n '2,9p' "$0"
        exit 0
        ;;
    *) die "unknown argument $1 (try --help)" ;;
esac

[ "$(uname -s)" = Darwin ] || die "build_dmg.sh runs on macOS: it needs hdiutil"
command -v hdiutil >/dev/null || die "hdiutil not found"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    python=python3
    [ -x "$ROOT/.venv/bin/python" ] && python="$ROOT/.venv/bin/python"
fi

if [ "$skip_bundle" = 0 ]; then
    "$python" "$ROOT/packaging/build.py" bundle
fi
[ -d "$APP" ] || die "no $APP: run packaging/build.py bundle on macOS first"

# the version from its single source, mfsync.__version__ (through packaging/layout.py)
version="$("$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import layout
print(layout.version())' "$ROOT/packaging")"
dmg="$ROOT/dist/mfsync-$version.dmg"

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
# ditto keeps what cp may lose in an app bundle: extended attributes, the code signature
ditto "$APP" "$staging/mfsync.app"
ln -s /Applications "$staging/Applications"

rm -f "$dmg"
hdiutil create -volname "mfsync $version" -srcfolder "$staging" -fs HFS+ -format UDZO \
    -ov "$dmg" >&2
echo "$dmg"
