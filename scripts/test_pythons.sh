#!/usr/bin/env bash
# The smoke set (tests/e2e/test_smoke.py: build, import, call, callbacks, limits, Ctrl-C) on
# every CPython 3.10-3.13 found on this machine other than the one given (the default, which
# runs the whole suite): `python3.X` on PATH, and pyenv's versions. One cached venv per
# version (.venv-py3.X), re-made when the requirements change. A machine with no other
# version runs nothing. Usage: test_pythons.sh DEFAULT_PYTHON (EMCC set, as scripts/test.sh does).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEFAULT_VERSION="$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

find_python() {  # the newest interpreter of version $1 that runs, or nothing
    local v="$1" c
    local candidates=()
    command -v "python$v" >/dev/null && candidates+=("$(command -v "python$v")")
    if command -v pyenv >/dev/null; then
        # pyenv's bare `python3.X` shim refuses unless that version is selected: call it directly.
        while IFS= read -r c; do candidates+=("$c"); done < <(
            ls -d "$(pyenv root)/versions/$v".*/bin/python3 2>/dev/null | sort -V -r
        )
    fi
    for c in "${candidates[@]}"; do
        if [ "$("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$v" ]; then
            echo "$c"
            return
        fi
    done
}

# What the smoke set needs, read from pyproject.toml: the dependencies and the pytest extras.
# Installed by the default Python's pip into each venv (no pip, no build of embind-py there:
# the tests import it from this folder), which keeps a fresh machine's first run short.
REQS="$("$1" -c '
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + [r for r in p["optional-dependencies"]["test"] if r.startswith("pytest")]))
')"
stamp="$(printf '%s' "$REQS" | sha256sum | cut -c1-16)"

make_venv() {  # $1 = interpreter, $2 = venv folder (made afresh)
    rm -rf "$2"
    "$1" -m venv --without-pip "$2" >&2
    printf '%s\n' "$REQS" >"$2/requirements.txt"
    "$DEFAULT" -m pip --python "$2/bin/python" install --quiet -r "$2/requirements.txt" >&2
    echo "$stamp" >"$2/.embind-py-stamp"
}

DEFAULT="$1"
versions=()
for v in 3.10 3.11 3.12 3.13; do
    [ "$v" = "$DEFAULT_VERSION" ] && continue
    py="$(find_python "$v")"
    [ -n "$py" ] || continue
    versions+=("$v")
    venv="$ROOT/.venv-py$v"
    if [ "$(cat "$venv/.embind-py-stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "== Python $v: venv $venv ($py)" >&2
        make_venv "$py" "$venv" &  # the downloads overlap; the tests below run one at a time
    fi
done
wait

status=0
for v in "${versions[@]}"; do
    venv="$ROOT/.venv-py$v"
    echo "== pytest smoke on Python $v" >&2
    if [ "$(cat "$venv/.embind-py-stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "could not set up $venv" >&2
        status=1
        continue
    fi
    if ! PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        tests/e2e/test_smoke.py; then
        echo "smoke tests failed on Python $v" >&2
        status=1
    fi
done
exit "$status"
