"""The same generated modules on wasmtime and under Pyodide (Node.js), and the web sample in Chromium.

Real tools throughout: `embind-py build` with emcc, embind-py's own wheel built by pip and
installed into Pyodide with `pyodide.unpackArchive`, the npm registry's Pyodide run by
Node.js, and Debian's Chromium driven headless by Playwright. `scripts/install_pyodide.sh`
installs Pyodide and Chromium (cached); a missing tool fails these tests, never skips them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from embind_py import toolchain
from tests.conftest import import_file, run_cli
from tests.web import cases

ROOT = Path(__file__).resolve().parents[2]
WEB = Path(__file__).resolve().parent
RUNNER = WEB / "run_pyodide.mjs"
PYODIDE_TIMEOUT = 180  # seconds for one Node.js run (Pyodide itself loads in about 2 s)


def _run(*cmd: str | Path, timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [str(c) for c in cmd]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="session")
def web_tools() -> dict[str, Path]:
    """PYODIDE_DIR and CHROMIUM from the project's installer (idempotent; quick once cached)."""
    res = _run("bash", ROOT / "scripts" / "install_pyodide.sh", timeout=900)
    assert res.returncode == 0, f"install_pyodide.sh failed:\n{res.stderr[-3000:]}"
    found = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    tools = {k: Path(found[k]) for k in ("PYODIDE_DIR", "CHROMIUM")}
    assert (tools["PYODIDE_DIR"] / "pyodide.mjs").is_file() and tools["CHROMIUM"].is_file(), tools
    return tools


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """embind-py's own pure-Python wheel, built by pip from a copy of the sources (offline)."""
    src = tmp_path_factory.mktemp("embind-src")
    shutil.copytree(ROOT / "embind_py", src / "embind_py", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    out = tmp_path_factory.mktemp("wheel")
    pip = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q")
    res = _run(*pip, "-w", out, src, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    (whl,) = out.glob("embind_py-*-py3-none-any.whl")
    return whl


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """webcase.py/.wasm and webprog.py/.wasm, built by the CLI, with cases.py beside them."""
    toolchain.find_emcc()  # a missing emcc fails here with its own message
    d = tmp_path_factory.mktemp("webmods")
    for f in ("webcase.c", "webcase.h", "webprog.c", "cases.py"):
        shutil.copy(WEB / f, d / f)
    for src in ("webcase.c", "webprog.c"):
        res = run_cli("build", d / src, "-o", d)
        assert res.exit_code == 0, res.output
    return d


@pytest.fixture(scope="session")
def cpython_modules(built: Path) -> Iterator[tuple[ModuleType, ModuleType]]:
    yield import_file(built / "webcase.py", "webcase"), import_file(built / "webprog.py", "webprog")


def run_pyodide(tools: dict[str, Path], wheel: Path, code: str, *paths: Path) -> str:
    """Run `code` in Pyodide under Node.js with embind-py installed and `paths` on sys.path."""
    node = shutil.which("node")
    assert node, "Node.js (node) is needed for the Pyodide tests"
    args: list[str | Path] = [node, RUNNER, "--pyodide", tools["PYODIDE_DIR"], "--wheel", wheel]
    for p in paths:
        args += ["--path", p]
    res = _run(*args, "--code", code, "--timeout", str(PYODIDE_TIMEOUT - 10), timeout=PYODIDE_TIMEOUT)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_case_on_cpython(name: str, cpython_modules: tuple[ModuleType, ModuleType]) -> None:
    cases.CASES[name](*cpython_modules)


def test_cases_under_pyodide(web_tools: dict[str, Path], wheel: Path, built: Path) -> None:
    """Every case of cases.py passes inside Pyodide, on the JavaScript engine's WebAssembly."""
    code = "import cases, webcase, webprog\nprint('RESULT', cases.run(webcase, webprog))"
    out = run_pyodide(web_tools, wheel, code, built)
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    report = json.loads(line[len("RESULT ") :])
    assert report["backend"] == "pyodide"
    results = report["results"]
    assert sorted(results) == sorted(cases.CASES)
    failed = {k: v for k, v in results.items() if v != "ok"}
    assert not failed, "\n".join(f"--- {k}\n{v}" for k, v in failed.items())


def test_binary_reader_matches_wasmtime(built: Path) -> None:
    """The signatures the Pyodide backend reads from the wasm bytes are wasmtime's."""
    import wasmtime

    from embind_py.runtime._backend import _binary

    letter = {"i32": "i", "i64": "I", "f32": "f", "f64": "d"}

    def sig(ty: wasmtime.FuncType) -> tuple[str, str]:
        return "".join(letter[str(t)] for t in ty.params), "".join(letter[str(t)] for t in ty.results)

    for name in ("webcase", "webprog"):
        wasm = (built / f"{name}.wasm").read_bytes()
        layout = _binary.read(wasm)
        module = wasmtime.Module(wasmtime.Engine(), wasm)
        want_imports = []
        for imp in module.imports:
            ty = imp.type
            assert isinstance(ty, wasmtime.FuncType)
            want_imports.append((imp.module, imp.name, "func", *sig(ty)))
        assert [tuple(i) for i in layout.imports] == want_imports
        for exp in module.exports:
            ty = exp.type
            if isinstance(ty, wasmtime.FuncType):
                assert layout.exports[exp.name] == ("func", *sig(ty)), exp.name
            else:
                assert layout.exports[exp.name][0] in ("memory", "table", "global")
    with pytest.raises(ValueError, match="not a wasm module"):
        _binary.read(b"garbage")
