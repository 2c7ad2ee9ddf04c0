"""Every conversion of a value crossing the C boundary: one rule per C type family.

Owns: integer narrowing (`to_int`, and `wasm_int` for ccall's untyped wasm ints), floats
(`to_float`), bools (`to_bool`), what address a Python value stands for (`address`),
strings, buffers and string arrays copied into a call's temporaries (`arg_str`, `arg_buf`,
`arg_strv`), records and handles (`arg_rec`, `arg_byval`, `ret_byval`), function pointers
(`fn_index`, `arg_fn`), results (`ret_str`, `ret_ptr`, `ret_fn`), C strings read from
memory (`read_cstr`), and the wasm <-> Python value of any runtime descriptor
(`to_wasm`, `from_wasm`).

Generated wrappers emit calls to these functions, or inline the fast path of `to_int`,
`to_float` and `to_bool` and fall back to them; descriptors' load/store (`_types`),
callbacks and `FuncPtr` calls (`_callbacks`), the `ffi` helpers (`_ffi`) and
`ccall`/`cwrap` (`_emscripten`) call them too, so no two paths can disagree
(tests/e2e/test_conformance.py sends the same inputs through each).

The rules, in short:
- an integer parameter takes an `int` (or any object with `__index__` that is not a float)
  inside the C type's range, else `TypeError` / `OverflowError`; `bool` is an int, as in C;
- a data pointer takes None (NULL), an `int` address in 0..2**32-1 (`OverflowError`
  outside), a `Pointer` of the same instance, or a `CStr` (its C address, never a copy);
  `bool`, floats and other objects are `TypeError`; a pointer to a record or an opaque type
  takes only a pointer to that type (`ffi.cast` makes one from an address);
- a buffer passed for a pointer is copied into the call's scratch memory with a NUL after
  its bytes (not counted in any length), and back after the call when it is writable and
  the C type is not const;
- a function pointer takes a `FuncPtr`/`ffi.callback` of the same instance, None, or (for
  the duration of one call) a Python callable; never an int.

May import: the standard library and the runtime's own modules.
"""

from __future__ import annotations

import ctypes
import functools
import operator
import struct
import sys
import types
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import _callbacks
from ._types import (
    CBytes,
    CInt,
    CStr,
    CString,
    CType,
    FuncPtrType,
    OpaqueType,
    Pointer,
    PointerTo,
    RecordType,
    Scalar,
    enum_of,
    int_range,
)

if TYPE_CHECKING:
    from ._instance import Instance

T = TypeVar("T")
_str_new = str.__new__
_RAW: dict[str, Any] = {"i": ctypes.c_int32, "I": ctypes.c_int64, "f": ctypes.c_float, "d": ctypes.c_double}
_U32 = 0xFFFFFFFF

# ---------------------------------------------------------------------------
# Scalars (the slow paths of the inline checks in generated code)


def to_int(value: object, what: str, lo: int, hi: int, ctype: str) -> int:
    """A Python argument as a C integer in [lo, hi], or `TypeError` / `OverflowError`."""
    if isinstance(value, float) or not hasattr(value, "__index__"):
        raise TypeError(f"{what}: expected int for C {ctype}, got {type(value).__name__}")
    v = operator.index(value)
    if not lo <= v <= hi:
        raise OverflowError(f"{what}: {v} does not fit in C {ctype} (range {lo}..{hi})")
    return v


def to_float(value: object, what: str, ctype: str) -> float:
    """A Python argument as a C float or double: a float, an int, or anything with `__float__`."""
    if isinstance(value, float | int):
        return float(value)
    if hasattr(value, "__float__") and not isinstance(value, str | bytes):
        return float(value)
    raise TypeError(f"{what}: expected float for C {ctype}, got {type(value).__name__}")


def to_bool(value: object, what: str) -> bool:
    """A Python argument as a C `_Bool`: a bool or an int (non-zero is true, as in C)."""
    if isinstance(value, bool | int):
        return bool(value)
    if hasattr(value, "__index__") and not isinstance(value, float):
        return bool(operator.index(value))
    raise TypeError(f"{what}: expected bool for C _Bool, got {type(value).__name__}")


