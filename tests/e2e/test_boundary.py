"""The C boundary never lies (issue 10): each defect found on third-party libraries, as a
regression test through real emcc and a generated module."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import WasmLinkError, WasmTrap
from tests.conftest import BuildFn, import_file

H = r"""
#include <stddef.h>
#include <stdint.h>

char *dup_str(const char *s);
void free_str(char *s);
size_t str_len(const char *s);

typedef int (*cb_t)(int);
void store_cb(cb_t f);
int call_stored(int x);
int apply_cb(cb_t f, int x);

typedef void (*emit_t)(const char *, unsigned, void *);
void chunks(const char *text, unsigned step, emit_t emit, void *ud);
typedef int (*sink_t)(const uint8_t *data, size_t len);
int feed(sink_t sink);
typedef void (*fill_t)(char *buf, size_t size);
int filled(fill_t fill);

size_t ustrlen(const unsigned char *s);
size_t u8strlen(const uint8_t *s);

typedef int handler_t(void *data, int x);
void set_handler(handler_t *h, void *data);
int run_handler(int x);

enum { FIRST = 0, SECOND = 1 };
int second(void);

int _lock(void);
int _top(void);
int print(int x);
int _v_print(void);
int _c_print(void);
int _release(int x);

typedef struct { const char *name; cb_t fn; int n; } Entry;
const char *entry_name(const Entry *e);
int entry_call(const Entry *e, int x);
"""

C = r"""
#include <stdlib.h>
#include <string.h>
#include "boundary.h"

char *dup_str(const char *s) { return strdup(s); }
void free_str(char *s) { free(s); }
size_t str_len(const char *s) { return strlen(s); }

static cb_t stored;
void store_cb(cb_t f) { stored = f; }
int call_stored(int x) { return stored(x); }
int apply_cb(cb_t f, int x) { return f(x); }

void chunks(const char *text, unsigned step, emit_t emit, void *ud) {
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += step) emit(text + i, (unsigned)(n - i < step ? n - i : step), ud);
}
int feed(sink_t sink) {
    static const uint8_t data[] = {1, 2, 0, 3, 4, 5, 6, 7};
    return sink(data + 1, 3) + sink(data + 4, 4);
}
int filled(fill_t fill) {
    char buf[8] = "abcdefg";
    fill(buf, 3);
    return (int)strlen(buf);
}

size_t ustrlen(const unsigned char *s) { return strlen((const char *)s); }
size_t u8strlen(const uint8_t *s) { return strlen((const char *)s); }

static handler_t *handler;
static void *handler_data;
void set_handler(handler_t *h, void *data) { handler = h; handler_data = data; }
int run_handler(int x) { return handler(handler_data, x); }

int second(void) { return SECOND; }

int _lock(void) { return 1; }
int _top(void) { return 2; }
int print(int x) { return x * 3; }
int _v_print(void) { return 4; }
int _c_print(void) { return 5; }
int _release(int x) { return x + 6; }

