"""embind-py benchmarks: side-by-side figures from one run, with medians and ratios.

    python benchmarks/run.py            # all benchmarks (about a minute)
    python benchmarks/run.py --quick    # fewer repetitions

Builds benchmarks/bench.c twice, with embind-py (emcc -> wasm + generated module)
and with gcc -O2 as a native shared library for ctypes, then measures:
per-call cost (generated wrapper vs wasmtime-py's Func.__call__ vs the raw
unchecked call vs ctypes on native code), string arguments and results, a
16 MiB buffer round trip, import time of a ~1 MB module cold vs cached, and the
compute ratio of wasm to native on a checksum loop. Each target of the speed
issue is printed with PASS or MISS.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from embind_py import runtime  # noqa: E402
from embind_py.config import Options, make_config  # noqa: E402
from embind_py.pipeline import build  # noqa: E402


def median_time(fn: Callable[[], Any], loops: int, repeats: int) -> float:
    """Median over `repeats` of the mean seconds per call over `loops` calls."""
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - t) / loops)
    return statistics.median(samples)


def paired_times(fns: list[Callable[[], Any]], loops: int, repeats: int) -> tuple[list[float], list[float]]:
    """Median seconds per call of each of `fns`, and the median ratio of each to the first.

    The functions are timed in alternation, round after round, and each ratio is taken
    within a round: on a shared machine a burst of load then slows all of them alike
    instead of skewing whichever was being measured at the time.
    """
    per_fn: list[list[float]] = [[] for _ in fns]
    ratios: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        times = []
        for fn in fns:
            t = time.perf_counter()
            for _ in range(loops):
                fn()
            times.append((time.perf_counter() - t) / loops)
        for i, x in enumerate(times):
            per_fn[i].append(x)
            ratios[i].append(x / times[0])
    return [statistics.median(x) for x in per_fn], [statistics.median(r) for r in ratios]


def median_of(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def big_c_source(n: int) -> str:
    """A C file of `n` small, distinct functions: about 1 MB of wasm for n=6000."""
    parts = ["#include <stdint.h>\n"]
    for i in range(n):
        parts.append(
            f"uint32_t f{i}(uint32_t x, uint32_t y) {{ uint32_t a = x * {i * 2654435761 % 2**32}u + y;"
            f" for (int k = 0; k < (int)(y & 7); k++) a = (a << 5) ^ (a >> 3) ^ {i}u;"
            f" return a ^ (x >> {i % 31 + 1}); }}\n"
        )
    return "".join(parts)


def fmt_us(s: float) -> str:
    return f"{s * 1e6:9.3f} µs"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--build-only", action="store_true", help="only the build figures")
    args = ap.parse_args()
    if args.build_only:
        rows = build_benchmarks(Path(tempfile.mkdtemp(prefix="embind-py-bench-")), 1 if args.quick else 3)
        for label, ok, value in rows:
            print(f"  [{'PASS' if ok else 'MISS'}] {label}: {value}")
        return 0
    loops, repeats = (20_000, 5) if args.quick else (100_000, 9)

    tmp = Path(tempfile.mkdtemp(prefix="embind-py-bench-"))
    os.environ["EMBIND_PY_CACHE"] = str(tmp / "cache")
    print(f"building in {tmp} ...", file=sys.stderr)
    cfg = make_config([HERE / "bench.c"], Options(headers=(HERE / "bench.h",), out=tmp), root=HERE)
    build(cfg)
    bench = import_file(tmp / "bench.py", "bench")
    native_so = tmp / "bench_native.so"
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-o", str(native_so), str(HERE / "bench.c")],
        check=True,
        timeout=120,
    )
    native = ctypes.CDLL(str(native_so))
    native.add.argtypes = (ctypes.c_int, ctypes.c_int)
    native.add.restype = ctypes.c_int
    native.checksum.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    native.checksum.restype = ctypes.c_uint32

    lib = bench.load()
    rows: list[tuple[str, bool, str]] = []

    # -- per-call ---------------------------------------------------------
    from wasmtime import _bindings as wb

    func = lib.exports["add"]
    store = lib.store
    gen_mod = median_time(lambda: bench.add(1, 2), loops, repeats)
    public = median_time(lambda: func(store, 1, 2), loops // 10, repeats)
    vals = (wb.wasmtime_val_raw_t * 2)()
    trap = ctypes.POINTER(wb.wasm_trap_t)()

    def raw_call() -> None:
        vals[0].i32 = 1
        vals[1].i32 = 2
        wb._wasmtime_func_call_unchecked(
            store._context(), ctypes.byref(func._func), vals, 2, ctypes.byref(trap)
        )

    (gen, raw, s_arg, s_res), (_, raw_over_gen, s_ratio, r_ratio) = paired_times(
        [
            lambda: lib.add(1, 2),
            raw_call,
            lambda: lib.str_len("hello, world"),
            lambda: lib.greeting(),
        ],
        loops,
        repeats,
    )
    gen_over_raw = 1 / raw_over_gen
    bare_call, bare_v = lib._caller("add", "ii", "i")

    def bare() -> None:
        bare_v[0].i32 = 1
        bare_v[1].i32 = 2
        bare_call()

    floor = median_time(bare, loops, repeats)
    nat = median_time(lambda: native.add(1, 2), loops, repeats)
    print("\nper call: int add(int, int)")
    print(f"  generated wrapper (instance)   {fmt_us(gen)}")
    print(f"  generated wrapper (module)     {fmt_us(gen_mod)}")
    print(f"  raw unchecked call             {fmt_us(raw)}")
    print(f"  runtime's bare caller (floor)  {fmt_us(floor)}   (no argument checks, no lock)")
    print(f"  wasmtime-py Func.__call__      {fmt_us(public)}")
    print(f"  ctypes, native gcc -O2         {fmt_us(nat)}")
    print(
        f"  ratios: generated/raw = {gen_over_raw:.2f}x   Func.__call__/generated = {public / gen:.1f}x"
        f"   generated/ctypes = {gen / nat:.1f}x"
    )
    rows.append(
        ("generated scalar call <= 1.3x raw unchecked call", gen_over_raw <= 1.3, f"{gen_over_raw:.2f}x")
    )
    rows.append(
        ("generated scalar call >= 8x faster than Func.__call__", public / gen >= 8, f"{public / gen:.1f}x")
    )

    # -- strings ------------------------------------------------------------
    print("\nstrings (timed in alternation with the scalar call)")
    print(f"  const char * argument          {fmt_us(s_arg)}   ({s_ratio:.2f}x the scalar call)")
    print(f"  char * result                  {fmt_us(s_res)}   ({r_ratio:.2f}x the scalar call)")
    rows.append(("string argument call <= 2x the scalar call", s_ratio <= 2, f"{s_ratio:.2f}x"))

    # -- 16 MiB buffer --------------------------------------------------------
    n = 16 * 1024 * 1024
    data = os.urandom(n)
    reps = 5 if args.quick else 11
    expect = native.checksum(data, n)
    assert lib.checksum(data, n) == expect
    t_gen = median_of(lambda: _timed(lambda: lib.checksum(data, n)), reps)
    dst = lib.malloc(n)
    cs_call, cs_v = lib._caller("checksum", "ii", "i")

    def memmove_raw() -> None:
        ctypes.memmove(lib.mem.base + dst, data, n)
        cs_v[0].i32 = dst
        cs_v[1].i32 = n
        cs_call()

    t_raw = median_of(lambda: _timed(memmove_raw), reps)
    print("\n16 MiB buffer in + checksum + result")
    print(f"  generated wrapper (bytes arg)  {t_gen * 1e3:9.3f} ms")
    print(f"  memmove + raw call             {t_raw * 1e3:9.3f} ms   (ratio {t_gen / t_raw:.2f}x)")
    rows.append(
        ("16 MiB buffer round trip <= 1.5x memmove + raw call", t_gen / t_raw <= 1.5, f"{t_gen / t_raw:.2f}x")
    )

    # -- compute -----------------------------------------------------------------
    p = lib.ffi.new("unsigned char[]", n)
    lib.mem.write(p.address, data)
    # interruptible=False: no epoch checks in the compiled loops (no Ctrl-C, interrupt(), timeout).
    fixed = bench.load(interruptible=False)
    q = fixed.ffi.new("unsigned char[]", n)
    fixed.mem.write(q.address, data)
    (t_wasm, t_nat, t_fixed), (_, nat_ratio, fixed_ratio) = paired_times(
        [lambda: lib.checksum(p, n), lambda: native.checksum(data, n), lambda: fixed.checksum(q, n)],
        1,
        reps,
    )
    print("\ncompute: checksum of 16 MiB already in memory (-O2), timed in alternation")
    print(f"  wasm (wasmtime)                {t_wasm * 1e3:9.3f} ms")
    print(f"  native (gcc -O2)               {t_nat * 1e3:9.3f} ms   (wasm/native {1 / nat_ratio:.2f}x)")
    print(f"  wasm, interruptible=False      {t_fixed * 1e3:9.3f} ms   (default/this {1 / fixed_ratio:.2f}x)")
    rows.append(("compute within 1.5x of native gcc -O2", 1 / nat_ratio <= 1.5, f"{1 / nat_ratio:.2f}x"))
    lib.free(dst)

    # -- import time ---------------------------------------------------------------
    big = tmp / "big"
    big.mkdir()
    (big / "bigmod.c").write_text(big_c_source(6000))
    decls = "".join(f"uint32_t f{i}(uint32_t x, uint32_t y);\n" for i in range(6000))
    (big / "bigmod.h").write_text("#include <stdint.h>\n" + decls)
    build(make_config([big / "bigmod.c"], Options(out=big), root=big))
    size = (big / "bigmod.wasm").stat().st_size
    wasm_bytes = (big / "bigmod.wasm").read_bytes()
    cold_runs, warm_runs = [], []
    for i in range(3 if args.quick else 5):
        os.environ["EMBIND_PY_CACHE"] = str(tmp / f"cache-cold-{i}")
        runtime._backend.wasmtime.forget_compiled()
        cold_runs.append(_timed(lambda: runtime.Instance(wasm_bytes)))
        runtime._backend.wasmtime.forget_compiled()  # the disk cache only, not this process's
        warm_runs.append(_timed(lambda: runtime.Instance(wasm_bytes)))
    cold, warm = statistics.median(cold_runs), statistics.median(warm_runs)
    runtime.Instance(wasm_bytes)  # keeps the compiled code in this process
    again = median_of(lambda: _timed(lambda: runtime.Instance(wasm_bytes)), 3 if args.quick else 5)
    print(f"\nimport (instantiate) a {size / 1e6:.2f} MB module")
    print(f"  cold (compile)                 {cold * 1e3:9.3f} ms")
    print(f"  cached (deserialize)           {warm * 1e3:9.3f} ms   ({cold / warm:.1f}x faster)")
    print(f"  another load() in this process {again * 1e3:9.3f} ms   (own engine, copy of the code)")
    rows.append(
        ("cached import of a 1 MB module >= 20x faster than cold", cold / warm >= 20, f"{cold / warm:.1f}x")
    )

    rows += build_benchmarks(tmp, 1 if args.quick else 3)

    print("\ntargets")
    for label, ok, value in rows:
        print(f"  [{'PASS' if ok else 'MISS'}] {label}: {value}")
    return 0


# -- build ----------------------------------------------------------------------------

BUILD_SOURCES = 30
BUILD_FUNCS = 12  # per source


def _lib_source(i: int, salt: int = 0) -> str:
    """One source of the benchmark library: a few functions with loops, enough for -O2 to work on."""
    out = [f'#include "lib.h"\n#include <string.h>\n#include <stdlib.h>\nstatic int k{i} = {salt};\n']
    for j in range(BUILD_FUNCS):
        out.append(
            f"int s{i}_f{j}(const char *s, int n) {{\n"
            f"  int acc = k{i} + {j};\n"
            "  for (int r = 0; r < n; r++)\n"
            "    for (size_t c = 0; c < strlen(s); c++) acc = acc * 31 + s[c] + (r ^ (int)c);\n"
            "  char *copy = malloc(strlen(s) + 1); strcpy(copy, s); acc += copy[0]; free(copy);\n"
            "  return acc;\n}\n"
        )
    return "".join(out)


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run `argv` to its end (killed after ten minutes), and notice that end at once:
    `Popen.wait(timeout=...)`, which `subprocess.run(timeout=...)` uses, polls in sleeps of up
    to 50 ms, which would add up to that much to every figure here."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    killer = threading.Timer(600, proc.kill)
    killer.start()
    try:
        _, status = os.waitpid(proc.pid, 0)  # returns when the child exits (or is killed)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, argv)


def _cli(*args: str | Path, env: dict[str, str]) -> float:
    """The CLI's time, as a user's shell runs it: Python writes and reads bytecode (this
    machine's environment sets PYTHONDONTWRITEBYTECODE, which compiles every module at
    every start)."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t = time.perf_counter()
    _run([sys.executable, "-m", "embind_py", *map(str, args)], env)
    return time.perf_counter() - t