def from_raw_int(raw: int, size: int, signed: bool) -> int:
    """The C value of the low `size` bytes of a wasm integer (C's sign or zero extension)."""
    bits = size * 8
    v = raw & ((1 << bits) - 1)
    return v - (1 << bits) if signed and v >> (bits - 1) else v


def wasm_int(value: Any, what: str, letter: str) -> int:
    """`ccall`'s "number" for a wasm i32 ("i") or i64 ("I") of unknown signedness.

    A JavaScript number may be a float holding an integer, and a bool counts as 0/1; the
    range is the union of the signed and the unsigned C type of that width (the export
    does not say which it is), and the value is passed as the wasm sees it.
    """
    if isinstance(value, float):
        if not value.is_integer():
            raise TypeError(f"{what}: {value!r} is not an integer")
        value = int(value)
    size = 4 if letter == "i" else 8
    lo, _ = int_range(size, True)
    _, hi = int_range(size, False)
    ctype = "i32" if letter == "i" else "i64"
    return from_raw_int(to_int(value, what, lo, hi, ctype), size, True)


# ---------------------------------------------------------------------------
# Addresses


def address(inst: Instance, value: Any, what: str, ctype: str = "pointer", typed: CType | None = None) -> int:
    """The wasm address a Python value stands for, as a data pointer of C type `ctype`.

    None is NULL; an `int` is an address; a `Pointer` (of this instance) and a `CStr` give
    theirs. With `typed` (a record or opaque type) only a pointer to that type is accepted.
    """
    if value is None:
        return 0
    cls = value.__class__
    if cls is int or cls is CInt:  # an ffi.cast("uintptr_t", p) result is an address too
        if typed is not None:
            raise TypeError(
                f"{what}: expected a pointer to {typed.name} or None, got int "
                f'(ffi.cast("{ctype}", address) makes one)'
            )
        if 0 <= value <= _U32:
            return value  # type: ignore[no-any-return]
        raise OverflowError(f"{what}: {value} is not a wasm32 address (0..0xFFFFFFFF)")
    if isinstance(value, Pointer):
        if value._inst is not inst:
            raise TypeError(f"{what}: pointer belongs to another wasm instance")
        if typed is not None and value.ctype is not typed:
            got = value.ctype.name
            raise TypeError(f"{what}: expected a pointer to {typed.name}, got a pointer to {got}")
        return value.address
    if cls is CStr and typed is None:
        owner = value._inst
        if owner is not None and owner is not inst._ref:
            raise TypeError(f"{what}: this CStr belongs to another wasm instance (or to one before reset())")
        return value.address  # type: ignore[no-any-return]
    if typed is not None:
        raise TypeError(f"{what}: expected a pointer to {typed.name} or None, got {cls.__name__}")
    raise TypeError(f"{what}: expected a pointer ({ctype}), an int address or None, got {cls.__name__}")


# ---------------------------------------------------------------------------
# Strings, buffers and string arrays (copied into the current call's temporaries)


def arg_str(inst: Instance, value: Any, what: str, writable: bool = False) -> int:
    """A `char *` argument: str (UTF-8) or bytes copied in, NUL-terminated; a CStr of this
    instance, a Pointer or an int address as they are; any other buffer as `arg_buf`."""
    cls = value.__class__
    if cls is str:
        data = value.encode("utf-8") + b"\0"
    elif cls is bytes:
        data = value + b"\0"
    elif value is None:
        return 0
    elif cls is CStr and (value._inst is inst._ref or value._inst is None):
        return value.address  # type: ignore[no-any-return]  # C's own pointer, never a copy
    elif cls is int or cls is CInt or isinstance(value, Pointer):
        return address(inst, value, what, "char *")
    elif isinstance(value, str):  # another str subclass (a CStr of another instance: its text)
        data = str.encode(value, "utf-8") + b"\0"
    elif isinstance(value, bytes):
        data = bytes(value) + b"\0"
    else:
        return arg_buf(inst, value, what, writable, "char *")
    n = len(data)
    top = inst._top
    if top + n <= inst._arena_end:
        # The arena lies inside linear memory, which never shrinks: no bounds check needed.
        # A slice assignment into a view of it is 5x cheaper than a ctypes memmove call.
        inst._top = top + n
        if inst.mem.base != inst._arena_host:
            inst._map_arena()
        off = top - inst._arena
        inst._arena_mv[off : off + n] = data
        return top
    p = inst._tmp(n, 1)
    inst.mem.write(p, data, n)
    return p


