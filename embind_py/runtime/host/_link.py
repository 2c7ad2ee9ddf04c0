"""Linking a module's imports: every function import defined on a wasmtime `Linker`.

Owns: the order in which an import finds its implementation (a user host function, then
the registry, then wasmtime's WASI, else a stand-in raising `WasmLinkError` when called),
each wrapped by `Instance.guard` so that a Python exception reaches the caller of C.

May import: wasmtime, the standard library, the runtime's own modules, this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import wasmtime

from . import user
from ._registry import WASI, lookup, unknown

if TYPE_CHECKING:
    from .._instance import Instance

def define_imports(inst: Instance, linker: wasmtime.Linker, module: wasmtime.Module) -> None:
    """Define every import of `module` that wasmtime's WASI does not cover (or that we shadow)."""
    store = inst.store
    hosted = set(user.imported(inst, module))
    for imp in module.imports:
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType) or imp.name is None:
            continue
        if imp.module == user.MODULE and imp.name in hosted:
            user.define(inst, linker, imp.name, ty)
            continue
        factory = lookup(imp.module, imp.name)
        if factory is not None:
            fn = factory(inst, imp.name)
        elif imp.module == WASI:
            continue  # wasmtime's WASI implementation
        else:
            fn = unknown(imp.module, imp.name)
        linker.define(store, imp.module, imp.name, wasmtime.Func(store, ty, inst.guard(fn)))
