"""Golden files: each tests/golden/<case>/input.h renders to exactly <case>/expected.py.

Run `pytest tests/golden --update-golden` to accept new output (then review the diff).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from embind_py import pipeline, render, toolchain
from embind_py.config import Options, make_config

HERE = Path(__file__).parent
CASES = sorted(p.name for p in HERE.iterdir() if (p / "input.h").is_file())


def generate(case: str, emcc: toolchain.Emcc) -> str:
    d = HERE / case
    # The config's module name is not rendered (`types` itself would be refused: it shadows the stdlib).
    cfg = make_config([d / "input.h"], Options(headers=(d / "input.h",), name=f"{case}_h", out=d), root=d)
    lib = pipeline.parse(cfg, emcc)
    errors = [str(x) for x in lib.diagnostics if x.severity == "error"]
    assert not errors, errors
    return render.render_module(case, lib, ["input.h"], "sha256:golden").text


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, emcc: toolchain.Emcc, request: pytest.FixtureRequest) -> None:
    got = generate(case, emcc)
    expected_path = HERE / case / "expected.py"
    if request.config.getoption("--update-golden") or not expected_path.exists():
        expected_path.write_text(got)
    want = expected_path.read_text()
    if got != want:
        diff = "".join(
            difflib.unified_diff(want.splitlines(True), got.splitlines(True), "expected.py", "generated")
        )
        pytest.fail(f"generated module for {case} differs (accept with --update-golden):\n{diff}")


@pytest.mark.parametrize("case", CASES)
def test_deterministic(case: str, emcc: toolchain.Emcc) -> None:
    assert generate(case, emcc) == generate(case, emcc)
