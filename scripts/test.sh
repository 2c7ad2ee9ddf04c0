#!/usr/bin/env bash
# One command from a fresh machine to a full check: installs emcc and embind-py
# (scripts/dev_setup.sh), then runs lint (ruff), types (mypy --strict) and the tests
# (pytest, with real emcc and wasmtime; and, through scripts/install_pyodide.sh, real
# Pyodide under Node.js and headless Chromium for tests/web). Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON_BIN="$(bash "$ROOT/scripts/dev_setup.sh" | tail -n 1)"
EMCC="$(bash "$ROOT/scripts/install_emsdk.sh" 2>/dev/null | tail -n 1)"
export EMCC
bash "$ROOT/scripts/install_pyodide.sh" >/dev/null
cd "$ROOT"
echo "== ruff" >&2
"$PYTHON_BIN" -m ruff check embind_py tests benchmarks samples
echo "== mypy --strict" >&2
"$PYTHON_BIN" -m mypy --strict embind_py tests
echo "== pytest" >&2
"$PYTHON_BIN" -m pytest "$@"
bash "$ROOT/scripts/test_pythons.sh" "$PYTHON_BIN"