def arg_buf(inst: Instance, value: Any, what: str, writable: bool, ctype: str = "pointer") -> int:
    """A `T *` argument: an address (see `address`), or any buffer copied in with a NUL after
    it (C may read a byte buffer as a string) and copied back after the call if `writable`."""
    cls = value.__class__
    if value is None or cls is int or cls is CStr or cls is CInt or isinstance(value, Pointer):
        return address(inst, value, what, ctype)
    try:
        mv = memoryview(value)
    except TypeError:
        got = type(value).__name__
        want = f"a buffer, a pointer ({ctype}), an int address or None"
        raise TypeError(f"{what}: expected {want}, got {got}") from None
    n = mv.nbytes
    p = inst._tmp(n + 1, 8)
    if n:
        inst.mem.write(p, mv, n)
    inst.mem.write(p + n, b"\0", 1)
    if writable and not mv.readonly and n:
        inst._copybacks.append((inst._top, p, mv, n))
    return p


def arg_strv(inst: Instance, value: Any, what: str, ctype: str) -> int:
    """A `char **` argument: a list/tuple of str, bytes or None becomes a NULL-terminated
    array of per-call copies (C's writes to them are not copied back); else an address."""
    if not isinstance(value, list | tuple):
        if value is None or isinstance(value, Pointer) or value.__class__ in (int, CInt):
            return address(inst, value, what, ctype)
        raise TypeError(
            f"{what}: expected a list of str, a pointer ({ctype}) or None, got {type(value).__name__}"
        )
    addrs = []
    for i, item in enumerate(value):
        if item is not None and not isinstance(item, str | bytes):
            raise TypeError(f"{what}[{i}]: expected str, bytes or None, got {type(item).__name__}")
        addrs.append(arg_str(inst, item, f"{what}[{i}]"))
    addrs.append(0)
    arr = inst._tmp(4 * len(addrs), 4)
    inst.mem.write(arr, struct.pack(f"<{len(addrs)}I", *addrs), 4 * len(addrs))
    return arr


def read_cstr(inst: Instance, raw: int) -> CStr | None:
    """The C string at `raw` as a `CStr` that keeps C's address (None for NULL)."""
    raw &= _U32
    if not raw:
        return None
    # str.__new__ and plain attribute stores: half the cost of calling CStr(...).
    out: CStr = _str_new(CStr, inst.mem.read_cstring(raw).decode("utf-8", "replace"))
    out.address = raw
    out._inst = inst._ref  # weakly: a string must not keep a whole instance alive
    return out


ret_str = read_cstr


def ret_ptr(inst: Instance, raw: int, ctype: CType | None) -> Any:
    """A pointer result: None for NULL, an int for `void *`, else a `Pointer` to `ctype`."""
    raw &= _U32
    if not raw:
        return None
    if ctype is None:
        return raw
    return Pointer(inst, raw, ctype)


def out_slot(inst: Instance, size: int, align: int) -> int:
    """Zeroed scratch memory for a declared out-parameter, read back after the call."""
    addr = inst._tmp(max(size, 1), max(align, 1))
    inst.mem.zero(addr, max(size, 1))
    return addr


def read_bytes(inst: Instance, raw: int, n: int) -> bytes | None:
    """Exactly `n` bytes at `raw` (a pointer and its length): None for NULL."""
    raw &= _U32
    if not raw:
        return None
    return inst.mem.read(raw, n)


