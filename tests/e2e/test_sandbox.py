"""The sandbox end to end: limits, exceptions, reset, bounds and threads on a real emcc build."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import (
    WasmBoundsError,
    WasmError,
    WasmExit,
    WasmOutOfFuel,
    WasmTimeout,
    WasmTrap,
)
from tests.conftest import BuildFn

H = """
#include <stddef.h>
int add(int a, int b);
void spin(void);
long long count(long long n);
int bomb(int block);
int peek(int addr);
int divide(int a, int b);
void quit(int code);
size_t slen(const char *s);
void upper(char *s);
int bump(void);
double scale(double x, double k);
typedef int (*cb_t)(int);
int call_cb(cb_t f, int x);
void keep_cb(cb_t f);
int call_kept(int x);
int deep(int n);
void nullwrite(int v);
void die(void);
"""

C = r"""
#include <stdlib.h>
#include <string.h>
#include "sandbox.h"
int add(int a, int b) { return a + b; }
void spin(void) { volatile int x = 0; for (;;) x++; }
long long count(long long n) { volatile long long i = 0; while (i < n) i++; return i; }
static void *blocks[100000];
int bomb(int block) {
    int n = 0;
    for (; n < 100000; n++) {
        blocks[n] = malloc(block);
        if (!blocks[n]) break;
        memset(blocks[n], 1, block);   /* keep the allocation observable */
    }
    for (int i = 0; i < n; i++) free(blocks[i]);
    return n;
}
int peek(int addr) { return *(volatile int *)addr; }
int divide(int a, int b) { return a / b; }
void quit(int code) { exit(code); }
size_t slen(const char *s) { return strlen(s); }
void upper(char *s) { for (; *s; s++) if (*s >= 'a' && *s <= 'z') *s -= 32; }
int bump(void) { static int n; return ++n; }
double scale(double x, double k) { return x * k; }
int call_cb(cb_t f, int x) { return f(x) + 1; }
static cb_t kept;
void keep_cb(cb_t f) { kept = f; }
int call_kept(int x) { return kept(x); }
int deep(int n) { volatile char pad[64]; pad[0] = (char)n; return n <= 0 ? 0 : deep(n - 1) + pad[0]; }
void nullwrite(int v) { *(volatile int *)0 = v; }
void die(void) { abort(); }
"""


@pytest.fixture(scope="module")
def sb(build_c: BuildFn) -> ModuleType:
    return build_c("sandbox", C, H)


@pytest.fixture(scope="module")
def sb_g(build_c: BuildFn) -> ModuleType:
    """The same library built with -g: C function names in trap frames."""
    return build_c("sandbox_g", C.replace("sandbox.h", "sandbox_g.h"), H, "--cflag=-g", "-O", "1")


# -- limits ------------------------------------------------------------------


def test_timeout_stops_infinite_loop(sb: Any) -> None:
    lib = sb.load(timeout=0.3)
    t0 = time.perf_counter()
    with pytest.raises(WasmTimeout):
        lib.spin()
    assert time.perf_counter() - t0 < 0.3 + 0.5
    assert lib.add(1, 2) == 3
    assert lib.count(1000) == 1000


def test_fuel_budget(sb: Any) -> None:
    lib = sb.load(fuel=1_000_000)
    assert lib.count(1000) == 1000
    with pytest.raises(WasmOutOfFuel):
        lib.count(10**9)
    assert lib.count(1000) == 1000  # per call: a new budget


def test_malloc_bomb_under_max_memory(sb: Any) -> None:
    limit = 32 << 20
    lib = sb.load(max_memory=limit)
    n = lib.bomb(1 << 20)
    assert 0 < n < 32  # malloc returned NULL at the limit
    assert lib.ffi.memory_size() <= limit
    assert lib.ffi.malloc(limit) == 0
    assert lib.slen("still fine") == 10
    unlimited = sb.load()
    assert unlimited.bomb(1 << 20) > 32


def test_limits_do_not_leak_between_instances(sb: Any) -> None:
    timed = sb.load(timeout=0.05)
    free = sb.load()
    assert free.count(3_000_000) == 3_000_000  # would exceed fuel/timeouts of others
    with pytest.raises(WasmTimeout):
        timed.spin()


# -- exceptions --------------------------------------------------------------


def test_exception_types_and_recovery(sb: Any) -> None:
    lib = sb.load()
    sp = lib.stack_save()
    with pytest.raises(WasmTrap) as ei:
        lib.peek(-4)
    assert ei.value.code == "memory out of bounds"
    assert ei.value.frames  # names need a name section: see the -g build
    with pytest.raises(WasmTrap) as ei:
        lib.divide(1, 0)
    assert ei.value.code == "integer division by zero"
    with pytest.raises(WasmExit) as ex:
        lib.quit(7)
    assert ex.value.code == 7
    assert lib.stack_save() == sp
    with pytest.raises(TypeError):
        lib.add("1", 2)
    with pytest.raises(OverflowError):
        lib.add(2**31, 0)
    with pytest.raises(TypeError):
        lib.scale("x", 1.0)
    with pytest.raises(TypeError):
        lib.slen(12.0)
    with pytest.raises(OverflowError):
        lib.slen(-1)  # not a wasm32 address
    with pytest.raises(ValueError):
        lib.ffi.string(None)
    assert lib.add(40, 2) == 42
    assert lib.stack_save() == sp


def test_frames_name_c_functions_in_debug_builds(sb_g: Any) -> None:
    lib = sb_g.load()
    with pytest.raises(WasmTrap) as ei:
        lib.divide(1, 0)
    assert ei.value.function == "divide"
    assert "divide()" in str(ei.value)


def test_reset_in_place(sb: Any) -> None:
    lib = sb.load(timeout=1)
    assert lib.bump() == 1
    assert lib.bump() == 2
    p = lib.ffi.new("int[]", [1, 2, 3])
    lib.reset()
    assert lib.bump() == 1  # fresh C globals
    assert lib._limits is not None and lib._limits.timeout == 1  # same options
    assert lib.add(1, 1) == 2
    del p
    gc.collect()  # the old pointer's memory is not freed into the new heap
    assert lib.slen("abc") == 3


# -- host safety -------------------------------------------------------------


def test_ffi_helpers_are_bounds_checked(sb: Any) -> None:
    lib = sb.load()
    size = lib.ffi.memory_size()
    with pytest.raises(WasmBoundsError):
        lib.ffi.buffer(size - 4, 8)
    with pytest.raises(WasmBoundsError):
        lib.ffi.string(size + 10)
    with pytest.raises(ValueError):
        lib.ffi.string(16, -1)
    with pytest.raises(OverflowError):
        lib.ffi.buffer(-1, 1)
    with pytest.raises(WasmBoundsError):
        lib.ffi.memmove(size - 1, b"abcd", 4)
    with pytest.raises(ValueError):
        lib.ffi.memmove(bytearray(2), 16, 100)  # would overflow the Python buffer
    with pytest.raises(ValueError):
        lib.ffi.memmove(16, b"ab", 100)  # would over-read the Python buffer
    p = lib.ffi.new("int[4]")
    with pytest.raises(IndexError):
        p[4]
    q = lib.ffi.cast("int *", size - 2)
    with pytest.raises(WasmBoundsError):
        q[0]
    with pytest.raises(WasmBoundsError):
        q[0] = 1


def test_pointer_from_another_instance_is_rejected(sb: Any) -> None:
    a, b = sb.load(), sb.load()
    pb = b.ffi.new("char[]", b"hello")
    with pytest.raises(TypeError):
        a.slen(pb)
    helpers: list[Callable[[], Any]] = [
        lambda: a.ffi.string(pb),
        lambda: a.ffi.buffer(pb),
        lambda: a.ffi.free(pb),
        lambda: a.ffi.memmove(pb, b"x", 1),
        lambda: a.ffi.cast("int *", pb),
    ]
    for helper in helpers:
        with pytest.raises(TypeError):
            helper()
    assert b.slen(pb) == 5


def test_buffer_view_outlives_its_instance(sb: Any) -> None:
    lib = sb.load()
    p = lib.ffi.new("char[]", b"kept")
    view = lib.ffi.buffer(p, 4)
    del lib, p
    gc.collect()
    assert bytes(view) == b"kept"  # the view keeps the memory alive, never dangles


# -- threads -----------------------------------------------------------------


def test_one_instance_shared_by_threads_is_serialized(sb: Any) -> None:
    lib = sb.load()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(300):
                s = f"thread {k} call {i} " * (k + 1)
                assert lib.slen(s) == len(s)
                buf = bytearray(s.encode())
                lib.upper(buf)
                assert buf == s.upper().encode()
                assert lib.add(k, i) == k + i
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[0]


def test_module_functions_from_threads(sb: Any) -> None:
    results: list[int] = []
    threads = [threading.Thread(target=lambda k=k: results.append(sb.add(k, 1))) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == list(range(1, 9))


def test_separate_instances_run_in_parallel(sb: Any) -> None:
    libs = [sb.load(timeout=0.4) for _ in range(3)]
    caught: list[WasmError] = []

    def run(lib: Any) -> None:
        try:
            lib.spin()
        except WasmTimeout as e:
            caught.append(e)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(lib,)) for lib in libs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(caught) == 3
    assert time.perf_counter() - t0 < 0.4 * 3 * 0.8  # overlapping, not one after another


def test_timeout_while_other_thread_calls(sb: Any) -> None:
    """A call blocked behind a spinning call on the same instance waits for the lock."""
    lib = sb.load(timeout=0.2)
    out: list[Any] = []

    def spinner() -> None:
        try:
            lib.spin()
        except WasmTimeout as e:
            out.append(e)

    t = threading.Thread(target=spinner)
    t.start()
    time.sleep(0.05)
    assert lib.add(2, 2) == 4  # waits for the spinner to time out, then runs
    t.join(timeout=60)
    assert len(out) == 1


# -- libc calls that need the host ---------------------------------------------

LIBC_H = """
int run_cmd(const char *cmd);
int load_lib(const char *path);
int sig_count(int sig);
int sig_jump(int sig);
int sig_trap(int sig);
"""

LIBC_C = r"""
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include "libc_host.h"
int run_cmd(const char *cmd) { errno = 0; int r = system(cmd); return r < 0 ? -errno : r; }
int load_lib(const char *path) {
    void *h = dlopen(path, RTLD_NOW);
    return h ? 1 + (dlsym(h, "f") != 0) : dlsym(RTLD_DEFAULT, "f") != 0 ? -1 : 0;
}
static volatile int caught;
static void on_sig(int s) { caught += s; }
int sig_count(int sig) { caught = 0; signal(sig, on_sig); raise(sig); raise(sig); return caught; }
static jmp_buf jb;
static void on_sig_jump(int s) { longjmp(jb, s); }
int sig_jump(int sig) {
    signal(sig, on_sig_jump);
    int r = setjmp(jb);
    if (r) return 1000 + r;
    raise(sig);
    return 0;
}
static void on_sig_trap(int s) { __builtin_trap(); }
int sig_trap(int sig) { signal(sig, on_sig_trap); raise(sig); return 0; }
"""


def test_system_and_signal_handlers(build_c: BuildFn) -> None:
    # Lua's os.execute() calls system(): no shell here, as Emscripten answers outside Node.
    lib: Any = build_c("libc_host", LIBC_C, LIBC_H).load()
    assert lib.run_cmd(None) == 0  # "no shell available"
    assert lib.run_cmd("ls") == -52  # -1 with errno ENOSYS
    # dlopen() finds no library (SQLite's load_extension): it was a WasmLinkError
    assert lib.load_lib("/usr/lib/libm.so") == 0
    # raise() with a handler calls it through the function table
    assert lib.sig_count(10) == 20
    assert lib.sig_jump(12) == 1012  # a handler may longjmp out
    with pytest.raises(WasmTrap, match="on_sig_trap"):
        lib.sig_trap(10)
    assert lib.sig_count(3) == 6  # still usable


# -- hostile C and hostile Python (issue 6) ----------------------------------


def test_c_crashes_are_exceptions_and_the_instance_survives(sb: Any) -> None:
    lib = sb.load()
    sp = lib.stack_save()
    with pytest.raises(WasmTrap) as ei:
        lib.deep(10**8)  # C recursion past the wasm stack
    assert ei.value.code == "stack overflow"
    assert lib.deep(100) > 0
    with pytest.raises(WasmTrap) as ei:
        lib.divide(-(2**31), -1)
    assert ei.value.code == "integer overflow"
    with pytest.raises(WasmExit) as ex:  # abort() is proc_exit(1) up to Emscripten 3.1.58, a trap later
        lib.die()
    assert ex.value.code == 1
    lib.nullwrite(7)  # address 0 is ordinary wasm memory: C corrupts only itself
    assert lib.peek(0) == 7
    assert lib.stack_save() == sp
    assert lib.add(1, 2) == 3


def test_exit_and_exceptions_inside_callbacks(sb: Any) -> None:
    lib = sb.load()
    sp = lib.stack_save()
    with pytest.raises(WasmExit) as ex:
        lib.call_cb(lambda x: lib.quit(5), 1)
    assert ex.value.code == 5
    with pytest.raises(ZeroDivisionError):
        lib.call_cb(lambda x: 1 // 0, 1)
    with pytest.raises(TypeError, match="result of callback"):
        lib.call_cb(lambda x: "no", 1)
    assert lib.call_cb(lambda x: lib.add(x, lib.call_cb(lambda y: y * 10, x)), 2) == 2 + 21 + 1
    assert lib.stack_save() == sp


def test_plain_callables_reuse_their_table_slot(sb: Any) -> None:
    """Each call with a new lambda must not add a wasm function that lives as long as the store."""
    from wasmtime import _func

    lib = sb.load()
    lib.call_cb(lambda x: x, 0)
    before = len(_func.FUNCTIONS.handles)
    for i in range(500):
        assert lib.call_cb(lambda x, i=i: x + i, 1) == i + 2
    assert len(_func.FUNCTIONS.handles) == before


def test_c_keeping_a_plain_callable_gets_a_trap(sb: Any) -> None:
    lib = sb.load()
    lib.keep_cb(lambda x: x)  # only valid during keep_cb(): C must not call it later
    with pytest.raises(WasmTrap, match=r"ffi\.callback"):
        lib.call_kept(1)
    keep = lib.ffi.callback("cb_t", lambda x: x * 3)
    lib.keep_cb(keep)
    assert lib.call_kept(5) == 15


def test_dropped_instances_are_freed(sb: Any) -> None:
    """wasmtime-py holds host functions process-wide: they must not keep the instance alive."""
    refs = []
    for _ in range(3):
        lib = sb.load(timeout=1, stdout=None)
        assert lib.call_cb(lambda x: x, 1) == 2
        refs.append(weakref.ref(lib))
        del lib
    gc.collect()
    assert all(r() is None for r in refs)


def test_reset_inside_a_callback_is_refused(sb: Any) -> None:
    lib = sb.load()

    def cb(x: int) -> int:
        lib.reset()
        return x

    with pytest.raises(RuntimeError, match="reset"):
        lib.call_cb(cb, 1)
    assert lib.call_cb(lambda x: x, 1) == 2
    lib.reset()
    assert lib.bump() == 1


def test_stale_pointers_after_reset_stay_inside_memory(sb: Any) -> None:
    lib = sb.load()
    p = lib.ffi.new("int[]", [1, 2, 3])
    far = lib.ffi.cast("int *", lib.ffi.memory_size() - 4)
    lib.reset()
    p[1] = 9  # documented as not to be done; it must only touch the new memory
    assert p[1] == 9
    far[0] = 1
    with pytest.raises(WasmBoundsError):
        (far + 1)[0]
    assert lib.add(1, 1) == 2


def test_hostile_sizes_to_ffi(sb: Any) -> None:
    lib = sb.load(max_memory=32 << 20)
    ffi = lib.ffi
    with pytest.raises(ValueError, match="negative length"):
        ffi.new("char[]", -1)
    with pytest.raises(MemoryError):
        ffi.new("int[]", 2**30)  # 4 GiB: must not wrap to malloc(0)
    with pytest.raises(MemoryError):
        ffi.new("char[]", 2**40)
    with pytest.raises(MemoryError):
        ffi.new("char[]", 64 << 20)  # past max_memory
    with pytest.raises(ValueError):
        ffi.malloc(-1)
    assert ffi.malloc(2**40) == 0
    with pytest.raises(WasmBoundsError):
        ffi.buffer(16, 2**40)
    with pytest.raises(WasmBoundsError):
        ffi.buffer(16, -5)
    assert ffi.string(16, 2**62) == ffi.string(16)
    sp = ffi.stackSave()
    with pytest.raises(MemoryError):
        ffi.stackAlloc(2**31)  # would wrap the stack pointer
    assert ffi.stackSave() == sp
    assert lib.slen("ok") == 2


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"fuel": 2**64}, ValueError, "fuel"),
        ({"stdin": "text"}, TypeError, "stdin"),
        ({"stdin": 42}, TypeError, "stdin"),
        ({"stdout": 42}, TypeError, "stdout"),
        ({"stderr": "x"}, TypeError, "stderr"),
        ({"env": ["A=1"]}, TypeError, "env"),
        ({"env": {"A=B": "1"}}, ValueError, "env"),
        ({"env": {"A": "x\0y"}}, ValueError, "NUL"),
        ({"argv": "abc"}, TypeError, "argv"),
        ({"argv": [1, 2]}, TypeError, r"argv\[0\]"),
        ({"max_memory": 1 << 20}, WasmError, "max_memory"),
        ({"timeout": float("nan")}, ValueError, "timeout"),
    ],
)
def test_bad_load_options_fail_at_load(sb: Any, options: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        sb.load(**options)


def test_huge_limits_mean_no_limit(sb: Any) -> None:
    lib = sb.load(fuel=2**64 - 1, max_memory=2**70, timeout=1e9)
    assert lib.count(1000) == 1000
    assert lib.ffi.malloc(64 << 20) != 0


def test_pointer_finalizer_never_waits_for_a_busy_instance(sb: Any) -> None:
    """GC may free an ffi.new block on a thread that must not block on the instance's lock
    (it may hold another instance's lock that the lock's owner is waiting for)."""
    lib = sb.load()
    big = lib.ffi.new("int[]", 1000)
    addr = big.address
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lib._lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        t0 = time.perf_counter()
        del big
        gc.collect()  # runs the finalizer here, while the other thread holds the lock
        assert time.perf_counter() - t0 < 1
        assert lib._deferred_frees == [addr]
    finally:
        release.set()
        t.join(timeout=60)
    again = lib.ffi.new("int[]", 1000)  # frees the deferred block first, then reuses it
    assert lib._deferred_frees == []
    assert again.address == addr


def test_dropped_ffi_callbacks_reuse_their_function_never_their_index(sb: Any) -> None:
    from wasmtime import _func

    lib = sb.load()
    first = lib.ffi.callback("cb_t", lambda x: x)
    del first
    gc.collect()
    lib.ffi.callback("cb_t", lambda x: x)  # retires the first one's index
    gc.collect()
    before = len(_func.FUNCTIONS.handles)
    seen: set[int] = set()
    for i in range(200):
        cb = lib.ffi.callback("cb_t", lambda x, i=i: x + i)
        lib.keep_cb(cb)
        assert lib.call_kept(1) == i + 1
        assert cb.index not in seen  # a pointer C kept never calls another function
        seen.add(cb.index)
        del cb
    assert len(_func.FUNCTIONS.handles) == before  # wasm functions are reused, at fresh indices
    with pytest.raises(WasmTrap, match="callable is gone"):
        lib.call_kept(1)  # C kept a pointer whose Callback is gone


DBG_H = """
int dbg_divide(int a, int b);
int dbg_outer(int a, int b);
"""

DBG_C = """
#include "dbg.h"
int dbg_divide(int a, int b) {
    return a / b;
}
int dbg_outer(int a, int b) { return dbg_divide(a, b) + 1; }
"""


def test_traps_name_file_and_line_when_built_with_g(build_c: BuildFn) -> None:
    """With DWARF (-g), a trap gives file:line:col per frame, inlined calls included."""
    lib: Any = build_c("dbg", DBG_C, DBG_H, "-O", "1", "--cflag=-g").load()
    with pytest.raises(WasmTrap) as ei:
        lib.dbg_outer(1, 0)
    e = ei.value
    assert e.code == "integer division by zero"
    assert e.frames[:2] == ("dbg_divide", "dbg_outer")  # dbg_divide is inlined at -O1
    inner, outer = e.locations[:2]
    assert inner is not None and inner.endswith("dbg.c:4:14")
    assert outer is not None and outer.endswith("dbg.c:6:38")
    assert f"in C function dbg_divide() at {inner}: integer divide by zero" in str(e)
    assert lib.dbg_outer(6, 3) == 3
