#!/usr/bin/env bash
# One command from a fresh machine to a running sample: installs emcc and embind-py
# (scripts/dev_setup.sh), builds samples/${1:-mathlib} with `embind-py build`, runs its demo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAMPLE="${1:-mathlib}"
PYTHON_BIN="$(bash "$ROOT/scripts/dev_setup.sh" | tail -n 1)"
EMCC="$(bash "$ROOT/scripts/install_emsdk.sh" 2>/dev/null | tail -n 1)"
export EMCC
cd "$ROOT/samples/$SAMPLE"
"$(dirname "$PYTHON_BIN")/embind-py" build "$SAMPLE.c"
"$PYTHON_BIN" demo.py