# ---------------------------------------------------------------------------
# Ownership: memory freed, or a destructor run, when the last Python pointer to it is gone

def _free_later(inst_ref: weakref.ref[Instance], session: Any, job: int | Callable[[], Any]) -> None:
    """Free a block (an address) or run a destructor (`ffi.gc`) once its last Pointer is gone."""
    inst = inst_ref()
    # After inst.reset() (a new backend session) the address belongs to a new heap: never free it there.
    if inst is None or inst._be is not session:
        return
    # A finalizer runs on whatever thread the garbage collector interrupted, maybe one that
    # holds another instance's lock: waiting here for this one could deadlock two threads.
    # When the instance is busy, its next ffi.new frees the block instead.
    if not inst._lock.acquire(blocking=False):
        inst._deferred_frees.append(job)
        return
    try:
        _run(inst, job)
        free_deferred(inst)
    except Exception:
        pass
    finally:
        inst._lock.release()


def _run(inst: Instance, job: int | Callable[[], Any]) -> None:
    if isinstance(job, int):
        inst.free(job)
        return
    try:
        job()
    except Exception as e:  # a finalizer cannot raise to anyone: report it as Python does
        sys.unraisablehook(
            types.SimpleNamespace(
                exc_type=type(e), exc_value=e, exc_traceback=e.__traceback__,
                err_msg="Exception ignored in an ffi.gc destructor", object=job,
            )
        )


def free_deferred(inst: Instance) -> None:
    """Free the blocks (and run the `ffi.gc` destructors) whose pointers died while the
    instance was busy (caller holds its lock)."""
    pending = inst._deferred_frees
    while pending:
        _run(inst, pending.pop())


class Owner:
    """Frees a malloc'd block, or runs an `ffi.gc` destructor, when the last Pointer referring
    to it is gone; `release()` does it now (once)."""

    __slots__ = ("__weakref__", "address", "release")

    def __init__(self, inst: Instance, address: int, destructor: Callable[[], Any] | None = None) -> None:
        self.address = address
        job = address if destructor is None else destructor
        self.release = weakref.finalize(self, _free_later, weakref.ref(inst), inst._be, job)



def owned(inst: Instance, ptr: Any, destructor: Callable[[Any], Any]) -> Any:
    """`ptr` (a Pointer, or None) as a new pointer that calls `destructor(ptr)` once it and every
    pointer derived from it are gone (`ffi.gc`; a result declared `owned(free_fn)`)."""
    if ptr is None:
        return None
    owner = Owner(inst, ptr.address, functools.partial(destructor, ptr))
    return Pointer(inst, ptr.address, ptr.ctype, ptr._length, owner)


def owned_str(inst: Instance, raw: int, free: Callable[[int], Any]) -> str | None:
    """A `char *` result the caller owns: its text, with C's block freed at once by `free`."""
    s = read_cstr(inst, raw)
    if s is None:
        return None
    free(s.address)
    return str(s)


def ret_bytes(inst: Instance, raw: int) -> bytes | None:
    """A `char *` result declared `bytes`: the bytes up to the NUL, undecoded."""
    raw &= _U32
    return inst.mem.read_cstring(raw) if raw else None


def nonnull(value: T | None, what: str) -> T:
    """A result declared `nonnull`: C returning NULL is an error, never a None to check."""
    if value is None:
        raise ValueError(f"{what} returned NULL (declared nonnull)")
    return value


def length_of(value: Any, size: int, hi: int, what: str) -> int:
    """The length C is told for a declared buffer: its elements (of `size` bytes), the UTF-8
    bytes of a str, a Pointer's known length, 0 for None."""
    if value is None:
        n = 0
    elif isinstance(value, str):
        n = len(value.encode("utf-8"))
    elif isinstance(value, Pointer):
        if value._length is None:
            raise TypeError(f"{what}: a pointer of unknown length; pass a buffer, or ffi.new(\"T[]\", n)")
        n = value._length * value.ctype.size // max(size, 1)
    else:
        try:
            n = memoryview(value).nbytes // max(size, 1)
        except TypeError:
            got = type(value).__name__
            raise TypeError(f"{what}: expected a buffer (its length is passed), got {got}") from None
    if n > hi:
        raise OverflowError(f"{what}: its length {n} does not fit the length parameter")
    return n


