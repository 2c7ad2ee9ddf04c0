"""Every sample builds with the CLI and its demo script runs against the generated bindings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
LIBS = sorted(
    p.name for p in SAMPLES.iterdir() if (p / f"{p.name}.c").is_file() and (p / "demo.py").is_file()
)

EXPECT = {
    "mathlib": [
        "gcd(1071, 462) = 21",
        "fibonacci: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]",
        "mean=5.0 variance=4.0",
    ],
    "textkit": [
        "4 words",
        "desserts",
        "== inventory ==",
        "trap: wasm trap in C function divide()",
        "code 7",
    ],
}


@pytest.mark.parametrize("name", LIBS)
def test_sample(name: str, tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / name, tmp_path / name)
    d = tmp_path / name
    res = run_cli("build", d / f"{name}.c", "-o", d)
    assert res.exit_code == 0, res.output
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(d), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "demo.py"], cwd=d, capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for line in EXPECT.get(name, []):
        assert line in proc.stdout
