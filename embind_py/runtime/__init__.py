"""The embind-py runtime: what generated bindings import to run C through wasmtime (or, under
Pyodide, through the JavaScript engine's WebAssembly; see `_backend`).

Public API: `Instance` (one isolated wasm instance; generated modules subclass
it), `FFI` (cffi-style helpers), `Pointer`, the exception hierarchy rooted at
`WasmError`, and the conversions generated wrappers call (`to_int`, `to_float`,
`to_bool`, `address`, `arg_str`, `arg_buf`, ..., from `_convert`) and `wasm_bytes`.
Everything else is private.

May import: wasmtime (or, under Pyodide, its `js` module) and the standard library only
(never jinja2, pycparser or typer), so generated modules work where only `wasmtime` is installed.
"""

from __future__ import annotations

from ._backend import NAME as _BACKEND_NAME
from ._backend import Slot as ValRaw
from ._callbacks import Callback, FuncPtr, ObjectHandle
from ._cmacro import c_div, c_fdiv, c_mod, c_shift, c_trunc, c_wrap
from ._convert import (
    address,
    arg_buf,
    arg_byval,
    arg_fn,
    arg_handle,
    arg_rec,
    arg_str,
    arg_strv,
    length_of,
    nonnull,
    out_slot,
    owned,
    owned_str,
    read_bytes,
    ret_bytes,
    ret_byval,
    ret_fn,
    ret_ptr,
    ret_str,
    to_bool,
    to_float,
    to_int,
)
from ._emscripten import HeapView, JsModule, call_main, load_wasm, run_main
from ._errors import (
    WasmBoundsError,
    WasmError,
    WasmExit,
    WasmInterrupted,
    WasmLinkError,
    WasmOutOfFuel,
    WasmTimeout,
    WasmTrap,
)
from ._ffi import FFI
from ._instance import Instance, compile_module, engine, wasm_bytes
from ._types import (
    BUILTINS,
    CBYTES,
    CSTRING,
    LONG_DOUBLE,
    ArrayOf,
    BitField,
    Buffer,
    BufferArg,
    CFloat,
    CharPtrArg,
    CInt,
    CStr,
    CType,
    EnumType,
    FuncPtrType,
    Handle,
    LongDouble,
    OpaqueType,
    Pointer,
    PointerTo,
    RecordType,
    Scalar,
    StrArrayArg,
    Struct,
    StructPointer,
    Union_,
    f128_words,
    to_enum,
)
from ._varargs import VarArg, va_buffer


def backend_name() -> str:
    """The engine running the wasm: "wasmtime" (CPython) or "pyodide" (the JavaScript engine)."""
    return _BACKEND_NAME


__all__ = [
    "BUILTINS",
    "CBYTES",
    "CSTRING",
    "FFI",
    "LONG_DOUBLE",
    "ArrayOf",
    "BitField",
    "Buffer",
    "BufferArg",
    "CFloat",
    "CInt",
    "CStr",
    "CType",
    "Callback",
    "CharPtrArg",
    "EnumType",
    "FuncPtr",
    "FuncPtrType",
    "Handle",
    "HeapView",
    "Instance",
    "JsModule",
    "LongDouble",
    "ObjectHandle",
    "OpaqueType",
    "Pointer",
    "PointerTo",
    "RecordType",
    "Scalar",
    "StrArrayArg",
    "Struct",
    "StructPointer",
    "Union_",
    "ValRaw",
    "VarArg",
    "WasmBoundsError",
    "WasmError",
    "WasmExit",
    "WasmInterrupted",
    "WasmLinkError",
    "WasmOutOfFuel",
    "WasmTimeout",
    "WasmTrap",
    "address",
    "arg_buf",
    "arg_byval",
    "arg_fn",
    "arg_handle",
    "arg_rec",
    "arg_str",
    "arg_strv",
    "backend_name",
    "c_div",
    "c_fdiv",
    "c_mod",
    "c_shift",
    "c_trunc",
    "c_wrap",
    "call_main",
    "compile_module",
    "engine",
    "f128_words",
    "length_of",
    "load_wasm",
    "nonnull",
    "out_slot",
    "owned",
    "owned_str",
    "read_bytes",
    "ret_bytes",
    "ret_byval",
    "ret_fn",
    "ret_ptr",
    "ret_str",
    "run_main",
    "to_bool",
    "to_enum",
    "to_float",
    "to_int",
    "va_buffer",
    "wasm_bytes",
]