# ---------------------------------------------------------------------------
# Records and handles


def arg_rec(inst: Instance, value: Any, what: str, rt: RecordType, writable: bool) -> int:
    """A `T *` argument for a struct T: a pointer to T, None, or a T value (copied in, and back)."""
    if rt.cls is not None and isinstance(value, rt.cls):
        addr = inst._tmp(rt.size, max(rt.align, 1))
        rt.store(inst, addr, value, what)
        if writable:
            obj = value

            def back(a: int) -> None:
                new = rt.load(inst, a)
                for n in obj._fields:
                    object.__setattr__(obj, n, getattr(new, n))
                if rt.overlap:
                    object.__setattr__(obj, "_raw", new._raw)
                if rt.kind == "union":
                    object.__setattr__(obj, "_last", None)

            inst._copybacks.append((inst._top, addr, back, -1))
        return addr
    if value is None or isinstance(value, Pointer):
        return address(inst, value, what, f"{rt.name} *", rt)
    want = rt.cls.__name__ if rt.cls is not None else rt.name
    raise TypeError(f"{what}: expected {want}, a pointer to it, or None; got {type(value).__name__}")


def arg_byval(inst: Instance, value: Any, what: str, rt: RecordType) -> Any:
    """A struct passed by value: the address of a copy, or its single scalar."""
    v = rt.convert(value, what)
    addr = inst._tmp(rt.size, max(rt.align, 1))
    rt.store(inst, addr, v, what)
    if rt.scalar is None:
        return addr
    off, st = rt.scalar
    return inst.mem.load(_RAW[_letter(st)], addr + off)


def ret_byval(inst: Instance, raw: Any, rt: RecordType) -> Any:
    """A struct result returned as its single scalar."""
    return from_wasm(inst, rt, raw)


def arg_handle(inst: Instance, value: Any, what: str, cls: type[Pointer[Any]]) -> int:
    """A pointer to an opaque type: only a handle of that very class, or None."""
    if value is None:
        return 0
    if isinstance(value, cls):
        if value._inst is not inst:
            raise TypeError(f"{what}: handle belongs to another wasm instance")
        return value.address
    raise TypeError(f"{what}: expected {cls.__name__} or None, got {type(value).__name__}")


# ---------------------------------------------------------------------------
# Function pointers


def fn_index(inst: Instance, value: Any, ft: FuncPtrType, what: str, temporary: bool) -> int:
    """The table index a Python value stands for as a function pointer of type `ft`.

    A `FuncPtr` (or `ffi.callback`) of this instance gives its own; a plain callable gets
    a fresh table slot for the duration of the current call when `temporary`, else
    `TypeError` (C may keep the pointer: it needs an `ffi.callback` kept alive).
    """
    if value is None:
        return 0
    if isinstance(value, _callbacks.FuncPtr):
        if value._inst is not inst:
            raise TypeError(f"{what}: function pointer belongs to another wasm instance")
        return value.index
    if not callable(value):
        got = type(value).__name__
        raise TypeError(f"{what}: expected a callable, an ffi.callback or None for C {ft.name}, got {got}")
    if not temporary:
        raise TypeError(
            f"{what}: C may keep this function pointer after the call: make it with "
            "ffi.callback(type, fn) and keep that object alive"
        )
    return _callbacks.temporary_slot(inst, ft, value)


def arg_fn(inst: Instance, value: Any, what: str, ft: FuncPtrType) -> int:
    """A function-pointer argument; a Python callable gets a table slot for this call."""
    return fn_index(inst, value, ft, what, True)


def ret_fn(inst: Instance, raw: int, ft: FuncPtrType) -> Any:
    """A function-pointer result: a `FuncPtr` callable from Python, None for NULL."""
    return ft.wrap(inst, raw & _U32)


