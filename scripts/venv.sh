# shellcheck shell=bash
# Sourced by ./run and ./test: make .venv (once) and keep it in step with pyproject.toml.
# Usage: ensure_venv [EXTRA]   (EXTRA is an optional-dependency group such as "test")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

pick_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "mfsync needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

# pip's chatter goes to a log that is shown only when pip fails.
quiet_pip() {
    local log="$VENV/pip.log"
    if ! "$VENV/bin/python" -m pip --disable-pip-version-check "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "pip $* failed (log: $log)" >&2
        return 1
    fi
}

ensure_venv() {
    local extra="${1:-}"
    local spec="$ROOT"
    [ -n "$extra" ] && spec="${ROOT}[$extra]"
    if [ ! -x "$VENV/bin/python" ]; then
        local py
        py="$(pick_python)"
        echo "Creating $VENV with $py ..." >&2
        "$py" -m venv "$VENV"
        quiet_pip install --upgrade pip
    fi
    # Reinstall only when pyproject.toml or the wanted extra changed since the last install.
    local stamp="$VENV/.mfsync-installed-$extra"
    local want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "Installing mfsync${extra:+ with [$extra]} into $VENV ..." >&2
        quiet_pip install -e "$spec"
        echo "$want" >"$stamp"
    fi
}
