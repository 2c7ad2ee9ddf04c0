"""The engine under an instance: wasmtime on CPython, the JavaScript engine's WebAssembly under Pyodide.

Owns: choosing the backend (automatically: `sys.platform == "emscripten"` is Pyodide) and
the interface both implement. Everything engine-specific lives in `wasmtime.py` and
`pyodide.py`; the rest of the runtime sees only this interface, so the same generated
`NAME.py` + `NAME.wasm` run on both.

A backend module provides:

- `NAME`: "wasmtime" or "pyodide".
- `TRAPS`: the engine's own exception types for a failed wasm call (the instance turns
  them into the runtime's exceptions with `Session.failure`).
- `Slot`: the type of one value slot of a caller (`.i32`, `.i64`, `.f32`, `.f64`).
- `new_lock()`: the lock serializing calls on one instance (re-entrant).
- `compile_module(wasm)`: the engine's compiled module, cached per process.
- `engine(...)`: a new wasmtime engine (one per instance: see `_limits`; Pyodide has none and raises).
- `Session(inst, wasm, options)`: one instantiated module with its own memory and store,
  whose imports the runtime's host functions answer (`_host.define_imports`). It offers:
  `mem` (a `_memory.Memory`-like object: bounds-checked reads and writes, `load`/`store`
  of ctypes scalars, `host_view` where the engine can share memory), `func(name)` (an
  exported function or None), `global_value(name)` (an exported global's value, or None:
  a C global variable's address), `export_signature(name)` / `import_signature(module, name)`
  (letters i I f d), `caller(func, params, results, on_fail)` (the specialized call path:
  a zero-argument callable and its value slots), `call(func, args, params)` (a plain
  call, for the less frequent paths), `new_func(params, results, fn)`, `table_get(i)`,
  `table_grow(func)`, `table_set(i, func)`, `table_size()`, `grow_memory(pages)`, `failure(exc)` (what went
  wrong, as a `Failure`) and `clear_host_exception(exc)`; and stopping a running call:
  `interrupt()` (from any thread), `stop_reason()` (why the failing call was stopped:
  "interrupt", "sigint", "timeout" or None) and `rearm()` (after a failure).

May import: the standard library and the runtime's own modules; the backend modules
themselves import their engine (wasmtime, or Pyodide's `js`/`pyodide.ffi`).
"""

from __future__ import annotations

import sys
from typing import NamedTuple


class Failure(NamedTuple):
    """An engine failure in engine-neutral terms (built by `Session.failure`)."""

    kind: str  # "exit", "interrupt", "fuel", "trap" or "error"
    text: str  # what happened ("unreachable", "integer divide by zero", ...)
    code: str | None = None  # trap code name, as wasmtime names it ("unreachable", ...)
    frames: tuple[str, ...] = ()  # C function names, innermost first
    locations: tuple[str | None, ...] = ()  # "file:line:col" per frame, when known
    exit_code: int = 0


if sys.platform == "emscripten":  # pragma: no cover - runs under Pyodide (tests/web)
    from . import pyodide as backend
else:
    from . import wasmtime as backend

NAME: str = backend.NAME
TRAPS = backend.TRAPS
Slot = backend.Slot
Session = backend.Session
compile_module = backend.compile_module
engine = backend.engine
new_lock = backend.new_lock

__all__ = ["NAME", "TRAPS", "Failure", "Session", "Slot", "backend", "compile_module", "engine", "new_lock"]
