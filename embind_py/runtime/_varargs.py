"""The variable arguments of a variadic C call (`printf(fmt, ...)`), as emcc's wasm32 ABI lays them out.

Owns: C's default argument promotions for Python values (an int that fits is an `int`, else
a `long long`; a float is a `double`; `str`/`bytes` are a `char *` to a per-call copy; a
`Pointer` or `None` is a pointer), the C types that `ffi.cast`'s typed values (`CInt`,
`CFloat`, in `_types`) ask for, and the buffer the callee's `va_list` walks: each argument at its natural
alignment (4-byte slots; `long long` and `double` aligned to 8), passed to the wasm function
as one pointer after its fixed parameters.

May import: the standard library and the runtime's own modules.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Union

from ._convert import arg_str
from ._types import CFloat, CInt, CType, Pointer, Scalar, f128_from_float

if TYPE_CHECKING:
    from ._instance import Instance


VarArg = Union[int, float, str, bytes, Pointer[Any], None]  # noqa: UP007 (a runtime alias)
"""What a variadic function's `*args` take (`ffi.cast` results are ints and floats too)."""

_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _int_bytes(v: int, size: int, signed: bool) -> bytes:
    return v.to_bytes(size, "little", signed=signed)


def _encode(inst: Instance, value: Any, what: str) -> tuple[int, bytes]:
    """(alignment, bytes) of one promoted variable argument."""
    t: CType | None = getattr(value, "ctype", None)
    if isinstance(value, CInt | CFloat) and isinstance(t, Scalar):
        if t.kind == "float":
            if t.size == 16:  # long double: 16 bytes, aligned as clang's va_arg reads it
                return 8, f128_from_float(float(value)).to_bytes(16, "little")
            return 8, struct.pack("<d", float(value))  # float is promoted to double
        v = int(value)
        if t.size == 8:
            return 8, _int_bytes(v, 8, t.signed)
        # char, short and _Bool are promoted to int; an unsigned int stays 32 bits
        return 4, _int_bytes(v, 4, t.signed or t.size < 4)
    if isinstance(value, bool):
        return 4, _int_bytes(int(value), 4, True)
    if isinstance(value, int):
        v = int(value)
        if _INT32[0] <= v <= _INT32[1]:
            return 4, _int_bytes(v, 4, True)
        if _INT64[0] <= v <= _INT64[1]:
            return 8, _int_bytes(v, 8, True)
        if 0 <= v < 1 << 64:
            return 8, _int_bytes(v, 8, False)
        raise OverflowError(f"{what}: {v} does not fit in a C long long or unsigned long long")
    if isinstance(value, float):
        return 8, struct.pack("<d", value)
    if value is None or isinstance(value, str | bytes | Pointer):
        return 4, _int_bytes(arg_str(inst, value, what, False), 4, False)
    raise TypeError(
        f"{what}: cannot pass {type(value).__name__} to a variadic C function "
        "(pass an int, a float, str, bytes, a Pointer, None, or an ffi.cast(...) value)"
    )


def va_buffer(inst: Instance, args: tuple[Any, ...], what: str) -> int:
    """The address of the call's variable arguments, laid out as emcc passes them (in the call's
    scratch memory: the caller holds the instance's lock and releases it after the call)."""
    out = bytearray()
    for i, a in enumerate(args):
        align, data = _encode(inst, a, f"{what} variadic argument {i + 1}")
        out += bytes(-len(out) % align)
        out += data
    addr = inst._tmp(max(len(out), 8), 16)
    if out:
        inst.mem.write(addr, bytes(out))
    return addr
