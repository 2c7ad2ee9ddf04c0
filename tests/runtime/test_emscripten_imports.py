"""`load_wasm` answering the imports of newer Emscripten releases (hand-written wasm).

Only emcc 3.1.6 is installed here; this module imports what later releases' JS-mode
wasm imports, under their names and signatures (from Emscripten's `src/lib/libsigs.js`):
the time functions with a 64-bit `time_t` passed as one i64 (WASM_BIGINT, the default
since 4.0) or as two i32 halves (before), `_mktime_js` returning i64, and the small
runtime imports added since 3.1.6.
"""

from __future__ import annotations

import calendar
import io
import struct
from typing import Any

import pytest
import wasmtime

from embind_py.runtime import WasmTrap, load_wasm

WAT = r"""
(module
  (import "env" "_localtime_js" (func $localtime (param i64 i32)))
  (import "env" "_gmtime_js" (func $gmtime (param i32 i32 i32)))
  (import "env" "_mktime_js" (func $mktime (param i32) (result i64)))
  (import "env" "_timegm_js" (func $timegm (param i32) (result i32)))
  (import "env" "getTempRet0" (func $get_temp_ret0 (result i32)))
  (import "env" "__asctime_r" (func $asctime_r (param i32 i32) (result i32)))
  (import "env" "_emscripten_system" (func $system (param i32) (result i32)))
  (import "env" "_emscripten_runtime_keepalive_clear" (func $keepalive_clear))
  (import "env" "_emscripten_get_progname" (func $progname (param i32 i32)))
  (import "env" "_setitimer_js" (func $setitimer (param i32 f64) (result i32)))
  (import "env" "_mmap_js" (func $mmap (param i32 i32 i32 i32 i64 i32 i32) (result i32)))
  (import "env" "emscripten_outn" (func $outn (param i32 i32)))
  (import "env" "emscripten_errn" (func $errn (param i32 i32)))
  (import "env" "_abort_js" (func $abort_js))
  (import "env" "_tzset_js" (func $tzset (param i32 i32 i32 i32)))
  (import "env" "emscripten_date_now" (func $date_now (result f64)))
  (import "env" "_emscripten_get_now_is_monotonic" (func $monotonic (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "free") (param i32))
  (func (export "localtime") (param i64 i32) (call $localtime (local.get 0) (local.get 1)))
  (func (export "gmtime") (param i32 i32 i32) (call $gmtime (local.get 0) (local.get 1) (local.get 2)))
  (func (export "mktime") (param i32) (result i64) (call $mktime (local.get 0)))
  (func (export "timegm") (param i32) (result i32) (call $timegm (local.get 0)))
  (func (export "temp_ret0") (result i32) (call $get_temp_ret0))
  (func (export "asctime_r") (param i32 i32) (result i32) (call $asctime_r (local.get 0) (local.get 1)))
  (func (export "system") (param i32) (result i32) (call $system (local.get 0)))
  (func (export "keepalive_clear") (call $keepalive_clear))
  (func (export "progname") (param i32 i32) (call $progname (local.get 0) (local.get 1)))
  (func (export "setitimer") (param i32 f64) (result i32) (call $setitimer (local.get 0) (local.get 1)))
  (func (export "mmap") (param i32) (result i32)
    (call $mmap (local.get 0) (i32.const 1) (i32.const 1) (i32.const 3)
      (i64.const 0) (i32.const 0) (i32.const 0)))
  (func (export "outn") (param i32 i32) (call $outn (local.get 0) (local.get 1)))
  (func (export "errn") (param i32 i32) (call $errn (local.get 0) (local.get 1)))
  (func (export "abort") (call $abort_js))
  (func (export "tzset") (param i32 i32 i32 i32)
    (call $tzset (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "date_now") (result f64) (call $date_now))
  (func (export "monotonic") (result i32) (call $monotonic))
  (func (export "seek") (param i32 i64) (result i32)
    (call $fd_seek (local.get 0) (local.get 1) (i32.const 0) (i32.const 64)))
)
"""

TM = 1024  # a struct tm (44 bytes) in the module's memory
BUF = 2048


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return bytes(wasmtime.wat2wasm(WAT))


@pytest.fixture
def m(wasm: bytes) -> Any:
    return load_wasm(wasm, stdout=io.StringIO(), stderr=io.StringIO())


def _tm(m: Any) -> tuple[int, ...]:
    return struct.unpack("<9i", m.mem.read(TM, 36))


def _call(m: Any, name: str, *args: Any) -> Any:
    return m.exports.get(name)(m.store, *args)


# 2024-02-29 12:34:56 UTC, a Thursday, day 59 of a leap year
T = calendar.timegm((2024, 2, 29, 12, 34, 56))
FIELDS = (56, 34, 12, 29, 1, 124, 4, 59, 0)


def test_localtime_takes_the_time_as_one_i64_with_wasm_bigint(m: Any) -> None:
    # The time fits in 32 bits: it must not be taken for a pointer to a time_t.
    _call(m, "localtime", T, TM)
    assert _tm(m) == FIELDS
    _call(m, "localtime", -86400, TM)  # before 1970
    assert _tm(m)[3:6] == (31, 11, 69)
    _call(m, "localtime", 2**33, TM)  # past 2038
    assert _tm(m)[5] == 2242 - 1900


