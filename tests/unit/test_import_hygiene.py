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
        [sys.executable, "-c", BLOCK.format(path=str(path))], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    loaded = eval(proc.stdout)
    assert all(m == "embind_py" or m.startswith("embind_py.runtime") for m in loaded), loaded
