"""End to end: real emcc builds a library, the generated module is imported and called."""

from __future__ import annotations

import array
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import BuildFn

HEADER = r"""
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define BASICS_VERSION "1.2"
#define BASICS_MAX (1 << 4)
#define BASICS_RATIO 0.5

typedef unsigned int counter_t;

int add(int a, int b);
unsigned int umax(void);
signed char to_schar(int x);
unsigned char to_uchar(int x);
short to_short(int x);
unsigned short to_ushort(int x);
long long mul64(long long a, long long b);
uint64_t u64max(void);
uint8_t u8_echo(uint8_t x);
counter_t count_up(counter_t c);
double scale(double x, float f);
float halve(float x);
bool is_even(int x);
bool negate(bool b);
const char *greet(const char *name);
size_t count_chars(const char *s, int c);
char *upper(char *s);
const char *nothing(void);
int is_null(const char *s);
void fill(int *out, size_t n, int value);
double sum(const double *xs, size_t n);
void *alloc_block(size_t n);
void release(void *p);
int divide(int a, int b);
void say(const char *msg);
void say_partial(const char *msg);
void complain(const char *msg);
void bye(int code);
int recurse(int n);
int undefined_here(int x);
int variadic(const char *fmt, ...);
"""

SOURCE = r"""
#include "basics.h"
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

int add(int a, int b) { return a + b; }
unsigned int umax(void) { return 0xFFFFFFFFu; }
signed char to_schar(int x) { return (signed char)x; }
unsigned char to_uchar(int x) { return (unsigned char)x; }
short to_short(int x) { return (short)x; }
unsigned short to_ushort(int x) { return (unsigned short)x; }
long long mul64(long long a, long long b) { return a * b; }
uint64_t u64max(void) { return UINT64_MAX; }
uint8_t u8_echo(uint8_t x) { return x; }
counter_t count_up(counter_t c) { return c + 1; }
double scale(double x, float f) { return x * f; }
float halve(float x) { return x / 2; }
bool is_even(int x) { return x % 2 == 0; }
bool negate(bool b) { return !b; }
static char buf[256];
const char *greet(const char *name) { snprintf(buf, sizeof buf, "hello, %s!", name); return buf; }
size_t count_chars(const char *s, int c) { size_t n = 0; for (; *s; s++) n += *s == c; return n; }
char *upper(char *s) { for (char *p = s; *p; p++) *p = toupper(*p); return s; }
const char *nothing(void) { return NULL; }
int is_null(const char *s) { return s == NULL; }
void fill(int *out, size_t n, int value) { for (size_t i = 0; i < n; i++) out[i] = value + (int)i; }
double sum(const double *xs, size_t n) { double t = 0; for (size_t i = 0; i < n; i++) t += xs[i]; return t; }
void *alloc_block(size_t n) { return malloc(n); }
void release(void *p) { free(p); }
int divide(int a, int b) { return a / b; }
void say(const char *msg) { printf("C says: %s\n", msg); }
void say_partial(const char *msg) { printf("%s", msg); }
void complain(const char *msg) { fprintf(stderr, "C complains: %s\n", msg); }
void bye(int code) { exit(code); }
int recurse(int n) { volatile char pad[1024]; pad[0] = (char)n; return n <= 0 ? pad[0] : recurse(n - 1) + 1; }
int variadic(const char *fmt, ...) { return 0; }
"""


@pytest.fixture(scope="module")
def lib(build_c: BuildFn) -> ModuleType:
    return build_c("basics", SOURCE, HEADER)


def test_integers(lib: ModuleType) -> None:
    assert lib.add(2, 3) == 5
    assert lib.add(-7, 2) == -5
    assert lib.umax() == 0xFFFFFFFF
    assert lib.to_schar(200) == -56
    assert lib.to_uchar(-1) == 255
    assert lib.to_short(70000) == 4464
    assert lib.to_ushort(-1) == 0xFFFF
    assert lib.mul64(2**40, 3) == 3 * 2**40
    assert lib.mul64(-(2**62), 1) == -(2**62)
    assert lib.u64max() == 2**64 - 1
    assert lib.u8_echo(255) == 255
    assert lib.count_up(41) == 42


