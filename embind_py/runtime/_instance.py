"""One isolated instance of a wasm module, and what generated wrappers call on it.

Owns: shared engines and the compiled-module cache, the linker (WASI plus the
imports of the `host` package), instantiation and `_initialize`, binding exports to
fast callers (`_fastcall`), per-call temporaries (a scratch arena inside wasm
memory, malloc for large ones), argument/result helpers for strings and
buffers, and turning traps and exits into the runtime's exceptions with the
wasm stack pointer restored.

May import: wasmtime, the standard library, the runtime's own modules.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import re
import struct
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import wasmtime

from . import _cache, _fastcall, _limits
from . import host as _host
from ._errors import WasmError, WasmExit, WasmLinkError, WasmOutOfFuel, WasmTimeout, WasmTrap
from ._memory import Memory
from ._types import CStr, CType, Pointer, PointerTo

ARENA_SIZE = 64 * 1024  # per-instance scratch space for call temporaries
_WASM_TYPES = {"i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64"}
_memmove = ctypes.memmove
_SIG = {"i": "i32", "I": "i64", "f": "f32", "d": "f64"}
_str_new = str.__new__
_BACKTRACE_DETAILS = "WASMTIME_BACKTRACE_DETAILS"

# ---------------------------------------------------------------------------
# Engines and compiled modules, shared per process

_lock = threading.Lock()
_live: weakref.WeakSet[Instance] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """C's stdout is line-buffered and a reactor never flushes: flush every live instance at exit."""
    for inst in list(_live):
        try:
            inst.flush()
        except Exception:  # a broken instance must not stop the others, or the exit
            pass


_engines: dict[tuple[bool, bool], wasmtime.Engine] = {}
_modules: dict[tuple[tuple[bool, bool], str], wasmtime.Module] = {}


def engine(epoch: bool = False, fuel: bool = False) -> wasmtime.Engine:
    """The process-wide engine for these settings (they must be fixed when it is made)."""
    key = (epoch, fuel)
    with _lock:
        eng = _engines.get(key)
        if eng is None:
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
                eng = _engines[key] = wasmtime.Engine(cfg)
            finally:
                if not chosen:
                    del os.environ[_BACKTRACE_DETAILS]
        return eng


def compile_module(wasm: bytes, epoch: bool = False, fuel: bool = False) -> wasmtime.Module:
    """Compile (or fetch from this process's cache) the module for these engine settings."""
    key = ((epoch, fuel), hashlib.sha256(wasm).hexdigest())
    with _lock:
        mod = _modules.get(key)
    if mod is None:
        mod = _cache.load_or_compile(engine(epoch, fuel), wasm, key[1], _settings(epoch, fuel))
        with _lock:
            _modules[key] = mod
    return mod


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


def _settings(epoch: bool, fuel: bool) -> str:
    details = os.environ.get(_BACKTRACE_DETAILS, "1")
    return f"epoch={int(epoch)} fuel={int(fuel)} fixed-memory={int(sys.maxsize > 2**32)} details={details}"


def wasm_bytes(module_name: str, module_file: str | None, wasm_name: str) -> bytes:
    """Read `wasm_name` that sits next to the generated module (a package, a wheel or a zip)."""
    package = module_name.rpartition(".")[0]
    if package:
        import importlib.resources

        return importlib.resources.files(package).joinpath(wasm_name).read_bytes()
    if module_file is None:
        raise WasmLinkError(f"cannot locate {wasm_name}: module {module_name} has no __file__")
    path = os.path.join(os.path.dirname(module_file), wasm_name)
    # A top-level module has no package for importlib.resources; its loader reads files
    # beside it wherever it came from (a folder, or a zip on sys.path through zipimport).
    get_data = getattr(getattr(sys.modules.get(module_name), "__loader__", None), "get_data", None)
    if get_data is not None:
        data = get_data(path)
        if isinstance(data, bytes):
            return data
    return Path(path).read_bytes()


# ---------------------------------------------------------------------------


