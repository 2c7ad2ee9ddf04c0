"""Without any emcc, the CLI says where to get one, in one paragraph, and exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_no_emcc_anywhere(tmp_path: Path) -> None:
    (tmp_path / "lib.h").write_text("int one(void);\n")
    (tmp_path / "lib.c").write_text('#include "lib.h"\nint one(void) { return 1; }\n')
    env = {k: v for k, v in os.environ.items() if k not in ("EMCC", "EMSDK")}
    env["PATH"] = str(tmp_path / "empty-bin")  # nothing on PATH: no emcc to find
    proc = subprocess.run(
        [sys.executable, "-m", "embind_py.cli", "build", "lib.c"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "emcc" in proc.stderr and "scripts/install_emsdk.sh" in proc.stderr
    assert proc.stderr.count("\n") == 1  # one paragraph, one line
    assert not (tmp_path / "lib.py").exists()
