"""Runtime paths the speed work must not break: the public-API fallback, buffers across
memory growth, the on-disk module cache, and imports the runtime does not provide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from embind_py import runtime
from embind_py.runtime import _cache, _fastcall, _memory
from tests.conftest import BuildFn

HEADER = """
#include <stddef.h>
int add(int a, int b);
size_t str_len(const char *s);
double half(double x);
void *grow(size_t n);
int call_js(int x);
long long clock_res(int id);
long long clock_now(int id);
"""
SOURCE = """
#include "paths.h"
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
extern int js_only(int);
int add(int a, int b) { return a + b; }
size_t str_len(const char *s) { return strlen(s); }
double half(double x) { return x / 2; }
void *grow(size_t n) { return malloc(n); }
int call_js(int x) { return js_only(x); }
long long clock_res(int id) {
    struct timespec ts;
    if (clock_getres(id, &ts)) return -errno;
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
long long clock_now(int id) {
    struct timespec ts;
    if (clock_gettime(id, &ts)) return -errno;
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
"""


@pytest.fixture(scope="module")
def lib(build_c: BuildFn) -> ModuleType:
    # js_only is left undefined: emcc turns it into an `env` import.
    return build_c("paths", SOURCE, HEADER, "--cflag=-sERROR_ON_UNDEFINED_SYMBOLS=0")


def test_public_api_fallback_behaves_the_same(lib: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fastcall, "FAST", False)
    inst = lib.load()
    assert inst.add(2, 3) == 5
    assert inst.str_len("hello") == 5
    assert inst.half(3.0) == 1.5
    sp = inst.stack_save()
    for _ in range(2):  # the instance recovers after each failure, as on the fast path
        with pytest.raises(runtime.WasmLinkError, match="js_only"):
            inst.call_js(1)
        assert inst.stack_save() == sp
    assert inst.add(1, 1) == 2


def test_unknown_import_raises_naming_it(lib: ModuleType) -> None:
    with pytest.raises(runtime.WasmLinkError, match=r"env\.js_only"):
        lib.call_js(1)
    assert lib.add(1, 2) == 3


def test_every_clock_c_can_read_has_a_resolution(lib: ModuleType) -> None:
    # clock_getres imports WASI clock_res_get; wasmtime answers EBADF for the CPU-time
    # clocks that the runtime's own clock_time_get serves, so it is shadowed too.
    for clock in range(4):  # REALTIME, MONOTONIC, PROCESS_CPUTIME_ID, THREAD_CPUTIME_ID
        assert lib.clock_now(clock) > 0
        assert 0 < lib.clock_res(clock) <= 1_000_000_000
    assert lib.clock_res(7) == -28  # EINVAL, as C's clock_getres checks first


def test_buffer_view_survives_memory_growth(lib: ModuleType) -> None:
    inst = lib.load()
    p = inst.ffi.new("char[]", b"stable bytes")
    view = inst.ffi.buffer(p, 12)
    before = inst.ffi.memory_size()
    blocks = [inst.grow(8 << 20) for _ in range(6)]
    assert all(blocks) and inst.ffi.memory_size() > before
    assert bytes(view) == b"stable bytes"
    view[0:6] = b"STABLE"
    assert inst.ffi.string(p) == b"STABLE bytes"


def test_module_cache_is_used_and_survives_corruption(
    lib: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBIND_PY_CACHE", str(tmp_path))
    assert lib.__file__ is not None
    wasm = Path(lib.__file__).with_suffix(".wasm").read_bytes()
    runtime._backend.wasmtime.forget_compiled()
    assert runtime.Instance(wasm).has_export("add")
    entries = list(tmp_path.glob("*.cwasm"))
    assert len(entries) == 1
    entries[0].write_bytes(b"not a compiled module")
    runtime._backend.wasmtime.forget_compiled()
    assert runtime.Instance(wasm).has_export("add")  # rebuilt, not crashed
    assert entries[0].read_bytes() != b"not a compiled module"
    # damage inside the machine code (a flipped bit on disk) must not reach wasmtime's
    # deserializer, which trusts its input and would crash the process
    good = entries[0].read_bytes()
    damaged = bytearray(good)
    for i in range(len(damaged) // 3, len(damaged) // 3 + 2000):
        damaged[i] ^= 0xFF
    entries[0].write_bytes(bytes(damaged))
    runtime._backend.wasmtime.forget_compiled()
    assert runtime.Instance(wasm).has_export("add")
    assert entries[0].read_bytes() == good
    monkeypatch.setenv("EMBIND_PY_CACHE", "off")
    assert _cache.cache_dir() is None


def test_module_cache_concurrent_writers(lib: ModuleType, tmp_path: Path) -> None:
    # several processes compiling the same module into an empty cache at once
    assert lib.__file__ is not None
    folder = Path(lib.__file__).parent
    code = f"import sys; sys.path.insert(0, {str(folder)!r}); import paths; print(paths.add(2, 3))"
    env = dict(os.environ, EMBIND_PY_CACHE=str(tmp_path / "cache"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [(p.returncode, out) for p, (out, _) in zip(procs, results, strict=True)] == [(0, b"5\n")] * 6
    assert len(list((tmp_path / "cache").glob("*.cwasm"))) == 1
    assert not list((tmp_path / "cache").glob(".tmp-*"))  # no temporary file left behind
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.stdout == b"5\n", proc.stderr


def test_fallback_without_wasmtime_internals_warns_and_works(lib: ModuleType) -> None:
    # a wasmtime release without the private function the fast path calls
    assert lib.__file__ is not None
    folder = Path(lib.__file__).parent
    code = (
        "import wasmtime._bindings as b; del b._wasmtime_func_call_unchecked\n"
        f"import sys; sys.path.insert(0, {str(folder)!r})\n"
        "import paths; from embind_py.runtime import _fastcall\n"
        "print(_fastcall.FAST, paths.add(2, 3), paths.str_len('four'), paths.half(5.0))\n"
    )
    argv = [sys.executable, "-W", "always", "-c", code]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "False 5 4 2.5\n"
    assert "RuntimeWarning" in proc.stderr and "using the slower public Func API" in proc.stderr


def test_bytes_arguments_are_not_copied_before_the_memmove(lib: ModuleType) -> None:
    data = b"x" * (1 << 20) + b"\0"
    _addr, keep = _memory.buffer_address(memoryview(data))
    assert keep is data  # addressed in place: no second 1 MiB copy per call
    assert lib.str_len(memoryview(data)) == 1 << 20