def test_integer_arguments_are_checked(lib: ModuleType) -> None:
    with pytest.raises(OverflowError, match=r"'a'.*int"):
        lib.add(2**31, 1)
    with pytest.raises(OverflowError):
        lib.u8_echo(256)
    with pytest.raises(OverflowError):
        lib.u8_echo(-1)
    with pytest.raises(OverflowError):
        lib.count_up(-1)
    with pytest.raises(TypeError, match="'b'"):
        lib.add(1, "2")
    with pytest.raises(TypeError):
        lib.add(1, 2.0)
    with pytest.raises(TypeError):
        lib.add(1)
    assert lib.add(True, 1) == 2  # bool is an int, as in C


def test_floats_and_bools(lib: ModuleType) -> None:
    assert lib.scale(1.5, 2) == 3.0
    assert lib.halve(3) == 1.5
    assert lib.is_even(4) is True
    assert lib.is_even(3) is False
    assert lib.negate(False) is True
    with pytest.raises(TypeError):
        lib.scale("1", 2.0)


def test_strings(lib: ModuleType) -> None:
    assert lib.greet("wasm") == "hello, wasm!"
    assert lib.greet(b"bytes") == "hello, bytes!"
    assert lib.greet("héllo ☃") == "hello, héllo ☃!"
    assert lib.count_chars("banana", ord("a")) == 3
    assert lib.nothing() is None
    assert lib.is_null(None) == 1
    assert lib.is_null("") == 0
    buf = bytearray(b"shout\0")
    assert lib.upper(buf) == "SHOUT"
    assert buf == bytearray(b"SHOUT\0")  # C's writes are copied back
    assert lib.upper("abc") == "ABC"
    with pytest.raises(TypeError, match="'name'"):
        lib.greet(12.0)
    with pytest.raises(TypeError, match="'name'"):
        lib.greet(True)  # a bool is never an address


def test_buffers_and_pointers(lib: ModuleType) -> None:
    a = array.array("i", [0] * 5)
    lib.fill(a, 5, 10)
    assert list(a) == [10, 11, 12, 13, 14]
    assert lib.sum(array.array("d", [1.5, 2.5, 3.0]), 3) == 7.0
    assert lib.sum(memoryview(array.array("d", [1.0, 2.0])), 2) == 3.0
    p = lib.ffi.new("int[]", 4)
    lib.fill(p, 4, 7)
    assert list(p) == [7, 8, 9, 10]
    assert p[0] == 7 and len(p) == 4
    q = lib.ffi.new("double[]", [1.0, 2.0, 4.0])
    assert lib.sum(q, 3) == 7.0
    blk = lib.alloc_block(64)
    assert isinstance(blk, int) and blk > 0
    lib.release(blk)
    lib.release(None)


def test_ffi_helpers(lib: ModuleType) -> None:
    ffi = lib.ffi
    assert ffi.NULL is None
    assert ffi.sizeof("long") == 4
    assert ffi.sizeof("long long") == 8
    assert ffi.sizeof("counter_t") == 4
    assert ffi.sizeof("void *") == 4
    s = ffi.new("char[]", b"abc")
    assert ffi.string(s) == b"abc"
    assert bytes(ffi.buffer(s, 3)) == b"abc"
    one = ffi.new("counter_t *", 5)
    assert one[0] == 5
    one[0] = 6
    assert one.value == 6
    raw = ffi.malloc(16)
    assert raw > 0
    ffi.free(raw)
    # ffi.new memory is freed with its last Pointer: freeing it by hand would free it twice.
    for owned in (s, s + 1, ffi.new("counter_t[]", 2)):
        with pytest.raises(ValueError, match=r"comes from ffi\.new"):
            ffi.free(owned)
    ffi.free(ffi.cast("char *", ffi.malloc(4)))  # a Pointer to malloc'd memory frees fine
    assert ffi.memory_size() >= 16 * 1024 * 1024
    with pytest.raises(ValueError, match="unknown C type"):
        ffi.new("nosuch_t *")
    with pytest.raises(IndexError):
        ffi.new("int[2]")[2]