# ---------------------------------------------------------------------------
# Any descriptor, between wasm values and Python (callbacks, FuncPtr calls, host functions)


def _letter(t: CType | None) -> str:
    if isinstance(t, Scalar):
        return ("d" if t.size == 8 else "f") if t.kind == "float" else ("I" if t.size == 8 else "i")
    if isinstance(t, RecordType) and t.scalar is not None:
        return _letter(t.scalar[1])
    return "i"


def from_wasm(inst: Instance, t: CType, raw: Any) -> Any:
    """The Python value of a wasm value carrying C type `t` (callback arguments, results)."""
    if isinstance(t, Scalar):
        if t.kind == "float":
            return raw
        if t.kind == "bool":
            return (raw & 0xFF) != 0
        return enum_of(t, from_raw_int(raw, t.size, t.signed))
    if isinstance(t, CBytes):
        return ret_bytes(inst, raw)
    if isinstance(t, CString):
        return read_cstr(inst, raw)
    if isinstance(t, PointerTo):
        return t.wrap(inst, raw & _U32)
    if isinstance(t, FuncPtrType):
        return t.wrap(inst, raw & _U32)
    if isinstance(t, RecordType):
        if t.scalar is not None:
            addr = inst._tmp(t.size, t.align)
            inst.mem.zero(addr, t.size)
            off, st = t.scalar
            inst.mem.store(_RAW[_letter(st)], addr + off, raw)
            return t.load(inst, addr)
        return t.load(inst, raw & _U32)
    if isinstance(t, OpaqueType):
        raise TypeError(f"{t.name} is opaque and cannot be passed by value")
    raise TypeError(f"cannot convert a wasm value to C type {t.name}")


def callback_args(inst: Instance, ft: FuncPtrType, raw: Any) -> list[Any]:
    """The Python arguments of a callback of type `ft` from its wasm values.

    A pointer paired with its length (`ft.lengths`) gives exactly that many bytes, never
    a scan for a NUL: `bytes` for a const pointer, a `Pointer` of that length to write
    into for a non-const one; None for NULL.
    """
    args = [from_wasm(inst, t, r) for t, r in zip(ft.params, raw, strict=True)]
    for i, j in ft.lengths:
        n = args[j]
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"{ft.name}: C passed {n!r} as the length of argument {i + 1}")
        t = ft.params[i]
        if not raw[i] & _U32:
            args[i] = None
        elif isinstance(t, PointerTo) and not t.const and t.target is not None:
            inst.mem.check(raw[i] & _U32, n * t.target.size)
            args[i] = Pointer(inst, raw[i] & _U32, t.target, n)
        else:
            args[i] = read_bytes(inst, raw[i], n)
    return args


def to_wasm(inst: Instance, t: CType, value: Any, what: str, temporary: bool = True) -> Any:
    """The wasm value for Python `value` as C type `t` (temporaries in the current call frame).

    `temporary` is False for a callback's result: C keeps a function pointer it is given.
    """
    if isinstance(t, Scalar):
        v = t.convert(value, what)
        return int(v) if t.kind == "bool" else v
    if not temporary and isinstance(t, CString | PointerTo):
        # C keeps what a callback returns: an address, never a copy for the call's duration.
        target = getattr(t, "target", None)
        typed = target if isinstance(target, RecordType | OpaqueType) else None
        return address(inst, value, what, t.name, typed)
    if isinstance(t, CString):
        return arg_str(inst, value, what, False)
    if isinstance(t, PointerTo):
        target = t.target
        if isinstance(target, RecordType):
            return arg_rec(inst, value, what, target, not t.const)
        if isinstance(target, OpaqueType):
            return address(inst, value, what, t.name, target)
        return arg_buf(inst, value, what, not t.const, t.name)
    if isinstance(t, FuncPtrType):
        return fn_index(inst, value, t, what, temporary)
    if isinstance(t, RecordType):
        return arg_byval(inst, value, what, t)
    raise TypeError(f"{what}: cannot pass a value of C type {t.name}")