def _emcc(*args: str | Path) -> None:
    _run(["emcc", *map(str, args)])


def build_benchmarks(tmp: Path, repeats: int) -> list[tuple[str, bool, str]]:
    """embind-py build against plain emcc on the same sources, the two in alternation: a cold
    30-source build against compiling them as objects `jobs` at a time plus a link; a rebuild
    after editing one source against compiling that one plus the link; a 5-line library
    against its one plain emcc command; and a no-op build."""
    from embind_py import toolchain

    jobs = toolchain.default_jobs()
    d = tmp / "buildlib"
    d.mkdir()
    names = [f"s{i}_f{j}" for i in range(BUILD_SOURCES) for j in range(BUILD_FUNCS)]
    (d / "lib.h").write_text("".join(f"int {n}(const char *s, int n);\n" for n in names))
    srcs = [d / f"s{i}.c" for i in range(BUILD_SOURCES)]
    for i, src in enumerate(srcs):
        src.write_text(_lib_source(i))
    link = [
        "--no-entry",
        "-O2",
        "-sSTANDALONE_WASM",
        "-sALLOW_MEMORY_GROWTH",
        "--profiling-funcs",
        "-sEXPORTED_FUNCTIONS=" + ",".join("_" + n for n in names),
        "-o",
        d / "plain.wasm",
    ]
    objs = [d / f"s{i}.o" for i in range(BUILD_SOURCES)]

    def plain_cold() -> float:
        t = time.perf_counter()
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda k: _emcc("-c", srcs[k], "-O2", "-o", objs[k]), range(BUILD_SOURCES)))
        _emcc(*objs, *link)
        return time.perf_counter() - t

    def plain_one() -> float:
        t = time.perf_counter()
        _emcc("-c", srcs[0], "-O2", "-o", objs[0])
        _emcc(*objs, *link)
        return time.perf_counter() - t

    out = d / "out"
    argv = ["build", *srcs, "-H", d / "lib.h", "-n", "lib", "-o", out, "-j", str(jobs)]
    cold, plain, one, plain1, noop = [], [], [], [], []
    for r in range(repeats):
        env = {**os.environ, "EMBIND_PY_CACHE": str(tmp / f"build-cache-{r}")}
        plain.append(plain_cold())
        cold.append(_cli(*argv, "--force", env=env))  # a fresh cache: every source compiles
        srcs[0].write_text(_lib_source(0, salt=r + 1))  # an edit: one object to compile again
        one.append(_cli(*argv, env=env))
        plain1.append(plain_one())
        noop.append(_cli(*argv, env=env))
    small = tmp / "small"
    small.mkdir()
    (small / "add.c").write_text("int add(int a, int b) {\n  return a + b;\n}\n")
    (small / "add.h").write_text("int add(int a, int b);\n")
    other = tmp / "other"
    other.mkdir()
    (other / "neg.c").write_text("int neg(int a) {\n  return -a;\n}\n")
    (other / "neg.h").write_text("int neg(int a);\n")
    tiny, tiny_plain, tiny_first = [], [], []
    for r in range(repeats):
        # A library built for the first time (none of its objects cached) with an embind-py
        # that has built before with this emcc (emcc's clang commands learnt, the file-system
        # shim compiled), as plain emcc runs with its system libraries built: another
        # library's build warms the cache first.
        env = {**os.environ, "EMBIND_PY_CACHE": str(tmp / f"small-cache-{r}")}
        tiny_first.append(_cli("build", other / "neg.c", "-o", other, "--force", env=env))
        t = time.perf_counter()
        _emcc(
            small / "add.c",
            "--no-entry",
            "-O2",
            "-sSTANDALONE_WASM",
            "-sEXPORTED_FUNCTIONS=_add",
            "-o",
            small / "plain.wasm",
        )
        tiny_plain.append(time.perf_counter() - t)
        tiny.append(_cli("build", small / "add.c", "-o", small, "--force", env=env))
    med = statistics.median
    print(
        f"\nbuild: {BUILD_SOURCES} sources x {BUILD_FUNCS} functions, -O2, -j {jobs}; plain emcc alternating"
    )
    print(
        f"  cold: embind-py build          {med(cold):9.2f} s   plain objects + link {med(plain):.2f} s"
        f"   ({med(cold) / med(plain):.2f}x)"
    )
    print(
        f"  one source edited: rebuild     {med(one):9.2f} s   compile it + link    {med(plain1):.2f} s"
        f"   ({med(one) / med(plain1):.2f}x)"
    )
    print(f"  no-op build (CLI process)      {med(noop):9.2f} s")
    print(
        f"  5-line library: embind-py      {med(tiny):9.2f} s   one emcc command     {med(tiny_plain):.2f} s"
        f"   ({med(tiny) / med(tiny_plain):.2f}x)"
    )
    print(f"  first build with an empty cache {med(tiny_first):8.2f} s   (learns emcc's clang commands)")
    return [
        (
            "cold 30-source build <= 1.3x parallel objects + link",
            med(cold) / med(plain) <= 1.3,
            f"{med(cold) / med(plain):.2f}x",
        ),
        (
            "rebuild after one edit <= 1.5x compile + link",
            med(one) / med(plain1) <= 1.5,
            f"{med(one) / med(plain1):.2f}x",
        ),
        (
            "5-line library <= 1.5x its plain compile",
            med(tiny) / med(tiny_plain) <= 1.5,
            f"{med(tiny) / med(tiny_plain):.2f}x",
        ),
        ("no-op build (whole CLI process) < 0.2 s", med(noop) < 0.2, f"{med(noop):.2f} s"),
    ]


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
