"""The set-up scripts the README's quick start runs: scripts/dev_setup.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from embind_py import toolchain

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_dev_setup_repairs_a_venv_without_pip(tmp_path: Path, emcc: toolchain.Emcc) -> None:
    # What a failed `python3 -m venv` leaves on Debian/Ubuntu without python3-venv:
    # .venv/bin/python but no pip. A re-run (after installing python3-venv) must
    # rebuild it, not die on "No module named pip".
    shutil.copytree(SCRIPTS, tmp_path / "scripts")
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tiny"\nversion = "0"\n[project.optional-dependencies]\ntest = []\n'
        '[tool.setuptools]\npy-modules = ["tiny"]\n'
    )
    (tmp_path / "tiny.py").write_text("")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True, timeout=120
    )
    env = {**os.environ, "EMCC": emcc.command[0], "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "dev_setup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(tmp_path / ".venv" / "bin" / "python")
    python = str(tmp_path / ".venv" / "bin" / "python")
    pip = subprocess.run([python, "-m", "pip", "--version"], check=False, timeout=120)
    assert pip.returncode == 0
