"""embind-py under Pyodide: the cost of the generated wrapper over a bare call, in one run.

    python benchmarks/web.py            # about 20 s once Pyodide is installed
    python benchmarks/web.py --quick    # fewer repetitions

Builds benchmarks/bench.c with embind-py, installs embind-py's own wheel into Pyodide
(scripts/install_pyodide.sh provides Pyodide; tests/web/run_pyodide.mjs runs it in
Node.js), and times, in alternation within one Pyodide process, `lib.add(1, 2)` through
the generated wrapper against the very same WebAssembly export called directly through
Pyodide's FFI. The timer is benchmarks/run.py's `paired_times`, sent into Pyodide as is.
Target: the wrapper at most 1.5x the direct call.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import import_file, paired_times  # noqa: E402
from embind_py.config import Options, make_config  # noqa: E402
from embind_py.pipeline import build  # noqa: E402

TARGET = 1.5

_PROGRAM = """
import json, statistics, time
from collections.abc import Callable
from typing import Any

{timer}

import bench
from embind_py import runtime

lib = bench.load()
direct = lib._be.func("add")  # the instance's own WebAssembly export, as Pyodide's FFI gives it
assert runtime.backend_name() == "pyodide" and lib.add(1, 2) == 3 and direct(1, 2) == 3
(gen, raw, mod), (_, raw_over_gen, mod_over_gen) = paired_times(
    [lambda: lib.add(1, 2), lambda: direct(1, 2), lambda: bench.add(1, 2)], {loops}, {repeats}
)
print("RESULT", json.dumps({{"wrapper": gen, "direct": raw, "module": mod,
                            "ratio": 1 / raw_over_gen, "module_ratio": mod_over_gen / raw_over_gen}}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    loops, repeats = (5_000, 5) if args.quick else (20_000, 9)

    serve = import_file(ROOT / "samples" / "web" / "serve.py", "embind_web_serve")
    tmp = Path(tempfile.mkdtemp(prefix="embind-py-webbench-"))
    try:
        print(f"building in {tmp} ...", file=sys.stderr)
        mods = tmp / "mods"
        build(make_config([HERE / "bench.c"], Options(headers=(HERE / "bench.h",), out=mods), root=HERE))
        for extra in mods.iterdir():
            if extra.suffix not in (".py", ".wasm"):
                extra.unlink()
        wheel = serve.build_wheel(tmp)
        pyodide = serve.find_pyodide()
        code = _PROGRAM.format(timer=inspect.getsource(paired_times), loops=loops, repeats=repeats)
        node = shutil.which("node") or "node"
        runner = ROOT / "tests" / "web" / "run_pyodide.mjs"
        cmd = [node, str(runner), "--pyodide", str(pyodide), "--wheel", str(wheel), "--path", str(mods)]
        res = subprocess.run(
            [*cmd, "--code", code, "--timeout", "600"],
            capture_output=True, text=True, timeout=620, stdin=subprocess.DEVNULL, env=os.environ,
        )
        if res.returncode != 0:
            print(res.stdout[-3000:], res.stderr[-3000:], file=sys.stderr)
            return 1
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT "))
        r = json.loads(line[len("RESULT ") :])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("scalar call under Pyodide (Node.js), int add(int, int), timed in alternation")
    print(f"  generated wrapper (instance)     {r['wrapper'] * 1e6:9.3f} µs")
    print(f"  generated wrapper (module)       {r['module'] * 1e6:9.3f} µs")
    print(f"  the export through Pyodide's FFI {r['direct'] * 1e6:9.3f} µs")
    ok = r["ratio"] <= TARGET
    print("\ntargets")
    print(f"  [{'PASS' if ok else 'MISS'}] generated scalar call <= {TARGET}x the export called "
          f"through Pyodide's FFI: {r['ratio']:.2f}x (module-level function {r['module_ratio']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
