#!/usr/bin/env bash
# Find or install Emscripten's emcc. Chatter goes to stderr; on success the
# last line on stdout is the absolute path of emcc:
#     EMCC=$(bash scripts/install_emsdk.sh | tail -1)
set -euo pipefail

EMSDK_REPO=https://github.com/emscripten-core/emsdk
EMSDK_DIR=${EMSDK_DIR:-$HOME/.emsdk}
NET_TIMEOUT=${NET_TIMEOUT:-10}

usage() {
    cat <<EOF
Usage: $(basename "$0") [--method auto|emsdk|apt] [--help]

Find a working emcc or install one, then print its absolute path as the last
line on stdout (everything else goes to stderr).

  --method auto   (default) 1. an emcc already present: \$EMCC,
                  \$EMSDK/upstream/emscripten/emcc, or emcc on PATH;
                  2. the official emsdk, if $EMSDK_REPO answers
                  within ${NET_TIMEOUT}s (checkout in \$EMSDK_DIR, default ~/.emsdk);
                  3. the Debian/Ubuntu package (apt-get install emscripten).
  --method emsdk  only the emsdk (reuses an installed \$EMSDK_DIR checkout).
  --method apt    only the Debian/Ubuntu package.
  --help          show this help.
EOF
}

log() { echo "install_emsdk: $*" >&2; }

# Absolute path of $1 if it exists and `$1 -dumpversion` works; sets VERSION.
check_emcc() {
    local p=$1
    [[ -n $p && -f $p && -x $p ]] || return 1
    [[ $p == /* ]] || p="$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
    VERSION=$("$p" -dumpversion 2>/dev/null </dev/null) || return 1
    [[ -n $VERSION ]] || return 1
    EMCC_PATH=$p
}

debian_hint() {
    if [[ $(readlink -f "$EMCC_PATH") == /usr/share/emscripten/* ]]; then
        log "hint: Debian's emcc needs NODE_PATH=/usr/share/nodejs for its JS optimizer (JS output only)"
    fi
}

try_existing() {
    local c
    for c in "${EMCC:-}" "${EMSDK:+$EMSDK/upstream/emscripten/emcc}" "$(command -v emcc 2>/dev/null || true)"; do
        [[ -n $c ]] || continue
        if check_emcc "$c"; then
            log "using emcc $VERSION at $EMCC_PATH (already installed)"
            debian_hint
            return 0
        fi
        log "ignoring $c: it does not run 'emcc -dumpversion'"
    done
    return 1
}

try_emsdk() {
    local emcc="$EMSDK_DIR/upstream/emscripten/emcc"
    if [[ -x $EMSDK_DIR/emsdk ]] && check_emcc "$emcc"; then
        log "using emcc $VERSION at $EMCC_PATH (emsdk in $EMSDK_DIR, already installed)"
        log "to get it on PATH: source \"$EMSDK_DIR/emsdk_env.sh\""
        return 0
    fi
    command -v git >/dev/null || { log "emsdk: git is not installed"; return 1; }
    log "emsdk: checking that $EMSDK_REPO is reachable (${NET_TIMEOUT}s time-out)"
    if ! GIT_TERMINAL_PROMPT=0 timeout -k 2 "$NET_TIMEOUT" \
            git ls-remote --heads "$EMSDK_REPO" >/dev/null 2>&1 </dev/null; then
        log "emsdk: $EMSDK_REPO is not reachable (no network?)"
        return 1
    fi
    if [[ ! -x $EMSDK_DIR/emsdk ]]; then
        log "emsdk: cloning into $EMSDK_DIR"
        git clone --depth 1 "$EMSDK_REPO" "$EMSDK_DIR" >&2 || return 1
    fi
    log "emsdk: installing and activating latest (this downloads several hundred MB)"
    (
        cd "$EMSDK_DIR"
        ./emsdk install latest && ./emsdk activate latest
        # shellcheck disable=SC1091
        source ./emsdk_env.sh
    ) >&2 || { log "emsdk: install/activate failed"; return 1; }
    check_emcc "$emcc" || { log "emsdk: $emcc does not run after install"; return 1; }
    log "using emcc $VERSION at $EMCC_PATH (installed with emsdk)"
    log "to get it on PATH: source \"$EMSDK_DIR/emsdk_env.sh\""
}

try_apt() {
    command -v apt-get >/dev/null || { log "apt: apt-get not found (not Debian/Ubuntu)"; return 1; }
    local -a sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { log "apt: not root and sudo is not installed"; return 1; }
        sudo=(sudo)
    fi
    log "apt: apt-get update && apt-get install -y emscripten"
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update \
           && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y emscripten; } \
           </dev/null >&2; then
        log "apt: installing the emscripten package failed"
        return 1
    fi
    local c
    for c in /usr/bin/emcc "$(command -v emcc 2>/dev/null || true)"; do
        if check_emcc "$c"; then
            log "using emcc $VERSION at $EMCC_PATH (Debian package)"
            debian_hint
            return 0
        fi
    done
    log "apt: the emscripten package is installed but emcc does not run:"
    /usr/bin/emcc -dumpversion </dev/null >&2 || true
    return 1
}

method=auto
while [[ $# -gt 0 ]]; do
    case $1 in
        --method) [[ $# -ge 2 ]] || { log "--method needs a value"; usage >&2; exit 2; }; method=$2; shift 2 ;;
        --method=*) method=${1#--method=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) log "unknown argument: $1"; usage >&2; exit 2 ;;
    esac
done

EMCC_PATH='' VERSION=''
case $method in
    auto) try_existing || try_emsdk || try_apt || {
              log "error: no working emcc found, and neither emsdk nor apt could install one"
              log "install Emscripten by hand (https://emscripten.org/docs/getting_started/downloads.html) and set EMCC=/path/to/emcc"
              exit 1; } ;;
    emsdk) try_emsdk || { log "error: could not install emcc with emsdk (try --method apt)"; exit 1; } ;;
    apt) try_apt || { log "error: could not install emcc with apt (try --method emsdk)"; exit 1; } ;;
    *) log "unknown method: $method"; usage >&2; exit 2 ;;
esac
echo "$EMCC_PATH"
