"""Generated modules and the runtime import nothing but wasmtime and the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK = """
import sys
for name in ("jinja2", "pycparser", "typer", "click"):
    sys.modules[name] = None  # importing any of them now raises ImportError
import importlib.util
spec = importlib.util.spec_from_file_location("geom", {path!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
print(sorted(k for k in sys.modules if k.startswith("embind_py")))
"""


def test_generated_module_needs_only_the_runtime() -> None:
    path = ROOT / "samples" / "project" / "src" / "geompkg" / "geom.py"
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK.format(path=str(path))], capture_output=True, text=True, cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = eval(proc.stdout)
    assert all(m == "embind_py" or m.startswith("embind_py.runtime") for m in loaded), loaded


CHECK = """
import sys
from embind_py import cli
sys.argv = ["embind-py", *sys.argv[1:]]
try:
    cli.run()
except SystemExit as e:
    assert not e.code, e.code
heavy = ("pycparser", "jinja2", "wasmtime", "pydantic", "embind_py.pipeline", "embind_py.runtime")
print(sorted(k for k in sys.modules if k.split(".")[0] in heavy or k in heavy))
"""


def test_check_and_noop_build_stay_light() -> None:
    """`check` of current bindings and a no-op `build` load neither the parser, the renderer nor
    wasmtime (a pre-commit hook runs on every commit), nor pydantic (typer's value conversion,
    which `cli._PLAIN` replaces); how long they take is a benchmark figure (`benchmarks/run.py`),
    not a timed assertion here."""
    project = ROOT / "samples" / "project"
    for command in ("check", "build"):
        proc = subprocess.run(
            [sys.executable, "-c", CHECK, command, "--project", str(project)],
            capture_output=True,
            text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        last = proc.stdout.strip().splitlines()[-1]
        assert last == "[]", proc.stdout