class Instance:
    """A wasm module instantiated with its own memory, stdio and limits.

    Generated modules subclass this with one method per C function. Options
    (all keyword-only; the defaults grant C nothing beyond its own memory and
    the stdio streams):

    - `stdout`/`stderr`: file-like, or None to discard; default: the current
      `sys.stdout`/`sys.stderr` at each write.
    - `stdin`: bytes or a file-like object; default: nothing (EOF).
    - `env`: dict of environment variables C's `getenv` sees; default: none.
    - `argv`: list of str; default: none.
    - `timeout`: seconds of wall clock per call (float); a call running longer
      raises `WasmTimeout`. Default None: no limit.
    - `fuel`: wasm instructions (roughly) per call (int); running out raises
      `WasmOutOfFuel`. Default None: no limit.
    - `max_memory`: bytes of linear memory (int); past it `memory.grow` fails,
      so C's `malloc` returns NULL. Default None: wasm32's 4 GiB.
    - `preopens`: `{guest_path: host_dir}` folders C may open through WASI,
      read-only unless `writable=True` or the value is `(host_dir, "rw")`.
      Default: no file system at all.
    - `host`: `{name: fn}` Python implementations of the C functions the module
      imports (declared in its headers, defined by no source). The mapping is read
      at each call, so entries added later are used. Default: none (C calling one
      raises `WasmLinkError`).
    - `require_host`: with True, a host function missing from `host` fails here.

    A subclass's `__init__` must accept `(wasm, **options)` (as generated
    `Library` classes do) so that `reset()` can re-run it.
    """

    # The generated module's descriptors of its host functions (name -> FuncPtrType).
    _host_types: Mapping[str, Any] = {}

    def __init__(
        self,
        wasm: bytes | str | Path,
        signatures: Mapping[str, tuple[str, str]] | None = None,
        *,
        stdout: Any = _host.DEFAULT,
        stderr: Any = _host.DEFAULT,
        stdin: Any = None,
        env: Mapping[str, str] | None = None,
        argv: list[str] | None = None,
        timeout: float | None = None,
        fuel: int | None = None,
        max_memory: int | None = None,
        preopens: Mapping[str, Any] | None = None,
        writable: bool = False,
        host: Mapping[str, Callable[..., Any]] | None = None,
        require_host: bool = False,
    ) -> None:
        if not isinstance(wasm, bytes):
            wasm = Path(wasm).read_bytes()
        _limits.check_options(timeout, fuel, max_memory)
        _limits.check_stdio_env(stdout, stderr, stdin, env, argv, _host.DEFAULT)
        self._options: dict[str, Any] = dict(stdout=stdout, stderr=stderr, stdin=stdin, env=env, argv=argv)
        limits = {"timeout": timeout, "fuel": fuel, "max_memory": max_memory, "preopens": preopens}
        self._options.update((k, v) for k, v in limits.items() if v is not None)
        if writable:
            self._options["writable"] = True
        if host is not None:
            if not isinstance(host, Mapping):
                raise TypeError(f"host: expected a dict {{name: function}}, got {type(host).__name__}")
            self._options["host"] = host
        if require_host:
            self._options["require_host"] = True
        self._host = host
        self._require_host = require_host
        self._wasm = wasm
        self._signatures = dict(signatures or {})
        # reset() re-runs __init__ under this lock; keep it so waiting threads stay serialized.
        self._lock: threading.RLock = self.__dict__.get("_lock") or threading.RLock()
        self._pending: BaseException | None = None
        self._host_fns: list[Callable[..., Any]] = []  # see guard()
        self._deferred_frees: list[int] = []  # ffi.new blocks to free once the lock is free
        self._in_host = 0  # host functions (callbacks, stdio) running now: reset() must wait
        self._sp_stack: list[int] = []
        self.temp_ret0 = 0
        self.stdout = _host.Stream(stdout, "stdout")
        self.stderr = _host.Stream(stderr, "stderr")
        self._stdin = stdin
        self._stdin_pos = 0  # how much of a bytes stdin C has read

        epoch, metered = timeout is not None, fuel is not None
        self.engine = engine(epoch, metered)
        self.module = compile_module(wasm, epoch, metered)
        self.store = wasmtime.Store(self.engine)
        if max_memory is not None:
            self.store.set_limits(memory_size=min(max_memory, 1 << 32))  # wasm32 never has more
        self._limits = _limits.Limits(self.store, self.engine, timeout, fuel) if epoch or metered else None
        # C's files: the folders granted, served by the runtime's own file system (never
        # wasmtime's WASI preopens, so stdio stays the runtime's too).
        old_files = self.__dict__.get("_files")
        if old_files is not None:  # reset()
            old_files.close_all()
        self._files = _host.FileSystem(_host.parse_grants(preopens, writable))
        weakref.finalize(self, self._files.close_all)
        wasi = wasmtime.WasiConfig()
        if argv is not None:
            wasi.argv = list(argv)  # wasmtime-py's WasiConfig.argv/env are write-only properties
        if env is not None:
            wasi.env = [(str(k), str(v)) for k, v in env.items()]
        self.store.set_wasi(wasi)

        linker = wasmtime.Linker(self.engine)
        linker.allow_shadowing = True
        linker.define_wasi()
        self.mem = Memory(lambda: None, lambda: 0)  # replaced once memory exists
        _host.define_imports(self, linker, self.module)
        try:
            self.instance = linker.instantiate(self.store, self.module)
        except wasmtime.WasmtimeError as e:
            hint = f" (is max_memory={max_memory} below the module's initial memory?)" if max_memory else ""
            raise WasmLinkError(f"cannot instantiate the wasm module{hint}: {e}") from None
        module = self.module
        self.exports = _fastcall.Exports(self.store, self.instance, lambda: [e.name for e in module.exports])
        memory = self.exports.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            raise WasmLinkError("the wasm module exports no memory")
        self.memory = memory
        store = self.store
        self.mem._data_ptr = lambda: memory.data_ptr(store)
        self.mem._data_len = lambda: memory.data_len(store)
        self.mem.refresh()

        _live.add(self)
        self._check_signatures()
        self._run_init()
        self._malloc, self._malloc_v = self._caller_or_missing("malloc", "i", "i")
        self._free, self._free_v = self._caller_or_missing("free", "i", "")
        self._setup_stack()
        self._arena = self.malloc(ARENA_SIZE) if self.has_export("malloc") else 0
        if not self._arena and self.has_export("malloc"):
            raise WasmError("malloc failed while setting up the instance")
        self._top = self._arena
        self._arena_end = self._arena + ARENA_SIZE if self._arena else 0
        self._arena_host = 0  # the memory base `_arena_mv` was made for
        self._arena_mv = memoryview(b"")
        self._tmp_mallocs: list[tuple[int, int]] = []
        self._copybacks: list[tuple[int, int, Any, int]] = []

    # -- exports ---------------------------------------------------------

    def _run_init(self) -> None:
        """Run C's static constructors once, under the name this kind of module exports them.

        Reactors (--no-entry) export `_initialize`. Commands (a C `main`, built with
        `___wasm_call_ctors` exported) and wasm built for Emscripten's JS glue export
        `__wasm_call_ctors`; the glue also calls `emscripten_stack_init` first when present.
        """
        ex = self.exports
        if isinstance(ex.get("_initialize"), wasmtime.Func):
            self._caller("_initialize", "", "")[0]()
            return
        if isinstance(ex.get("emscripten_stack_init"), wasmtime.Func):
            self._caller("emscripten_stack_init", "", "")[0]()
        if isinstance(ex.get("__wasm_call_ctors"), wasmtime.Func):
            self._caller("__wasm_call_ctors", "", "")[0]()

    def _caller_or_missing(
        self, name: str, params: str, results: str
    ) -> tuple[Callable[[], None], tuple[Any, ...]]:
        """Like `_caller`, but a missing export fails only when called (JS-glue wasm may lack malloc)."""
        if isinstance(self.exports.get(name), wasmtime.Func):
            return self._caller(name, params, results)

        def missing() -> None:
            raise WasmLinkError(
                f"the wasm module does not export {name}; rebuild it with -sEXPORTED_FUNCTIONS=_{name},..."
            )

        return missing, tuple(_fastcall.ValRaw() for _ in range(2))

    def _check_signatures(self) -> None:
        for name, (params, results) in self._signatures.items():
            f = self.exports.get(name)
            if not isinstance(f, wasmtime.Func):
                raise WasmLinkError(f"the wasm module does not export the function {name!r}")
            ty = f.type(self.store)
            got_p = [_WASM_TYPES.get(str(t), str(t)) for t in ty.params]
            got_r = [_WASM_TYPES.get(str(t), str(t)) for t in ty.results]
            if got_p != [_SIG[c] for c in params] or got_r != [_SIG[c] for c in results]:
                raise WasmLinkError(
                    f"{name}: the wasm export has signature ({', '.join(got_p)}) -> ({', '.join(got_r)}) "
                    f"but the bindings expect ({', '.join(_SIG[c] for c in params)}) -> "
                    f"({', '.join(_SIG[c] for c in results)}); regenerate the bindings"
                )

    def _caller(self, name: str, params: str, results: str) -> tuple[Callable[[], None], tuple[Any, ...]]:
        """Bind export `name` with wasm signature `params` -> `results` (letters i I f d)."""
        f = self.exports.get(name)
        if not isinstance(f, wasmtime.Func):
            raise WasmLinkError(f"the wasm module does not export the function {name!r}")
        call, slots = _fastcall.make_caller(
            self.store, f, [_SIG[c] for c in params], [_SIG[c] for c in results], self._on_fail
        )
        if self._limits is not None:
            call = self._limits.wrap(call)
        return call, slots

    def _bind(self, name: str) -> tuple[Callable[[], None], tuple[Any, ...]]:
        params, results = self._signatures[name]
        return self._caller(name, params, results)

    def has_export(self, name: str) -> bool:
        return name in self.exports

    # -- stack -------------------------------------------------------------

    def _setup_stack(self) -> None:
        def pick(*names: str) -> str | None:
            return next((n for n in names if isinstance(self.exports.get(n), wasmtime.Func)), None)

        get = pick("emscripten_stack_get_current", "stackSave")
        restore = pick("_emscripten_stack_restore", "stackRestore")
        alloc = pick("_emscripten_stack_alloc", "stackAlloc")
        self._stack_get = self._caller(get, "", "i") if get else None
        self._stack_restore = self._caller(restore, "i", "") if restore else None
        self._stack_alloc = self._caller(alloc, "i", "i") if alloc else None
        self._sp0 = self.stack_save() if self._stack_get else 0
        # The stack's low end, to refuse a stackAlloc that would run into C's static data
        # (wasm has no guard page there). Modules built before it was exported use 0.
        end = pick("emscripten_stack_get_end")
        self._stack_end = 0
        if end is not None:
            call, v = self._caller(end, "", "i")
            call()
            self._stack_end = int(v[0].i32) & 0xFFFFFFFF

    def stack_save(self) -> int:
        if self._stack_get is None:
            raise WasmLinkError("the wasm module exports no stack-pointer function")
        call, v = self._stack_get
        call()
        return int(v[0].i32) & 0xFFFFFFFF

    def stack_restore(self, sp: int) -> None:
        if self._stack_restore is None:
            raise WasmLinkError("the wasm module exports no stackRestore function")
        call, v = self._stack_restore
        v[0].i32 = sp
        call()

    def stack_alloc(self, n: int) -> int:
        """`n` bytes on the wasm stack, 16-aligned; `MemoryError` when the stack has no room."""
        if self._stack_alloc is None:
            raise WasmLinkError("the wasm module exports no stackAlloc function")
        if self._stack_get is not None:
            sp = self.stack_save()
            if n < 0 or n > sp or ((sp - n) & -16) < self._stack_end:
                free = max(sp - self._stack_end, 0)
                raise MemoryError(f"stackAlloc({n}): the wasm stack has only {free} bytes free")
        call, v = self._stack_alloc
        v[0].i32 = n
        call()
        return int(v[0].i32) & 0xFFFFFFFF

    # -- failures ----------------------------------------------------------

    def guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a host function so its exception is re-raised by the wasm call it interrupted.

        wasmtime-py keeps every host function in a process-wide table until the
        store is deleted, so what it holds must not keep the instance (and through
        it the store) alive, or no instance would ever be freed: it gets a
        forwarder that reaches the function through a weak reference, and the
        instance holds the function itself.
        """

        def guarded(*args: Any) -> Any:
            self._in_host += 1
            try:
                return fn(*args)
            except BaseException as e:
                if self._pending is None:
                    self._pending = e
                raise
            finally:
                self._in_host -= 1

        self._host_fns.append(guarded)
        ref = weakref.ref(guarded)

        def forward(*args: Any) -> Any:
            f = ref()
            if f is None:  # pragma: no cover - wasm runs only while its instance is alive
                raise WasmError("the instance that owns this host function is gone")
            return f(*args)

        return forward

    def _on_fail(self, exc: Any) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            _fastcall.clear_last_exception(pending)
        self._recover()
        if pending is not None:
            raise pending
        if not isinstance(exc, wasmtime.Trap | wasmtime.WasmtimeError):
            raise exc  # the public-API fallback re-raised a host exception itself
        raise self._translate(exc) from None

    def _recover(self) -> None:
        """Put the wasm stack pointer back where it was when this call level began."""
        sp = self._sp_stack[-1] if self._sp_stack else getattr(self, "_sp0", 0)
        if sp and self._stack_restore is not None:
            if self._limits is not None:
                self._limits.refill()  # the failed call may have used up the budget restore runs on
            try:
                self.stack_restore(sp)
            except WasmError:  # pragma: no cover - restore itself cannot trap
                pass

    def _translate(self, exc: Any) -> WasmError:
        if isinstance(exc, wasmtime.ExitTrap):
            return WasmExit(exc.code)
        if isinstance(exc, wasmtime.Trap):
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
            where = f" in C function {frames[0]}()" if frames else ""
            if locations and locations[0]:
                where += f" at {locations[0]}"
            msg = f"wasm trap{where}: {text}"
            lim = self._limits
            if code == wasmtime.TrapCode.INTERRUPT:
                t = f"timeout={lim.timeout} s" if lim is not None else "timeout"
                msg = f"wasm call{where} ran past its {t} and was stopped"
                return WasmTimeout(msg, "interrupt", frames, locations)
            if code == wasmtime.TrapCode.OUT_OF_FUEL:
                f = f"fuel={lim.fuel}" if lim is not None else "fuel"
                msg = f"wasm call{where} used up its {f} budget"
                return WasmOutOfFuel(msg, "out of fuel", frames, locations)
            return WasmTrap(msg, _code_name(code), frames, locations)
        return WasmTrap(f"wasm call failed: {exc}")

    # -- memory and temporaries -------------------------------------------

    def malloc(self, n: int) -> int:
        call, v = self._malloc, self._malloc_v
        v[0].i32 = n
        call()
        return int(v[0].i32) & 0xFFFFFFFF

    def free(self, ptr: int) -> None:
        self._free_v[0].i32 = ptr
        self._free()

    def _tmp(self, n: int, align: int = 8) -> int:
        """Scratch memory for the current call: arena when it fits, else malloc."""
        p = (self._top + align - 1) & -align
        if p + n <= self._arena_end:
            self._top = p + n
            return p
        q = self.malloc(max(n, 1))
        if not q:
            raise MemoryError(f"wasm malloc({n}) failed for a call temporary")
        self._tmp_mallocs.append((self._top, q))
        return q

    def _release(self, mark: int) -> None:
        """End a call's temporaries: copy writable buffers back, free, reset the arena."""
        if not (self._copybacks or self._tmp_mallocs):
            self._top = mark
            return
        cbs = self._copybacks
        while cbs and cbs[-1][0] >= mark:
            _, ptr, buf, n = cbs.pop()
            if n < 0:  # a finisher (struct copy-back, callback table slot): buf(ptr)
                buf(ptr)
            else:
                self.mem.copy_out(ptr, buf, n)
        ms = self._tmp_mallocs
        while ms and ms[-1][0] >= mark:
            self.free(ms.pop()[1])
        self._top = mark

    def _arg_str(self, value: Any, what: str, writable: bool = False) -> int:
        """A `char *` argument: str (UTF-8), bytes, a writable buffer, a Pointer, or None."""
        cls = value.__class__
        if cls is str:
            data = value.encode("utf-8") + b"\0"
        elif cls is bytes:
            data = value + b"\0"
        elif value is None:
            return 0
        elif isinstance(value, Pointer):
            return self._pointer_address(value, what)
        elif isinstance(value, str | bytes):
            data = (value.encode("utf-8") if isinstance(value, str) else bytes(value)) + b"\0"
        else:
            return self._arg_buf(value, what, writable, nul=True)
        n = len(data)
        top = self._top
        if top + n <= self._arena_end:
            # The arena lies inside linear memory, which never shrinks: no bounds check needed.
            # A slice assignment into a view of it is 5x cheaper than a ctypes memmove call.
            self._top = top + n
            if self.mem.base != self._arena_host:
                self._map_arena()
            off = top - self._arena
            self._arena_mv[off : off + n] = data
            return top
        p = self._tmp(n, 1)
        self.mem.write(p, data, n)
        return p

    def _map_arena(self) -> None:
        """(Re)make the view of the scratch arena for the current memory base (it moves on growth)."""
        base = self.mem.base
        size = self._arena_end - self._arena
        self._arena_mv = memoryview((ctypes.c_char * size).from_address(base + self._arena)).cast("B")
        self._arena_host = base

    def _arg_buf(self, value: Any, what: str, writable: bool, nul: bool = False, ctype: str = "") -> int:
        """A `T *` argument: a Pointer, None, or any buffer (copied in, and back if writable)."""
        if value is None:
            return 0
        if isinstance(value, Pointer):
            return self._pointer_address(value, what)
        try:
            mv = memoryview(value)
        except TypeError:
            want = f"a pointer, a buffer or None for C {ctype}" if ctype else "a pointer, a buffer or None"
            raise TypeError(f"{what}: expected {want}, got {type(value).__name__}") from None
        n = mv.nbytes
        p = self._tmp(n + (1 if nul else 0), 8)
        if n:
            self.mem.write(p, mv, n)
        if nul:
            self.mem.write(p + n, b"\0", 1)
        if writable and not mv.readonly and n:
            self._copybacks.append((self._top, p, mv, n))
        return p

    def _arg_void(self, value: Any, what: str, writable: bool) -> int:
        """A `void *` argument: an int address, a Pointer, a buffer, or None."""
        if value.__class__ is int:
            if not 0 <= value <= 0xFFFFFFFF:
                raise OverflowError(f"{what}: {value} is not a wasm32 address")
            return int(value)
        return self._arg_buf(value, what, writable, False, "void *")

    def _arg_ptr(self, value: Any, what: str, ctype: str) -> int:
        """A pointer argument that takes only Pointers, ints (addresses) or None."""
        if value is None:
            return 0
        if isinstance(value, Pointer):
            return self._pointer_address(value, what)
        if value.__class__ is int and 0 <= value <= 0xFFFFFFFF:
            return value
        raise TypeError(f"{what}: expected a pointer ({ctype}) or None, got {type(value).__name__}")

    def _arg_strv(self, value: Any, what: str, ctype: str) -> int:
        """A `char **` argument: a list/tuple of str, bytes or None becomes a NULL-terminated
        array of per-call copies (C's writes to them are not copied back); else as `_arg_ptr`."""
        if not isinstance(value, list | tuple):
            if value is None or isinstance(value, Pointer) or value.__class__ is int:
                return self._arg_ptr(value, what, ctype)
            raise TypeError(
                f"{what}: expected a list of str, a pointer ({ctype}) or None, got {type(value).__name__}"
            )
        addrs = []
        for i, item in enumerate(value):
            if item is not None and not isinstance(item, str | bytes):
                raise TypeError(f"{what}[{i}]: expected str, bytes or None, got {type(item).__name__}")
            addrs.append(self._arg_str(item, f"{what}[{i}]"))
        addrs.append(0)
        arr = self._tmp(4 * len(addrs), 4)
        self.mem.write(arr, struct.pack(f"<{len(addrs)}I", *addrs), 4 * len(addrs))
        return arr

    def _pointer_address(self, p: Pointer[Any], what: str) -> int:
        if p._inst is not self:
            raise TypeError(f"{what}: pointer belongs to another wasm instance")
        return p.address

    def _ret_str(self, addr: int) -> CStr | None:
        addr &= 0xFFFFFFFF
        if not addr:
            return None
        # str.__new__ and a plain attribute store: half the cost of calling CStr(...).
        out: CStr = _str_new(CStr, self.mem.read_cstring(addr).decode("utf-8", "replace"))
        out.address = addr
        return out

    def _ret_ptr(self, addr: int, ctype: CType | None) -> Any:
        addr &= 0xFFFFFFFF
        if not addr:
            return None
        if ctype is None:
            return addr
        return Pointer(self, addr, ctype)

    def read_stdin(self, n: int) -> bytes | None:
        src = self._stdin
        if src is None:
            return b""
        if isinstance(src, bytes | bytearray):
            # An offset, not `src = src[n:]`: that copies the rest on every read (quadratic).
            pos = self._stdin_pos
            data = bytes(src[pos : pos + n])
            self._stdin_pos = pos + len(data)
            return data
        try:
            data = src.buffer.read1(n) if hasattr(src, "buffer") else src.read(n)
        except (OSError, ValueError):
            return None
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def flush(self) -> None:
        """Flush C's stdio buffers (text printed without a newline waits there).

        Done for every live instance at interpreter exit, and by `close()`.
        """
        if isinstance(self.exports.get("fflush"), wasmtime.Func):
            with self._lock:
                call, v = self._caller("fflush", "i", "i")
                v[0].i32 = 0
                call()

    def close(self) -> None:
        """Flush C's output; the instance is then left to the garbage collector."""
        self.flush()
        _live.discard(self)

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def memory_size(self) -> int:
        self.mem.refresh()
        return self.mem.size

    def reset(self) -> None:
        """Start over in place: a fresh instance state (memory, C globals) with the same options.

        Re-runs `__init__` with the saved wasm and options, under the instance's
        lock (kept across the reset). Pointers obtained before the reset belong
        to the old state: using them afterwards reads the new memory, and the
        memory `ffi.new` gave them is never freed into the new heap.
        """
        with self._lock:
            if self._in_host:
                # C frames of the current state are still on the stack below the caller.
                raise RuntimeError(
                    "reset() called while C is running (from a callback or a stdio stream of this "
                    "instance); call it after the C function returns"
                )
            init: Any = type(self).__init__
            if init is Instance.__init__:
                Instance.__init__(self, self._wasm, self._signatures, **self._options)
            else:
                init(self, self._wasm, **self._options)

    def wrap_pointer(self, addr: int, ctype: CType | None) -> Any:
        return PointerTo(ctype).wrap(self, addr)


def _code_name(code: Any) -> str | None:
    if code is None:
        return None
    return str(getattr(code, "name", code)).lower().replace("_", " ")
