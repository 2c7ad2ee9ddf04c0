"""The Pyodide backend: the JavaScript engine's own WebAssembly, reached through Pyodide's FFI.

Owns: compiling (`WebAssembly.Module`, cached per process) and instantiating a module
with an import object of Python host functions made into JavaScript functions, the
memory as seen through `memory.buffer` (always the current buffer, so growth never
leaves a stale view), specialized callers for exports (their values passed through
Pyodide's own heap to a JavaScript trampoline), function-table entries made as
Emscripten's `addFunction` makes them (a tiny wasm module per signature that imports a
JavaScript function and exports it as a wasm function the table accepts), the WASI calls
that wasmtime's WASI answered on CPython (environment, random bytes), and reading the
engine's `RuntimeError`s into a `Failure` with wasmtime's trap-code names.

What needs wasmtime raises `WasmError` naming the option: `timeout`, `fuel`,
`max_memory` and `preopens`; so do `ffi.buffer` and `HEAP*.subarray` (no Python buffer can
share a JavaScript ArrayBuffer without copying).

May import: Pyodide's `js` and `pyodide` modules, the standard library and the runtime's
own modules.
"""

from __future__ import annotations

import array
import ctypes
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import js
from pyodide.code import run_js
from pyodide.ffi import JsException, create_proxy, to_js

from .. import host as _host
from .._errors import WasmError, WasmLinkError
from .._memory import Memory
from . import Failure, _binary

if TYPE_CHECKING:
    from .._instance import Instance

NAME = "pyodide"
TRAPS: tuple[type[BaseException], ...] = (JsException,)
UNSUPPORTED = ("timeout", "fuel", "max_memory", "preopens")

_BigInt = js.BigInt
_modules: dict[str, Any] = {}

# Memory access in JavaScript: each call views the memory's *current* buffer (growth
# replaces it) and JavaScript checks the bounds again; Python buffers travel as PyProxies
# whose bytes JavaScript reads or fills in place (`getBuffer`), so nothing is copied twice.
_JS = run_js(
    """({
    read: (m, p, n) => new Uint8Array(m.buffer, p, n),
    write: (m, p, src, n) => {
        const b = src.getBuffer("u8");
        try { new Uint8Array(m.buffer, p, n).set(b.data.subarray(0, n)); } finally { b.release(); }
    },
    copyOut: (m, p, dst, n) => {
        const b = dst.getBuffer("u8");
        try { b.data.set(new Uint8Array(m.buffer, p, n)); } finally { b.release(); }
    },
    strlen: (m, p, n) => { const i = new Uint8Array(m.buffer, p, n).indexOf(0); return i < 0 ? n : i; },
    cstring: (m, p, n) => {
        const u = new Uint8Array(m.buffer, p, n); const i = u.indexOf(0); return i < 0 ? u : u.subarray(0, i);
    },
    zero: (m, p, n) => { new Uint8Array(m.buffer, p, n).fill(0); },
    size: (m) => m.buffer.byteLength,
    get: (o, k) => o[k],
    kind: (o, k) => typeof o[k],
})"""
)


class _NoLock:
    """The instance lock where no second thread can exist: Pyodide without pthreads cannot
    start one, and an RLock costs half as much as the wasm call it would guard."""

    __slots__ = ()

    def __enter__(self) -> bool:
        return True

    def __exit__(self, typ: object, value: object, tb: object) -> None:
        return None  # three named parameters, not *exc: the interpreter's exact-arguments fast call

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        pass


def new_lock() -> Any:
    """A real RLock when this Pyodide build has threads, else `_NoLock`."""
    info = getattr(sys, "_emscripten_info", None)
    return threading.RLock() if getattr(info, "pthreads", True) else _NoLock()


def engine(epoch: bool = False, fuel: bool = False) -> Any:
    raise WasmError("there is no wasmtime engine under Pyodide: the JavaScript engine runs the wasm")


