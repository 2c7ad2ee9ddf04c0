"""End to end (issue 15): bitfields, packed and aligned records, real emcc and clang's layouts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import BuildFn

LAYOUT_H = r"""
#include <stdint.h>
#include <stdbool.h>
typedef enum { RED, GREEN, BLUE } Color;
struct Flags {
    unsigned ready : 1;
    signed level : 4;
    unsigned : 0;
    unsigned mode : 3;
    int big : 31;
    bool on : 1;
    uint8_t small : 2;
    unsigned : 3;
    unsigned long long wide : 40;
    Color color : 2;
    char tail;
};
union Word { uint32_t raw; struct { unsigned lo : 12; unsigned hi : 20; } parts; };
typedef struct { unsigned v : 5; } One;

#pragma pack(push, 1)
typedef struct { uint8_t tag; uint32_t len; uint16_t crc; } Wire;
#pragma pack(pop)
#define PACKED __attribute__((packed))
struct PACKED Hidden { char c; double d; int i; };
typedef struct { char c; _Alignas(16) int x; } Aligned;
struct __attribute__((aligned(32))) Big { int v; };
typedef struct { char c; struct { char d; int e; } __attribute__((packed)) in; } Outer;

struct Flags flags_make(int i);
long long flags_sum(struct Flags f);
void flags_bump(struct Flags *f);
uint32_t word_raw(union Word w);
One one_twice(One o);
int layout(int which);
Wire wire_make(uint32_t len);
uint32_t wire_check(Wire w);
void wire_fill(Wire *w, int n);
double hidden_sum(struct Hidden h);
int aligned_x(Aligned *a);
int big_v(struct Big b);
int outer_e(Outer o);
"""

LAYOUT_C = r"""
#include <stddef.h>
#include "layouts.h"
struct Flags flags_make(int i) {
    struct Flags f = {0};
    f.ready = 1; f.level = -i; f.mode = i; f.big = -1000000 * i; f.on = 1; f.small = 3;
    f.wide = 0xABCDEF1234ull; f.color = BLUE; f.tail = 'z';
    return f;
}
long long flags_sum(struct Flags f) {
    return f.ready + f.level + f.mode + f.big + f.on + f.small + (long long)f.wide + f.color + f.tail;
}
void flags_bump(struct Flags *f) { f->level += 1; f->mode += 1; f->wide += 1; f->ready = !f->ready; }
uint32_t word_raw(union Word w) { return w.raw; }
One one_twice(One o) { o.v *= 2; return o; }
int layout(int which) {
    switch (which) {
    case 0: return sizeof(struct Flags);
    case 1: return sizeof(Wire);
    case 2: return offsetof(Wire, crc);
    case 3: return sizeof(struct Hidden);
    case 4: return offsetof(struct Hidden, i);
    case 5: return sizeof(Aligned);
    case 6: return offsetof(Aligned, x);
    case 7: return sizeof(struct Big);
    case 8: return _Alignof(struct Big);
    case 9: return sizeof(Outer);
    case 10: return offsetof(Outer, in.e);
    }
    return -1;
}
Wire wire_make(uint32_t len) { Wire w = {7, len, (uint16_t)(len * 3)}; return w; }
uint32_t wire_check(Wire w) { return w.tag + w.len + w.crc; }
void wire_fill(Wire *w, int n) {
    for (int i = 0; i < n; i++) { w[i].tag = i; w[i].len = 100 + i; w[i].crc = 7; }
}
double hidden_sum(struct Hidden h) { return h.c + h.d + h.i; }
int aligned_x(Aligned *a) { return a->x + a->c; }
int big_v(struct Big b) { return b.v; }
int outer_e(Outer o) { return o.in.e + o.in.d + o.c; }
"""


@pytest.fixture(scope="module")
def mod(build_c: BuildFn) -> ModuleType:
    return build_c("layouts", LAYOUT_C, LAYOUT_H)


@pytest.fixture(scope="module")
def lib(mod: ModuleType) -> Any:
    return mod.load()


def test_bitfields_by_value_and_by_pointer(mod: ModuleType, lib: Any) -> None:
    f = lib.flags_make(3)
    assert (f.ready, f.level, f.mode, f.big, f.on, f.small) == (1, -3, 3, -3000000, True, 3)
    assert (f.wide, f.color, f.tail) == (0xABCDEF1234, mod.Color.BLUE, ord("z"))
    assert lib.flags_sum(f) == 1 - 3 + 3 - 3000000 + 1 + 3 + 0xABCDEF1234 + 2 + ord("z")
    g = mod.Flags(ready=0, level=-8, mode=7, big=-(2**30), on=False, small=0, wide=2**40 - 1, color=1, tail=1)
    assert lib.flags_sum(g) == -8 + 7 - 2**30 + 2**40 - 1 + 1 + 1
    p = lib.ffi.new("struct Flags *", g)
    lib.flags_bump(p)
    assert (p.level, p.mode, p.wide, p.ready) == (-7, 0, 0, 1)  # 3-bit mode and 40-bit wide wrap in C
    p.level = 7
    p.big = 2**30 - 1
    assert (p.level, p.big, p.mode, p.tail) == (7, 2**30 - 1, 0, 1)  # neighbours untouched
    assert lib.flags_sum(p[0]) == 1 + 7 + 0 + 2**30 - 1 + 0 + 0 + 0 + 1 + 1
    assert lib.layout(0) == mod._R_Flags.size == lib.ffi.sizeof("struct Flags")
    for field, bad in (("level", 8), ("level", -9), ("mode", 8), ("ready", -1), ("wide", 2**40)):
        with pytest.raises(OverflowError, match=field):
            setattr(p, field, bad)
    with pytest.raises(OverflowError):
        lib.flags_sum(mod.Flags(small=4))


def test_bitfields_in_unions_and_single_bitfield_records(mod: ModuleType, lib: Any) -> None:
    w = mod.Word(parts=mod.Word_parts(lo=0xABC, hi=0x12345))
    assert lib.word_raw(w) == (0x12345 << 12) | 0xABC
    assert lib.one_twice(mod.One(v=9)) == mod.One(v=18)


def test_packed_and_aligned_records_are_laid_out_as_clang_does(mod: ModuleType, lib: Any) -> None:
    assert [lib.layout(i) for i in range(1, 11)] == [7, 5, 13, 9, 32, 16, 32, 32, 6, 2]
    assert (mod._R_Wire.size, mod._R_Wire.align) == (7, 1)
    assert (mod._R_Aligned.size, mod._R_Aligned.align) == (32, 16)
    w = lib.wire_make(1000)
    assert w == mod.Wire(tag=7, len=1000, crc=3000)
    assert lib.wire_check(mod.Wire(tag=1, len=2**32 - 10, crc=5)) == (1 + 2**32 - 10 + 5) % 2**32
    arr = lib.ffi.new("Wire[]", 3)
    lib.wire_fill(arr, 3)
    assert [(arr[i].tag, arr[i].len) for i in range(3)] == [(0, 100), (1, 101), (2, 102)]
    assert (arr + 1).len == 101 and int(arr + 1) - int(arr) == 7
    assert lib.hidden_sum(mod.Hidden(c=1, d=0.5, i=-4)) == -2.5
    a = lib.ffi.new("Aligned *", {"c": 2, "x": 40})
    assert int(a) % 16 == 0 and lib.aligned_x(a) == 42
    assert lib.big_v(mod.Big(v=5)) == 5
    assert lib.outer_e(mod.Outer(c=1, in_=mod.Outer_in(d=2, e=300))) == 303


GLOBALS_H = r"""
#include <stdint.h>
typedef struct { int x, y; } Point;
extern int counter;
extern const int limit;
extern double ratio;
extern const char *lib_version;
extern const uint8_t table[8];
extern int grid[4];
extern Point origin;
extern const Point unit;
extern long long big;
extern int *cursor;
extern int missing_var;
static const int hidden = 3;
int bump(void);
int get_counter(void);
int origin_sum(void);
int sum_grid(void);
void set_cursor(int i);
long long get_big(void);
"""

GLOBALS_C = r"""
#include "globals.h"
int counter = 5;
const int limit = 100;
double ratio = 0.5;
const char *lib_version = "1.2.3";
const uint8_t table[8] = {1, 2, 3, 5, 8, 13, 21, 255};
int grid[4] = {10, 20, 30, 40};
Point origin = {3, 4};
const Point unit = {1, 1};
long long big = 1LL << 40;
int *cursor = 0;
int bump(void) { return ++counter; }
int get_counter(void) { return counter; }
int origin_sum(void) { return origin.x + origin.y; }
int sum_grid(void) { return grid[0] + grid[1] + grid[2] + grid[3]; }
void set_cursor(int i) { cursor = &grid[i]; }
long long get_big(void) { return big; }
"""


@pytest.fixture(scope="module")
def gmod(build_c: BuildFn) -> ModuleType:
    return build_c("globals", GLOBALS_C, GLOBALS_H)


def test_globals_read_and_written_from_both_sides(gmod: ModuleType) -> None:
    lib = gmod.load()
    assert lib.counter == 5 and lib.bump() == 6 and lib.counter == 6  # C's write, seen by Python
    lib.counter = 41
    assert lib.get_counter() == 41  # Python's write, seen by C
    lib.counter += 1
    assert lib.bump() == 43
    with pytest.raises(OverflowError, match="counter"):
        lib.counter = 2**31
    assert (lib.limit, lib.ratio, lib.lib_version, lib.big) == (100, 0.5, "1.2.3", 1 << 40)
    lib.big = -(2**62)
    assert lib.get_big() == -(2**62)
    with pytest.raises(AttributeError):
        lib.limit = 1  # const: read-only
    with pytest.raises(AttributeError):
        lib.lib_version = "x"
    assert len(lib.table) == 8 and list(lib.table) == [1, 2, 3, 5, 8, 13, 21, 255] and lib.table[7] == 255
    lib.grid[1] = 70
    assert lib.sum_grid() == 10 + 70 + 30 + 40
    lib.grid = [1, 2, 3, 4]
    assert lib.sum_grid() == 10 and lib.grid == [1, 2, 3, 4]
    lib.origin.x = 10
    assert lib.origin_sum() == 14 and lib.origin == gmod.Point(x=10, y=4)
    lib.origin = gmod.Point(x=-1, y=-2)
    assert lib.origin_sum() == -3 and lib.unit == gmod.Point(x=1, y=1)
    assert lib.cursor is None
    lib.set_cursor(2)
    assert lib.cursor is not None and lib.cursor[0] == 3
    lib.cursor = lib.ffi.addressof("grid") + 3
    assert lib.cursor[0] == 4
    p = lib.ffi.addressof("counter")
    assert p[0] == lib.counter
    p[0] = 7
    assert lib.get_counter() == 7
    with pytest.raises(AttributeError, match="nope"):
        lib.ffi.addressof("nope")


def test_globals_per_instance_module_level_and_reset(gmod: ModuleType) -> None:
    a, b = gmod.load(), gmod.load()
    a.counter = 1000
    assert b.counter == 5 and b.get_counter() == 5
    gmod.instance().counter = 77
    assert gmod.get_counter() == 77 and gmod.instance().counter == 77
    assert gmod.ffi.addressof("counter")[0] == 77
    a.reset()
    assert a.counter == 5 and a.bump() == 6
    names = [n for n in dir(gmod.Library) if not n.startswith("_")]
    assert "missing_var" not in names and "hidden" not in names


USER_SCRIPT = """
import globals as g
import layouts

