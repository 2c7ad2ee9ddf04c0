#!/usr/bin/env bash
# Install what the Pyodide and browser tests need, once per machine, into a cache:
#   - the npm registry's `pyodide` package (pinned below) under $EMBIND_PY_WEB_CACHE
#     (default ${XDG_CACHE_HOME:-~/.cache}/embind-py-web), with `npm install --prefix`
#     (npm's own download cache inside it too);
#   - Debian's `chromium` (apt-get), driven by Python Playwright through executable_path
#     (Playwright itself comes from PyPI with the test extras; it never downloads a browser).
# Idempotent: a second run only checks. Chatter goes to stderr; stdout's last two lines are
#     PYODIDE_DIR=<folder holding pyodide.mjs>
#     CHROMIUM=<absolute path of the chromium binary>
set -euo pipefail

PYODIDE_VERSION=${PYODIDE_VERSION:-314.0.7}
CACHE=${EMBIND_PY_WEB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/embind-py-web}
PREFIX="$CACHE/pyodide-$PYODIDE_VERSION"
PYODIDE_DIR="$PREFIX/node_modules/pyodide"

log() { echo "install_pyodide: $*" >&2; }
die() { log "$*"; exit 1; }

command -v node >/dev/null || die "Node.js is needed (node not on PATH); on Debian: apt-get install -y nodejs npm"
command -v npm >/dev/null || die "npm is needed (npm not on PATH); on Debian: apt-get install -y npm"

if [[ -f $PYODIDE_DIR/pyodide.mjs && -f $PYODIDE_DIR/pyodide.asm.wasm && -f $PYODIDE_DIR/python_stdlib.zip ]]; then
    log "pyodide $PYODIDE_VERSION already in $PYODIDE_DIR"
else
    log "installing pyodide $PYODIDE_VERSION from npm into $PREFIX"
    mkdir -p "$PREFIX"
    # --no-save: no package.json/lock written; timeouts so a dead registry fails instead of hanging.
    timeout -k 5 300 npm install --prefix "$PREFIX" --cache "$CACHE/npm-cache" --no-save --no-audit --no-fund \
        --fetch-timeout=60000 --fetch-retries=2 "pyodide@$PYODIDE_VERSION" >&2 \
        || die "npm install pyodide@$PYODIDE_VERSION failed"
    [[ -f $PYODIDE_DIR/pyodide.mjs ]] || die "npm installed no $PYODIDE_DIR/pyodide.mjs"
fi

find_chromium() {
    local c
    for c in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        [[ -n $c && -x $c ]] && { CHROMIUM_PATH=$c; return 0; }
    done
    return 1
}
if find_chromium; then
    log "chromium already at $CHROMIUM_PATH"
else
    command -v apt-get >/dev/null || die "chromium is needed: set \$CHROMIUM to a Chromium binary"
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    log "installing Debian's chromium with apt-get"
    # apt-get waits for other apt runs holding the lock, at most 5 minutes.
    apt_get() { timeout -k 5 600 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=300 "$@" >&2; }
    apt_get install -y --no-install-recommends chromium \
        || { apt_get update && apt_get install -y --no-install-recommends chromium; } \
        || die "apt-get install chromium failed"
    find_chromium || die "apt-get installed chromium but no /usr/bin/chromium"
fi
echo "PYODIDE_DIR=$PYODIDE_DIR"
echo "CHROMIUM=$CHROMIUM_PATH"
