"""Emscripten's JavaScript runtime helpers, in Python, and running `main`.

Owns: `EmscriptenHelpers` (mixed into `FFI`): `ccall`/`cwrap` with Emscripten's
type words, the `HEAP8`…`HEAPF64`/`HEAP64` views, `stackSave`/`stackRestore`/
`stackAlloc` and `with ffi.stack():`, the UTF-8 string helpers and
`getValue`/`setValue`; `call_main` (argv marshalled as C expects, exit codes);
the host imports a wasm built for Emscripten's JS glue commonly needs (added to
`_host`'s registry); and `load_wasm`, which runs such a wasm without its glue.

The conversions mirror Emscripten's `preamble.js` and `library.js`, so code
written against `Module.ccall` or `HEAP32[ptr >> 2]` translates line by line.

May import: wasmtime, the standard library, the runtime's own modules.
"""

from __future__ import annotations

import contextlib
import ctypes
import operator
import os
import re
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import wasmtime

from . import _convert, _host
from ._errors import WasmBoundsError, WasmError, WasmExit, WasmLinkError, WasmTrap
from ._instance import Instance, compile_module
from ._types import CStr, Pointer

_LETTER = {"i32": "i", "i64": "I", "f32": "f", "f64": "d"}
_INT_WORDS = frozenset({"number", "bigint", "boolean", "pointer", "i8", "i16", "i32", "i64", "*"})
_VOID_WORDS = frozenset({None, "null", "void", "undefined"})
_OTHER_WORDS = frozenset({"string", "array", "float", "double"})


def _signature(inst: Instance, name: str) -> tuple[wasmtime.Func, str, str]:
    """The export `name` and its real wasm signature as letters (i I f d)."""
    f = inst.exports.get(name)
    if not isinstance(f, wasmtime.Func):
        raise WasmLinkError(
            f"the wasm module does not export the function {name!r} "
            "(build it with -sEXPORTED_FUNCTIONS=_" + name + ")"
        )
    ty = f.type(inst.store)
    params = "".join(_LETTER.get(str(t), "?") for t in ty.params)
    results = "".join(_LETTER.get(str(t), "?") for t in ty.results)
    if "?" in params + results:
        raise WasmLinkError(f"{name}: wasm signature uses value types ccall cannot pass")
    return f, params, results


def _to_slot(slot: Any, letter: str, value: Any, what: str) -> None:
    if letter == "d":
        slot.f64 = _convert.to_float(value, what, "double")
    elif letter == "f":
        slot.f32 = _convert.to_float(value, what, "float")
    elif letter == "i":
        slot.i32 = _convert.wasm_int(value, what, letter)
    else:
        slot.i64 = _convert.wasm_int(value, what, letter)


def _from_slot(slot: Any, letter: str) -> Any:
    if letter == "i":
        return int(slot.i32)
    if letter == "I":
        return int(slot.i64)
    if letter == "f":
        return float(slot.f32)
    return float(slot.f64)


# ---------------------------------------------------------------------------
# Heap views


