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
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from embind_py import toolchain
from tests.conftest import import_file, read_line, run_cli
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
def serve() -> ModuleType:
    """samples/web/serve.py, which stages and serves the web sample (and builds the wheel)."""
    return import_file(ROOT / "samples" / "web" / "serve.py", "embind_web_serve")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory, serve: ModuleType) -> Path:
    """embind-py's own pure-Python wheel, built by pip from a copy of the sources (offline)."""
    whl: Path = serve.build_wheel(tmp_path_factory.mktemp("wheel"))
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


def test_web_sample_in_chromium(web_tools: dict[str, Path], serve: ModuleType, tmp_path: Path) -> None:
    """samples/web served on 127.0.0.1 and opened in headless Chromium: the page shows what C computed."""
    from playwright.sync_api import sync_playwright

    cmd = [sys.executable, ROOT / "samples" / "web" / "serve.py", "--port", "0", "--out", tmp_path / "site"]
    cmd += ["--pyodide", web_tools["PYODIDE_DIR"]]
    log = tmp_path / "serve.log"  # a file, not a pipe nobody reads: pip and emcc chatter fill those
    with log.open("wb") as err:
        argv = [str(c) for c in cmd]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    try:
        url = _read_url(proc, timeout=300, log=log)
        with sync_playwright() as p:
            # Debian's Chromium, not one Playwright downloads; as root it needs --no-sandbox, and
            # containers often have a tiny /dev/shm.
            chromium = str(web_tools["CHROMIUM"])
            flags = ["--no-sandbox", "--disable-dev-shm-usage"]
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=flags, timeout=60_000)
            try:
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url, timeout=60_000)
                settled = "/^(done|failed)/.test(document.getElementById('status').textContent)"
                page.wait_for_function(settled, timeout=120_000)
                status = page.inner_text("#status")
                text = page.inner_text("#output")
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert status == "done", f"{status}\n{text}\n{errors}"
    for want in (
        "backend: pyodide",
        "gcd(1071, 462) = 21",
        "3x^2 + 2x + 1 at x=2: 17.0",
        "fibonacci: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]",
        "mean=5.0 variance=4.0",
        "primes below 30: [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]",
        "OverflowError:",
    ):
        assert want in text, f"{want!r} not in the page:\n{text}"


def _read_url(proc: subprocess.Popen[bytes], timeout: float, log: Path) -> str:
    """The URL serve.py prints once the site is staged (it stages first: a build and a wheel)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        line = read_line(proc.stdout, left).decode()
        if not line:
            break
        if line.startswith("serving "):
            return line.split()[1]
    tail = log.read_text(errors="replace")[-3000:]
    raise AssertionError(f"serve.py printed no URL within {timeout} s (exit {proc.poll()}):\n{tail}")


def test_only_the_wasmtime_backend_imports_wasmtime() -> None:
    """The seam holds: outside `_backend/wasmtime.py` and the modules only it uses, no runtime
    module imports wasmtime (under Pyodide there is none; the Node.js run proves it too)."""
    import ast

    runtime = ROOT / "embind_py" / "runtime"
    allowed = {"_backend/wasmtime.py", "_fastcall.py", "_cache.py"}
    offenders = []
    for path in sorted(runtime.rglob("*.py")):
        rel = path.relative_to(runtime).as_posix()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "wasmtime" for n in names) and rel not in allowed:
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders
    code = "import sys, embind_py.runtime; print('embind_py.runtime._backend.pyodide' in sys.modules)"
    proc = _run(sys.executable, "-c", code, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr
