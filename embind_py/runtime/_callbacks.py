"""Function pointers both ways, records and handles as call arguments.

Owns: Python callables turned into wasm functions in the instance's function
table (a slot keeps its wasm function and is reused per C signature), `FuncPtr` (a C function pointer
callable from Python, through the table), `Callback` (`ffi.callback`: a table
entry that lives as long as the object), `ffi.new_handle`/`from_handle`, the
conversion of values between wasm and Python in callbacks, and the argument /
result helpers generated wrappers call for records, handles and function
pointers (`arg_rec`, `arg_byval`, `arg_handle`, `arg_fn`, `ret_byval`).

Callbacks run on the thread that called C (under the instance's RLock); the
wasm stack pointer in effect is pushed on `inst._sp_stack` while one runs, so a
trap in a nested call restores the right value, and an exception raised in the
callback is recorded with `inst.guard` and re-raised to the caller of C.

May import: the standard library and the runtime's own modules (the engine only through
the instance's backend session).
"""

from __future__ import annotations

import ctypes
import itertools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _backend
from ._errors import WasmTrap as WasmTrapError
from ._types import (
    CString,
    CType,
    EnumType,
    FuncPtrType,
    Handle,
    OpaqueType,
    Pointer,
    PointerTo,
    RecordType,
    Scalar,
    Struct,
    to_enum,
)

if TYPE_CHECKING:
    from ._instance import Instance

_RAW: dict[str, Any] = {"i": ctypes.c_int32, "I": ctypes.c_int64, "f": ctypes.c_float, "d": ctypes.c_double}


class _State:
    """Per-instance (per-store) table slots and object handles."""

    def __init__(self, inst: Instance) -> None:
        self.be = inst._be  # the backend session: tables, functions and calls
        # Slots for plain callables, by C signature: a slot keeps its wasm function and only
        # its box changes, because wasmtime frees a Func only with its store.
        self.idle: dict[FuncPtrType, list[tuple[int, _Box]]] = {}
        self.handles: dict[int, Any] = {}
        self.next_handle = itertools.count(1)


_states: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def _state(inst: Instance) -> _State:
    st = _states.get(inst)
    if st is None or st.be is not inst._be:  # new, or reset()
        st = _states[inst] = _State(inst)
    return st


# ---------------------------------------------------------------------------
# Values between wasm and Python


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
        bits = t.size * 8
        v = raw & ((1 << bits) - 1)
        if t.signed and v >> (bits - 1):
            v -= 1 << bits
        return to_enum(t.cls, v) if isinstance(t, EnumType) else v
    if isinstance(t, CString):
        return t.from_wasm(inst, raw)
    if isinstance(t, PointerTo):
        return t.wrap(inst, raw & 0xFFFFFFFF)
    if isinstance(t, FuncPtrType):
        return t.wrap(inst, raw & 0xFFFFFFFF)
    if isinstance(t, RecordType):
        if t.scalar is not None:
            addr = inst._tmp(t.size, t.align)
            inst.mem.zero(addr, t.size)
            off, st = t.scalar
            inst.mem.store(_RAW[_letter(st)], addr + off, raw)
            return t.load(inst, addr)
        return t.load(inst, raw & 0xFFFFFFFF)
    if isinstance(t, OpaqueType):
        raise TypeError(f"{t.name} is opaque and cannot be passed by value")
    raise TypeError(f"cannot convert a wasm value to C type {t.name}")


def to_wasm(inst: Instance, t: CType, value: Any, what: str) -> Any:
    """The wasm value for Python `value` as C type `t` (temporaries in the current call frame)."""
    if isinstance(t, Scalar):
        v = t.convert(value, what)
        return int(v) if t.kind == "bool" else v
    if isinstance(t, CString):
        if value is None:
            return 0
        return inst._arg_str(value, what, False)
    if isinstance(t, PointerTo):
        if isinstance(t.target, RecordType | OpaqueType):
            return arg_rec(inst, value, what, t.target, not t.const) if isinstance(
                t.target, RecordType
            ) else arg_handle(inst, value, what, t.target.pointer_class)
        if value is None or isinstance(value, Pointer):
            return t.address_of(inst, value, what)
        if value.__class__ is int and t.target is None:
            return t.address_of(inst, value, what)
        return inst._arg_buf(value, what, not t.const, False, t.name)
    if isinstance(t, FuncPtrType):
        return arg_fn(inst, value, what, t)
    if isinstance(t, RecordType):
        return arg_byval(inst, value, what, t)
    raise TypeError(f"{what}: cannot pass a value of C type {t.name}")


# ---------------------------------------------------------------------------
# Arguments and results of generated wrappers


def arg_rec(inst: Instance, value: Any, what: str, rt: RecordType, writable: bool) -> int:
    """A `T *` argument for a struct T: a pointer to T, None, or a T value (copied in, and back)."""
    if value is None:
        return 0
    if isinstance(value, Pointer):
        if value._inst is not inst:
            raise TypeError(f"{what}: pointer belongs to another wasm instance")
        if value.ctype is not rt:
            raise TypeError(f"{what}: expected a pointer to {rt.name}, got a pointer to {value.ctype.name}")
        return value.address
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


def arg_handle(inst: Instance, value: Any, what: str, cls: type[Handle]) -> int:
    """A pointer to an opaque type: only a handle of that very class, or None."""
    if value is None:
        return 0
    if isinstance(value, cls):
        if value._inst is not inst:
            raise TypeError(f"{what}: handle belongs to another wasm instance")
        return value.address
    raise TypeError(f"{what}: expected {cls.__name__} or None, got {type(value).__name__}")


def arg_fn(inst: Instance, value: Any, what: str, ft: FuncPtrType) -> int:
    """A function-pointer argument; a Python callable gets a table slot for this call."""
    return fn_index(inst, value, ft, what, True)


def fn_index(inst: Instance, value: Any, ft: FuncPtrType, what: str, temporary: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, FuncPtr):
        if value._inst is not inst:
            raise TypeError(f"{what}: function pointer belongs to another wasm instance")
        return value.index
    if value.__class__ is int and 0 <= value <= 0xFFFFFFFF:
        return int(value)
    if not callable(value):
        raise TypeError(f"{what}: expected a callable or None for C {ft.name}, got {type(value).__name__}")
    if not temporary:
        raise TypeError(
            f"{what}: C may keep this function pointer after the call: make it with "
            "ffi.callback(type, fn) and keep that object alive"
        )
    st = _state(inst)
    idx, box = _take_slot(inst, st, ft, value)
    inst._copybacks.append((inst._top, idx, lambda i: _give_back(st, ft, i, box), -1))
    return idx


def _take_slot(inst: Instance, st: _State, ft: FuncPtrType, fn: Callable[..., Any]) -> tuple[int, _Box]:
    """A table slot calling `fn` (caller holds the instance's lock): an idle one of this
    signature, else a new one."""
    idle = st.idle.setdefault(ft, [])
    if idle:
        idx, box = idle.pop()
    else:
        box = _Box()
        idx = _add(inst, st, make_func(inst, ft, box))
    box.fn = fn
    return idx, box


def _give_back(st: _State, ft: FuncPtrType, idx: int, box: _Box) -> None:
    box.fn = None  # list operations only: safe from a finalizer on any thread
    st.idle.setdefault(ft, []).append((idx, box))


class _Box:
    """The Python callable behind a reusable table slot, set for the duration of one call."""

    __slots__ = ("fn",)

    def __init__(self) -> None:
        self.fn: Callable[..., Any] | None = None

    def __call__(self, *args: Any) -> Any:
        fn = self.fn
        if fn is None:
            raise WasmTrapError(
                "C called a Python callback after the call it was passed to returned; "
                "make it with ffi.callback(type, fn) and keep that object alive",
                "callback",
            )
        return fn(*args)

    @property
    def __name__(self) -> str:
        return str(getattr(self.fn, "__name__", "callback"))


def _add(inst: Instance, st: _State, func: Any) -> int:
    if st.be.table is None:
        raise TypeError("the wasm module exports no function table: it cannot take callbacks")
    try:
        return st.be.table_grow(func)
    except ValueError as e:
        raise TypeError(
            f"cannot add a callback to the wasm function table ({e}); build with -sALLOW_TABLE_GROWTH"
        ) from None


def make_func(inst: Instance, ft: FuncPtrType, fn: Callable[..., Any]) -> Any:
    """A wasm function with the C signature `ft` that calls the Python `fn`."""
    return inst._be.new_func(ft.wparams, ft.wresults, inst.guard(trampoline(inst, ft, fn)))


def trampoline(inst: Instance, ft: FuncPtrType, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` called with wasm values of the C signature `ft`: converted both ways as callbacks are."""
    params = ft.params
    result = ft.result
    sret = ft.sret

    def call(*raw: Any) -> Any:
        sp = inst.stack_save() if inst._stack_get is not None else 0
        inst._sp_stack.append(sp)
        # A nested frame's mark must be above every entry the interrupted call registered
        # (they are keyed by the arena top), or releasing it would finish them early.
        outer = inst._top
        inst._top = mark = outer + 1
        try:
            ret_addr = 0
            if sret:
                ret_addr, raw = raw[0] & 0xFFFFFFFF, raw[1:]
            out = fn(*[from_wasm(inst, t, r) for t, r in zip(params, raw, strict=True)])
            what = f"result of callback {getattr(fn, '__name__', 'callback')}()"
            if sret:
                assert isinstance(result, RecordType)
                result.store(inst, ret_addr, result.convert(out, what), what)
                return None
            if result is None:
                return None
            return to_wasm(inst, result, out, what) if not isinstance(result, FuncPtrType) else fn_index(
                inst, out, result, what, False
            )
        finally:
            inst._release(mark)
            inst._top = outer
            inst._sp_stack.pop()

    return call


# ---------------------------------------------------------------------------
# Function pointers seen from Python


class FuncPtr:
    """A C function pointer (a slot in the instance's function table), callable from Python.

    Arguments and the result convert by the same rules as the generated wrappers'.
    """

    __slots__ = ("__weakref__", "_inst", "ctype", "index")

    def __init__(self, inst: Instance, index: int, ctype: FuncPtrType) -> None:
        self._inst = inst
        self.index = index
        self.ctype = ctype

    def __call__(self, *args: Any) -> Any:
        inst, ft = self._inst, self.ctype
        if len(args) != len(ft.params):
            raise TypeError(f"{ft.name} takes {len(ft.params)} arguments, got {len(args)}")
        with inst._lock:
            st = _state(inst)
            if st.be.table is None:
                raise TypeError("the wasm module exports no function table")
            func = st.be.table_get(self.index)
            if func is None:
                raise ValueError(f"function pointer {self.index} is NULL or not a function")
            outer = inst._top
            inst._top = mark = outer + 1  # see make_func: keep the caller's entries
            try:
                raw: list[Any] = []
                ret = 0
                if ft.sret:
                    assert isinstance(ft.result, RecordType)
                    ret = inst._tmp(ft.result.size, ft.result.align)
                    raw.append(ret)
                for i, (t, a) in enumerate(zip(ft.params, args, strict=True)):
                    raw.append(to_wasm(inst, t, a, f"{ft.name} argument {i + 1}"))
                out = call_func(inst, func, raw, ft.wparams, ft.wresults)
                if ft.sret:
                    assert isinstance(ft.result, RecordType)
                    return ft.result.load(inst, ret)
                if ft.result is None:
                    return None
                return from_wasm(inst, ft.result, out)
            finally:
                inst._release(mark)
                inst._top = outer

    def __int__(self) -> int:
        return self.index

    def __index__(self) -> int:
        return self.index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FuncPtr):
            return self._inst is other._inst and self.index == other.index
        return NotImplemented

    def __hash__(self) -> int:
        return hash((id(self._inst), self.index))

    def __repr__(self) -> str:
        return f"<FuncPtr {self.ctype.name} #{self.index}>"


def call_func(
    inst: Instance, func: Any, args: list[Any], params: str | None = None, results: str | None = None
) -> Any:
    """Call a wasm function through the backend's plain call, with the instance's failure handling."""
    try:
        return inst._be.call(func, args, params, results)
    except _backend.TRAPS as e:
        inst._on_fail(e)
    except BaseException:
        # The engine re-raised a host function's exception itself: it is the pending one.
        inst._pending = None
        inst._be.clear_host_exception()
        inst._recover()
        raise
    return None  # pragma: no cover - _on_fail always raises


class Callback(FuncPtr):
    """`ffi.callback(type, fn)`: a table slot for `fn` that lives as long as this object."""

    __slots__ = ("fn",)

    def __init__(self, inst: Instance, ctype: FuncPtrType, fn: Callable[..., Any]) -> None:
        st = _state(inst)
        with inst._lock:
            idx, box = _take_slot(inst, st, ctype, fn)
        super().__init__(inst, idx, ctype)
        self.fn = fn
        # The slot (and its wasm function, which wasmtime frees only with the store) is reused
        # by later callbacks of this signature; no lock is taken, since GC may run this anywhere.
        weakref.finalize(self, _give_back, st, ctype, idx, box)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<Callback {self.ctype.name} #{self.index} -> {self.fn!r}>"


# ---------------------------------------------------------------------------
# Python objects through C (`void *` user data)

_HANDLE_TYPE = OpaqueType("handle")


class ObjectHandle(Handle):
    """`ffi.new_handle(obj)`: a `void *` that stands for `obj` while this object lives."""

    __slots__ = ()


def new_handle(inst: Instance, obj: Any) -> ObjectHandle:
    st = _state(inst)
    addr = next(st.next_handle) * 16  # never 0; never dereferenced
    st.handles[addr] = obj
    h = ObjectHandle(inst, addr, _HANDLE_TYPE, None, None)
    weakref.finalize(h, st.handles.pop, addr, None)
    return h


def from_handle(inst: Instance, p: Any) -> Any:
    if p is None:
        raise ValueError("ffi.from_handle(NULL)")
    addr = int(p)
    try:
        return _state(inst).handles[addr]
    except KeyError:
        raise ValueError(f"ffi.from_handle: {addr:#x} is not a live handle of this instance") from None


def is_struct(value: object) -> bool:
    return isinstance(value, Struct)
