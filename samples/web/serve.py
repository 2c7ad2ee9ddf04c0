"""Serve the web sample locally: Pyodide runs samples/mathlib's demo.py in the browser.

    python samples/web/serve.py [--port 8000] [--out DIR] [--pyodide DIR]

Stages everything the page loads into `--out` (default samples/web/out): Pyodide's files
(from `--pyodide`, default: what scripts/install_pyodide.sh installs), embind-py's own
wheel (built here with pip, offline), and mathlib.py + mathlib.wasm built by
`embind-py build` with demo.py beside them; then serves that folder on 127.0.0.1 only and
prints the URL. `--port 0` picks a free port.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLE = ROOT / "samples" / "mathlib"


def build_wheel(dest: Path) -> Path:
    """embind-py's pure-Python wheel, built by pip from a copy of the sources (no network)."""
    with tempfile.TemporaryDirectory(prefix="embind-py-src-") as tmp:
        src = Path(tmp)
        shutil.copytree(ROOT / "embind_py", src / "embind_py", ignore=shutil.ignore_patterns("__pycache__"))
        for f in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / f, src / f)
        pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        subprocess.run([*pip, "-w", str(dest), str(src)], check=True, timeout=300, stdin=subprocess.DEVNULL)
    return max(dest.glob("embind_py-*-py3-none-any.whl"), key=lambda p: p.stat().st_mtime)


def find_pyodide() -> Path:
    res = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_pyodide.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("PYODIDE_DIR="))
    return Path(line.split("=", 1)[1])


def stage(out: Path, pyodide: Path) -> Path:
    """Write the site into `out`: index.html, manifest.json, pyodide/, the wheel, app/."""
    if out.exists():
        shutil.rmtree(out)
    (out / "app").mkdir(parents=True)
    shutil.copy(HERE / "index.html", out / "index.html")
    shutil.copytree(
        pyodide, out / "pyodide", ignore=shutil.ignore_patterns("*.map", "*.d.ts", "node_modules")
    )
    wheel = build_wheel(out)
    for f in ("mathlib.c", "mathlib.h", "demo.py"):
        shutil.copy(SAMPLE / f, out / "app" / f)
    cli = Path(sys.executable).with_name("embind-py")
    subprocess.run(
        [str(cli), "build", str(out / "app" / "mathlib.c"), "-o", str(out / "app")],
        check=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    files = ["mathlib.py", "mathlib.wasm", "demo.py"]
    (out / "manifest.json").write_text(json.dumps({"wheel": wheel.name, "files": files}))
    return out


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
    }

    def log_message(self, format: str, *args: object) -> None:  # quiet: one line per request is noise
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--pyodide", type=Path, default=None, help="folder holding pyodide.mjs")
    args = ap.parse_args(argv)
    site = stage(args.out.resolve(), args.pyodide or find_pyodide())
    handler = functools.partial(_Handler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
        print(f"serving http://127.0.0.1:{httpd.server_address[1]}/", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
