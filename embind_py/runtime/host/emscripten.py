"""The `env` imports emcc emits: its JS-glue library functions, answered in Python.

Owns: memory growth (`emscripten_notify_memory_growth`, `emscripten_resize_heap`),
entropy, time and dates (`time`, `clock`, `strftime`, `_tzset_js`, `_gmtime_js`,
`_mktime_js`, ...: UTC, as a machine with TZ unset), exit and abort, console output,
`system` with no shell, `dlopen` with no dynamic linking, the temp-return registers,
the `__syscall_*` fallback (ENOSYS) for calls no file system answers, and
setjmp/longjmp in Emscripten's default scheme (`invoke_*`, `_emscripten_throw_longjmp`)
with signal handlers (`__call_sighandler`), which call through the function table.

May import: the standard library, the runtime's own modules, `._registry` (the engine only
through the instance's backend session).
"""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _backend
from .._errors import WasmExit, WasmTrap
from ._registry import ENOSYS, ENOTSUP, host, import_params, import_results, js_utf8, prefix_host, set_errno

if TYPE_CHECKING:
    from .._instance import Instance

@host("env", "emscripten_notify_memory_growth")
def _notify_growth(inst: Instance, name: str) -> Callable[..., Any]:
    def notify(index: int) -> None:
        inst.mem.refresh()

    return notify


@host("env", "getentropy")
def _getentropy(inst: Instance, name: str) -> Callable[..., Any]:
    def getentropy(buf: int, n: int) -> int:
        inst.mem.write(buf, os.urandom(n))
        return 0

    return getentropy


@host("env", "emscripten_memcpy_big", "_emscripten_memcpy_js", "emscripten_memcpy_js")
def _memcpy_big(inst: Instance, name: str) -> Callable[..., Any]:
    mem = inst.mem

    def memcpy(dest: int, src: int, n: int) -> int:
        mem.write(dest, mem.read(src, n))
        return dest

    return memcpy


@host("env", "setTempRet0")
def _set_temp_ret(inst: Instance, name: str) -> Callable[..., Any]:
    def set_temp_ret0(v: int) -> None:
        inst.temp_ret0 = v

    return set_temp_ret0


@host("env", "getTempRet0")
def _get_temp_ret(inst: Instance, name: str) -> Callable[..., Any]:
    def get_temp_ret0() -> int:
        return inst.temp_ret0

    return get_temp_ret0


