"""The runtime's behaviour that must be the same on wasmtime (CPython) and under Pyodide.

Each `case_*` takes the generated modules `webcase` and `webprog` (built from the C files
beside this one by `embind-py build`) and asserts with plain `assert`: pytest runs them on
CPython (test_web.py), and `run_pyodide.mjs` runs the very same functions inside Pyodide
under Node.js (`run()` below, which needs nothing but the standard library).

May import: the standard library and embind_py.runtime (and, under Pyodide, `pyodide_js`).
"""

from __future__ import annotations

import array
import io
import json
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

from embind_py import runtime
from embind_py.runtime import WasmBoundsError, WasmError, WasmExit, WasmLinkError, WasmTrap


def _raises(exc: type[BaseException], fn: Callable[[], Any]) -> BaseException:
    try:
        fn()
    except exc as e:
        return e
    raise AssertionError(f"{fn} did not raise {exc.__name__}")


def case_scalars(m: ModuleType, prog: ModuleType) -> None:
    assert m.add(2, 3) == 5
    assert m.add(-7, 2) == -5
    assert m.wrap_u32(0xFFFFFFFF) == 0
    assert m.wrap_u32(41) == 42
    assert m.mul64(2**40, 3) == 3 * 2**40
    assert m.mul64(-5, 7) == -35
    assert m.mul64(2**62, 2) == -(2**63)  # i64 wraps as in C
    r = m.scale(1.5, 2.0)
    assert r == 3.0 and isinstance(r, float)
    assert isinstance(m.scale(2, 3), float)
    assert m.is_even(4) is True and m.is_even(3) is False


def case_range_checks(m: ModuleType, prog: ModuleType) -> None:
    _raises(OverflowError, lambda: m.add(2**31, 0))
    _raises(OverflowError, lambda: m.wrap_u32(-1))
    _raises(TypeError, lambda: m.add("2", 3))


def case_strings(m: ModuleType, prog: ModuleType) -> None:
    assert m.word_count("the quick brown fox") == 4
    assert m.word_count(b"one two") == 2
    g = m.greet("Pyodide")
    assert g == "Hello, Pyodide!" and isinstance(g, str)
    address = getattr(g, "address", None)  # a CStr: the str keeps C's address
    assert isinstance(address, int) and address > 0
    assert m.greet("héllo wörld") == "Hello, héllo wörld!"


def case_buffers(m: ModuleType, prog: ModuleType) -> None:
    buf = bytearray(b"stressed\0")
    m.upcase(buf)
    assert buf == bytearray(b"STRESSED\0")
    assert m.sum(array.array("d", [1.5, 2.5, 3.0]), 3) == 7.0
    big = array.array("d", range(100_000))  # more than the call arena: a malloc'd temporary
    assert m.sum(big, len(big)) == sum(range(100_000))


def case_structs(m: ModuleType, prog: ModuleType) -> None:
    assert m.vadd(m.Vec2(x=1, y=2), m.Vec2(x=3, y=4)) == m.Vec2(x=4.0, y=6.0)
    lib = m.load()
    p = lib.ffi.new("Vec2 *")
    p.x, p.y = 2.0, 3.0
    assert (p.x, p.y) == (2.0, 3.0)
    assert lib.vdot(p, m.Vec2(x=1.0, y=1.0)) == 5.0
    assert lib.ffi.sizeof("Vec2") == 16


def case_enums(m: ModuleType, prog: ModuleType) -> None:
    c = m.next_color(m.Color.BLUE)
    assert c == m.Color.RED and isinstance(c, m.Color)
    assert m.next_color(0) == m.Color.GREEN


