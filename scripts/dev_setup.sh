#!/usr/bin/env bash
# Set up everything embind-py needs on a fresh Debian/Ubuntu machine (Python 3.10+):
# emcc (through scripts/install_emsdk.sh) and a virtualenv in .venv with embind-py
# installed in editable mode with its test extras. Idempotent; prints the venv's python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

EMCC_PATH="$(bash scripts/install_emsdk.sh | tail -n 1)"
export EMCC="$EMCC_PATH"

PY="${PYTHON:-python3}"
make_venv() { rm -rf .venv && "$PY" -m venv .venv >&2; }
# A failed `python3 -m venv` (Debian/Ubuntu without python3-venv) leaves a .venv with
# a python but no pip: check for pip, not for the folder, so a re-run repairs it.
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    if ! make_venv; then
        sudo=()
        [ "$(id -u)" = 0 ] || sudo=(sudo)
        if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then
            echo "dev_setup: 'python3 -m venv' failed; installing python3-venv with apt-get" >&2
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2 || true
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2 || true
        fi
        make_venv || {
            rm -rf .venv
            echo "dev_setup: 'python3 -m venv' failed; on Debian/Ubuntu: apt-get install -y python3-venv" >&2
            exit 1
        }
    fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip >&2
.venv/bin/python -m pip install --quiet -e ".[test]" >&2
echo "dev_setup: emcc at $EMCC_PATH; embind-py installed in .venv" >&2
echo "$ROOT/.venv/bin/python"