lib = g.load()
lib.counter += 1
n: int = lib.limit + lib.table[0] + lib.grid[1] + lib.origin.x + lib.unit.y
v: str | None = lib.lib_version
lib.origin = g.Point(x=1, y=2)
lib.grid = [1, 2, 3, 4]
lib.cursor = lib.ffi.addressof("grid")
lay = layouts.load()
f = lay.flags_make(1)
bits: int = f.level + f.mode
on: bool = f.on
p = lay.ffi.new("struct Flags *", f)
p.level = 3
import ld
half: float = ld.ld_half(1)
import va
va_lib = va.load()
k: int = va_lib.sum_kinds("ild", 1, va_lib.ffi.cast("long long", 2), 3.0) + va.sum_kinds("s", "x")
import macros
sq: int = macros.SQUARE(3) + macros.FLAG(2)
rad: float = macros.DEG2RAD(90)
"""


def test_generated_modules_pass_mypy_strict_and_ruff(
    mod: ModuleType,
    gmod: ModuleType,
    ldmod: ModuleType,
    vamod: ModuleType,
    macmod: ModuleType,
    tmp_path: Path,
) -> None:
    for m in (mod, gmod, ldmod, vamod, macmod):
        src = Path(m.__file__ or "")
        (tmp_path / f"{src.stem}.py").write_text(src.read_text())
    (tmp_path / "user.py").write_text(textwrap.dedent(USER_SCRIPT))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "MYPYPATH": str(root)}
    names = ("layouts.py", "globals.py", "ld.py", "va.py", "macros.py", "user.py")
    files = [str(tmp_path / n) for n in names]
    argv = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", *files]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # const globals are read-only properties to mypy too
    (tmp_path / "user.py").write_text(textwrap.dedent(USER_SCRIPT) + "lib.limit = 3\n")
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 1 and "limit" in proc.stdout, proc.stdout
    rules = ["--select", "E,F,I,B,UP,RUF", "--line-length", "110"]
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", *rules, *files[:-1]]
    proc = subprocess.run(ruff, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


LD_H = r"""
long double ld_half(long double x);
double ld_to_d(long double x);
long double d_to_ld(double x);
long double ld_add(long double a, double b, long double c);
long double third(void);
long double ld_frac(int n);
int ld_same(long double x, double d);
typedef struct { long double v; int k; } LS;
LS ls_make(double v, int k);
long double ls_v(LS *p);
extern long double ld_global;
long double ld_global_get(void);
long double ld_cb(long double (*f)(long double));
"""

LD_C = r"""
#include "ld.h"
long double ld_half(long double x) { return x / 2; }
double ld_to_d(long double x) { return (double)x; }
long double d_to_ld(double x) { return x; }
long double ld_add(long double a, double b, long double c) { return a + b + c; }
long double third(void) { return 1.0L / 3; }
long double ld_frac(int n) { return 1.0L + n * 0x1p-53L; }
int ld_same(long double x, double d) { return x == (long double)d; }
LS ls_make(double v, int k) { LS s = {v, k}; s.v /= 3; return s; }
long double ls_v(LS *p) { return p->v * 3; }
long double ld_global = 2.5L;
long double ld_global_get(void) { return ld_global; }
long double ld_cb(long double (*f)(long double)) { return f(1.0L); }
"""


@pytest.fixture(scope="module")
def ldmod(build_c: BuildFn) -> ModuleType:
    return build_c("ld", LD_C, LD_H)


def test_long_double_is_a_python_float(ldmod: ModuleType) -> None:
    m = ldmod
    lib = m.load()
    assert m._EXPORTS["ld_add"] == ("iIIdII", "")  # sret, then each long double as two i64 words
    assert lib.ld_half(5.0) == 2.5 and lib.ld_to_d(-0.1) == -0.1 and lib.d_to_ld(1e300) == 1e300
    assert lib.ld_add(1.5, 2, -0.25) == 3.25 and lib.third() == 1 / 3
    assert all(lib.ld_same(x, x) for x in (0.1, -0.0, 5e-324, 1.7976931348623157e308, float("inf")))
    # results round to the nearest double, ties to even: the precision loss cffi has too
    assert [lib.ld_frac(n) for n in (0, 1, 2, 3)] == [1.0, 1.0, 1 + 2**-52, 1 + 2**-51]
    assert lib.ld_to_d(float("nan")) != lib.ld_to_d(float("nan"))
    s = lib.ls_make(1.5, 7)
    assert (s.v, s.k) == (0.5, 7) and m._R_LS.size == 24 and lib.ld_global_get() == 2.5
    p = lib.ffi.new("LS *", s)
    assert lib.ls_v(p) == 1.5
    lib.ld_global = 0.75
    assert lib.ld_global_get() == 0.75 and lib.ld_global == 0.75
    with pytest.raises(TypeError):
        lib.ld_half("1")
    assert not hasattr(lib, "ld_cb")  # a long double callback: skipped with a warning


VA_H = r"""
#include <stdarg.h>
int format(char *out, int n, const char *fmt, ...);
long long sum_kinds(const char *kinds, ...);
double sum_doubles(int count, ...);
int vformat(char *out, int n, const char *fmt, va_list ap);
"""

VA_C = r"""
#include <stdio.h>
#include <string.h>
#include "va.h"
int vformat(char *out, int n, const char *fmt, va_list ap) { return vsnprintf(out, n, fmt, ap); }
int format(char *out, int n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vformat(out, n, fmt, ap);
    va_end(ap);
    return r;
}
/* i int, u unsigned, l long long, c char (promoted), s strlen of a string, p *(int *) */
long long sum_kinds(const char *kinds, ...) {
    va_list ap;
    long long total = 0;
    va_start(ap, kinds);
    for (const char *k = kinds; *k; k++) {
        switch (*k) {
        case 'i': total += va_arg(ap, int); break;
        case 'u': total += va_arg(ap, unsigned); break;
        case 'l': total += va_arg(ap, long long); break;
        case 'c': total += (char)va_arg(ap, int); break;
        case 's': { const char *s = va_arg(ap, const char *); total += s ? (long long)strlen(s) : -1; break; }
        case 'p': { int *p = va_arg(ap, int *); total += p ? *p : -1000; break; }
        case 'd': total += (long long)va_arg(ap, double); break;
        case 'L': total += (long long)va_arg(ap, long double); break;
        }
    }
    va_end(ap);
    return total;
}
double sum_doubles(int count, ...) {
    va_list ap;
    double t = 0;
    va_start(ap, count);
    for (int i = 0; i < count; i++) t += va_arg(ap, double);
    va_end(ap);
    return t;
}
"""


@pytest.fixture(scope="module")
def vamod(build_c: BuildFn) -> ModuleType:
    return build_c("va", VA_C, VA_H)


def test_variadic_calls_lay_arguments_out_as_emcc_does(vamod: ModuleType) -> None:
    m = vamod
    lib = m.load()
    ffi = lib.ffi
    assert m._EXPORTS["format"] == ("iiii", "i") and not hasattr(lib, "vformat")  # va_list: skipped
    buf = ffi.new("char[]", 200)
    n = lib.format(
        buf, 200, "%d|%s|%.3f|%lld|%u|%c|%s|%lld|%f|%hhd|%llu",
        -42, "héllo", 2.5, ffi.cast("long long", 2**40 + 1), ffi.cast("unsigned int", 4_000_000_000),
        ord("x"), b"raw", 3 << 40, ffi.cast("float", 0.25), ffi.cast("signed char", -3), 2**64 - 1,
    )
    want = "-42|héllo|2.500|1099511627777|4000000000|x|raw|3298534883328|0.250000|-3|18446744073709551615"
    assert ffi.string(buf).decode() == want and n == len(want.encode())
    p = ffi.new("int *", 1000)
    # ints, doubles, strings and 64-bit values mixed: each at its natural alignment
    ld8 = ffi.cast("long double", 8.0)
    total = lib.sum_kinds("ildlsipL", 1, 2**33, 2.75, ffi.cast("long long", -5), "four", 7, p, ld8)
    assert total == 1 + 2**33 + 2 - 5 + 4 + 7 + 1000 + 8
    assert lib.sum_kinds("sp", None, None) == -1001 and lib.sum_kinds("") == 0
    assert lib.sum_kinds("cu", ffi.cast("char", -1), ffi.cast("unsigned", 2**32 - 1)) == -1 + 2**32 - 1
    assert lib.sum_doubles(3, 0.5, 1.0, ffi.cast("double", 2)) == 3.5  # (an int 1 would go as an int)
    with pytest.raises(TypeError, match="variadic argument 1"):
        lib.sum_kinds("i", object())
    with pytest.raises(TypeError, match="variadic argument 2"):
        lib.sum_kinds("ii", 1, [1, 2])
    with pytest.raises(OverflowError, match="variadic argument 1"):
        lib.sum_kinds("l", 2**64)
    assert lib.sum_kinds("i", 5) == 5  # the instance is still usable
    assert m.sum_kinds("ii", 2, 3) == 5  # module level, through the default instance


MACROS_H = r"""
#define SQUARE(x) ((x) * (x))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define FLAG(n) (1u << (n))
#define HALF(x) ((x) / 2)
#define MOD3(x) ((x) % 3)
#define DEG2RAD(d) ((d) * 3.14159265358979 / 180.0)
#define CLAMP(v, lo, hi) (MAX(lo, (v)) < (hi) ? MAX(lo, (v)) : (hi))
#define BYTE(x) ((unsigned char)(x))
#define IS_SET(w, n) (((w) & FLAG(n)) != 0)
#define NEG(x) (-(x))
#define NOT(x) (!(x))
#define SUM3(a, b, c) ((a) + (b) + (c))
#define WIDE(x) ((long long)(x) << 33)
#define CALLS(x) helper(x)
#define STMT(x) do { (void)(x); } while (0)
#define STR(x) #x
#define VARIADIC(...) (__VA_ARGS__)
#define NOARGS() 42
int helper(int x);
int square_c(int x);
unsigned flag_c(int n);
int half_c(int x);
int mod3_c(int x);
int clamp_c(int v, int lo, int hi);
int byte_c(int x);
long long wide_c(int x);
"""

MACROS_C = r"""
#include "macros.h"
int helper(int x) { return x; }
int square_c(int x) { return SQUARE(x); }
unsigned flag_c(int n) { return FLAG(n); }
int half_c(int x) { return HALF(x); }
int mod3_c(int x) { return MOD3(x); }
int clamp_c(int v, int lo, int hi) { return CLAMP(v, lo, hi); }
int byte_c(int x) { return BYTE(x); }
long long wide_c(int x) { return WIDE(x); }
"""


@pytest.fixture(scope="module")
def macmod(build_c: BuildFn) -> ModuleType:
    return build_c("macros", MACROS_C, MACROS_H)


def test_function_like_macros_are_python_functions_with_cs_arithmetic(macmod: ModuleType) -> None:
    m = macmod
    lib = m.load()
    for x in (0, 7, -9, 46340, 46341, -(2**31)):
        assert m.SQUARE(x) == lib.square_c(x)  # int overflow wraps as C (clang) does
        assert m.HALF(x) == lib.half_c(x) and m.MOD3(x) == lib.mod3_c(x)  # truncation toward zero
        assert m.BYTE(x) == lib.byte_c(x) and m.WIDE(x) == lib.wide_c(x)
    assert [m.FLAG(n) for n in (0, 5, 31)] == [lib.flag_c(n) for n in (0, 5, 31)] == [1, 32, 2**31]
    assert m.MAX(3, -4) == 3 and m.IS_SET(0b1010, 1) == 1 and m.IS_SET(0b1010, 2) == 0
    assert all(m.CLAMP(v, 0, 10) == lib.clamp_c(v, 0, 10) for v in (-5, 5, 50))
    assert m.NEG(-(2**31)) == -(2**31) and m.NOT(0) == 1 and m.SUM3(1, 2, 3) == 6
    assert m.DEG2RAD(180) == 3.14159265358979 and isinstance(m.DEG2RAD(1.5), float)
    with pytest.raises(ValueError, match="shift count"):
        m.FLAG(32)
    with pytest.raises(ZeroDivisionError):
        m.MOD3(0) + m.HALF(1) // 0
    with pytest.raises(OverflowError, match="SQUARE"):
        m.SQUARE(2**31)
    with pytest.raises(TypeError):
        m.SQUARE(1.5)
    for skipped in ("CALLS", "STMT", "STR", "VARIADIC", "NOARGS"):
        assert not hasattr(m, skipped)
    assert m.SQUARE.__doc__ == "#define SQUARE(x) ((x) * (x))"


def test_skipped_macros_are_listed_under_verbose(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    header = "#define CALLS(x) helper(x)\n#define TWICE(x) ((x) * 2)\nint helper(int x);\n"
    (tmp_path / "mv.h").write_text(header)
    (tmp_path / "mv.c").write_text('#include "mv.h"\nint helper(int x) { return x; }\n')
    quiet = run_cli("build", tmp_path / "mv.c", "-o", tmp_path)
    assert quiet.exit_code == 0 and "CALLS" not in quiet.output, quiet.output
    loud = run_cli("build", tmp_path / "mv.c", "-o", tmp_path, "--force", "-v")
    assert "mv.h:1: warning: macro CALLS(x) skipped" in loud.output and "calls a function" in loud.output
    assert "TWICE" not in loud.output