@host("env", "emscripten_date_now")
def _date_now(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: time.time() * 1000.0


@host("env", "_emscripten_get_now", "emscripten_get_now")
def _get_now(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: time.perf_counter() * 1000.0


@host("env", "abort", "_abort_js")
def _abort(inst: Instance, name: str) -> Callable[..., Any]:
    def abort(*args: Any) -> None:
        raise WasmTrap("C called abort()", "abort")

    return abort


@prefix_host("env", "__syscall_")
def _syscall(inst: Instance, name: str) -> Callable[..., Any]:
    # File-system syscalls are implemented in JS by Emscripten; a standalone
    # module has no file system behind them.
    return lambda *args: -ENOSYS


@host("env", "system")
def _system(inst: Instance, name: str) -> Callable[..., Any]:
    # There is no shell in the sandbox: answer as Emscripten's own JS `system` does
    # outside Node (`system(NULL)` is 0, "no shell"; a command fails with ENOSYS).
    def system(command: int) -> int:
        if command == 0:
            return 0
        set_errno(inst, ENOSYS)
        return -1

    return system


@host("env", "_dlopen_js", "_dlsym_js")
def _dlopen(inst: Instance, name: str) -> Callable[..., Any]:
    # No dynamic linking in a standalone module: dlopen() and dlsym() return NULL, as for a
    # file that is not there (SQLite's sqlite3_load_extension then reports an error), where
    # Emscripten's JS would abort.
    return lambda *args: 0


@host("env", "_emscripten_system")
def _emscripten_system(inst: Instance, name: str) -> Callable[..., Any]:
    # Newer Emscripten implements system() in C over this import, which
    # answers as its JS does outside Node: 0 for NULL (no shell), -ENOSYS for a command.
    return lambda command: 0 if command == 0 else -ENOSYS


HEAP_MAX = 2 * 1024 * 1024 * 1024  # Emscripten's default MAXIMUM_MEMORY with growth
_PAGE = 65536


@host("env", "emscripten_resize_heap")
def _resize_heap(inst: Instance, name: str) -> Callable[..., Any]:
    def resize(requested: int) -> int:
        requested &= 0xFFFFFFFF
        inst.mem.refresh()
        old = inst.mem.size
        if requested <= old:
            return 0
        if requested > HEAP_MAX:
            return 0
        # Emscripten over-grows by up to 20% (capped at +96 MiB) to make repeated growth cheap.
        for cut in (1, 2, 3, 4):
            target = min(max(requested, int(old * (1 + 0.2 / cut))), requested + 96 * 1024 * 1024)
            target = min((target + _PAGE - 1) // _PAGE * _PAGE, HEAP_MAX)
            if not inst._be.grow_memory((target - old) // _PAGE):
                continue
            inst.mem.refresh()
            return 1
        return 0

    return resize


@host("env", "emscripten_get_heap_max", "emscripten_get_heap_size")
def _heap_max(inst: Instance, name: str) -> Callable[..., Any]:
    if name == "emscripten_get_heap_size":
        return lambda: inst.memory_size()
    return lambda: HEAP_MAX


@host("env", "time")
def _time(inst: Instance, name: str) -> Callable[..., Any]:
    def c_time(ptr: int) -> int:
        t = int(time.time())
        if ptr:
            inst.mem.write(ptr, struct.pack("<i", t))
        return t

    return c_time


@host("env", "clock")
def _clock(inst: Instance, name: str) -> Callable[..., Any]:
    # As library.js: microseconds (CLOCKS_PER_SEC is 1000000) since the first call, wrapped to i32.
    start: list[float] = []

    def c_clock() -> int:
        now = time.monotonic()
        if not start:
            start.append(now)
        us = int((now - start[0]) * 1e6) & 0xFFFFFFFF
        return us - (1 << 32) if us >= (1 << 31) else us

    return c_clock


_STRFTIME_DIRECTIVE = re.compile(r"%[EO]?(.)|[^%]+|%$", re.S)


@host("env", "strftime", "strftime_l")
def _strftime(inst: Instance, name: str) -> Callable[..., Any]:
    def strftime(s: int, maxsize: int, fmt: int, tm: int, *_locale: int) -> int:
        # struct tm: 9 ints, then long tm_gmtoff and const char *tm_zone (wasm32 layout)
        f = struct.unpack("<9iiI", inst.mem.read(tm, 44))
        sec, minute, hour, mday, mon, year, wday, yday, isdst, gmtoff, zone = f
        st = (year + 1900, mon + 1, mday, hour, minute, sec, (wday + 6) % 7, yday + 1, isdst)
        pattern = inst.mem.read_cstring(fmt).decode("utf-8", "replace")
        out = []
        for m in _STRFTIME_DIRECTIVE.finditer(pattern):
            text, d = m.group(0), m.group(1)
            if not text.startswith("%") or d is None:
                out.append(text)
            elif d == "%":
                out.append("%")
            elif d == "Z":
                out.append(inst.mem.read_cstring(zone).decode("utf-8", "replace") if zone else "")
            elif d == "z":
                off = abs(gmtoff) // 60
                out.append(f"{'-' if gmtoff < 0 else '+'}{off // 60:02d}{off % 60:02d}")
            else:
                try:
                    out.append(time.strftime("%" + d, st))
                except (ValueError, OverflowError):  # fields out of range: C prints something, never fails
                    out.append("?")
        data = "".join(out).encode("utf-8")
        if len(data) + 1 > (maxsize & 0xFFFFFFFF):
            return 0  # C: the result did not fit; the array's contents are unspecified
        inst.mem.write(s, data + b"\0")
        return len(data)

    return strftime


@host("env", "exit", "_exit")
def _exit(inst: Instance, name: str) -> Callable[..., Any]:
    def c_exit(code: int) -> None:
        raise WasmExit(code)

    return c_exit


@host("env", "__assert_fail")
def _assert_fail(inst: Instance, name: str) -> Callable[..., Any]:
    def assert_fail(cond: int, file: int, line: int, func: int) -> None:
        def s(p: int) -> str:
            return inst.mem.read_cstring(p).decode("utf-8", "replace") if p else "unknown"

        raise WasmTrap(f"Assertion failed: {s(cond)}, at: {s(file)}, {line}, {s(func)}", "abort")

    return assert_fail


@host(
    "env",
    "emscripten_console_log",
    "emscripten_console_warn",
    "emscripten_console_error",
    "emscripten_out",
    "emscripten_err",
    "emscripten_dbg",
    "emscripten_outn",
    "emscripten_errn",
    "emscripten_dbgn",
)
def _console(inst: Instance, name: str) -> Callable[..., Any]:
    to_stdout = name in ("emscripten_console_log", "emscripten_out", "emscripten_outn")
    stream = inst.stdout if to_stdout else inst.stderr

    def log(ptr: int, *n: int) -> None:
        # the `...n` forms (newer Emscripten) pass the length instead of a NUL-terminated string
        text = inst.mem.read(ptr, n[0] & 0xFFFFFFFF) if n else inst.mem.read_cstring(ptr)
        stream.write(text + b"\n")

    return log


@host("env", "emscripten_get_now_is_monotonic", "_emscripten_get_now_is_monotonic")
def _is_monotonic(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: 1


@host("env", "emscripten_get_now_res")
def _now_res(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: 1000.0


@host("env", "_tzset_js")
def _tzset_js(inst: Instance, name: str) -> Callable[..., Any]:
    def tzset(timezone: int, daylight: int, tzname: int, *rest: int) -> None:
        # UTC, like a machine with TZ unset: C's localtime equals gmtime.
        inst.mem.write(timezone, struct.pack("<i", 0))
        inst.mem.write(daylight, struct.pack("<i", 0))
        if tzname and not rest:
            # 3.1.6 passes char *tzname[2]: both point at a static "UTC".
            p = _static_string(inst, "UTC")
            inst.mem.write(tzname, struct.pack("<II", p, p))
        elif rest:
            # newer versions pass two char buffers of 17 bytes (std_name, dst_name)
            inst.mem.write(tzname, b"UTC\0")
            inst.mem.write(rest[0], b"UTC\0")

    return tzset


def _static_string(inst: Instance, s: str) -> int:
    cache: dict[str, int] = inst.__dict__.setdefault("_js_static_strings", {})
    p = cache.get(s)
    if p is None:
        p = inst.malloc(len(s) + 1)
        inst.mem.write(p, js_utf8(s) + b"\0")
        cache[s] = p
    return p


def _time_arg(inst: Instance, name: str) -> Callable[[tuple[int, ...]], tuple[int, tuple[int, ...]]]:
    """How this build passes a `time_t` argument: split off (time, remaining args).

    emcc 3.1.6 passes a pointer to an i32 `time_t`; later versions pass the 64-bit
    time itself: one i64 with WASM_BIGINT (the default since 4.0), two i32 halves
    (low, high) without it. The wasm signature says which.
    """
    params = import_params(inst, "env", name)
    if params[:1] == ["i64"]:
        return lambda args: (int(args[0]), args[1:])
    if len(params) >= 3:
        return lambda args: ((args[0] & 0xFFFFFFFF) | (args[1] << 32), args[2:])

    def by_pointer(args: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        return struct.unpack("<i", inst.mem.read(args[0], 4))[0], args[1:]

    return by_pointer


def _write_tm(inst: Instance, tm_ptr: int, t: int) -> bool:
    """Fill the `struct tm` at `tm_ptr` with UTC time `t`; False when `t` is out of range."""
    try:
        g = time.gmtime(t)
    except (OverflowError, OSError, ValueError):
        return False
    if not -(1 << 31) <= g.tm_year - 1900 < (1 << 31):  # pragma: no cover - gmtime refuses first
        return False
    yday = g.tm_yday - 1
    wday = (g.tm_wday + 1) % 7  # C counts from Sunday, Python from Monday
    fields = (g.tm_sec, g.tm_min, g.tm_hour, g.tm_mday, g.tm_mon - 1, g.tm_year - 1900, wday)
    # tm_isdst 0, then tm_gmtoff (a long) 0. tm_zone is C's to set after the call, in every
    # version: writing it here would need a malloc the wasm may not export.
    inst.mem.write(tm_ptr, struct.pack("<9ii", *fields, yday, 0, 0))
    return True


@host("env", "_gmtime_js", "_localtime_js")
def _gmtime_js(inst: Instance, name: str) -> Callable[..., Any]:
    split = _time_arg(inst, name)

    def gmtime(*args: int) -> None:
        t, rest = split(args)
        _write_tm(inst, rest[0], t)

    return gmtime


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12; any d)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@host("env", "_mktime_js", "_timegm_js")
def _mktime_js(inst: Instance, name: str) -> Callable[..., Any]:
    # UTC, like _localtime_js: mktime is timegm. The fields are normalised (tm_mon 14 is
    # February of the next year) and written back with tm_wday/tm_yday, as C requires.
    # The result is an i64 with WASM_BIGINT (the default since 4.0); otherwise an i32:
    # the 32-bit time_t of 3.1.6, or the low half of a legalized i64 whose high half
    # goes through setTempRet0 (both are the wrapped low 32 bits).
    wide = import_results(inst, "env", name) == ["i64"]

    def mktime(tm_ptr: int) -> int:
        sec, minute, hour, mday, mon, year = (int(v) for v in struct.unpack("<6i", inst.mem.read(tm_ptr, 24)))
        y = year + 1900 + mon // 12
        days = _days_from_civil(y, mon % 12 + 1, 1) + mday - 1
        t = days * 86400 + hour * 3600 + minute * 60 + sec
        if not _write_tm(inst, tm_ptr, t):
            t = -1
        if wide:
            return t
        inst.temp_ret0 = (t >> 32) & 0xFFFFFFFF
        low = t & 0xFFFFFFFF
        return low - (1 << 32) if low >= (1 << 31) else low

    return mktime


_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@host("env", "__asctime_r")
def _asctime_r(inst: Instance, name: str) -> Callable[..., Any]:
    # Newer Emscripten's asctime/asctime_r (in JS): "Sun Sep 16 01:03:52 1973\n", at most 26 bytes.
    def asctime_r(tm_ptr: int, buf: int) -> int:
        sec, minute, hour, mday, mon, year, wday = struct.unpack("<7i", inst.mem.read(tm_ptr, 28))
        day = _DAYS[wday] if 0 <= wday < 7 else "???"
        month = _MONTHS[mon] if 0 <= mon < 12 else "???"
        text = f"{day} {month}{mday:3d} {hour:02d}:{minute:02d}:{sec:02d} {1900 + year}\n"
        inst.mem.write(buf, js_utf8(text)[:25] + b"\0")
        return buf

    return asctime_r


@host("env", "_emscripten_runtime_keepalive_clear", "emscripten_runtime_keepalive_push",
            "emscripten_runtime_keepalive_pop")
def _keepalive(inst: Instance, name: str) -> Callable[..., Any]:
    # The JS runtime's keep-alive counter (exit() clears it): nothing to keep alive here.
    return lambda *args: None


@host("env", "_emscripten_get_progname")
def _get_progname(inst: Instance, name: str) -> Callable[..., Any]:
    def get_progname(buf: int, length: int) -> None:
        argv = inst.__dict__.get("_main_argv") or ["./this.program"]
        if length > 0:
            inst.mem.write(buf, (js_utf8(argv[0]) + b"\0")[:length])

    return get_progname


@host("env", "_setitimer_js")
def _setitimer_js(inst: Instance, name: str) -> Callable[..., Any]:
    # No timers (no event loop to deliver SIGALRM): as Emscripten's standalone libc does.
    def setitimer(which: int, timeout_ms: float) -> int:
        set_errno(inst, ENOTSUP)
        return -1

    return setitimer


@host("env", "_mmap_js", "_munmap_js", "_msync_js")
def _mmap_js(inst: Instance, name: str) -> Callable[..., Any]:
    # File mappings need Emscripten's JS file system; anonymous mmap is C's own (malloc).
    return lambda *args: -ENOSYS


@host("env", "emscripten_random", "_emscripten_random")
def _random(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: int.from_bytes(os.urandom(4), "little") / 2**32


# ---------------------------------------------------------------------------
@host("env", "__call_sighandler")
def _call_sighandler(inst: Instance, name: str) -> Callable[..., Any]:
    # `raise(sig)` with a handler installed by `signal()`: call it, as the JS glue does.
    def call_sighandler(fp: int, sig: int) -> None:
        be = inst._be
        func = be.table_get(fp)
        if func is None:
            raise WasmTrap(f"raise({sig}): signal handler {fp} is not a function")
        try:
            be.call(func, (sig,), "i")
        except _backend.TRAPS as e:
            if inst._pending is None:  # the handler trapped: a WasmTrap, not wasmtime's
                raise inst._translate(e, inst._be.stop_reason()) from None
            raise  # a longjmp out of the handler, or a Python callback's exception

    return call_sighandler


# ---------------------------------------------------------------------------
# setjmp/longjmp, Emscripten's default (JS-exception-based) scheme
#
# C code calling a function that may longjmp goes through `invoke_<sig>(index,
# args...)`; `longjmp` ends in `_emscripten_throw_longjmp`, which unwinds to the
# nearest invoke, which tells the C side with `setThrew(1, 0)` (what the JS glue does).


class _LongJmp(Exception):
    """Unwinds wasm frames from `longjmp` to the nearest `invoke_*` (never seen by users)."""


@host("env", "_emscripten_throw_longjmp", "emscripten_longjmp_jmpbuf")
def _throw_longjmp(inst: Instance, name: str) -> Callable[..., Any]:
    def throw(*args: Any) -> None:
        raise _LongJmp()

    return throw


@prefix_host("env", "invoke_")
def _invoke(inst: Instance, name: str) -> Callable[..., Any]:
    returns = name[len("invoke_") :][:1] != "v"
    set_threw: list[Any] = []
    sig = inst._be.import_signature("env", name)
    params = sig[0][1:] if sig else None  # after the table index

    def invoke(index: int, *args: Any) -> Any:
        be = inst._be
        func = be.table_get(index)
        if func is None:
            raise WasmTrap(f"invoke: function table entry {index} is not a function")
        sp = inst.stack_save()
        try:
            return be.call(func, args, params)
        except _LongJmp:
            inst._pending = None
            be.clear_host_exception()
        except _backend.TRAPS as e:
            if inst._pending is None:
                raise inst._translate(e, inst._be.stop_reason()) from None
            if not isinstance(inst._pending, _LongJmp):
                raise
            inst._pending = None
            be.clear_host_exception()
        inst.stack_restore(sp)
        if not set_threw:
            set_threw.append(inst._caller("setThrew", "ii", ""))
        call, v = set_threw[0]
        v[0].i32, v[1].i32 = 1, 0
        call()
        return 0 if returns else None

    return invoke