const char *entry_name(const Entry *e) { return e->name; }
int entry_call(const Entry *e, int x) { return e->fn(x) + e->n; }
"""


@pytest.fixture(scope="module")
def mod(build_c: BuildFn) -> ModuleType:
    return build_c("boundary", C, H)


@pytest.fixture
def lib(mod: ModuleType) -> Any:
    return mod.load()


def test_1_a_cstr_passed_back_is_its_address_never_a_copy(lib: Any) -> None:
    for _ in range(50):
        s = lib.dup_str("hello")
        assert s == "hello"
        lib.free_str(s)  # frees C's block, not a scratch copy
    s = lib.dup_str("hi")
    lib.free_str(s.address)  # the README's advice works too
    assert lib.dup_str("x" * 40) == "x" * 40  # the heap is intact (dlmalloc trapped here)
    t = lib.dup_str("abc")
    assert lib.str_len(t) == 3
    other = lib.ffi.new("char[]", b"zz")  # noqa: F841  (another allocation in between)
    lib.free_str(t)


def test_1_a_cstr_of_another_instance_is_its_text(mod: ModuleType, lib: Any) -> None:
    other = mod.load()
    s = other.dup_str("elsewhere")
    assert lib.str_len(s) == len("elsewhere")  # a const char *: the text, copied
    p = lib.ffi.new("char **")
    with pytest.raises(TypeError, match="another wasm instance"):
        p[0] = s  # stored in memory, only an address can do: not one of another instance


def test_2_a_stored_plain_callable_traps_never_runs_another(lib: Any) -> None:
    lib.store_cb(lambda x: x + 100)
    assert lib.apply_cb(lambda x: x + 1, 1) == 2  # another plain callable, same signature
    with pytest.raises(WasmTrap, match="callable is gone"):
        lib.call_stored(1)
    assert lib.apply_cb(lambda x: x * 2, 5) == 10  # the instance still works


def test_2_a_collected_ffi_callback_traps_and_its_index_is_not_reused(lib: Any) -> None:
    cb = lib.ffi.callback("cb_t", lambda x: x + 100)
    lib.store_cb(cb)
    assert lib.call_stored(1) == 101
    old = cb.index
    del cb
    gc.collect()
    new = lib.ffi.callback("cb_t", lambda x: x - 100)
    assert new.index != old
    with pytest.raises(WasmTrap, match="callable is gone"):
        lib.call_stored(1)
    lib.store_cb(new)
    assert lib.call_stored(1) == -99


def test_3_pointer_and_length_give_exactly_those_bytes(lib: Any) -> None:
    got: list[bytes] = []
    lib.chunks("abcdefgh", 3, lambda p, n, ud: got.append(p), None)  # unnamed parameters
    assert got == [b"abc", b"def", b"gh"]
    text = "x" * 100_000
    total = [0]

    def count(p: bytes | None, n: int, ud: int | None) -> None:
        assert p is not None and len(p) == n
        total[0] += n

    lib.chunks(text, 100, count, None)
    assert total[0] == len(text)  # not the rest of the buffer on every call
    seen: list[bytes | None] = []
    def sink(data: bytes | None, n: int) -> int:
        seen.append(data)
        return n

    assert lib.feed(sink) == 7  # named `data`/`len`
    assert seen == [b"\x02\x00\x03", b"\x04\x05\x06\x07"]

    def fill(buf: Any, size: int) -> None:
        assert len(buf) == size == 3
        buf[0:3] = [ord("x"), 0, ord("y")]

    assert lib.filled(fill) == 1  # a non-const buffer is a Pointer of that length to write into


def test_an_ffi_cast_int_is_an_address_like_any_int(lib: Any) -> None:
    s = lib.dup_str("cast")
    addr = lib.ffi.cast("uintptr_t", s.address)  # a CInt, which remembers its C type
    assert addr == s.address and type(addr) is not int
    assert lib.str_len(addr) == 4  # const char *
    lib.free_str(addr)  # char *
    p = lib.ffi.new("char[]", b"abc")
    assert lib.u8strlen(lib.ffi.cast("uintptr_t", lib.ffi.cast("uintptr_t", p.address))) == 3  # T *
    with pytest.raises(TypeError):
        lib.str_len(True)  # a bool is never an address


def test_4_byte_strings_are_nul_terminated(lib: Any) -> None:
    assert lib.ustrlen(b"abcdefgh") == 8
    assert lib.ustrlen(b"xy") == 2
    assert lib.u8strlen(bytearray(b"abcdefgh")) == 8
    assert lib.u8strlen(b"x") == 1


def test_5_function_type_typedefs(lib: Any) -> None:
    h = lib.ffi.callback("handler_t", lambda data, x: x * 7)
    lib.set_handler(h, None)
    assert lib.run_handler(6) == 42


def test_6_anonymous_enum_members_are_int_constants(mod: ModuleType, lib: Any) -> None:
    assert mod.FIRST == 0 and mod.SECOND == 1
    assert type(mod.SECOND) is int
    assert lib.second() == mod.SECOND


def test_7_c_names_meeting_the_instance_are_renamed_and_callable(lib: Any) -> None:
    assert lib._lock_() == 1
    assert lib._top_() == 2
    assert lib.print(2) == 6
    assert lib._v_print_() == 4
    assert lib._c_print_() == 5
    assert lib._release_(1) == 7
    assert lib.print(1) == 3  # the instance's own attributes still work after those calls


def test_8_a_damaged_or_mismatched_wasm_is_refused_at_load(mod: ModuleType, tmp_path: Path) -> None:
    src = Path(mod.__file__ or "")
    good = src.with_suffix(".wasm").read_bytes()
    cases = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "text": b'(module (func (export "x")))\n',
        "other build": good + b"\0custom",  # still loads as wasm: only the hash tells
    }
    for i, (what, data) in enumerate(cases.items()):
        d = tmp_path / f"c{i}"
        d.mkdir()
        name = f"boundary_{i}"
        (d / f"{name}.py").write_text(src.read_text().replace('"boundary.wasm"', f'"{name}.wasm"'))
        (d / f"{name}.wasm").write_bytes(data)
        m = import_file(d / f"{name}.py")
        with pytest.raises(WasmLinkError, match=f"{name}.wasm") as ei:
            m.load()
        assert "rebuild" in str(ei.value) or "not a valid wasm" in str(ei.value), (what, ei.value)


def test_9_struct_fields_and_function_pointer_checks(mod: ModuleType, lib: Any) -> None:
    name = lib.dup_str("entry")
    cb = lib.ffi.callback("cb_t", lambda x: x + 1)
    e = lib.ffi.new("Entry *", mod.Entry(name=name, fn=cb, n=10))
    assert e.name == "entry"  # a const char * field reads as str, as the README says
    assert lib.entry_name(e) == "entry"
    assert lib.entry_call(e, 1) == 12
    with pytest.raises(TypeError):
        e.fn = lambda x: x  # C keeps a field's pointer: only an ffi.callback
    with pytest.raises(TypeError):
        lib.apply_cb(5, 1)  # an int is not a function pointer
    with pytest.raises(TypeError):
        lib.ffi.callback("cb_t", 5)


USER = """
import boundary
from boundary import FIRST, SECOND, Entry

