"""The embind-py runtime: what generated bindings import to run C through wasmtime.

Public API: `Instance` (one isolated wasm instance; generated modules subclass
it), `FFI` (cffi-style helpers), `Pointer`, the exception hierarchy rooted at
`WasmError`, and the helpers generated wrappers call (`to_int`, `to_float`,
`to_bool`, `wasm_bytes`). Everything else is private.

May import: wasmtime and the standard library only (never jinja2, pycparser or
typer), so generated modules work where only `wasmtime` is installed.
"""

from __future__ import annotations

from ._callbacks import (
    Callback,
    FuncPtr,
    ObjectHandle,
    arg_byval,
    arg_fn,
    arg_handle,
    arg_rec,
    ret_byval,
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
from ._fastcall import ValRaw
from ._ffi import FFI
from ._instance import Instance, compile_module, engine, wasm_bytes
from ._types import (
    BUILTINS,
    CSTRING,
    ArrayOf,
    BitField,
    Buffer,
    BufferArg,
    CharPtrArg,
    CStr,
    CType,
    EnumType,
    FuncPtrType,
    Handle,
    OpaqueType,
    Pointer,
    PointerTo,
    RecordType,
    Scalar,
    StrArrayArg,
    Struct,
    StructPointer,
    Union_,
    to_bool,
    to_enum,
    to_float,
    to_int,
)

__all__ = [
    "BUILTINS",
    "CSTRING",
    "FFI",
    "ArrayOf",
    "BitField",
    "Buffer",
    "BufferArg",
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
    "WasmBoundsError",
    "WasmError",
    "WasmExit",
    "WasmInterrupted",
    "WasmLinkError",
    "WasmOutOfFuel",
    "WasmTimeout",
    "WasmTrap",
    "arg_byval",
    "arg_fn",
    "arg_handle",
    "arg_rec",
    "call_main",
    "compile_module",
    "engine",
    "load_wasm",
    "ret_byval",
    "run_main",
    "to_bool",
    "to_enum",
    "to_float",
    "to_int",
    "wasm_bytes",
]
