"""Function pointers both ways.

Owns: Python callables turned into wasm functions in the instance's function
table (`temporary_slot` for a plain callable during one call; a table index is
never given to another Python function, see `_State`), `FuncPtr` (a C function
pointer callable from Python, through the table), `Callback` (`ffi.callback`: a
table entry that lives as long as the object) and `ffi.new_handle`/`from_handle`.
Values convert by `_convert`'s rules in both directions.

Callbacks run on the thread that called C (under the instance's RLock); the
wasm stack pointer in effect is pushed on `inst._sp_stack` while one runs, so a
trap in a nested call restores the right value, and an exception raised in the
callback is recorded with `inst.guard` and re-raised to the caller of C.

May import: the standard library and the runtime's own modules (the engine only through
the instance's backend session).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _backend, _convert
from ._errors import WasmTrap as WasmTrapError
from ._types import FuncPtrType, Handle, OpaqueType, RecordType, Struct

if TYPE_CHECKING:
    from ._instance import Instance

class _State:
    """Per-instance (per-store) table slots and object handles.

    A Python callable reaches C as a table index whose wasm function calls a box holding
    the callable. the engine frees a function only with its store, so idle boxes (with their
    functions) are reused, but always at a fresh table index: an index C may still hold
    must never call another Python function. A retired index points at a function that
    raises a clear `WasmTrap`.
    """

    def __init__(self, inst: Instance) -> None:
        self.be = inst._be  # the backend session: tables, functions and calls
        self.idle: dict[FuncPtrType, list[_Box]] = {}
        self.dead: dict[FuncPtrType, Any] = {}
        # Boxes of collected ffi.callback objects: finalizers only append here (any thread);
        # their indices are retired under the instance's lock, when a slot is next taken.
        self.retired: list[tuple[FuncPtrType, int, _Box]] = []
        # A callable passed again gets back the index it had last time, when that one is idle
        # (C still holding it would call the same function): repeated calls do not grow the table.
        self.again: dict[FuncPtrType, weakref.WeakKeyDictionary[Any, int]] = {}
        self.busy: set[int] = set()
        self.handles: dict[int, Any] = {}
        self.next_handle = itertools.count(1)


_states: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def _state(inst: Instance) -> _State:
    st = _states.get(inst)
    if st is None or st.be is not inst._be:  # new, or reset()
        st = _states[inst] = _State(inst)
    return st


def _take_slot(inst: Instance, st: _State, ft: FuncPtrType, fn: Callable[..., Any], reuse: bool) -> tuple[
    int, _Box
]:
    """A table index calling `fn` (caller holds the instance's lock)."""
    while st.retired:
        rft, ridx, rbox = st.retired.pop()
        _retire(inst, st, rft, ridx, rbox)
    idle = st.idle.setdefault(ft, [])
    box = idle.pop() if idle else _Box(inst, ft)
    idx: int | None = None
    if reuse:
        try:
            known = st.again.get(ft)
            idx = known.get(fn) if known is not None else None
        except TypeError:  # unhashable, or no weak references to it
            idx = None
        if idx in st.busy:
            idx = None
    if idx is None:
        idx = _add(st, box.func)
    else:
        st.be.table_set(idx, box.func)
    box.fn = fn
    st.busy.add(idx)
    return idx, box


def _retire(inst: Instance, st: _State, ft: FuncPtrType, idx: int, box: _Box) -> None:
    """Point `idx` at the signature's trapping function and make its box reusable (under the lock)."""
    box.fn = None
    dead = st.dead.get(ft)
    if dead is None:
        dead = st.dead[ft] = _Box(inst, ft).func
    st.be.table_set(idx, dead)
    st.busy.discard(idx)
    st.idle.setdefault(ft, []).append(box)


def temporary_slot(inst: Instance, ft: FuncPtrType, fn: Callable[..., Any]) -> int:
    """A table index calling `fn` until the current call's temporaries are released."""
    st = _state(inst)
    idx, box = _take_slot(inst, st, ft, fn, True)

    def done(i: int) -> None:
        _retire(inst, st, ft, i, box)
        try:
            again = st.again.get(ft)
            if again is None:
                again = st.again[ft] = weakref.WeakKeyDictionary()
            again[fn] = i
        except TypeError:
            pass

    inst._copybacks.append((inst._top, idx, done, -1))
    return idx


class _Box:
    """The Python callable behind a table index (None once it may no longer run) and its wasm function."""

    __slots__ = ("fn", "func")

    def __init__(self, inst: Instance, ft: FuncPtrType) -> None:
        self.fn: Callable[..., Any] | None = None
        self.func = make_func(inst, ft, self)

    def __call__(self, *args: Any) -> Any:
        fn = self.fn
        if fn is None:
            raise WasmTrapError(
                "C called a function pointer whose Python callable is gone: a plain callable is "
                "valid only during the call it is passed to, an ffi.callback(type, fn) while the "
                "object is referenced",
                "callback",
            )
        return fn(*args)

    @property
    def __name__(self) -> str:
        return str(getattr(self.fn, "__name__", "callback"))


def _add(st: _State, func: Any) -> int:
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
            out = fn(*_convert.callback_args(inst, ft, raw))
            what = f"result of callback {getattr(fn, '__name__', 'callback')}()"
            if sret:
                assert isinstance(result, RecordType)
                result.store(inst, ret_addr, result.convert(out, what), what)
                return None
            if result is None:
                return None
            return _convert.to_wasm(inst, result, out, what, temporary=False)
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

    def __reduce__(self) -> Any:
        raise TypeError(
            f"cannot pickle a {type(self).__name__}: it is a slot in one wasm instance's function "
            "table; pickle the Python function, or the module-level C function, instead"
        )

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
                    raw.append(_convert.to_wasm(inst, t, a, f"{ft.name} argument {i + 1}"))
                out = call_func(inst, func, raw, ft.wparams, ft.wresults)
                if ft.sret:
                    assert isinstance(ft.result, RecordType)
                    return ft.result.load(inst, ret)
                if ft.result is None:
                    return None
                return _convert.from_wasm(inst, ft.result, out)
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


def _retire_later(st: _State, ft: FuncPtrType, idx: int, box: _Box) -> None:
    box.fn = None
    st.retired.append((ft, idx, box))


class Callback(FuncPtr):
    """`ffi.callback(type, fn)`: a table slot for `fn` that lives as long as this object."""

    __slots__ = ("fn",)

    def __init__(self, inst: Instance, ctype: FuncPtrType, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError(f"ffi.callback: expected a callable for C {ctype.name}, got {type(fn).__name__}")
        st = _state(inst)
        with inst._lock:
            idx, box = _take_slot(inst, st, ctype, fn, False)
        super().__init__(inst, idx, ctype)
        self.fn = fn
        # The index is retired once this object is gone (C calling it then gets a WasmTrap);
        # its wasm function is reused at a fresh index. GC may run this on any thread, so
        # it only appends to a list (see _State.retired).
        weakref.finalize(self, _retire_later, st, ctype, idx, box)

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