class HeapView:
    """`HEAP32` and friends: the whole linear memory seen as an array of one C type.

    Indexes are element numbers (`HEAP32[ptr >> 2]`), as in JavaScript. Every
    access reads the instance's memory afresh, so a view never goes stale when
    C grows memory; every access is bounds-checked (`WasmBoundsError`).
    """

    __slots__ = ("_fmt", "_get", "_size", "name")

    def __init__(self, get: Callable[[], Instance], name: str, fmt: str, size: int) -> None:
        self._get = get
        self.name = name
        self._fmt = fmt
        self._size = size

    def _mem(self, refresh: bool = False) -> Any:
        # Reads and writes need no refresh: the instance refreshes on C's growth notice, and
        # a bounds check that fails refreshes before it raises. Sizes and raw views do.
        mem = self._get().mem
        if refresh:
            mem.refresh()
        return mem

    def __len__(self) -> int:
        return int(self._mem(refresh=True).size) // self._size

    @property
    def BYTES_PER_ELEMENT(self) -> int:
        return self._size

    def _range(self, key: slice, n_elems: int) -> tuple[int, int, int]:
        return key.indices(n_elems)

    def __getitem__(self, key: int | slice) -> Any:
        mem = self._mem(refresh=isinstance(key, slice))  # slices clip to the size
        sz = self._size
        if isinstance(key, slice):
            start, stop, step = self._range(key, mem.size // sz)
            if step == 1:
                n = max(stop - start, 0)
                raw = mem.read(start * sz, n * sz)
                return list(struct.unpack(f"<{n}{self._fmt}", raw))
            return [self[i] for i in range(start, stop, step)]
        i = operator.index(key)
        if i < 0:
            raise WasmBoundsError(f"{self.name}[{i}]: negative index")
        return struct.unpack(f"<{self._fmt}", mem.read(i * sz, sz))[0]

    def __setitem__(self, key: int | slice, value: Any) -> None:
        mem = self._mem(refresh=isinstance(key, slice))
        sz = self._size
        if isinstance(key, slice):
            start, stop, step = self._range(key, mem.size // sz)
            if (
                step == 1
                and sz == 1
                and isinstance(value, bytes | bytearray | memoryview)
                and (memoryview(value).itemsize == 1)
            ):
                data = memoryview(value).cast("B")  # HEAPU8[a:b] = bytes: one memmove
                if len(data) != max(stop - start, 0):
                    raise ValueError(
                        f"{self.name}[{start}:{stop}]: {len(data)} values for {stop - start} elements"
                    )
                mem.write(start, data)
                return
            vals = _elements(value)
            idx = range(start, stop, step)
            if len(idx) != len(vals):
                raise ValueError(f"{self.name}[{start}:{stop}]: {len(vals)} values for {len(idx)} elements")
            if step == 1:
                mem.write(start * sz, self._pack(vals))
            else:
                for i, v in zip(idx, vals, strict=True):
                    self[i] = v
            return
        i = operator.index(key)
        if i < 0:
            raise WasmBoundsError(f"{self.name}[{i}]: negative index")
        mem.write(i * sz, self._pack([value]))

    def _pack(self, vals: list[Any]) -> bytes:
        fmt = self._fmt
        if fmt == "f":
            return struct.pack(f"<{len(vals)}f", *(_f32(v) for v in vals))
        if fmt == "d":
            return struct.pack(f"<{len(vals)}d", *(float(v) for v in vals))
        bits = self._size * 8
        mask = (1 << bits) - 1
        # JavaScript typed arrays wrap out-of-range integers modulo 2**bits.
        raw = [int(v) & mask for v in vals]
        return struct.pack(f"<{len(raw)}{fmt.upper()}", *raw)

    def set(self, values: Any, offset: int = 0) -> None:
        """`HEAPU8.set(bytes, ptr)`: write `values` starting at element `offset`."""
        if not hasattr(values, "__len__"):
            values = list(values)
        self[offset : offset + len(values)] = values

    def subarray(self, begin: int, end: int | None = None) -> memoryview:
        """A no-copy memoryview of elements [begin, end) (valid until memory grows)."""
        if begin < 0 or (end is not None and end < 0):
            raise WasmBoundsError(f"{self.name}.subarray({begin}, {end}): negative index")
        mem = self._mem(refresh=True)
        sz = self._size
        stop = mem.size // sz if end is None else end
        n = max(stop - begin, 0)
        host = mem.check(begin * sz, n * sz)
        raw: Any = memoryview((ctypes.c_char * (n * sz)).from_address(host)).cast("B")
        view: memoryview = raw.cast(self._fmt)
        return view

    def __repr__(self) -> str:
        return f"<{self.name}: {len(self)} elements>"


def _elements(value: Any) -> list[Any]:
    """The element values of a sequence (a typed memoryview gives its elements, bytes its byte values)."""
    if isinstance(value, memoryview):
        return list(value.tolist()) if value.ndim == 1 else list(value.cast("B").tolist())
    return list(value)


_HEAPS = {
    "HEAP8": ("b", 1),
    "HEAPU8": ("B", 1),
    "HEAP16": ("h", 2),
    "HEAPU16": ("H", 2),
    "HEAP32": ("i", 4),
    "HEAPU32": ("I", 4),
    "HEAPF32": ("f", 4),
    "HEAPF64": ("d", 8),
    "HEAP64": ("q", 8),
    "HEAPU64": ("Q", 8),
}

_VALUE_TYPES = {
    "i1": ("b", 1),
    "i8": ("b", 1),
    "i16": ("h", 2),
    "i32": ("i", 4),
    "i64": ("q", 8),
    "float": ("f", 4),
    "double": ("d", 8),
    "*": ("I", 4),
}


def _value_type(t: str) -> tuple[str, int]:
    if t.endswith("*"):
        return _VALUE_TYPES["*"]
    try:
        return _VALUE_TYPES[t]
    except KeyError:
        raise ValueError(f"invalid type for getValue/setValue: {t!r}") from None


# ---------------------------------------------------------------------------
# The helpers


def _utf8(s: str) -> bytes:
    """`s` as Emscripten's stringToUTF8 writes it (JavaScript strings are UTF-16)."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        # A surrogate pair is one 4-byte character, as in JavaScript; a lone surrogate 3 bytes.
        return (
            s.encode("utf-16-le", "surrogatepass")
            .decode("utf-16-le", "surrogatepass")
            .encode("utf-8", "surrogatepass")
        )


def _string_bytes(value: Any, what: str) -> bytes:
    """A "string" argument: str as UTF-8; bytes and other buffers as they are."""
    if isinstance(value, str):
        return _utf8(value)
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(
            f"{what}: expected str, bytes or None for a C string, got {type(value).__name__}"
        ) from None


def _byte_values(value: Any, what: str) -> bytes:
    """An "array": a buffer's bytes, or a sequence of byte values wrapped to 8 bits as HEAP8.set does."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str | int):
        raise TypeError(f"{what}: expected bytes or a sequence of byte values, got {type(value).__name__}")
    try:
        return bytes(memoryview(value).cast("B"))
    except TypeError:
        pass
    try:
        return bytes(operator.index(v) & 0xFF for v in value)
    except TypeError:
        raise TypeError(f"{what}: expected bytes or a sequence of ints, got {type(value).__name__}") from None


def _on_stack(inst: Instance, data: bytes) -> int:
    p = inst.stack_alloc(max(len(data), 1))
    inst.mem.write(p, data)
    return p


def _f32(v: Any) -> float:
    # Like a JavaScript Float32Array: out-of-range values become +-Infinity instead of failing.
    return float(ctypes.c_float(float(v)).value)


class EmscriptenHelpers:
    """Emscripten's runtime methods, bound to an instance (mixed into `FFI`)."""

    @property
    def _inst(self) -> Instance:  # provided by FFI
        raise NotImplementedError

    def _addr(self, ptr: Any, what: str) -> int:
        """An address argument, by `_convert.address`'s rule (NULL is 0)."""
        return _convert.address(self._inst, ptr, what)

    def _heap(self, name: str) -> HeapView:
        fmt, size = _HEAPS[name]
        return HeapView(lambda: self._inst, name, fmt, size)

    HEAP8 = property(lambda self: self._heap("HEAP8"))
    HEAPU8 = property(lambda self: self._heap("HEAPU8"))
    HEAP16 = property(lambda self: self._heap("HEAP16"))
    HEAPU16 = property(lambda self: self._heap("HEAPU16"))
    HEAP32 = property(lambda self: self._heap("HEAP32"))
    HEAPU32 = property(lambda self: self._heap("HEAPU32"))
    HEAPF32 = property(lambda self: self._heap("HEAPF32"))
    HEAPF64 = property(lambda self: self._heap("HEAPF64"))
    HEAP64 = property(lambda self: self._heap("HEAP64"))
    HEAPU64 = property(lambda self: self._heap("HEAPU64"))

    # -- stack -------------------------------------------------------------

    def stackSave(self) -> int:
        """The current wasm stack pointer."""
        inst = self._inst
        with inst._lock:
            return inst.stack_save()

    def stackRestore(self, sp: int) -> None:
        """Put the wasm stack pointer back to `sp` (from `stackSave`)."""
        inst = self._inst
        with inst._lock:
            inst.stack_restore(sp)

    def stackAlloc(self, n: int) -> int:
        """`n` bytes (16-aligned) on the wasm stack, until the enclosing `stackRestore`."""
        if n < 0:
            raise ValueError(f"stackAlloc({n}): negative size")
        inst = self._inst
        with inst._lock:
            return inst.stack_alloc(n)  # MemoryError, rather than a wrapped stack pointer, when too big

    @contextlib.contextmanager
    def stack(self) -> Iterator[None]:
        """`with ffi.stack():` — stackSave on entry, stackRestore on exit (even on error)."""
        inst = self._inst
        with inst._lock:
            sp = inst.stack_save()
            try:
                yield
            finally:
                inst.stack_restore(sp)

    # -- strings -----------------------------------------------------------

    def lengthBytesUTF8(self, s: str) -> int:
        """Bytes `s` takes in UTF-8, without the terminating NUL."""
        return len(_utf8(s))

    def stringToUTF8(self, s: str, ptr: int | Pointer[Any], max_bytes: int) -> int:
        """Write `s` NUL-terminated at `ptr`, at most `max_bytes` bytes including the NUL.

        Never cuts a character in half; returns the bytes written without the NUL.
        """
        if max_bytes <= 0:
            return 0
        data = _utf8(s)
        if len(data) > max_bytes - 1:
            cut = max_bytes - 1
            while cut > 0 and (data[cut] & 0xC0) == 0x80:
                cut -= 1
            data = data[:cut]
        self._inst.mem.write(self._addr(ptr, "stringToUTF8()"), data + b"\0")
        return len(data)

    def UTF8ToString(
        self, ptr: int | Pointer[Any], max_bytes: int | None = None, ignore_nul: bool = False
    ) -> str:
        """The string at `ptr` up to its NUL (or `max_bytes`); "" for NULL, as in Emscripten.

        With `ignore_nul` (Emscripten 4's `ignoreNul`), exactly `max_bytes` bytes are
        decoded, NULs included. Invalid UTF-8 becomes U+FFFD, as with TextDecoder.
        """
        if not ptr:
            return ""
        addr = self._addr(ptr, "UTF8ToString()")
        if ignore_nul and max_bytes is not None:
            raw = self._inst.mem.read(addr, max(max_bytes, 0))
        else:
            raw = self._inst.mem.read_cstring(addr, max_bytes)
        return raw.decode("utf-8", "replace")

    def stringToNewUTF8(self, s: str) -> int:
        """A malloc'd NUL-terminated copy of `s` (free it with `ffi.free`); 0 if malloc fails."""
        data = _utf8(s) + b"\0"
        inst = self._inst
        with inst._lock:
            p = inst.malloc(len(data))
        if p:
            inst.mem.write(p, data)
        return p

    allocateUTF8 = stringToNewUTF8

    def stringToUTF8OnStack(self, s: str) -> int:
        """A NUL-terminated copy of `s` on the wasm stack (freed by the enclosing stackRestore)."""
        data = _utf8(s) + b"\0"
        p = self.stackAlloc(len(data))
        self._inst.mem.write(p, data)
        return p

    allocateUTF8OnStack = stringToUTF8OnStack

    def writeArrayToMemory(self, array: Any, ptr: int | Pointer[Any]) -> None:
        """Copy bytes (or a list of byte values, wrapped to 8 bits as in JavaScript) to `ptr`."""
        what = "writeArrayToMemory()"
        self._inst.mem.write(self._addr(ptr, what), _byte_values(array, what))

    # -- values ------------------------------------------------------------

    def getValue(self, ptr: int | Pointer[Any], type: str = "i8") -> Any:
        """Read one value: "i1" "i8" "i16" "i32" "i64" "float" "double" "*" (any "T*")."""
        fmt, size = _value_type(type)
        v = struct.unpack(f"<{fmt}", self._inst.mem.read(self._addr(ptr, "getValue()"), size))[0]
        return bool(v) if type == "i1" else v

    def setValue(self, ptr: int | Pointer[Any], value: Any, type: str = "i8") -> None:
        """Write one value of `type` (integers wrap to the type's width, as in JavaScript)."""
        fmt, size = _value_type(type)
        if fmt in "fd":
            data = struct.pack(f"<{fmt}", _f32(value) if fmt == "f" else float(value))
        else:
            data = struct.pack(f"<{fmt.upper()}", int(value) & ((1 << (size * 8)) - 1))
        self._inst.mem.write(self._addr(ptr, "setValue()"), data)

    # -- calling -----------------------------------------------------------

    def ccall(
        self, name: str, restype: str | None, argtypes: Sequence[str | None] = (), args: Sequence[Any] = ()
    ) -> Any:
        """Call the C function `name` as Emscripten's `ccall` does.

        Type words: "number" (int or float, per the export's real wasm type),
        "bigint" (64-bit int), "boolean", "string" (str in: a UTF-8 copy on the
        wasm stack; out: the C string read back, "" for NULL), "array" (bytes
        or a list of byte values, copied to the stack), "pointer", and None for
        a void result. Stack copies are released when the call returns.
        """
        return self.cwrap(name, restype, argtypes)(*args)

    def cwrap(
        self, name: str, restype: str | None, argtypes: Sequence[str | None] = ()
    ) -> Callable[..., Any]:
        """A Python function calling C's `name` with `ccall`'s conversions."""
        inst = self._inst
        _f, params, results = _signature(inst, name)
        words = list(argtypes)
        if len(words) != len(params):
            raise TypeError(
                f"cwrap({name!r}): {len(words)} argument types given, the wasm export takes {len(params)}"
            )
        for w in [restype, *words]:
            if w not in _VOID_WORDS and w not in _INT_WORDS and w not in _OTHER_WORDS:
                raise ValueError(f"cwrap({name!r}): unknown type {w!r}")
        call, slots = inst._caller(name, params, results)
        res_letter = results[0] if results else ""
        helpers = self

        def wrapper(*args: Any) -> Any:
            if len(args) != len(words):
                raise TypeError(f"{name}() takes {len(words)} arguments ({len(args)} given)")
            with inst._lock:
                sp = 0
                pushed = False
                try:
                    for i, (w, a) in enumerate(zip(words, args, strict=True)):
                        if isinstance(a, Pointer | CStr) or w in ("pointer", "*"):  # the address rule
                            a = _convert.address(inst, a, f"{name}() argument {i + 1}")
                        if w == "string" and a is not None and not isinstance(a, int):
                            if not sp:
                                sp = inst.stack_save()
                            a = _on_stack(inst, _string_bytes(a, f"{name}() argument {i + 1}") + b"\0")
                        elif w == "array" and a is not None and not isinstance(a, int):
                            if not sp:
                                sp = inst.stack_save()
                            a = _on_stack(inst, _byte_values(a, f"{name}() argument {i + 1}"))
                        elif w == "boolean":
                            a = 1 if a else 0
                        elif a is None and w in ("string", "array"):
                            a = 0  # NULL; a "number" given None is a TypeError, as everywhere
                        _to_slot(slots[i], params[i], a, f"{name}() argument {i + 1}")
                    if sp:
                        inst._sp_stack.append(sp)
                        pushed = True
                    call()
                    if not res_letter or restype in _VOID_WORDS:
                        return None
                    r = _from_slot(slots[0], res_letter)
                finally:
                    # also when converting a later argument failed after strings went on the stack
                    if pushed:
                        inst._sp_stack.pop()
                    if sp:
                        inst.stack_restore(sp)
            if restype == "string":
                return helpers.UTF8ToString(r & 0xFFFFFFFF)
            if restype == "boolean":
                return bool(r)
            if restype == "pointer" or restype == "*":
                return r & 0xFFFFFFFF
            return r

        wrapper.__name__ = name
        return wrapper


# ---------------------------------------------------------------------------
# main


_MAIN_NAMES = ("__main_argc_argv", "main", "__main_void", "__original_main")


def has_main(inst: Instance) -> bool:
    """Whether the module has a `main` that `call_main` can run."""
    ex = inst.exports
    return any(isinstance(ex.get(n), wasmtime.Func) for n in (*_MAIN_NAMES, "_start"))


def call_main(inst: Instance, args: Sequence[str] = (), program: str = "./this.program") -> int:
    """Run C's `main` with argv = [program, *args]; return its exit code.

    As Emscripten's `callMain(args)`: the strings and the argv array (ending in
    NULL) live on the wasm stack for the call. `exit(n)` inside main returns n.
    C's stdio is flushed afterwards.
    """
    argv = [program, *(str(a) for a in args)]
    ex = inst.exports
    name = next((n for n in _MAIN_NAMES if isinstance(ex.get(n), wasmtime.Func)), None)
    with inst._lock:
        try:
            if name is None:
                return _call_start(inst, argv)
            _f, params, results = _signature(inst, name)
            call, slots = inst._caller(name, params, results)
            sp = inst.stack_save()
            inst._sp_stack.append(sp)
            try:
                if len(params) >= 2:
                    ptrs = []
                    for a in argv:
                        data = _utf8(a) + b"\0"
                        p = inst.stack_alloc(len(data))
                        inst.mem.write(p, data)
                        ptrs.append(p)
                    arr = inst.stack_alloc(4 * (len(ptrs) + 1))
                    inst.mem.write(arr, struct.pack(f"<{len(ptrs) + 1}I", *ptrs, 0))
                    slots[0].i32 = len(argv)
                    slots[1].i32 = arr
                call()
                return int(slots[0].i32) if results else 0
            finally:
                inst._sp_stack.pop()
                inst.stack_restore(sp)
        except WasmExit as e:
            return int(e.code)
        finally:
            with contextlib.suppress(Exception):
                inst.flush()


def run_main(make: Callable[..., Any], args: Sequence[str]) -> int:
    """`python -m NAME args`: run C's main with the process's stdio; return the exit status.

    As a native C program would: stdout is written as bytes (not decoded as UTF-8);
    a trap or an uncaught `WasmError` is one line on stderr (status 1, no
    traceback); a closed stdout pipe ends the program quietly (141, as SIGPIPE);
    Ctrl-C ends it at once (130, as SIGINT), even inside a C loop that never calls
    back into Python.
    """
    # C's stdout goes to the binary layer, so bytes that are not UTF-8 come out unchanged.
    stdout = getattr(sys.stdout, "buffer", sys.stdout)
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(int(make(stdin=sys.stdin, stdout=stdout).call_main(args)))
        except BaseException as e:  # handed to the main thread
            outcome.append(e)

    # Python runs signal handlers only in the main thread, and only between bytecodes, so
    # a main thread inside a long wasm call would never see Ctrl-C: C runs in a worker.
    worker = threading.Thread(target=run, name="embind-py-main", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        # A C program killed by SIGINT does not flush its stdio either; Python's is flushed.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(130)
    result = outcome[0] if outcome else 1
    if isinstance(result, int):
        return result
    if isinstance(result, BrokenPipeError):
        # Point stdout at /dev/null so the interpreter's own flush at exit cannot fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if isinstance(result, WasmError):
        with contextlib.suppress(Exception):
            stdout.flush()
        name = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "main"
        print(f"{name}: {result}", file=sys.stderr)
        return 1
    raise result


def _call_start(inst: Instance, argv: list[str]) -> int:
    """A command module without an exported main: run `_start` with argv via WASI args_get."""
    start = inst.exports.get("_start")
    if not isinstance(start, wasmtime.Func):
        raise WasmLinkError("the wasm module has no main (no main, __main_argc_argv or _start export)")
    inst.__dict__["_main_argv"] = argv
    try:
        call, _slots = inst._caller("_start", "", "")
        call()
        return 0
    finally:
        inst.__dict__.pop("_main_argv", None)


def _argv_of(inst: Instance) -> list[str]:
    argv = inst.__dict__.get("_main_argv")
    if argv is None:
        argv = list(inst._options.get("argv") or [])
    return list(argv)


@_host.host(_host.WASI, "args_sizes_get")
def _args_sizes_get(inst: Instance, name: str) -> Callable[..., Any]:
    def args_sizes_get(argc_ptr: int, size_ptr: int) -> int:
        argv = _argv_of(inst)
        inst.mem.write(argc_ptr, struct.pack("<I", len(argv)))
        inst.mem.write(size_ptr, struct.pack("<I", sum(len(_utf8(a)) + 1 for a in argv)))
        return 0

    return args_sizes_get


@_host.host(_host.WASI, "args_get")
def _args_get(inst: Instance, name: str) -> Callable[..., Any]:
    def args_get(argv_ptr: int, buf_ptr: int) -> int:
        p = buf_ptr
        for i, a in enumerate(_argv_of(inst)):
            data = _utf8(a) + b"\0"
            inst.mem.write(p, data)
            inst.mem.write(argv_ptr + 4 * i, struct.pack("<I", p))
            p += len(data)
        return 0

    return args_get


# ---------------------------------------------------------------------------
# Imports of wasm built for Emscripten's JS glue (`emcc x.c -o x.js`)

ESPIPE = 70
ENOTSUP = 58
HEAP_MAX = 2 * 1024 * 1024 * 1024  # Emscripten's default MAXIMUM_MEMORY with growth
_PAGE = 65536


def _memory_of(inst: Instance) -> wasmtime.Memory:
    return inst.memory


@_host.host("env", "emscripten_resize_heap")
def _resize_heap(inst: Instance, name: str) -> Callable[..., Any]:
    def resize(requested: int) -> int:
        requested &= 0xFFFFFFFF
        memory = _memory_of(inst)
        old = memory.data_len(inst.store)
        if requested <= old:
            return 0
        if requested > HEAP_MAX:
            return 0
        # Emscripten over-grows by up to 20% (capped at +96 MiB) to make repeated growth cheap.
        for cut in (1, 2, 3, 4):
            target = min(max(requested, int(old * (1 + 0.2 / cut))), requested + 96 * 1024 * 1024)
            target = min((target + _PAGE - 1) // _PAGE * _PAGE, HEAP_MAX)
            try:
                memory.grow(inst.store, (target - old) // _PAGE)
            except wasmtime.WasmtimeError:
                continue
            inst.mem.refresh()
            return 1
        return 0

    return resize


@_host.host("env", "emscripten_get_heap_max", "emscripten_get_heap_size")
def _heap_max(inst: Instance, name: str) -> Callable[..., Any]:
    if name == "emscripten_get_heap_size":
        return lambda: _memory_of(inst).data_len(inst.store)
    return lambda: HEAP_MAX


@_host.host("env", "time")
def _time(inst: Instance, name: str) -> Callable[..., Any]:
    def c_time(ptr: int) -> int:
        t = int(time.time())
        if ptr:
            inst.mem.write(ptr, struct.pack("<i", t))
        return t

    return c_time


@_host.host("env", "clock")
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


@_host.host("env", "strftime", "strftime_l")
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


@_host.host("env", "exit", "_exit")
def _exit(inst: Instance, name: str) -> Callable[..., Any]:
    def c_exit(code: int) -> None:
        raise WasmExit(code)

    return c_exit


@_host.host("env", "__assert_fail")
def _assert_fail(inst: Instance, name: str) -> Callable[..., Any]:
    def assert_fail(cond: int, file: int, line: int, func: int) -> None:
        def s(p: int) -> str:
            return inst.mem.read_cstring(p).decode("utf-8", "replace") if p else "unknown"

        raise WasmTrap(f"Assertion failed: {s(cond)}, at: {s(file)}, {line}, {s(func)}", "abort")

    return assert_fail


@_host.host(
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


@_host.host("env", "emscripten_get_now_is_monotonic", "_emscripten_get_now_is_monotonic")
def _is_monotonic(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: 1


@_host.host("env", "emscripten_get_now_res")
def _now_res(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: 1000.0


@_host.host("env", "_tzset_js")
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
        inst.mem.write(p, _utf8(s) + b"\0")
        cache[s] = p
    return p


def _time_arg(inst: Instance, name: str) -> Callable[[tuple[int, ...]], tuple[int, tuple[int, ...]]]:
    """How this build passes a `time_t` argument: split off (time, remaining args).

    emcc 3.1.6 passes a pointer to an i32 `time_t`; later versions pass the 64-bit
    time itself: one i64 with WASM_BIGINT (the default since 4.0), two i32 halves
    (low, high) without it. The wasm signature says which.
    """
    params = _host.import_params(inst, "env", name)
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


@_host.host("env", "_gmtime_js", "_localtime_js")
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


@_host.host("env", "_mktime_js", "_timegm_js")
def _mktime_js(inst: Instance, name: str) -> Callable[..., Any]:
    # UTC, like _localtime_js: mktime is timegm. The fields are normalised (tm_mon 14 is
    # February of the next year) and written back with tm_wday/tm_yday, as C requires.
    # The result is an i64 with WASM_BIGINT (the default since 4.0); otherwise an i32:
    # the 32-bit time_t of 3.1.6, or the low half of a legalized i64 whose high half
    # goes through setTempRet0 (both are the wrapped low 32 bits).
    wide = _host.import_results(inst, "env", name) == ["i64"]

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


@_host.host("env", "__asctime_r")
def _asctime_r(inst: Instance, name: str) -> Callable[..., Any]:
    # Newer Emscripten's asctime/asctime_r (in JS): "Sun Sep 16 01:03:52 1973\n", at most 26 bytes.
    def asctime_r(tm_ptr: int, buf: int) -> int:
        sec, minute, hour, mday, mon, year, wday = struct.unpack("<7i", inst.mem.read(tm_ptr, 28))
        day = _DAYS[wday] if 0 <= wday < 7 else "???"
        month = _MONTHS[mon] if 0 <= mon < 12 else "???"
        text = f"{day} {month}{mday:3d} {hour:02d}:{minute:02d}:{sec:02d} {1900 + year}\n"
        inst.mem.write(buf, _utf8(text)[:25] + b"\0")
        return buf

    return asctime_r


@_host.host("env", "_emscripten_runtime_keepalive_clear", "emscripten_runtime_keepalive_push",
            "emscripten_runtime_keepalive_pop")
def _keepalive(inst: Instance, name: str) -> Callable[..., Any]:
    # The JS runtime's keep-alive counter (exit() clears it): nothing to keep alive here.
    return lambda *args: None


@_host.host("env", "_emscripten_get_progname")
def _get_progname(inst: Instance, name: str) -> Callable[..., Any]:
    def get_progname(buf: int, length: int) -> None:
        argv = inst.__dict__.get("_main_argv") or ["./this.program"]
        if length > 0:
            inst.mem.write(buf, (_utf8(argv[0]) + b"\0")[:length])

    return get_progname


@_host.host("env", "_setitimer_js")
def _setitimer_js(inst: Instance, name: str) -> Callable[..., Any]:
    # No timers (no event loop to deliver SIGALRM): as Emscripten's standalone libc does.
    def setitimer(which: int, timeout_ms: float) -> int:
        _host.set_errno(inst, ENOTSUP)
        return -1

    return setitimer


@_host.host("env", "_mmap_js", "_munmap_js", "_msync_js")
def _mmap_js(inst: Instance, name: str) -> Callable[..., Any]:
    # File mappings need Emscripten's JS file system; anonymous mmap is C's own (malloc).
    return lambda *args: -_host.ENOSYS


@_host.host(_host.WASI, "fd_close")
def _fd_close(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda fd: 0 if fd in (0, 1, 2) else _host.EBADF


@_host.host(_host.WASI, "fd_seek")
def _fd_seek(inst: Instance, name: str) -> Callable[..., Any]:
    # Standalone: (fd, i64 offset, whence, newoffset*); JS mode without BigInt
    # legalizes the offset into two i32 halves. The stdio streams cannot seek.
    def fd_seek(fd: int, *rest: int) -> int:
        return ESPIPE if fd in (0, 1, 2) else _host.EBADF

    return fd_seek


@_host.host(_host.WASI, "fd_fdstat_get")
def _fd_fdstat_get(inst: Instance, name: str) -> Callable[..., Any]:
    def fdstat(fd: int, out: int) -> int:
        if fd not in (0, 1, 2):
            return _host.EBADF
        # filetype 2 = character device (a terminal-like stream), no flags, all rights
        inst.mem.write(out, struct.pack("<BxHxxxxQQ", 2, 0, (1 << 64) - 1, (1 << 64) - 1))
        return 0

    return fdstat


@_host.host("env", "emscripten_random", "_emscripten_random")
def _random(inst: Instance, name: str) -> Callable[..., Any]:
    return lambda: int.from_bytes(os.urandom(4), "little") / 2**32


def _check_imports(module: wasmtime.Module, path: str) -> None:
    for imp in module.imports:
        ty = imp.type
        if imp.name is None:
            continue
        if not isinstance(ty, wasmtime.FuncType):
            raise WasmLinkError(
                f"{path}: imports {imp.module}.{imp.name} (not a function; e.g. an imported memory "
                "from -sIMPORTED_MEMORY or threads), which load_wasm cannot provide"
            )
        if _host.lookup(imp.module, imp.name) is not None:
            continue
        if imp.module == _host.WASI:
            # wasmtime's WASI provides all of preview1 (with no folders granted, file calls
            # fail with EBADF); newer Emscripten glue imports more of it (fd_pwrite, fd_sync, ...).
            continue
        hint = ""
        if imp.name.startswith(("emscripten_asm_const", "_emscripten_asm_const")):
            hint = " It is how EM_ASM/EM_JS code runs JavaScript, which Python cannot run."
        elif len(imp.module) <= 2 and len(imp.name) <= 2:
            hint = (
                " The import names are minified: emcc does that for JS-glue builds at -O3/-Os/-Oz;"
                " build with -O2 or lower (or add -sASSERTIONS=1) to keep readable names."
            )
        raise WasmLinkError(
            f"{path}: the wasm imports {imp.module}.{imp.name}, which the embind-py runtime does not "
            f"provide (it is implemented in Emscripten's JavaScript glue).{hint}"
        )


def load_wasm(path: str | Path | bytes, **options: Any) -> Any:
    """Instantiate a .wasm that emcc built for its JS glue (`emcc x.c -o x.js` gives x.wasm).

    Its imports must be among the ones the runtime implements (stdio, time,
    memory growth, environment, exit, ...); otherwise `WasmLinkError` names the
    first one missing. Static constructors run as the glue would run them.
    Returns an `Instance` with `.ffi` (ccall, cwrap, HEAP views, ...), and
    `.call_main(args)` when the program has a main. Options as for `Instance`.
    """
    if isinstance(path, bytes):
        wasm, label = path, "<wasm bytes>"
    else:
        wasm, label = Path(path).read_bytes(), str(path)
    try:
        module = compile_module(wasm)
    except wasmtime.WasmtimeError as e:
        raise WasmLinkError(f"{label}: not a valid wasm module: {e}") from None
    _check_imports(module, label)
    return JsModule(wasm, **options)


class JsModule(Instance):
    """A wasm built for Emscripten's JS glue, run without the glue (see `load_wasm`)."""

    def __init__(self, wasm: bytes, **options: Any) -> None:
        from ._ffi import FFI  # _ffi imports this module for its mixin

        super().__init__(wasm, None, **options)
        self.ffi = FFI(self)

    def call_main(self, args: Sequence[str] = (), program: str = "./this.program") -> int:
        """Run C's main with argv [program, *args] and return its exit code."""
        return call_main(self, args, program)
