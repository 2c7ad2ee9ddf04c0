"""Linking a module's imports: every function import answered through the engine's backend.

Owns: the order in which an import finds its implementation (a user host function, then
the registry, then the engine's own WASI where it has one, else a stand-in raising
`WasmLinkError` when called), each wrapped by `Instance.guard` so that a Python exception
reaches the caller of C. The backend (`_backend`) lists the imports with their signatures
and makes each Python function the engine's.

May import: the standard library, the runtime's own modules, this package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import user
from ._registry import WASI, lookup, unknown

if TYPE_CHECKING:
    from .._instance import Instance

Define = Callable[[str, str, str, str, Callable[..., Any]], None]


def define_imports(
    inst: Instance, imports: Iterable[tuple[str, str, str, str]], define: Define, engine_wasi: bool
) -> None:
    """Answer each function import `(module, name, params, results)` with `define(..., fn)`.

    Signatures are wasm letters (i I f d). With `engine_wasi`, WASI calls the runtime does
    not implement itself are left to the engine's own WASI (wasmtime's); otherwise they too
    raise `WasmLinkError` when called.
    """
    imports = list(imports)
    hosted = set(user.imported(inst, imports))
    for module, name, params, results in imports:
        if module == user.MODULE and name in hosted:
            fn = user.implementation(inst, name, params, results)
        else:
            factory = lookup(module, name)
            if factory is not None:
                fn = factory(inst, name)
            elif module == WASI and engine_wasi:
                continue  # wasmtime's WASI implementation
            else:
                fn = unknown(module, name)
        define(module, name, params, results, inst.guard(fn))