lib = boundary.load()
rc: int = lib.second()
same: bool = rc == boundary.SECOND or rc == FIRST
n: int = lib._lock_() + lib._top_() + lib.print(1) + lib._v_print_() + lib._c_print_()
cb = lib.ffi.callback("cb_t", lambda x: x)
e = Entry(name=None, fn=cb, n=1)
lib.free_str(lib.dup_str("x"))
"""


def test_generated_module_passes_mypy_strict_and_ruff(mod: ModuleType, tmp_path: Path) -> None:
    src = Path(mod.__file__ or "")
    shutil.copy(src, tmp_path / "boundary.py")
    (tmp_path / "user.py").write_text(textwrap.dedent(USER))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "MYPYPATH": str(root)}
    files = [str(tmp_path / "boundary.py"), str(tmp_path / "user.py")]
    argv = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", *files]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = ["--select", "E,F,I,B,UP,RUF", "--line-length", "110"]
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", *rules, files[0]]
    proc = subprocess.run(ruff, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ffi_gc_runs_the_destructor_when_collected_and_release_runs_it_now(lib: Any) -> None:
    freed: list[int] = []

    def free(p: Any) -> None:
        freed.append(p.address)
        lib.free_str(p)

    s = lib.dup_str("gc me")
    p = lib.ffi.gc(s, free)
    assert lib.str_len(p) == 5 and p.address == s.address
    del p
    gc.collect()
    assert freed == [s.address]
    q = lib.ffi.gc(lib.dup_str("now"), free)
    lib.ffi.release(q)
    assert len(freed) == 2
    lib.ffi.release(q)  # once only
    del q
    gc.collect()
    assert len(freed) == 2
    lib.ffi.release(lib.ffi.new("int[]", 4))  # ffi.new memory is freed now too
    with pytest.raises(ValueError, match="comes from neither"):
        lib.ffi.release(lib.ffi.cast("int *", 16))
    with pytest.raises(TypeError):
        lib.ffi.gc(16, free)
    assert lib.dup_str("x" * 40) == "x" * 40  # the heap is intact
