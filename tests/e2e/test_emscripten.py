"""Emscripten's runtime helpers in Python: ccall/cwrap, HEAP views, stack, UTF-8, get/setValue.

Each test mirrors an example of Emscripten's documentation (preamble.js /
"Interacting with code"), with the JavaScript in a comment above the Python.
"""

from __future__ import annotations

import array
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import WasmBoundsError, WasmLinkError, WasmTrap
from tests.conftest import BuildFn

C_SRC = r"""
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "emlib.h"

static char buf[128];
void *kept[64];
static int nkept;

int add(int a, int b) { return a + b; }
double half(double x) { return x / 2; }
int is_positive(double x) { return x > 0; }
long long mul64(long long a, long long b) { return a * b; }
const char *greet(const char *who) { snprintf(buf, sizeof buf, "hello, %s!", who); return buf; }
int count_bytes(const unsigned char *data, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += data[i];
    return s;
}
size_t c_strlen(const char *s) { return strlen(s); }
int read_int(const int *p) { return *p; }
void write_ints(int *p, int n) { for (int i = 0; i < n; i++) p[i] = i * i; }
void *grow(int n) { void *p = malloc(n); if (p) { memset(p, 7, n); kept[nkept++ % 64] = p; } return p; }
void nothing(void) {}
int crash(void) { __builtin_trap(); }
"""

H_SRC = r"""
#include <stddef.h>
int add(int a, int b);
double half(double x);
int is_positive(double x);
long long mul64(long long a, long long b);
const char *greet(const char *who);
int count_bytes(const unsigned char *data, int n);
size_t c_strlen(const char *s);
int read_int(const int *p);
void write_ints(int *p, int n);
void *grow(int n);
void nothing(void);
int crash(void);
"""


@pytest.fixture(scope="module")
def em(build_c: BuildFn) -> ModuleType:
    return build_c("emlib", C_SRC, H_SRC)


@pytest.fixture
def ffi(em: ModuleType) -> Any:
    return em.load().ffi


# -- ccall / cwrap ---------------------------------------------------------


def test_ccall_numbers(ffi: Any) -> None:
    # Module.ccall('add', 'number', ['number', 'number'], [2, 3])
    assert ffi.ccall("add", "number", ["number", "number"], [2, 3]) == 5
    assert ffi.ccall("half", "number", ["number"], [3]) == 1.5
    assert ffi.ccall("add", "number", ["number", "number"], [-7, 2]) == -5


def test_ccall_string_in_and_out(ffi: Any) -> None:
    # Module.ccall('greet', 'string', ['string'], ['wasm'])
    assert ffi.ccall("greet", "string", ["string"], ["wasm"]) == "hello, wasm!"
    assert ffi.ccall("c_strlen", "number", ["string"], ["héllo"]) == 6  # UTF-8 bytes


def test_ccall_array(ffi: Any) -> None:
    # Module.ccall('count_bytes', 'number', ['array', 'number'], [new Uint8Array([1, 2, 250]), 3])
    assert ffi.ccall("count_bytes", "number", ["array", "number"], [bytes([1, 2, 250]), 3]) == 253
    assert ffi.ccall("count_bytes", "number", ["array", "number"], [[10, 20], 2]) == 30


def test_ccall_boolean_bigint_void(ffi: Any) -> None:
    assert ffi.ccall("is_positive", "boolean", ["number"], [2.5]) is True
    assert ffi.ccall("is_positive", "boolean", ["number"], [-1]) is False
    # i64 parameters: the export's real wasm signature (i64, i64) -> i64 is used
    assert ffi.ccall("mul64", "bigint", ["bigint", "bigint"], [2**40, 3]) == 3 * 2**40
    assert ffi.ccall("mul64", "number", ["number", "number"], [-(2**33), 2]) == -(2**34)
    assert ffi.ccall("nothing", None, [], []) is None


def test_strings_and_arrays_live_on_the_stack_only_for_the_call(ffi: Any) -> None:
    sp = ffi.stackSave()
    for _ in range(1000):  # 1000 x 4 KiB would overflow a leaking stack of 64 KiB in newer Emscripten
        ffi.ccall("c_strlen", "number", ["string"], ["x" * 4096])
    assert ffi.stackSave() == sp


def test_cwrap(ffi: Any) -> None:
    # var add = Module.cwrap('add', 'number', ['number', 'number']); add(1, 2)
    add = ffi.cwrap("add", "number", ["number", "number"])
    greet = ffi.cwrap("greet", "string", ["string"])
    assert [add(i, i) for i in range(5)] == [0, 2, 4, 6, 8]
    assert greet("cwrap") == "hello, cwrap!"
    with pytest.raises(TypeError, match="takes 2 arguments"):
        add(1)


def test_ccall_errors(ffi: Any) -> None:
    with pytest.raises(WasmLinkError, match="does_not_exist"):
        ffi.cwrap("does_not_exist", "number", [])
    with pytest.raises(TypeError, match="2 argument types given, the wasm export takes 1"):
        ffi.cwrap("half", "number", ["number", "number"])
    with pytest.raises(ValueError, match="unknown type"):
        ffi.cwrap("half", "nombre", ["number"])
    with pytest.raises(OverflowError):
        ffi.ccall("add", "number", ["number", "number"], [2**40, 1])
    sp = ffi.stackSave()
    with pytest.raises(WasmTrap):
        ffi.ccall("crash", "number", [], [])
    assert ffi.stackSave() == sp
    assert ffi.ccall("add", "number", ["number", "number"], [1, 1]) == 2  # still usable


def test_failed_argument_conversion_releases_the_stack(ffi: Any) -> None:
    sp = ffi.stackSave()
    # the string goes on the stack before argument 2 fails its range check
    with pytest.raises(OverflowError):
        ffi.ccall("add", "number", ["string", "number"], ["abc", 2**40])
    assert ffi.stackSave() == sp
    # a string larger than the whole wasm stack (5 MiB in 3.1.6, 64 KiB later) is refused,
    # not written over C's static data
    with pytest.raises(MemoryError, match="stack has only"):
        ffi.ccall("c_strlen", "number", ["string"], ["x" * (8 << 20)])
    assert ffi.stackSave() == sp
    assert ffi.ccall("c_strlen", "number", ["string"], ["still fine"]) == 10


def test_ccall_bytes_strings_and_signed_arrays(ffi: Any) -> None:
    # bytes go in as they are (no UTF-8 round trip), and array values wrap to 8 bits as in HEAP8.set
    assert ffi.ccall("c_strlen", "number", ["string"], [b"\xff\xfe"]) == 2
    assert ffi.ccall("count_bytes", "number", ["array", "number"], [[-1, 256, 2], 3]) == 255 + 0 + 2
    with pytest.raises(TypeError, match="argument 1"):
        ffi.ccall("c_strlen", "number", ["string"], [3.5])


# -- heap views -------------------------------------------------------------


def test_heap_views_read_and_write(ffi: Any) -> None:
    p = ffi.malloc(64)
    # HEAP32[p >> 2] = 1234; _read_int(p)
    ffi.HEAP32[p >> 2] = 1234
    assert ffi.ccall("read_int", "number", ["number"], [p]) == 1234
    ffi.ccall("write_ints", None, ["number", "number"], [p, 4])
    assert ffi.HEAP32[p >> 2 : (p >> 2) + 4] == [0, 1, 4, 9]
    assert ffi.HEAPU8[p + 4] == 1
    ffi.HEAPU8[p : p + 4] = b"\xff\xff\xff\xff"
    assert ffi.HEAP32[p >> 2] == -1 and ffi.HEAPU32[p >> 2] == 2**32 - 1
    assert ffi.HEAP8[p] == -1 and ffi.HEAP16[p >> 1] == -1 and ffi.HEAPU16[p >> 1] == 65535
    ffi.HEAPF64[p >> 3] = 2.5
    assert ffi.HEAPF64[p >> 3] == 2.5
    ffi.HEAPF32[p >> 2] = 0.25
    assert ffi.HEAPF32[p >> 2] == 0.25
    ffi.HEAP64[p >> 3] = -(2**60)
    assert ffi.HEAP64[p >> 3] == -(2**60) and ffi.HEAPU64[p >> 3] == 2**64 - 2**60
    # HEAPU8.set(array, ptr) and subarray (a no-copy view)
    ffi.HEAPU8.set(b"abc\0", p)
    assert ffi.UTF8ToString(p) == "abc"
    assert bytes(ffi.HEAPU8.subarray(p, p + 3)) == b"abc"
    ffi.free(p)


def test_heap_view_bounds_and_len(ffi: Any) -> None:
    n = ffi.memory_size()
    assert len(ffi.HEAPU8) == n and len(ffi.HEAP32) == n // 4 and len(ffi.HEAPF64) == n // 8
    with pytest.raises(WasmBoundsError):
        ffi.HEAP32[n // 4]
    with pytest.raises(WasmBoundsError):
        ffi.HEAPU8[-1]
    with pytest.raises(WasmBoundsError):
        ffi.HEAPU8[n] = 1
    assert ffi.HEAPU8[n - 1] is not None
    with pytest.raises(WasmBoundsError, match="negative index"):
        ffi.HEAPU8.subarray(-4)


def test_heap_views_follow_memory_growth(ffi: Any) -> None:
    heap = ffi.HEAPU8  # taken before growth, like a JS variable holding HEAPU8
    before = len(heap)
    p = ffi.ccall("grow", "pointer", ["number"], [64 << 20])
    assert p and len(heap) > before >= 0
    # the new memory is readable through the old view object and a fresh one
    assert heap[p + (64 << 20) - 1] == 7
    assert ffi.HEAP32[(p + (32 << 20)) >> 2] == 0x07070707


def test_heap_view_conversions_match_typed_arrays(ffi: Any) -> None:
    p = ffi.malloc(16)
    ffi.HEAPF32[p >> 2] = 1e300  # a Float32Array stores Infinity
    assert ffi.HEAPF32[p >> 2] == float("inf")
    ffi.setValue(p, -1e300, "float")
    assert ffi.getValue(p, "float") == float("-inf")
    ffi.HEAPU8[p : p + 3] = b"xyz"
    assert ffi.HEAPU8[p : p + 3] == list(b"xyz")
    ffi.HEAP32.set(array.array("i", [7, -2]), p >> 2)  # a typed source copies elements, not bytes
    assert ffi.HEAP32[p >> 2 : (p >> 2) + 2] == [7, -2]
    with pytest.raises(TypeError):
        ffi.HEAP32[1.5]
    with pytest.raises(TypeError, match="writeArrayToMemory"):
        ffi.writeArrayToMemory(5, p)  # bytes(5) would be five zero bytes
    ffi.writeArrayToMemory([-1, 1], p)
    assert ffi.HEAPU8[p : p + 2] == [255, 1]
    ffi.free(p)


# -- stack -----------------------------------------------------------------


def test_stack_save_alloc_restore(ffi: Any) -> None:
    # var sp = stackSave(); var p = stackAlloc(16); ...; stackRestore(sp)
    sp = ffi.stackSave()
    p = ffi.stackAlloc(16)
    assert p < sp and p % 16 == 0
    ffi.HEAP32[p >> 2] = 99
    assert ffi.ccall("read_int", "number", ["number"], [p]) == 99
    ffi.stackRestore(sp)
    assert ffi.stackSave() == sp


def test_stack_scope(ffi: Any) -> None:
    sp = ffi.stackSave()
    with ffi.stack():
        s = ffi.stringToUTF8OnStack("on the stack")
        assert ffi.ccall("c_strlen", "number", ["number"], [s]) == 12
        assert ffi.stackSave() < sp
    assert ffi.stackSave() == sp
    with pytest.raises(RuntimeError), ffi.stack():
        ffi.stackAlloc(1024)
        raise RuntimeError("boom")
    assert ffi.stackSave() == sp


def test_stack_alloc_refuses_overflow(ffi: Any) -> None:
    sp = ffi.stackSave()
    with pytest.raises(MemoryError, match="stack has only"):
        ffi.stackAlloc(64 << 20)
    with pytest.raises(MemoryError):
        ffi.stackAlloc(2**32 + 16)  # must not wrap to a 16-byte allocation
    assert ffi.stackSave() == sp
    assert ffi.stackAlloc(100) % 16 == 0
    ffi.stackRestore(sp)


# -- strings ----------------------------------------------------------------


def test_utf8_helpers(ffi: Any) -> None:
    assert ffi.lengthBytesUTF8("€") == 3 and ffi.lengthBytesUTF8("a€😀") == 8
    # a surrogate pair is one 4-byte character, as in JavaScript's UTF-16 strings; a lone one 3 bytes
    assert ffi.lengthBytesUTF8("\ud83d\ude00") == 4 and ffi.lengthBytesUTF8("\ud83d") == 3
    # var len = lengthBytesUTF8(s) + 1; var p = _malloc(len); stringToUTF8(s, p, len)
    s = "naïve €"
    n = ffi.lengthBytesUTF8(s) + 1
    p = ffi.malloc(n)
    assert ffi.stringToUTF8(s, p, n) == n - 1
    assert ffi.UTF8ToString(p) == s
    assert ffi.ccall("c_strlen", "number", ["number"], [p]) == n - 1
    # maxBytesToWrite counts the NUL and never splits a character
    assert ffi.stringToUTF8("a€b", p, 3) == 1 and ffi.UTF8ToString(p) == "a"
    assert ffi.stringToUTF8("a€b", p, 5) == 4 and ffi.UTF8ToString(p) == "a€"
    assert ffi.stringToUTF8("abc", p, 0) == 0
    # UTF8ToString(ptr, maxBytesToRead)
    ffi.stringToUTF8("hello", p, n)
    assert ffi.UTF8ToString(p, 4) == "hell"
    ffi.writeArrayToMemory(b"ab\0cd", p)
    assert ffi.UTF8ToString(p, 5) == "ab" and ffi.UTF8ToString(p, 5, True) == "ab\0cd"  # ignoreNul
    assert ffi.UTF8ToString(0) == ""
    ffi.free(p)


def test_string_to_new_utf8(ffi: Any) -> None:
    p = ffi.stringToNewUTF8("heap copy")
    assert p and ffi.UTF8ToString(p) == "heap copy"
    assert ffi.ccall("greet", "string", ["number"], [p]) == "hello, heap copy!"
    ffi.free(p)
    q = ffi.allocateUTF8("old name")
    assert ffi.UTF8ToString(q) == "old name"
    ffi.free(q)


# -- getValue / setValue ----------------------------------------------------


def test_get_set_value(ffi: Any) -> None:
    p = ffi.malloc(16)
    for t, v in [("i8", -5), ("i16", -300), ("i32", -70000), ("i64", -(2**40)), ("double", 0.1), ("*", 1234)]:
        ffi.setValue(p, v, t)
        assert ffi.getValue(p, t) == v, t
    ffi.setValue(p, 1.5, "float")
    assert ffi.getValue(p, "float") == 1.5
    ffi.setValue(p, 1, "i1")
    assert ffi.getValue(p, "i1") is True
    ffi.setValue(p, 255, "i8")  # wraps as in JavaScript
    assert ffi.getValue(p, "i8") == -1
    ffi.setValue(p, 42, "i32")
    assert ffi.HEAP32[p >> 2] == 42 and ffi.getValue(p, "int*") == 42
    with pytest.raises(ValueError, match="invalid type"):
        ffi.getValue(p, "i128")
    ffi.free(p)


def test_helpers_take_pointers_of_their_own_instance_only(em: ModuleType) -> None:
    ffi = em.load().ffi
    p = ffi.new("char[]", 32)
    assert ffi.stringToUTF8("ptr", p, 32) == 3 and ffi.UTF8ToString(p) == "ptr"
    assert ffi.ccall("c_strlen", "number", ["string"], [p]) == 3  # a Pointer passes as its address
    ffi.setValue(p, ord("P"), "i8")
    assert ffi.getValue(p, "i8") == ord("P")
    other = em.load().ffi
    with pytest.raises(TypeError, match="another wasm instance"):
        other.UTF8ToString(p)
    with pytest.raises(TypeError, match="another wasm instance"):
        other.stringToUTF8("x", p, 2)
    with pytest.raises(TypeError, match="another wasm instance"):
        other.getValue(p, "i8")
    with pytest.raises(TypeError, match="another wasm instance"):
        other.ccall("c_strlen", "number", ["number"], [p])


def test_module_ffi_has_the_helpers(em: ModuleType) -> None:
    assert em.ffi.ccall("add", "number", ["number", "number"], [20, 22]) == 42
    p = em.ffi.stringToNewUTF8("default instance")
    assert em.ffi.UTF8ToString(p) == "default instance"
    em.ffi.free(p)
