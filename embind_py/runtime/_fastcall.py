"""The call path into wasm: the one place that touches wasmtime-py's internals (used by the
wasmtime backend, `_backend/wasmtime.py`, only).

Owns: binding a wasm export to a zero-argument Python callable that passes the
arguments already stored in a preallocated value buffer, and leaves the results
there. With wasmtime-py's C bindings available (tested: wasmtime 50) that is a
direct `wasmtime_func_call_unchecked` through ctypes with precomputed addresses:
no type lookups and no allocations per call. Without them, the public
`Func.__call__` is used instead (slower, same behaviour) and a warning says so.

Failures come back as the raw wasmtime objects (`wasmtime.Trap` or
`wasmtime.WasmtimeError`) passed to the instance's `on_fail`, which turns them
into the runtime's exceptions.

May import: wasmtime, the standard library.
"""

from __future__ import annotations

import ctypes
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime


class ValRaw(ctypes.Union):
    """One wasm value slot, laid out as wasmtime's `wasmtime_val_raw_t`."""

    _fields_ = (
        ("i32", ctypes.c_int32),
        ("i64", ctypes.c_int64),
        ("f32", ctypes.c_float),
        ("f64", ctypes.c_double),
        ("v128", ctypes.c_uint8 * 16),
    )


FAST = False
_call: Any = None
_error_ptr: Any = None
_trap_ptr: Any = None
try:
    from wasmtime import _bindings as _wb
    from wasmtime import _func as _wfunc

    if ctypes.sizeof(_wb.wasmtime_val_raw_t) != ctypes.sizeof(ValRaw):
        raise ImportError("wasmtime_val_raw_t layout changed")
    _proto = ctypes.CFUNCTYPE(
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
    )
    _call = _proto(ctypes.cast(_wb._wasmtime_func_call_unchecked, ctypes.c_void_p).value or 0)
    _error_ptr = ctypes.POINTER(_wb.wasmtime_error_t)
    _trap_ptr = ctypes.POINTER(_wb.wasm_trap_t)
    FAST = True
except (ImportError, AttributeError) as e:  # pragma: no cover - depends on the wasmtime release
    warnings.warn(
        f"embind_py: wasmtime {getattr(wasmtime, '__version__', '?')} lacks the internals of the fast "
        f"call path ({e}); using the slower public Func API",
        RuntimeWarning,
        stacklevel=2,
    )

# CFUNCTYPE calls from Python release the GIL, so other threads and host
# callbacks (which reacquire it) work during a call.

OnFail = Callable[[Any], None]


def clear_last_exception(mine: BaseException | None = None) -> None:
    """Drop wasmtime-py's record of a host exception: the runtime keeps its own per instance.

    `LAST_EXCEPTION` is one global for the whole process; another thread may have
    just stored its own exception there (for its own `Func.__call__` to raise), so
    with `mine` given only that exception is dropped.
    """
    if FAST and (mine is None or _wfunc.LAST_EXCEPTION is mine):
        _wfunc.LAST_EXCEPTION = None


def make_caller(
    store: wasmtime.Store,
    func: wasmtime.Func,
    params: Sequence[str],
    results: Sequence[str],
    on_fail: OnFail,
) -> tuple[Callable[[], None], tuple[ValRaw, ...]]:
    """A callable running `func` on its value buffer, and the buffer's slots.

    Arguments go into `slots[i]` (`.i32`, `.i64`, `.f32`, `.f64`) before the call;
    the result is in `slots[0]` after it.
    """
    n = max(len(params), len(results), 1)
    buf = (ValRaw * n)()
    slots = tuple(ValRaw.from_buffer(buf, i * ctypes.sizeof(ValRaw)) for i in range(n))
    if FAST:
        ctx = ctypes.cast(store._context(), ctypes.c_void_p).value
        fref = ctypes.addressof(func._func)
        vals = ctypes.addressof(buf)
        trap = ctypes.c_void_p()
        tref = ctypes.addressof(trap)
        call = _call

        def fast() -> None:
            try:
                err = call(ctx, fref, vals, n, tref)
            except BaseException as e:
                # A signal handler (Ctrl-C's KeyboardInterrupt) raised as the call returned,
                # before its outcome was read: drop the trap, recover, raise the exception.
                _signalled(trap, on_fail, e)
                raise
            if err or trap.value:
                _fail(err, trap, on_fail)

        fast.__dict__["_keep"] = (func, buf, store)
        return fast, slots

    def slow() -> None:
        args = [getattr(slots[i], params[i]) for i in range(len(params))]
        try:
            out = func(store, *args)
        except BaseException as e:  # a host function's exception arrives re-raised here
            on_fail(e)
            return
        if results:
            setattr(slots[0], results[0], out)

    return slow, slots


def _signalled(trap: ctypes.c_void_p, on_fail: OnFail, exc: BaseException) -> None:
    if trap.value:
        wasmtime.Trap._from_ptr(ctypes.cast(trap.value, _trap_ptr))  # freed with the object
        trap.value = None
    on_fail(exc)  # raises exc once the instance has recovered


def running_owner(frame: Any) -> Any:
    """The object whose wasm call a thread is inside, given that thread's innermost frame.

    That is the `__self__` of the `on_fail` the caller was made with (the instance), or
    None when the thread is running Python code rather than waiting on wasm. A host
    function running inside a wasm call is Python code, and Python raises there by itself.
    """
    if frame is None:
        return None
    code = frame.f_code
    if code is not _FAST_CODE:
        if code is not _FUNC_CALL_CODE or frame.f_back is None or frame.f_back.f_code is not _SLOW_CODE:
            return None
        frame = frame.f_back
    on_fail = frame.f_locals.get("on_fail")
    return getattr(on_fail, "__self__", None)


def _fail(err: int | None, trap: ctypes.c_void_p, on_fail: OnFail) -> None:
    if err:
        exc: Any = wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, _error_ptr))
    else:
        exc = wasmtime.Trap._from_ptr(ctypes.cast(trap.value or 0, _trap_ptr))
        trap.value = None
    on_fail(exc)


def _caller_codes() -> tuple[Any, Any]:
    """The code objects of the two callers `make_caller` makes (fast and slow), for `running_owner`.

    Every closure made by a call of `make_caller` shares its code object, a constant of
    `make_caller`'s own code.
    """
    by_name = {c.co_name: c for c in make_caller.__code__.co_consts if hasattr(c, "co_name")}
    return by_name["fast"], by_name["slow"]


_FAST_CODE, _SLOW_CODE = _caller_codes()
_FUNC_CALL_CODE = wasmtime.Func.__call__.__code__


class Exports:
    """An instance's exports looked up by name on demand.

    wasmtime-py's `Instance.exports()` walks every export with an O(n) call per
    index, which takes most of a second for a module with thousands of exports;
    a lookup by name is one call.
    """

    def __init__(
        self, store: wasmtime.Store, instance: wasmtime.Instance, names: Callable[[], Sequence[str]]
    ) -> None:
        self._store = store
        self._instance = instance
        # Listing every export name costs wasmtime-py one object per export (~3 µs each: 20 ms
        # for 6000 functions, more than the cached module takes to load), so the list is made
        # only when iterated; lookups by name go to wasmtime directly.
        self._list_names = names
        self._all: frozenset[str] | None = None
        self._cache: dict[str, Any] = {}

    @property
    def _names(self) -> frozenset[str]:
        if self._all is None:
            self._all = frozenset(self._list_names())
        return self._all

    def get(self, name: str, default: Any = None) -> Any:
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        if FAST:
            from wasmtime._extern import wrap_extern

            item = _wb.wasmtime_extern_t()
            raw = name.encode("utf-8")
            ok = _wb._wasmtime_instance_export_get(
                self._store._context(),
                ctypes.byref(self._instance._instance),
                ctypes.create_string_buffer(raw),
                len(raw),
                ctypes.byref(item),
            )
            found = wrap_extern(item) if ok else None
        else:  # pragma: no cover
            found = self._instance.exports(self._store).get(name) if name in self._names else None
        if found is None:
            return default
        self._cache[name] = found
        return found

    def __getitem__(self, name: str) -> Any:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Any:
        return iter(sorted(self._names))

    def __len__(self) -> int:
        return len(self._names)
