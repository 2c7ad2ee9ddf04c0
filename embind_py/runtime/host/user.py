"""User host functions: C functions the library declares and no source defines, implemented in Python.

Owns: linking them (`env.NAME` imports) to the implementations an instance was given
(`load(host={"NAME": fn})`, or the generated module's `set_host` for the default
instance). A function the generated module describes (`Library._host_types`, from its
C declaration) converts arguments and results by the callback rules (`_callbacks.make_func`);
a name allowed at build time without a declaration gets the raw wasm values. The mapping
is read at every call, so implementations registered after the instance exists are used.
C calling one that has no implementation raises `WasmLinkError` naming it; with
`require_host`, a missing one fails `load()` instead.

May import: the standard library, the runtime's own modules, `._registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import WasmLinkError

if TYPE_CHECKING:
    from .._instance import Instance

MODULE = "env"


def _missing(name: str) -> WasmLinkError:
    return WasmLinkError(
        f"C called the host function {name}(), which has no Python implementation: pass "
        f"load(host={{{name!r}: fn}}), or call the module's set_host({{{name!r}: fn}}) before using "
        "its module-level functions"
    )


def _dispatcher(host: Mapping[str, Any] | None, name: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        impl = host.get(name) if host is not None else None
        if impl is None:
            raise _missing(name)
        return impl(*args)

    call.__name__ = name
    return call


def imported(inst: Instance, imports: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """The user host functions among a module's function `imports`: described ones, and names
    `host` gives."""
    types: Mapping[str, Any] = inst._host_types
    given = inst._host or {}
    env = {name for module, name, _params, _results in imports if module == MODULE}
    names = [name for name in sorted(env) if name in types or name in given]
    unknown = sorted(set(given) - env - set(types))
    if unknown:
        known = ", ".join(sorted(set(types))) or "none"
        raise WasmLinkError(
            f"host={{...}} names {', '.join(unknown)}, which the wasm module does not import "
            f"(its host functions: {known})"
        )
    for name in given:
        if not callable(given[name]):
            raise TypeError(f"host[{name!r}]: expected a callable, got {type(given[name]).__name__}")
    if inst._require_host:
        missing = [n for n in sorted(set(names) | set(types)) if n not in given]
        if missing:
            raise WasmLinkError(
                f"no Python implementation for the host function(s) {', '.join(missing)} "
                "(require_host=True): pass them in load(host={...})"
            )
    return names


def implementation(inst: Instance, name: str, params: str, results: str) -> Callable[..., Any]:
    """The Python function answering the import `env.name` (wasm signature `params` -> `results`)."""
    from .._callbacks import trampoline  # _callbacks imports the instance machinery

    call = _dispatcher(inst._host, name)
    ft = inst._host_types.get(name)
    if ft is None:
        return call
    if (ft.wparams, ft.wresults) != (params, results):
        raise WasmLinkError(
            f"host function {name}: the wasm module imports it with another signature than its "
            "C declaration in the bindings; regenerate the bindings"
        )
    return trampoline(inst, ft, call)