def case_out_parameters(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    q, r = lib.ffi.new("int *"), lib.ffi.new("int *")
    assert lib.divmod(17, 5, q, r) == 0
    assert (q[0], r[0]) == (3, 2)
    qa, ra = array.array("i", [0]), array.array("i", [0])
    assert lib.divmod(-9, 4, qa, ra) == 0
    assert (qa[0], ra[0]) == (-2, -1)


def _host_heap_size() -> int:
    """Bytes of Pyodide's own heap (-1 on CPython, which has none to measure)."""
    if sys.platform != "emscripten":
        return -1
    import pyodide_js  # type: ignore[import-not-found]

    return int(pyodide_js._module.HEAP8.byteLength)


def case_callbacks(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    assert lib.apply(lambda a, b: a * b, 6, 7) == 42
    assert lib.apply(lambda a, b: a - b, 1, 2) == -1

    def bad(a: int, b: int) -> int:
        raise KeyError("from the callback")

    e = _raises(KeyError, lambda: lib.apply(bad, 1, 2))
    assert "from the callback" in str(e)
    assert lib.apply(lambda a, b: a + b, 2, 2) == 4  # still usable

    # A callback that makes the host's heap grow while C runs: under Pyodide that detaches
    # the ArrayBuffer the backend's call trampolines read and write through.
    hoard: list[bytearray] = []
    before = _host_heap_size()

    def hungry(a: int, b: int) -> int:
        hoard.append(bytearray(96 << 20))
        return a + b

    assert lib.apply(hungry, 20, 22) == 42
    assert sys.platform != "emscripten" or _host_heap_size() > before  # it did grow
    hoard.clear()
    assert lib.add(3, 4) == 7 and lib.mul64(-(2**40), 3) == -3 * 2**40
    cb = lib.ffi.callback("unary", lambda x: x * 2)
    lib.keep(cb)
    assert lib.call_kept(1.25) == 2.5
    assert lib.call_kept(3.0) == 6.0
    assert cb(4.0) == 8.0


def case_ffi(m: ModuleType, prog: ModuleType) -> None:
    ffi = m.load().ffi
    a = ffi.new("int[]", [1, 2, 3, 4])
    assert [a[i] for i in range(4)] == [1, 2, 3, 4]
    a[2] = 30
    assert a[2] == 30
    assert ffi.string(ffi.new("char[]", b"abc")) == b"abc"
    assert ffi.sizeof("int") == 4
    p = ffi.malloc(64)
    assert p > 0
    ffi.free(p)
    assert ffi.memory_size() >= 16 << 20
    _raises(WasmBoundsError, lambda: ffi.UTF8ToString(2**31))


def case_emscripten_helpers(m: ModuleType, prog: ModuleType) -> None:
    ffi = m.load().ffi
    assert ffi.ccall("add", "number", ["number", "number"], [2, 3]) == 5
    assert ffi.cwrap("greet", "string", ["string"])("x") == "Hello, x!"
    p = ffi.malloc(16)
    ffi.HEAP32[p >> 2] = -7
    assert ffi.getValue(p, "i32") == -7
    ffi.setValue(p + 8, 2.5, "double")
    assert ffi.HEAPF64[(p + 8) >> 3] == 2.5
    ffi.HEAPU8[p : p + 3] = b"xyz"
    assert bytes(ffi.HEAPU8[p : p + 3]) == b"xyz"
    sp = ffi.stackSave()
    s = ffi.stringToUTF8OnStack("on the stack")
    assert ffi.UTF8ToString(s) == "on the stack"
    ffi.stackRestore(sp)
    assert ffi.stackSave() == sp
    assert ffi.lengthBytesUTF8("é") == 2


def case_printf(m: ModuleType, prog: ModuleType) -> None:
    out = io.StringIO()
    lib = m.load(stdout=out)
    lib.say("hi")
    lib.say("there")
    assert out.getvalue() == "C says: hi\nC says: there\n"


def case_exit(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    e = _raises(WasmExit, lambda: lib.quit(7))
    assert getattr(e, "code", None) == 7
    assert lib.add(1, 1) == 2


def case_traps(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    e = _raises(WasmTrap, lambda: lib.divide(1, 0))
    assert e.code == "integer division by zero", e.code  # type: ignore[attr-defined]
    assert e.frames[:1] == ("divide",), e.frames  # type: ignore[attr-defined]
    assert "in C function divide()" in str(e)
    e = _raises(WasmTrap, lambda: lib.boom())
    assert e.code == "unreachable", e.code  # type: ignore[attr-defined]
    e = _raises(WasmTrap, lambda: lib.deep(1))
    assert e.code == "stack overflow", e.code  # type: ignore[attr-defined]
    assert e.frames[:1] == ("deep",), e.frames  # type: ignore[attr-defined]
    assert lib.divide(7, 2) == 3 and lib.deep(-1) == 0  # the instance still answers


def case_memory_growth(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    before = lib.memory_size()
    assert lib.grow_and_fill(32) == 14
    assert lib.memory_size() > before
    assert lib.greet("after growth") == "Hello, after growth!"
    buf = bytearray(b"grown\0")
    lib.upcase(buf)
    assert buf == bytearray(b"GROWN\0")


def case_call_main(m: ModuleType, prog: ModuleType) -> None:
    out = io.StringIO()
    p = prog.load(stdout=out)
    assert p.call_main(["a", "b c"]) == 0
    assert out.getvalue() == "arg 1: a\narg 2: b c\n"
    assert prog.load(stdout=io.StringIO()).call_main(["fail"]) == 3


def case_reset_and_isolation(m: ModuleType, prog: ModuleType) -> None:
    one, two = m.load(), m.load()
    cb = one.ffi.callback("unary", lambda x: x + 1)
    one.keep(cb)
    assert one.call_kept(1.0) == 2.0
    assert two.call_kept(1.0) == -1.0  # C globals are per instance
    one.reset()
    assert one.call_kept(1.0) == -1.0


def case_function_pointers_from_c(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    mul, add = lib.get_op(1), lib.get_op(0)
    assert (mul(6, 7), add(6, 7)) == (42, 13)
    half = lib.get_halver()(3.0)
    assert half == 1.5 and isinstance(half, float)
    assert isinstance(lib.get_halver()(4.0), float)  # 2.0, not the int a JavaScript number may become


def case_globals(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    assert lib.counter == 5 and lib.bump() == 6 and lib.counter == 6
    lib.counter = 41
    assert lib.bump() == 42
    assert (lib.ratio, lib.version_str) == (0.5, "1.2.3")
    p = lib.ffi.addressof("counter")
    p[0] = 7
    assert lib.bump() == 8


def case_host_functions(m: ModuleType, prog: ModuleType) -> None:
    calls: list[Any] = []

    def wide(v: int) -> int:
        calls.append(v)
        return v * 2

    host = {"host_scale": lambda x: x * 3, "host_wide": wide, "host_half": lambda d: d / 2}
    lib = m.load(host=host)
    assert lib.use_hosts(2, 2**40, 9.0) == 6 + 2**41 + 4  # i64 both ways, f64 both ways
    assert calls == [2**40]
    assert lib.use_hosts(-1, -(2**61), 1.0) == -3 - 2**62 + 0  # (int64_t)0.5 is 0
    e = _raises(WasmLinkError, lambda: m.load().use_hosts(1, 1, 1.0))
    assert "host_scale()" in str(e)


def case_variadic(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    ffi = lib.ffi
    buf = ffi.new("char[]", 100)
    n = lib.format(buf, 100, "%d|%s|%.2f|%lld", -42, "héllo", 2.5, ffi.cast("long long", 2**40 + 1))
    want = "-42|héllo|2.50|1099511627777"
    assert ffi.string(buf).decode() == want and n == len(want.encode())


def case_environment_and_stdin(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load(env={"GREETING": "hi there"})
    assert lib.env_of("GREETING") == "hi there"
    assert lib.env_of("HOME") is None  # nothing of the host's environment unless given
    out = io.StringIO()
    p = prog.load(stdin=b"one\ntwo\n", stdout=out)
    assert p.call_main(["echo"]) == 0
    assert out.getvalue() == "echo: one\necho: two\n"


def case_backend_options(m: ModuleType, prog: ModuleType) -> None:
    if runtime.backend_name() == "pyodide":
        options: dict[str, Any] = {"timeout": 1.0, "fuel": 1000, "max_memory": 64 << 20}
        for option, value in options.items():
            e = _raises(WasmError, lambda o=option, v=value: m.load(**{o: v}))  # type: ignore[misc]
            assert f"{option}=" in str(e) and "Pyodide" in str(e), str(e)
        lib = m.load()
        e = _raises(WasmError, lambda: lib.ffi.buffer(lib.ffi.malloc(4), 4))
        assert "Pyodide" in str(e)
        e = _raises(WasmError, lib.interrupt)
        assert "interrupt()" in str(e)
    else:
        assert m.load(timeout=5.0, fuel=10**9).add(1, 2) == 3


def case_c_extras(m: ModuleType, prog: ModuleType) -> None:
    lib = m.load()
    assert lib.wc_counter == 3 and lib.wc_bump() == 4 and lib.wc_counter == 4
    lib.wc_counter = 40
    assert lib.wc_bump() == 41 and lib.ffi.addressof("wc_counter")[0] == 41
    assert lib.wc_sum("ildsi", 1, 2**40, 2.5, "four", lib.ffi.cast("short", -3)) == 1 + 2**40 + 2 + 4 - 3
    b = lib.ffi.new("struct WcBits *", m.WcBits(lo=15, hi=-8, wide=2**36 - 1))
    assert lib.wc_bits(b) == 0 + 7 and (b.lo, b.hi, b.wide) == (0, 7, 0)
    assert lib.wc_half(3.0) == 1.5 and m.WC_SQUARE(-(2**31)) == 0


CASES: dict[str, Callable[[ModuleType, ModuleType], None]] = {
    name[len("case_") :]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")
}


def run(m: ModuleType, prog: ModuleType) -> str:
    """Run every case; one JSON object: {name: "ok" or the failure's traceback}."""
    results: dict[str, str] = {}
    for name, fn in CASES.items():
        try:
            fn(m, prog)
            results[name] = "ok"
        except BaseException:
            results[name] = traceback.format_exc()
    return json.dumps({"backend": runtime.backend_name(), "results": results})
