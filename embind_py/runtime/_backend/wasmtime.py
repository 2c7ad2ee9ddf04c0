"""The wasmtime backend (CPython): engines, compiled modules, stores, linking and the fast call path.

Owns: the engines (one per instance, their settings fixed when made) and compiled-module
cache (in memory, and on disk through `_cache`), one `Session` per instance (store,
WASI configuration, limits from `_limits`, the linker answering imports with the
runtime's host functions, the instance and its exports), binding exports to the
specialized callers of `_fastcall`, the function table, and reading wasmtime's traps
(codes, frames and DWARF locations) into a `Failure`.

May import: wasmtime, the standard library, the runtime's own modules.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import wasmtime

from .. import _cache, _fastcall, _limits
from .. import host as _host
from .._errors import WasmLinkError
from .._memory import Memory
from . import Failure, _binary

if TYPE_CHECKING:
    from .._instance import Instance

NAME = "wasmtime"
TRAPS: tuple[type[BaseException], ...] = (wasmtime.Trap, wasmtime.WasmtimeError)
Slot = _fastcall.ValRaw

_SIG = {"i": "i32", "I": "i64", "f": "f32", "d": "f64"}
_LETTER = {"i32": "i", "i64": "I", "f32": "f", "f64": "d"}
_VALTYPE = {
    "i": wasmtime.ValType.i32(),
    "I": wasmtime.ValType.i64(),
    "f": wasmtime.ValType.f32(),
    "d": wasmtime.ValType.f64(),
}
_BACKTRACE_DETAILS = "WASMTIME_BACKTRACE_DETAILS"

_lock = threading.Lock()
new_lock = threading.RLock  # calls into one store are serialized; the call itself releases the GIL
_modules: dict[tuple[bool, bool, str], wasmtime.Module] = {}  # the first load of each, until a second
_serialized: dict[tuple[bool, bool, str], bytes] = {}  # then its compiled code, for every later engine


def engine(epoch: bool = True, fuel: bool = False) -> wasmtime.Engine:
    """A new engine: each instance has its own, since its epoch counter is how its call is stopped.

    Epoch interruption (see `_limits`) is on unless the instance was loaded with
    `interruptible=False`; fuel metering only when asked: both must be chosen when the
    engine is made. An engine costs about 10 µs.
    """
    with _lock:
        # wasmtime names file:line in trap backtraces (from DWARF, for modules built
        # with -g; others pay nothing) only when this variable is set as the engine is
        # made. Set it for that moment, unless the user chose otherwise.
        chosen = _BACKTRACE_DETAILS in os.environ
        if not chosen:
            os.environ[_BACKTRACE_DETAILS] = "1"
        try:
            cfg = wasmtime.Config()
            cfg.epoch_interruption = epoch
            cfg.consume_fuel = fuel
            if sys.maxsize > 2**32:
                # Linear memory never moves (wasmtime reserves 4 GiB of address space for
                # it), so `ffi.buffer` views and cached base addresses stay valid across
                # memory growth.
                cfg.memory_may_move = False
            return wasmtime.Engine(cfg)
        finally:
            if not chosen:
                del os.environ[_BACKTRACE_DETAILS]


def compile_module(
    wasm: bytes, epoch: bool = True, fuel: bool = False, eng: wasmtime.Engine | None = None
) -> wasmtime.Module:
    """The compiled module for `eng` (default: a new engine with these settings).

    Compiled once per process (or read from the disk cache); later engines get a copy of the
    compiled code (`Module.deserialize` of this process's own `serialize`, about 60 µs for a
    small module).
    """
    eng = eng if eng is not None else engine(epoch, fuel)
    key = (epoch, fuel, _binary.digest(wasm))
    with _lock:
        code = _serialized.get(key)
        first = _modules.pop(key, None) if code is None else None
    if code is None and first is not None:
        code = bytes(first.serialize())
        with _lock:
            _serialized[key] = code
    if code is not None:
        return wasmtime.Module.deserialize(eng, code)
    mod = _cache.load_or_compile(eng, wasm, key[2], _settings(epoch, fuel))
    with _lock:
        if key not in _serialized:
            _modules.setdefault(key, mod)
    return mod


def forget_compiled() -> None:
    """Drop this process's compiled modules (both forms), so the next load compiles or reads the
    disk cache: for tests and benchmarks of that path."""
    with _lock:
        _modules.clear()
        _serialized.clear()


def _settings(epoch: bool, fuel: bool) -> str:
    details = os.environ.get(_BACKTRACE_DETAILS, "1")
    return f"epoch={int(epoch)} fuel={int(fuel)} fixed-memory={int(sys.maxsize > 2**32)} details={details}"


def module_imports(module: wasmtime.Module) -> list[tuple[str, str, bool]]:
    """(module, name, is a function) for each import of a compiled module."""
    return [
        (imp.module, imp.name, isinstance(imp.type, wasmtime.FuncType))
        for imp in module.imports
        if imp.name is not None
    ]


def _letters(types: Sequence[Any]) -> str:
    return "".join(_LETTER.get(str(t), "?") for t in types)


class Session:
    """One instantiated module in its own store (see the package docstring for the interface)."""

    def __init__(self, inst: Instance, wasm: bytes, options: Mapping[str, Any]) -> None:
        timeout, fuel, max_memory = options.get("timeout"), options.get("fuel"), options.get("max_memory")
        interruptible = bool(options.get("interruptible", True))
        metered = fuel is not None
        self.engine = engine(interruptible, metered)
        try:
            self.module = compile_module(wasm, interruptible, metered, self.engine)
        except wasmtime.WasmtimeError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid"
            raise WasmLinkError(f"it is not a valid wasm module ({first})") from None
        self.store = store = wasmtime.Store(self.engine)
        if max_memory is not None:
            store.set_limits(memory_size=min(max_memory, 1 << 32))  # wasm32 never has more
        self.stopper = _limits.Stopper(store, self.engine, inst._lock, interruptible)
        if interruptible:
            _limits.EPOCHS.arm_sigint()
        timed = timeout is not None
        self.limits = _limits.Limits(store, self.stopper, timeout, fuel) if timed or metered else None
        # No WASI preopens: the runtime's own file system (host.files) serves C's files.
        wasi = wasmtime.WasiConfig()
        env = options.get("env")  # argv: host.wasi answers args_get itself
        if env is not None:
            wasi.env = [(str(k), str(v)) for k, v in env.items()]
        store.set_wasi(wasi)

        linker = wasmtime.Linker(self.engine)
        linker.allow_shadowing = True
        linker.define_wasi()
        self.mem: Memory = Memory(lambda: None, lambda: 0)  # connected once memory exists
        inst.mem, inst._be = self.mem, self  # host functions made below use both

        def define(module: str, name: str, params: str, results: str, fn: Callable[..., Any]) -> None:
            linker.define(store, module, name, self.new_func(params, results, fn))

        _host.define_imports(inst, self._function_imports(), define, engine_wasi=True)
        try:
            self.instance = linker.instantiate(store, self.module)
        except wasmtime.WasmtimeError as e:
            hint = f" (is max_memory={max_memory} below the module's initial memory?)" if max_memory else ""
            raise WasmLinkError(f"cannot instantiate the wasm module{hint}: {e}") from None
        module = self.module
        self.exports = _fastcall.Exports(store, self.instance, lambda: [e.name for e in module.exports])
        memory = self.exports.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            raise WasmLinkError("the wasm module exports no memory")
        self.memory = memory
        self.mem._data_ptr = lambda: memory.data_ptr(store)
        self.mem._data_len = lambda: memory.data_len(store)
        self.mem.refresh()
        table = self.exports.get("__indirect_function_table")
        self.table = table if isinstance(table, wasmtime.Table) else None

    def _function_imports(self) -> list[tuple[str, str, str, str]]:
        out = []
        for imp in self.module.imports:
            ty = imp.type
            if isinstance(ty, wasmtime.FuncType) and imp.name is not None:
                out.append((imp.module, imp.name, _letters(ty.params), _letters(ty.results)))
        return out

    # -- functions -----------------------------------------------------------

    def func(self, name: str) -> wasmtime.Func | None:
        f = self.exports.get(name)
        return f if isinstance(f, wasmtime.Func) else None

    def global_value(self, name: str) -> int | None:
        """The value of the exported wasm global `name` (a C global's address), or None."""
        g = self.exports.get(name)
        return int(g.value(self.store)) if isinstance(g, wasmtime.Global) else None

    def export_signature(self, name: str) -> tuple[str, str] | None:
        f = self.func(name)
        if f is None:
            return None
        ty = f.type(self.store)
        return _letters(ty.params), _letters(ty.results)

    def import_signature(self, module: str, name: str) -> tuple[str, str] | None:
        for imp in self.module.imports:
            ty = imp.type
            if imp.module == module and imp.name == name and isinstance(ty, wasmtime.FuncType):
                return _letters(ty.params), _letters(ty.results)
        return None

    def caller(
        self, func: wasmtime.Func, params: str, results: str, on_fail: Callable[[Any], None]
    ) -> tuple[Callable[[], None], tuple[Any, ...]]:
        call, slots = _fastcall.make_caller(
            self.store, func, [_SIG[c] for c in params], [_SIG[c] for c in results], on_fail
        )
        if self.limits is not None:
            call = self.limits.wrap(call)
        return call, slots

    def call(
        self, func: wasmtime.Func, args: Sequence[Any], params: str | None = None, results: str | None = None
    ) -> Any:
        """A plain call; `params`/`results` (letters) help engines that convert values by type."""
        return func(self.store, *args)

    def new_func(self, params: str, results: str, fn: Callable[..., Any]) -> wasmtime.Func:
        ty = wasmtime.FuncType([_VALTYPE[c] for c in params], [_VALTYPE[c] for c in results])
        return wasmtime.Func(self.store, ty, fn)

    # -- table and memory ----------------------------------------------------

    def table_get(self, index: int) -> wasmtime.Func | None:
        if self.table is None:
            return None
        try:
            f = self.table.get(self.store, index)
        except wasmtime.WasmtimeError:
            return None
        return f if isinstance(f, wasmtime.Func) else None

    def table_grow(self, func: wasmtime.Func) -> int:
        """Add `func` to the table; its index. ValueError if the table cannot grow."""
        if self.table is None:
            raise ValueError("the wasm module exports no function table")
        try:
            return int(self.table.grow(self.store, 1, func))
        except wasmtime.WasmtimeError as e:
            raise ValueError(str(e)) from None

    def table_set(self, index: int, func: wasmtime.Func) -> None:
        """Point table entry `index` (one `table_grow` gave) at `func`."""
        assert self.table is not None
        self.table.set(self.store, index, func)

    def table_size(self) -> int:
        return int(self.table.size(self.store)) if self.table is not None else 0

    def grow_memory(self, pages: int) -> bool:
        try:
            self.memory.grow(self.store, pages)
        except wasmtime.WasmtimeError:
            return False
        return True

    # -- failures ------------------------------------------------------------

    def clear_host_exception(self, mine: BaseException | None = None) -> None:
        _fastcall.clear_last_exception(mine)

    def refill(self) -> None:
        """A fresh budget for the runtime's own clean-up calls after a failure."""
        if self.limits is not None:
            self.limits.refill()

    # -- stopping a running call (see `_limits`) -----------------------------

    def interrupt(self) -> None:
        """Stop the call running in this store, from any thread."""
        self.stopper.request("interrupt")

    def stop_reason(self) -> str | None:
        """Why the failing call was stopped ("interrupt", "sigint", "timeout"), or None."""
        return self.stopper.reason

    def rearm(self) -> None:
        """After a failure: the next call may be stopped again, and only by a new request."""
        self.stopper.rearm()

    def failure(self, exc: BaseException) -> Failure:
        if isinstance(exc, wasmtime.ExitTrap):
            return Failure("exit", "exit", exit_code=exc.code)
        if not isinstance(exc, wasmtime.Trap):
            return Failure("error", str(exc))
        code = exc.trap_code
        frames = tuple(f.func_name or f"<wasm function {f.func_index}>" for f in exc.frames)
        # wasmtime ends with "Caused by:" and numbered causes ("0: memory fault at ...",
        # "1: wasm trap: out of bounds memory access"): keep the trap, the fault as detail.
        lines = [ln.strip() for ln in (exc.message or "").splitlines() if ln.strip()]
        causes = [ln.split(": ", 1)[1] if ln.split(": ", 1)[0].isdigit() else ln for ln in lines]
        text = causes[-1].removeprefix("wasm trap: ") if causes else "trap"
        fault = next((c for c in causes if c.startswith("memory fault at ")), None)
        if fault:
            text += f" ({fault})"
        locations: tuple[str | None, ...] = ()
        detailed = _backtrace(exc.message or "")
        if any(loc for _, loc in detailed):
            frames = tuple(name for name, _ in detailed)
            locations = tuple(loc for _, loc in detailed)
        kind = "trap"
        if code == wasmtime.TrapCode.INTERRUPT:
            kind = "interrupt"
        elif code == wasmtime.TrapCode.OUT_OF_FUEL:
            kind = "fuel"
        return Failure(kind, text, _code_name(code), frames, locations)

    def limit(self, name: str) -> Any:
        """The configured `timeout` or `fuel` (for messages), or None."""
        return getattr(self.limits, name, None) if self.limits is not None else None


# wasmtime's backtrace lines, with WASMTIME_BACKTRACE_DETAILS: a frame (`0: 0x1ae - name`, or
# `- name` for a call inlined into the next frame) and, when DWARF knows it, `at file:line:col`.
_FRAME_LINE = re.compile(r"^\s*(?:\d+:\s+0x[0-9a-f]+\s+)?-\s+(.+?)\s*$")
_AT_LINE = re.compile(r"^\s*at\s+(.+?)\s*$")


def _backtrace(message: str) -> list[tuple[str, str | None]]:
    """(function, "file:line:col" or None) per frame of a trap message, innermost first."""
    frames: list[tuple[str, str | None]] = []
    for line in message.split("Caused by:")[0].splitlines():
        m = _FRAME_LINE.match(line)
        if m:
            frames.append((m[1], None))
            continue
        m = _AT_LINE.match(line)
        if m and frames and frames[-1][1] is None:
            frames[-1] = (frames[-1][0], m[1].removeprefix("./"))
    return frames


def _code_name(code: Any) -> str | None:
    if code is None:
        return None
    return str(getattr(code, "name", code)).lower().replace("_", " ")


__all__ = ["NAME", "TRAPS", "Session", "Slot", "compile_module", "engine", "module_imports"]