def compile_module(wasm: bytes, epoch: bool = False, fuel: bool = False) -> Any:
    """The compiled `WebAssembly.Module` for `wasm`, once per process."""
    if epoch or fuel:
        raise WasmError("timeout and fuel need wasmtime; they are not available under Pyodide")
    key = _binary.digest(wasm)
    mod = _modules.get(key)
    if mod is None:
        try:
            mod = js.WebAssembly.Module.new(to_js(wasm))
        except JsException as e:
            # Also what a browser says on its main thread for a module too big to compile
            # synchronously (Chrome: 8 MB): load such bindings in a web worker.
            raise WasmLinkError(f"cannot compile the wasm module: {e}") from None
        _modules[key] = mod
    return mod


def module_imports(module: Any) -> list[tuple[str, str, bool]]:
    """(module, name, is a function) for each import of a compiled module."""
    found = js.WebAssembly.Module.imports(module)
    return [(str(i.module), str(i.name), str(i.kind) == "function") for i in found]


class Slot:
    """One value slot of a caller; the caller passes and stores plain Python numbers."""

    __slots__ = ("f32", "f64", "i32", "i64")

    def __init__(self) -> None:
        self.i32: Any = 0
        self.i64: Any = 0
        self.f32: Any = 0.0
        self.f64: Any = 0.0


# A caller moves its arguments through memory instead of the FFI: JavaScript and Python
# share Pyodide's own heap, so Python writes the slots' values into one `array` there
# (8 bytes a value) and calls a zero-argument JavaScript trampoline that reads them with
# typed arrays, calls the export and writes the result back. A JavaScript call converts no
# Python value then; converting two ints and a result costs more than the call itself.
# The typed arrays view the heap's ArrayBuffer, which Pyodide's heap growth detaches (then
# their length is 0); `refresh` views the new one, checked again after the call because a
# callback into Python may have grown the heap meanwhile.
_HEAP = run_js(
    """(() => {
    const H = { i32: new Int32Array(0), i64: null, f64: null, src: null };
    H.refresh = () => {
        const b = H.src.getBuffer("u8"); const buf = b.data.buffer; b.release();
        H.i32 = new Int32Array(buf); H.i64 = new BigInt64Array(buf); H.f64 = new Float64Array(buf);
    };
    H.init = (src) => { H.src = src.copy(); H.refresh(); };
    return H;
})()"""
)
_heap_anchor = bytearray(8)  # any Python buffer: JavaScript finds the heap's ArrayBuffer through it
_HEAP.init(_heap_anchor)
_trampolines: dict[tuple[str, str], Any] = {}

# Per letter: how JavaScript reads argument k (`i` the slot array's offset in 4-byte units,
# `q` in 8-byte units), and how it stores the result.
_JS_ARG = {"i": "H.i32[i + {k2}]", "I": "H.i64[q + {k}]", "f": "H.f64[q + {k}]", "d": "H.f64[q + {k}]"}
_JS_RESULT = {"i": "H.i32[i] = r", "I": "H.i64[q] = r", "f": "H.f64[q] = r", "d": "H.f64[q] = r"}
# Per letter: the Python write of argument k into the slot array (the views `i64`, `u64`,
# `f64`), and the read of the result (`i32`, `i64`, `f64`). An i32 is written as a whole
# little-endian int64, whose low half JavaScript reads: signed and unsigned C values (a
# pointer, uint32_t) both fit without a mask, as in wasm's i32. An i64 is masked to unsigned.
_PY_ARG = {
    "i": "i64[{k}] = s{k}.i32",
    "I": "u64[{k}] = s{k}.i64 & 0xFFFFFFFFFFFFFFFF",
    "f": "f64[{k}] = s{k}.f32",
    "d": "f64[{k}] = s{k}.f64",
}
_PY_RESULT = {"i": "s0.i32 = i32[0]", "I": "s0.i64 = i64[0]", "f": "s0.f32 = f64[0]", "d": "s0.f64 = f64[0]"}


def _trampoline(params: str, results: str) -> Any:
    """The JavaScript maker of trampolines for one signature, compiled once: `(f, addr) => () => ...`."""
    key = (params, results)
    make = _trampolines.get(key)
    if make is None:
        args = ", ".join(_JS_ARG[c].format(k=k, k2=2 * k) for k, c in enumerate(params))
        if results:
            body = f"const r = f({args}); if (H.i32.length === 0) H.refresh(); {_JS_RESULT[results]};"
        else:
            body = f"f({args});"
        # A heap of shared memory grows without detaching: views made before its growth
        # stay valid but may end before a newer caller's array, so look again here.
        size = 8 * max(len(params), len(results), 1)
        src = (
            f"(H) => (f, a) => {{ if (a + {size} > H.i32.byteLength) H.refresh(); "
            "const i = a >>> 2, q = a >>> 3; "
            f"return () => {{ if (H.i32.length === 0) H.refresh(); {body} }}; }}"
        )
        make = _trampolines[key] = run_js(src)(_HEAP)
    return make


def make_caller(
    func: Any, params: str, results: str, on_fail: Callable[[Any], None]
) -> tuple[Callable[[], None], tuple[Slot, ...]]:
    """A zero-argument callable passing the slots' values to `func` and storing its result.

    Straight-line code per signature (compiled once here, from the letters alone): the
    slots' values go into this caller's own array in Pyodide's heap, one JavaScript call
    without arguments runs the trampoline over `func`, the result comes back the same way.
    """
    n = max(len(params), len(results), 1)
    slots = tuple(Slot() for _ in range(n))
    cells = array.array("d", bytes(8 * n))  # never resized: the views below pin it
    addr = cells.buffer_info()[0]
    if addr % 8:
        raise WasmError("the caller's value array is not 8-byte aligned")  # pragma: no cover - malloc aligns
    raw = memoryview(cells).cast("B")
    views = [raw.cast(f) for f in ("i", "Q", "q", "d")]  # make()'s i32, u64, i64, f64
    tramp = _trampoline(params, results)(func, addr)
    names = ", ".join(f"s{i}" for i in range(n))
    writes = "".join(f"    {_PY_ARG[c].format(k=k)}\n" for k, c in enumerate(params))
    store = f"\n        {_PY_RESULT[results]}" if results else ""
    src = (
        f"def make(t, on_fail, i32, u64, i64, f64, {names}):\n"
        "  def call():\n"
        f"{writes}"
        "    try:\n"
        f"        t(){store}\n"
        "    except BaseException as e:\n"
        "        on_fail(e)\n"
        "  return call\n"
    )
    scope: dict[str, Any] = {}
    exec(compile(src, f"<embind-py caller ({params}) -> ({results})>", "exec"), scope)
    return scope["make"](tramp, on_fail, *views, *slots), slots


def _host_entry(params: str, results: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` as JavaScript calls it: floats stay floats, an i64 result goes back as a BigInt."""
    floats = [i for i, c in enumerate(params) if c in "fd"]
    big = results == "I"
    if not floats and not big:
        return fn

    def entry(*args: Any) -> Any:
        if floats:
            a = list(args)
            for i in floats:
                a[i] = float(a[i])
            args = tuple(a)
        out = fn(*args)
        return _BigInt(out) if big and out is not None else out

    return entry


def _stub(params: str, results: str) -> bytes:
    """A wasm module importing `e.f` with this signature and exporting it as `f` (Emscripten's
    `convertJsFunctionToWasm`): its export is a wasm function, which a table accepts."""
    code = {"i": 0x7F, "I": 0x7E, "f": 0x7D, "d": 0x7C}
    ty = bytes(
        [0x01, 0x60, len(params), *(code[c] for c in params), len(results), *(code[c] for c in results)]
    )
    imp = bytes([0x01, 0x01, ord("e"), 0x01, ord("f"), 0x00, 0x00])
    exp = bytes([0x01, 0x01, ord("f"), 0x00, 0x00])

    def section(sid: int, body: bytes) -> bytes:
        return bytes([sid, len(body)]) + body

    return b"\0asm\x01\0\0\0" + section(1, ty) + section(2, imp) + section(7, exp)


_stubs: dict[tuple[str, str], Any] = {}


class JsMemory(Memory):
    """Linear memory of one instance as a JavaScript `WebAssembly.Memory` (see `_memory.Memory`,
    whose bounds checks it shares).

    `base` is always 0: addresses are offsets into the ArrayBuffer, never host addresses.
    """

    __slots__ = ("_m",)

    def __init__(self) -> None:
        self._m: Any = None
        self.base = 0
        self.size = 0

    def bind(self, memory: Any) -> None:
        self._m = memory
        self.refresh()

    def refresh(self) -> None:
        self.size = int(_JS.size(self._m)) if self._m is not None else 0

    def _avail(self, ptr: int, limit: int | None) -> int:
        """How many bytes a C string at `ptr` may span: to the end of memory, or `limit`."""
        avail = self.size - ptr
        if ptr < 0 or avail <= 0:
            self.check(ptr, 1)
            avail = self.size - ptr
        return avail if limit is None else max(0, min(avail, limit))

    def read(self, ptr: int, n: int) -> bytes:
        self.check(ptr, n)
        return bytes(_JS.read(self._m, ptr, n).to_bytes()) if n else b""

    def write(self, ptr: int, data: Any, n: int | None = None) -> None:
        mv = data if isinstance(data, memoryview) else memoryview(data)
        if not mv.c_contiguous:
            raise ValueError("buffer must be C-contiguous")
        have = mv.nbytes
        if n is None:
            n = have
        elif n > have:
            raise ValueError(f"write of {n} bytes from a {have}-byte buffer")
        self.check(ptr, n)
        if n:
            _JS.write(self._m, ptr, mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv, n)

    def copy_out(self, ptr: int, dest: Any, n: int) -> None:
        if n:
            mv = memoryview(dest)
            if mv.readonly:
                raise TypeError("buffer is read-only")
            if n > mv.nbytes:
                raise ValueError(f"copy of {n} bytes into a smaller buffer")
            self.check(ptr, n)
            _JS.copyOut(self._m, ptr, mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv, n)

    def strlen(self, ptr: int, limit: int | None = None) -> int:
        return int(_JS.strlen(self._m, ptr, self._avail(ptr, limit)))

    def read_cstring(self, ptr: int, limit: int | None = None) -> bytes:
        return bytes(_JS.cstring(self._m, ptr, self._avail(ptr, limit)).to_bytes())

    def zero(self, ptr: int, n: int) -> None:
        self.check(ptr, n)
        if n:
            _JS.zero(self._m, ptr, n)

    def load(self, ctype: Any, ptr: int) -> Any:
        return ctype.from_buffer_copy(self.read(ptr, ctypes.sizeof(ctype))).value

    def store(self, ctype: Any, ptr: int, value: Any) -> None:
        self.write(ptr, bytes(ctype(value)))

    def writable(self, ptr: int, n: int) -> Any:
        self.check(ptr, n)
        return _Window(self, ptr)

    def host_view(self, ptr: int, n: int, keep: Any) -> memoryview:
        raise WasmError(
            "ffi.buffer() and HEAP*.subarray() share wasm memory without copying, which Pyodide cannot "
            "do (the module's memory is a JavaScript ArrayBuffer): copy with HEAPU8[a:b] and "
            "ffi.memmove() instead"
        )


class _Window:
    """Slice assignment into a stretch of wasm memory (the call-temporaries arena)."""

    __slots__ = ("_mem", "_ptr")

    def __init__(self, mem: JsMemory, ptr: int) -> None:
        self._mem = mem
        self._ptr = ptr

    def __setitem__(self, key: slice, data: Any) -> None:
        self._mem.write(self._ptr + (key.start or 0), data)


class Session:
    """One instantiated module (see the package docstring for the interface)."""

    engine = None
    store = None
    limits = None

    def __init__(self, inst: Instance, wasm: bytes, options: Mapping[str, Any]) -> None:
        for name in UNSUPPORTED:
            if options.get(name) is not None:
                raise WasmError(
                    f"the option {name}= needs wasmtime and is not available under Pyodide "
                    "(the JavaScript engine runs the wasm there)"
                )
        self.module = compile_module(wasm)
        self.layout = _binary.read(wasm)
        self.mem = JsMemory()
        target: Any = inst  # typed for the wasmtime backend, which mypy checks against
        target.mem, target._be = self.mem, self  # host functions made below use both
        self._proxies: list[Any] = []  # JavaScript functions made of Python ones: kept alive here
        imports: dict[str, dict[str, Any]] = {}

        def define(module: str, name: str, params: str, results: str, fn: Callable[..., Any]) -> None:
            imports.setdefault(module, {})[name] = self._proxy(_host_entry(params, results, fn))

        funcs = [(i.module, i.name, i.params, i.results) for i in self.layout.imports if i.kind == "func"]
        _host.define_imports(inst, funcs, define, engine_wasi=False)
        others = [i for i in self.layout.imports if i.kind != "func"]
        if others:
            raise WasmLinkError(
                f"the wasm module imports {others[0].module}.{others[0].name} (a {others[0].kind}), "
                "which the embind-py runtime does not provide"
            )
        obj = to_js(imports, dict_converter=js.Object.fromEntries)
        try:
            self.instance = js.WebAssembly.Instance.new(self.module, obj)
        except JsException as e:
            raise WasmLinkError(f"cannot instantiate the wasm module: {e}") from None
        self.exports = self.instance.exports
        self._funcs: dict[str, Any] = {}
        memory = _JS.get(self.exports, "memory")
        if memory is None or str(js.Object.prototype.toString.call(memory)) != "[object WebAssembly.Memory]":
            raise WasmLinkError("the wasm module exports no memory")
        self.memory = memory
        self.mem.bind(memory)
        self.table = _JS.get(self.exports, "__indirect_function_table")

    def _proxy(self, fn: Callable[..., Any]) -> Any:
        p = create_proxy(fn)
        self._proxies.append(p)
        return p

    # -- functions -----------------------------------------------------------

    def func(self, name: str) -> Any:
        f = self._funcs.get(name)
        if f is None and self.layout.exports.get(name, ("",))[0] == "func":
            f = self._funcs[name] = _JS.get(self.exports, name)
        return f

    def global_value(self, name: str) -> int | None:
        """The value of the exported wasm global `name` (a C global's address), or None."""
        if self.layout.exports.get(name, ("",))[0] != "global":
            return None
        return int(_JS.get(self.exports, name).value)

    def export_signature(self, name: str) -> tuple[str, str] | None:
        e = self.layout.exports.get(name)
        return (e[1], e[2]) if e is not None and e[0] == "func" else None

    def import_signature(self, module: str, name: str) -> tuple[str, str] | None:
        for i in self.layout.imports:
            if i.module == module and i.name == name and i.kind == "func":
                return i.params, i.results
        return None

    def caller(
        self, func: Any, params: str, results: str, on_fail: Callable[[Any], None]
    ) -> tuple[Callable[[], None], tuple[Any, ...]]:
        return make_caller(func, params, results, on_fail)

    def call(
        self, func: Any, args: Sequence[Any], params: str | None = None, results: str | None = None
    ) -> Any:
        if params is not None and "I" in params:
            args = [_BigInt(a) if c == "I" else a for a, c in zip(args, params, strict=False)]
        out = func(*args)
        if out is not None and results:
            return float(out) if results in "fd" else int(out)
        return out

    def new_func(self, params: str, results: str, fn: Callable[..., Any]) -> Any:
        key = (params, results)
        stub = _stubs.get(key)
        if stub is None:
            stub = _stubs[key] = js.WebAssembly.Module.new(to_js(_stub(params, results)))
        f = self._proxy(_host_entry(params, results, fn))
        imports = to_js({"e": {"f": f}}, dict_converter=js.Object.fromEntries)
        return js.WebAssembly.Instance.new(stub, imports).exports.f

    # -- table and memory ----------------------------------------------------

    def table_get(self, index: int) -> Any:
        if self.table is None:
            return None
        try:
            return self.table.get(index)
        except JsException:
            return None

    def table_grow(self, func: Any) -> int:
        if self.table is None:
            raise ValueError("the wasm module exports no function table")
        try:
            index = int(self.table.grow(1))
            self.table.set(index, func)
        except JsException as e:
            raise ValueError(str(e)) from None
        return index

    def table_set(self, index: int, func: Any) -> None:
        assert self.table is not None
        self.table.set(index, func)

    def table_size(self) -> int:
        return int(self.table.length) if self.table is not None else 0

    def grow_memory(self, pages: int) -> bool:
        try:
            self.memory.grow(pages)
        except JsException:
            return False
        self.mem.refresh()
        return True

    # -- failures ------------------------------------------------------------

    def clear_host_exception(self, mine: BaseException | None = None) -> None:
        pass  # Pyodide keeps no process-wide record of a host exception

    def refill(self) -> None:
        pass

    def interrupt(self) -> None:
        raise WasmError("interrupt() needs wasmtime; the browser's engine cannot stop a running call")

    def stop_reason(self) -> str | None:
        return None

    def rearm(self) -> None:
        pass

    def limit(self, name: str) -> Any:
        return None

    def failure(self, exc: BaseException) -> Failure:
        err = getattr(exc, "js_error", None)
        name = str(getattr(err, "name", "") or "") if err is not None else ""
        message = str(getattr(err, "message", "") or "") if err is not None else str(exc)
        stack = str(getattr(err, "stack", "") or "") if err is not None else ""
        frames = tuple(m[1] for m in _WASM_FRAME.finditer(stack))
        if name == "RangeError" and "call stack" in message:
            return Failure("trap", "call stack exhausted", "stack overflow", frames)
        if name != "RuntimeError":
            return Failure("error", f"{name}: {message}" if name else message)
        code = next((c for pattern, c in _TRAP_CODES if pattern in message), None)
        return Failure("trap", message, code, frames)


# V8's and SpiderMonkey's trap messages, with the names wasmtime gives the same traps.
_TRAP_CODES = (
    ("unreachable", "unreachable"),
    ("memory access out of bounds", "memory out of bounds"),
    ("out of bounds memory access", "memory out of bounds"),
    ("divide by zero", "integer division by zero"),
    ("remainder by zero", "integer division by zero"),
    ("integer overflow", "integer overflow"),
    ("unrepresentable", "bad conversion to integer"),
    ("table index is out of bounds", "table out of bounds"),
    ("null function", "indirect call to null"),
    ("signature mismatch", "bad signature"),
    ("indirect call", "bad signature"),
)
_WASM_FRAME = re.compile(r"at (?:\S+\.)?([^\s()]+) \(wasm://")


# ---------------------------------------------------------------------------
# WASI calls wasmtime's WASI answers on CPython, answered here the same way: the environment
# C sees is the `env` option (nothing by default), random bytes come from os.urandom.


def _environ(inst: Instance) -> list[bytes]:
    env = inst._options.get("env") or {}
    return [f"{k}={v}".encode() + b"\0" for k, v in env.items()]


@_host.host(_host.WASI, "environ_sizes_get")
def _environ_sizes_get(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda count_ptr, size_ptr: _host.wasi.put_sizes(inst, _environ(inst), count_ptr, size_ptr)


@_host.host(_host.WASI, "environ_get")
def _environ_get(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda environ_ptr, buf_ptr: _host.wasi.put_strings(inst, _environ(inst), environ_ptr, buf_ptr)


_host.host(_host.WASI, "random_get")(_host.emscripten._getentropy)  # the same os.urandom bytes


@_host.host(_host.WASI, "sched_yield")
def _sched_yield(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: 0


