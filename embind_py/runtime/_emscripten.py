"""Emscripten's JavaScript runtime helpers, in Python, and running `main`.

Owns: `EmscriptenHelpers` (mixed into `FFI`): `ccall`/`cwrap` with Emscripten's
type words, the `HEAP8`…`HEAPF64`/`HEAP64` views, `stackSave`/`stackRestore`/
`stackAlloc` and `with ffi.stack():`, the UTF-8 string helpers and
`getValue`/`setValue`; `call_main` (argv marshalled as C expects, exit codes);
and `load_wasm`, which runs a wasm built for Emscripten's JS glue without the glue
(the imports such a wasm needs are answered by the `host` package).

The conversions mirror Emscripten's `preamble.js` and `library.js`, so code
written against `Module.ccall` or `HEAP32[ptr >> 2]` translates line by line.

May import: the standard library, the runtime's own modules (the engine only through the
instance's backend session).
"""

from __future__ import annotations

import contextlib
import ctypes
import operator
import os
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import _backend, _convert
from . import host as _host
from ._errors import WasmBoundsError, WasmError, WasmExit, WasmLinkError
from ._instance import Instance, check_wasm, compile_module
from ._types import CStr, Pointer
from .host import js_utf8 as _utf8

_LETTER = {"i32": "i", "i64": "I", "f32": "f", "f64": "d"}
_INT_WORDS = frozenset({"number", "bigint", "boolean", "pointer", "i8", "i16", "i32", "i64", "*"})
_VOID_WORDS = frozenset({None, "null", "void", "undefined"})
_OTHER_WORDS = frozenset({"string", "array", "float", "double"})


def _signature(inst: Instance, name: str) -> tuple[Any, str, str]:
    """The export `name` and its real wasm signature as letters (i I f d)."""
    f = inst._be.func(name)
    sig = inst._be.export_signature(name)
    if f is None or sig is None:
        raise WasmLinkError(
            f"the wasm module does not export the function {name!r} "
            "(build it with -sEXPORTED_FUNCTIONS=_" + name + ")"
        )
    params, results = sig
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
        inst = self._get()
        raw: Any = mem.host_view(begin * sz, n * sz, (inst.store, inst.memory))
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
    return any(inst._be.func(n) is not None for n in (*_MAIN_NAMES, "_start"))


def call_main(inst: Instance, args: Sequence[str] = (), program: str = "./this.program") -> int:
    """Run C's `main` with argv = [program, *args]; return its exit code.

    As Emscripten's `callMain(args)`: the strings and the argv array (ending in
    NULL) live on the wasm stack for the call. `exit(n)` inside main returns n.
    C's stdio is flushed afterwards.
    """
    argv = [program, *(str(a) for a in args)]
    name = next((n for n in _MAIN_NAMES if inst._be.func(n) is not None), None)
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
    if inst._be.func("_start") is None:
        raise WasmLinkError("the wasm module has no main (no main, __main_argc_argv or _start export)")
    inst.__dict__["_main_argv"] = argv
    try:
        call, _slots = inst._caller("_start", "", "")
        call()
        return 0
    finally:
        inst.__dict__.pop("_main_argv", None)


# ---------------------------------------------------------------------------
# Imports of wasm built for Emscripten's JS glue (`emcc x.c -o x.js`)

def _check_imports(module: Any, path: str) -> None:
    for imp_module, imp_name, is_func in _backend.backend.module_imports(module):
        if not is_func:
            raise WasmLinkError(
                f"{path}: imports {imp_module}.{imp_name} (not a function; e.g. an imported memory "
                "from -sIMPORTED_MEMORY or threads), which load_wasm cannot provide"
            )
        if _host.lookup(imp_module, imp_name) is not None:
            continue
        if imp_module == _host.WASI and _backend.NAME == "wasmtime":
            # wasmtime's WASI provides all of preview1 (with no folders granted, file calls
            # fail with EBADF); newer Emscripten glue imports more of it (fd_pwrite, fd_sync, ...).
            continue
        hint = ""
        if imp_name.startswith(("emscripten_asm_const", "_emscripten_asm_const")):
            hint = " It is how EM_ASM/EM_JS code runs JavaScript, which Python cannot run."
        elif len(imp_module) <= 2 and len(imp_name) <= 2:
            hint = (
                " The import names are minified: emcc does that for JS-glue builds at -O3/-Os/-Oz;"
                " build with -O2 or lower (or add -sASSERTIONS=1) to keep readable names."
            )
        raise WasmLinkError(
            f"{path}: the wasm imports {imp_module}.{imp_name}, which the embind-py runtime does not "
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
    check_wasm(wasm, label)
    try:
        module = compile_module(wasm)
    except _backend.TRAPS as e:
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