def test_traps_and_exit(lib: ModuleType) -> None:
    with pytest.raises(lib.WasmTrap, match="divide") as info:
        lib.divide(1, 0)
    assert info.value.function == "divide"
    assert lib.add(1, 1) == 2  # still usable
    with pytest.raises(lib.WasmExit) as ex:
        lib.bye(3)
    assert ex.value.code == 3
    assert lib.greet("again") == "hello, again!"


def test_stack_restored_after_trap(lib: ModuleType) -> None:
    inst = lib.load()
    sp = inst.stack_save()
    with pytest.raises(lib.WasmTrap):
        inst.recurse(10**7)  # stack overflow deep inside C
    assert inst.stack_save() == sp
    assert inst.recurse(10) == 10


def test_stdout_and_stderr(lib: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    lib.say("hi")
    lib.complain("oops")
    out, err = capsys.readouterr()
    assert out == "C says: hi\n"
    assert err == "C complains: oops\n"
    inst = lib.load()
    inst.say_partial("no newline")
    assert capsys.readouterr().out == ""
    inst.flush()
    assert capsys.readouterr().out == "no newline"


def test_instances_are_isolated(lib: ModuleType) -> None:
    a, b = lib.load(), lib.load()
    pa = a.ffi.new("int[]", 2)
    with pytest.raises(TypeError, match="another wasm instance"):
        b.fill(pa, 2, 0)
    assert a is not b and a.add(1, 2) == b.add(1, 2) == 3
    assert lib.instance() is lib.instance()


def test_constants_and_skips(lib: ModuleType) -> None:
    assert lib.BASICS_VERSION == "1.2"
    assert lib.BASICS_MAX == 16
    assert lib.BASICS_RATIO == 0.5
    assert not hasattr(lib, "undefined_here")
    assert lib.variadic("%d", 1) == 0  # variadic functions are called with *args (test_c_extras.py)


def test_docstrings_and_annotations(lib: ModuleType) -> None:
    assert lib.add.__doc__ == "int add(int a, int b)"
    assert lib.Library.greet.__annotations__["return"] == "str | None"


def test_output_without_newline_is_flushed_at_exit(lib: ModuleType, tmp_path: Path) -> None:
    script = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("basics", {lib.__file__!r})
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
m.say_partial("no newline, still shown")
with m.load() as inst:
    inst.say_partial(" | closed")
print(" | python")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == " | closed | python\nno newline, still shown"


def test_source_without_header_binds_what_it_defines(tmp_path: Path) -> None:
    """No -H and no sibling .h: the source's own non-static definitions are the API."""
    from tests.conftest import import_file, run_cli

    (tmp_path / "solo.c").write_text(
        "#include <stdio.h>\n"
        "int counter = 0;\n"
        "static int helper(int x) { return x + 1; }\n"
        "int square(int x) { return helper(x) * x - x; }\n"
        "double half(double d) { printf(\"half\\n\"); return d / 2; }\n"
    )
    res = run_cli("build", tmp_path / "solo.c", "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert "2 functions bound" in res.output and "warning" not in res.output
    solo = import_file(tmp_path / "solo.py")
    assert solo.square(7) == 49 and solo.half(3.0) == 1.5
    assert not hasattr(solo, "helper") and not hasattr(solo, "counter")

    # C the header parser cannot read: one warning asking for a header, and still a build.
    (tmp_path / "odd.c").write_text("int same(void) { return __builtin_types_compatible_p(int, long); }\n")
    res = run_cli("build", tmp_path / "odd.c", "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert "odd.c:1: warning: no header given for odd.c" in res.output
    assert "pass --header/-H" in res.output and "0 functions bound" in res.output