def test_gmtime_takes_the_time_as_two_i32_halves_without_wasm_bigint(m: Any) -> None:
    t = 2**32 + 12345
    _call(m, "gmtime", t & 0xFFFFFFFF, t >> 32, TM)
    assert _tm(m)[5] + 1900 == 2106
    _call(m, "gmtime", T, 0, TM)
    assert _tm(m) == FIELDS


def test_mktime_returns_an_i64_and_normalises_the_fields(m: Any) -> None:
    # 2024, month 13 (February 2025), day 29 -> 2025-03-01
    m.mem.write(TM, struct.pack("<9i", 0, 0, 0, 29, 13, 124, 0, 0, -1))
    assert _call(m, "mktime", TM) == calendar.timegm((2025, 3, 1, 0, 0, 0))
    assert _tm(m) == (0, 0, 0, 1, 2, 125, 6, 59, 0)
    m.mem.write(TM, struct.pack("<9i", 0, 0, 0, 1, 0, 350, 0, 0, 0))  # 2250: past 32 bits
    assert _call(m, "mktime", TM) == calendar.timegm((2250, 1, 1, 0, 0, 0))


def test_timegm_legalized_returns_the_low_half_and_the_high_half_through_temp_ret0(m: Any) -> None:
    m.mem.write(TM, struct.pack("<9i", 0, 0, 0, 1, 0, 350, 0, 0, 0))
    t = calendar.timegm((2250, 1, 1, 0, 0, 0))
    low = _call(m, "timegm", TM) & 0xFFFFFFFF
    assert (_call(m, "temp_ret0") << 32) | low == t
    m.mem.write(TM, struct.pack("<9i", 56, 34, 12, 29, 1, 124, 0, 0, 0))
    assert _call(m, "timegm", TM) == T


def test_asctime_r(m: Any) -> None:
    m.mem.write(TM, struct.pack("<9i", *FIELDS))
    assert _call(m, "asctime_r", TM, BUF) == BUF
    assert m.mem.read_cstring(BUF) == b"Thu Feb 29 12:34:56 2024\n"


def test_small_runtime_imports_of_newer_releases(m: Any) -> None:
    assert _call(m, "system", 0) == 0  # no shell
    assert _call(m, "system", BUF) == -52  # -ENOSYS: C's system() sets errno from it
    _call(m, "keepalive_clear")
    _call(m, "progname", BUF, 5)
    assert m.mem.read(BUF, 5) == b"./thi"
    assert _call(m, "setitimer", 0, 1000.0) == -1  # no timers, as the standalone libc
    assert _call(m, "mmap", 4096) == -52
    assert _call(m, "monotonic") == 1
    assert _call(m, "date_now") > 1.7e12
    assert _call(m, "seek", 1, 0) == 70  # ESPIPE: the i64 offset whole
    m.mem.write(BUF, b"hello, world")
    _call(m, "outn", BUF, 5)
    _call(m, "errn", BUF + 7, 5)
    assert m.stdout.target.getvalue() == "hello\n"
    assert m.stderr.target.getvalue() == "world\n"


def test_tzset_writes_utc_names_into_the_two_buffers(m: Any) -> None:
    _call(m, "tzset", BUF, BUF + 4, BUF + 8, BUF + 32)
    assert struct.unpack("<ii", m.mem.read(BUF, 8)) == (0, 0)
    assert m.mem.read_cstring(BUF + 8) == b"UTC" and m.mem.read_cstring(BUF + 32) == b"UTC"


def test_abort_js_is_a_trap(m: Any) -> None:
    with pytest.raises(WasmTrap, match="abort"):
        m.ffi.ccall("abort", None, [], [])


def test_any_wasi_preview1_import_is_left_to_wasmtime() -> None:
    wasm = wasmtime.wat2wasm(
        """(module
          (import "wasi_snapshot_preview1" "fd_sync" (func $sync (param i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_pwrite" (func (param i32 i32 i32 i64 i32) (result i32)))
          (memory (export "memory") 2)
          (func (export "sync") (param i32) (result i32) (call $sync (local.get 0))))"""
    )
    m = load_wasm(bytes(wasm))
    assert _call(m, "sync", 9) == 8  # EBADF: no such file descriptor


def test_time_imports_need_no_malloc_export() -> None:
    # Newer glue wasm exports malloc only when asked; C sets tm_zone itself after the call.
    wasm = wasmtime.wat2wasm(
        """(module
          (import "env" "_gmtime_js" (func $gmtime (param i64 i32)))
          (import "env" "_localtime_js" (func $localtime (param i64 i32)))
          (memory (export "memory") 1)
          (func (export "gmtime") (param i64 i32) (call $gmtime (local.get 0) (local.get 1)))
          (func (export "localtime") (param i64 i32) (call $localtime (local.get 0) (local.get 1))))"""
    )
    m = load_wasm(bytes(wasm))
    m.mem.write(TM + 40, b"\xaa\xaa\xaa\xaa")  # tm_zone: left alone
    for name in ("gmtime", "localtime"):
        _call(m, name, T, TM)
        assert _tm(m) == FIELDS
        assert m.mem.read(TM + 36, 8) == b"\0\0\0\0\xaa\xaa\xaa\xaa"
