"""One isolated instance of a wasm module, and what generated wrappers call on it.

Owns: the instance's lifecycle (a `_backend` session: engine, store, imports answered
by the `host` package), `_initialize`, binding exports to the backend's specialized callers,
per-call temporaries (a scratch arena inside wasm memory, malloc for large ones),
and turning traps and exits into the runtime's exceptions with the wasm stack pointer
restored. Converting arguments and results is `_convert`'s.

May import: the standard library and the runtime's own modules (the engine only
through `_backend`).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import _backend, _convert, _limits
from . import host as _host
from ._backend import _binary
from ._errors import (
    WasmError,
    WasmExit,
    WasmInterrupted,
    WasmLinkError,
    WasmOutOfFuel,
    WasmTimeout,
    WasmTrap,
)
from ._types import ArrayOf, CType, Pointer, live

ARENA_SIZE = 64 * 1024  # per-instance scratch space for call temporaries
_SIG = {"i": "i32", "I": "i64", "f": "f32", "d": "f64"}

_live: weakref.WeakSet[Instance] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """C's stdout is line-buffered and a reactor never flushes: flush every live instance at exit."""
    for inst in list(_live):
        try:
            inst.flush()
        except Exception:  # a broken instance must not stop the others, or the exit
            pass


# The process-wide engine and compiled-module cache of the active backend.
engine = _backend.engine
compile_module = _backend.compile_module


def check_wasm(wasm: bytes, where: str, expected: str = "") -> None:
    """Refuse bytes that are no wasm binary, or not the build `expected` (a sha256 prefix)
    names, with a `WasmLinkError` naming `where` (wasmtime would even parse a text file
    as WAT, and a wasm from another build would run with the wrong bindings)."""
    if wasm[:4] != b"\0asm":
        what = "it is empty" if not wasm else f"it starts with {wasm[:8]!r}, not the wasm magic b'\\x00asm'"
        raise WasmLinkError(f"{where} is not a WebAssembly binary ({len(wasm)} bytes; {what}); rebuild it")
    if wasm[4:8] != b"\x01\x00\x00\x00":
        raise WasmLinkError(f"{where}: unsupported or damaged wasm header {wasm[4:8]!r} (version 1 expected)")
    if expected:
        got = _binary.digest(wasm)
        if not got.startswith(expected):
            raise WasmLinkError(
                f"{where} is not the wasm its bindings were generated for (sha256 {got[: len(expected)]}, "
                f"the bindings expect {expected}): rebuild both with `embind-py build`, or copy the "
                "NAME.py and NAME.wasm of one build together"
            )


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
      so C's `malloc` returns NULL. Default None: the module's own maximum (2 GiB
      for emcc's default build).
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

    What generated code uses of an instance, and nothing else: `_bind(name)` once per
    C function (giving the `_c_<name>` caller and its `_v_<name>` value slots), and per
    call `_lock` (held around it), `_top` (the scratch mark taken before temporaries),
    `_tmp(n, align)` and `_release(mark)`; for C globals `_bind_vars`, `_var` and
    `_set_var`. Conversions are `embind_py.runtime` functions
    taking the instance (`_convert`). `embind_py.typemap.INSTANCE_NAMES` lists every
    attribute, so a C function never gets a name one of them has.
    """

    _lock: threading.RLock
    _top: int
    # The generated module's descriptors of its host functions (name -> FuncPtrType).
    _host_types: Mapping[str, Any] = {}
    # Set by a generated module: the file its wasm comes from, and (a prefix of) that
    # file's sha256 when the module was generated, so a mismatched pair is refused.
    _wasm_file: str = ""
    _wasm_digest: str = ""

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
        interruptible: bool = True,
        host: Mapping[str, Callable[..., Any]] | None = None,
        require_host: bool = False,
    ) -> None:
        if not isinstance(wasm, bytes):
            wasm = Path(wasm).read_bytes()
        where = self._wasm_file or "the wasm module"
        check_wasm(wasm, where, self._wasm_digest)
        _limits.check_options(timeout, fuel, max_memory, interruptible)
        _limits.check_stdio_env(stdout, stderr, stdin, env, argv, _host.DEFAULT)
        self._options: dict[str, Any] = dict(stdout=stdout, stderr=stderr, stdin=stdin, env=env, argv=argv)
        limits = {"timeout": timeout, "fuel": fuel, "max_memory": max_memory, "preopens": preopens}
        self._options.update((k, v) for k, v in limits.items() if v is not None)
        if writable:
            self._options["writable"] = True
        if not interruptible:
            self._options["interruptible"] = False
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
        self._lock = self.__dict__.get("_lock") or _backend.new_lock()
        # Identifies this instance state weakly (a CStr keeps it): a new one after reset().
        self._ref = weakref.ref(self)
        self._pending: BaseException | None = None
        self._host_fns: list[Callable[..., Any]] = []  # see guard()
        self._deferred_frees: list[Any] = []  # ffi.new blocks / ffi.gc destructors, once the lock is free
        self._in_host = 0  # host functions (callbacks, stdio) running now: reset() must wait
        self._sp_stack: list[int] = []
        self.temp_ret0 = 0
        self.stdout = _host.Stream(stdout, "stdout")
        self.stderr = _host.Stream(stderr, "stderr")
        self._stdin = stdin
        self._stdin_pos = 0  # how much of a bytes stdin C has read

        # C's files: the folders granted, served by the runtime's own file system (never
        # wasmtime's WASI preopens, so stdio stays the runtime's too).
        old_files = self.__dict__.get("_files")
        if old_files is not None:  # reset()
            old_files.close_all()
        self._files = _host.FileSystem(_host.parse_grants(preopens, writable))
        weakref.finalize(self, self._files.close_all)
        try:
            self._be = be = _backend.Session(self, wasm, self._options)
        except WasmLinkError as e:
            if not self._wasm_file:
                raise
            raise WasmLinkError(f"{self._wasm_file}: {e}") from None
        self.mem = be.mem
        # The engine's own objects, for code that needs wasmtime itself (None where absent).
        self.engine: Any = getattr(be, "engine", None)
        self.module: Any = getattr(be, "module", None)
        self.store: Any = getattr(be, "store", None)
        self.exports: Any = getattr(be, "exports", None)
        self.memory: Any = getattr(be, "memory", None)

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
        self._arena_host = -1  # the memory base `_arena_mv` was made for (none yet)
        self._arena_mv = memoryview(b"")
        self._tmp_mallocs: list[tuple[int, int]] = []
        self._copybacks: list[tuple[int, int, Any, int]] = []

    @property
    def _limits(self) -> Any:
        """The per-call `timeout`/`fuel` budget (wasmtime's `_limits.Limits`), or None."""
        return getattr(self._be, "limits", None)

    # -- exports ---------------------------------------------------------

    def _run_init(self) -> None:
        """Run C's static constructors once, under the name this kind of module exports them.

        Reactors (--no-entry) export `_initialize`. Commands (a C `main`, built with
        `___wasm_call_ctors` exported) and wasm built for Emscripten's JS glue export
        `__wasm_call_ctors`; the glue also calls `emscripten_stack_init` first when present.
        """
        func = self._be.func
        if func("_initialize") is not None:
            self._caller("_initialize", "", "")[0]()
            return
        if func("emscripten_stack_init") is not None:
            self._caller("emscripten_stack_init", "", "")[0]()
        if func("__wasm_call_ctors") is not None:
            self._caller("__wasm_call_ctors", "", "")[0]()

    def _caller_or_missing(
        self, name: str, params: str, results: str
    ) -> tuple[Callable[[], None], tuple[Any, ...]]:
        """Like `_caller`, but a missing export fails only when called (JS-glue wasm may lack malloc)."""
        if self._be.func(name) is not None:
            return self._caller(name, params, results)

        def missing() -> None:
            raise WasmLinkError(
                f"the wasm module does not export {name}; rebuild it with -sEXPORTED_FUNCTIONS=_{name},..."
            )

        return missing, tuple(_backend.Slot() for _ in range(2))

    def _check_signatures(self) -> None:
        for name, (params, results) in self._signatures.items():
            sig = self._be.export_signature(name)
            if sig is None:
                raise WasmLinkError(f"the wasm module does not export the function {name!r}")
            got_p = [_SIG.get(c, "?") for c in sig[0]]
            got_r = [_SIG.get(c, "?") for c in sig[1]]
            if got_p != [_SIG[c] for c in params] or got_r != [_SIG[c] for c in results]:
                raise WasmLinkError(
                    f"{name}: the wasm export has signature ({', '.join(got_p)}) -> ({', '.join(got_r)}) "
                    f"but the bindings expect ({', '.join(_SIG[c] for c in params)}) -> "
                    f"({', '.join(_SIG[c] for c in results)}); regenerate the bindings"
                )

    def _caller(self, name: str, params: str, results: str) -> tuple[Callable[[], None], tuple[Any, ...]]:
        """Bind export `name` with wasm signature `params` -> `results` (letters i I f d)."""
        f = self._be.func(name)
        if f is None:
            raise WasmLinkError(f"the wasm module does not export the function {name!r}")
        return self._be.caller(f, params, results, self._on_fail)

    def _bind(self, name: str) -> tuple[Callable[[], None], tuple[Any, ...]]:
        params, results = self._signatures[name]
        return self._caller(name, params, results)

    def _bind_vars(self, table: Mapping[str, CType]) -> None:
        """Find the C globals the bindings use: a data symbol in EXPORTED_FUNCTIONS is a wasm
        global holding its address (`_counter` gives the global `counter`)."""
        self._vars: dict[str, tuple[int, CType]] = {}
        for name, t in table.items():
            addr = self._be.global_value(name)
            if addr is None:
                raise WasmLinkError(f"the wasm module does not export the C global {name}")
            self._vars[name] = (addr & 0xFFFFFFFF, t)

    def _var(self, name: str, copy: bool = False) -> Any:
        """The C global `name` as Python reads it: a value, or a live view of a record or array
        (a copy of the record when `copy`: a const one)."""
        addr, t = self._vars[name]
        return t.load(self, addr) if copy else live(self, addr, t, chars=True)

    def _set_var(self, name: str, value: Any) -> None:
        addr, t = self._vars[name]
        with self._lock:
            t.store(self, addr, value, name)

    def address_of_var(self, name: str) -> Pointer[Any]:
        """A `Pointer` to the C global `name` (`ffi.addressof`)."""
        entry = getattr(self, "_vars", {}).get(name)
        if entry is None:
            raise AttributeError(f"the library has no C global {name!r}")
        addr, t = entry
        if isinstance(t, ArrayOf):
            return Pointer(self, addr, t.elem, t.length or None)
        return Pointer(self, addr, t)

    def has_export(self, name: str) -> bool:
        """Whether the module exports a function `name`."""
        return self._be.func(name) is not None

    # -- stack -------------------------------------------------------------

    def _setup_stack(self) -> None:
        def pick(*names: str) -> str | None:
            return next((n for n in names if self._be.func(n) is not None), None)

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
            self._be.clear_host_exception(pending)
        reason = self._be.stop_reason()
        self._recover()
        if pending is not None:
            raise pending
        if not isinstance(exc, _backend.TRAPS):
            raise exc  # a signal handler's exception, or one the public-API fallback re-raised
        raise self._translate(exc, reason) from None

    def _recover(self) -> None:
        """Re-arm the call's stopping; put the wasm stack pointer back where this call level began."""
        self._be.rearm()
        sp = self._sp_stack[-1] if self._sp_stack else getattr(self, "_sp0", 0)
        if sp and self._stack_restore is not None:
            self._be.refill()  # the failed call may have used up the budget restore runs on
            try:
                self.stack_restore(sp)
            except WasmError:  # pragma: no cover - restore itself cannot trap
                pass

    def interrupt(self) -> None:
        """Stop the C call running on this instance, from any thread: it raises `WasmInterrupted`.

        Returns at once; the call stops at its next loop iteration or function entry (or when
        a Python callback it is in returns). Other instances' calls go on. With no call
        running, nothing happens: the next call is not affected. The instance stays usable,
        but C may have been stopped halfway through updating its data: `reset()` starts over.
        """
        self._be.interrupt()

    def _translate(self, exc: Any, reason: str | None = None) -> WasmError:
        """The runtime's exception for a failed wasm call; `reason`: why it was stopped, if it was
        (read from the backend when not given, e.g. for a nested call failing inside a host function)."""
        f = self._be.failure(exc)
        if reason is None:
            reason = self._be.stop_reason()
        if f.kind == "exit":
            return WasmExit(f.exit_code)
        if f.kind == "error":
            return WasmTrap(f"wasm call failed: {f.text}")
        frames, locations = f.frames, f.locations
        where = f" in C function {frames[0]}()" if frames else ""
        if locations and locations[0]:
            where += f" at {locations[0]}"
        if f.kind == "interrupt" and reason != "timeout":
            by = "by Ctrl-C (SIGINT)" if reason == "sigint" else "by interrupt()"
            return WasmInterrupted(f"wasm call{where} was stopped {by}", "interrupt", frames, locations)
        if f.kind == "interrupt":
            t = self._be.limit("timeout")
            budget = f"timeout={t} s" if t is not None else "timeout"
            msg = f"wasm call{where} ran past its {budget} and was stopped"
            return WasmTimeout(msg, "interrupt", frames, locations)
        if f.kind == "fuel":
            n = self._be.limit("fuel")
            msg = f"wasm call{where} used up its {f'fuel={n}' if n is not None else 'fuel'} budget"
            return WasmOutOfFuel(msg, "out of fuel", frames, locations)
        return WasmTrap(f"wasm trap{where}: {f.text}", f.code, frames, locations)

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

    def _map_arena(self) -> None:
        """(Re)make the view of the scratch arena for the current memory base (it moves on growth)."""
        self._arena_mv = self.mem.writable(self._arena, self._arena_end - self._arena)
        self._arena_host = self.mem.base

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
        if self._be.func("fflush") is not None:
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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a recipe: the same class made again with the same load options.

        The other process re-creates the instance from its own copy of the module (checked
        to carry the same wasm) with fresh memory: C's globals and heap are not copied, and
        pointers into them refuse to pickle. Options that name this process's objects
        (stdout/stderr/stdin streams) cannot travel and raise `TypeError`.
        """
        cls = type(self)
        options = {}
        for k, v in self._options.items():
            if v is None or (k in ("stdout", "stderr") and v is _host.DEFAULT):
                continue
            if k in ("stdout", "stderr") or (k == "stdin" and not isinstance(v, bytes | bytearray)):
                raise TypeError(
                    f"cannot pickle this {cls.__name__}: its {k}= is a {type(v).__name__}, an object "
                    f"of this process; load it without {k}= (a worker's C output goes to the worker's "
                    "own sys.stdout/sys.stderr), or pass bytes as stdin"
                )
            options[k] = v
        module = sys.modules.get(cls.__module__)
        own = module is not None and getattr(module, "_WASM", None) is not None
        wasm = None if own else self._wasm
        signatures = self._signatures if cls is Instance else None
        digest = _binary.digest(self._wasm)
        return (_restore, (cls.__module__, cls.__qualname__, wasm, digest, signatures, options))

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
        return _convert.ret_ptr(self, addr, ctype)


def _restore(
    module: str,
    qualname: str,
    wasm: bytes | None,
    digest: str,
    signatures: Mapping[str, tuple[str, str]] | None,
    options: dict[str, Any],
) -> Instance:
    """Unpickle an instance (see `Instance.__reduce__`): make it again from its module."""
    import importlib

    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if wasm is None:
        inst = cls(**options)  # a generated Library reads its module's NAME.wasm
        if _binary.digest(inst._wasm) != digest:
            raise WasmLinkError(
                f"cannot unpickle {module}.{qualname}: the {module} module here comes with a different "
                f"wasm than the pickled instance was made from (sha256 {digest[:12]}...); install the "
                "same build of it on every process"
            )
        return inst  # type: ignore[no-any-return]
    if cls is Instance:
        return Instance(wasm, signatures, **options)
    return cls(wasm, **options)  # type: ignore[no-any-return]
