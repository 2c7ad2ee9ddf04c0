"""The sandbox end to end: limits, exceptions, reset, bounds and threads on a real emcc build."""

from __future__ import annotations

import gc
import threading
import time
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
        lib.slen(12)
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
        t.join()
    assert not errors, errors[0]


def test_module_functions_from_threads(sb: Any) -> None:
    results: list[int] = []
    threads = [threading.Thread(target=lambda k=k: results.append(sb.add(k, 1))) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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
        t.join()
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
    t.join()
    assert len(out) == 1


# -- libc calls that need the host ---------------------------------------------

LIBC_H = """
int run_cmd(const char *cmd);
int sig_count(int sig);
int sig_jump(int sig);
int sig_trap(int sig);
"""

LIBC_C = r"""
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include "libc_host.h"
int run_cmd(const char *cmd) { errno = 0; int r = system(cmd); return r < 0 ? -errno : r; }
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
    # raise() with a handler calls it through the function table
    assert lib.sig_count(10) == 20
    assert lib.sig_jump(12) == 1012  # a handler may longjmp out
    with pytest.raises(WasmTrap, match="on_sig_trap"):
        lib.sig_trap(10)
    assert lib.sig_count(3) == 6  # still usable
