"""The one registry of the imports the runtime answers.

Owns: `host(module, *names)` / `prefix_host(module, prefix)` (register a factory that
makes one instance's Python implementation of an import), `lookup`, the stand-in for an
import nobody provides (`WasmLinkError` naming it when C calls it), and small shared
helpers of host functions: errno values, `set_errno`, the wasm signature of an import,
Emscripten's UTF-8 encoding of strings.

Host functions are plain Python functions over plain values (ints and floats) and
the instance's `mem` interface, so another engine can supply the same imports.

May import: the standard library, the runtime's own modules (not the other modules of
this package); the engine only through the instance's backend session.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import WasmLinkError

if TYPE_CHECKING:
    from .._instance import Instance

WASI = "wasi_snapshot_preview1"
ENOSYS = 52
EBADF = 8
EIO = 29
EINVAL = 28
ESPIPE = 70
ENOTSUP = 58

HostFactory = Callable[["Instance", str], Callable[..., Any]]
HOST: dict[tuple[str, str], HostFactory] = {}


def host(module: str, *names: str) -> Callable[[HostFactory], HostFactory]:
    """Register a factory making the Python implementation of an import for one instance."""

    def deco(f: HostFactory) -> HostFactory:
        for n in names:
            HOST[(module, n)] = f
        return f

    return deco


def prefix_host(module: str, prefix: str) -> Callable[[HostFactory], HostFactory]:
    """Register a factory for every import of `module` whose name starts with `prefix`."""

    def deco(f: HostFactory) -> HostFactory:
        PREFIXES.append((module, prefix, f))
        return f

    return deco


PREFIXES: list[tuple[str, str, HostFactory]] = []


def lookup(module: str, name: str) -> HostFactory | None:
    """The factory registered for `module.name` (by name, else by prefix), or None."""
    f = HOST.get((module, name))
    if f is not None:
        return f
    for m, p, pf in PREFIXES:
        if m == module and name.startswith(p):
            return pf
    return None


def import_params(inst: Instance, module: str, name: str) -> list[str]:
    """The wasm parameter types (`i32`, `i64`, ...) of the module's import `module.name`.

    Host functions whose C signature changed across Emscripten versions (a `time_t`
    passed by pointer, as a BigInt i64, or split into two i32 halves) pick their form
    from it rather than guessing from the values.
    """
    sig = inst._be.import_signature(module, name)
    return [_TYPE_NAMES[c] for c in sig[0]] if sig else []


def import_results(inst: Instance, module: str, name: str) -> list[str]:
    """The wasm result types of the module's import `module.name` (see `import_params`)."""
    sig = inst._be.import_signature(module, name)
    return [_TYPE_NAMES[c] for c in sig[1]] if sig else []


def set_errno(inst: Instance, code: int) -> None:
    """Set C's `errno`, when the module exports `__errno_location` (emcc 3.1.6 does by itself)."""
    loc = inst._be.func("__errno_location")
    if loc is not None:
        inst.mem.write(inst._be.call(loc, ()), struct.pack("<i", code))


_TYPE_NAMES = {"i": "i32", "I": "i64", "f": "f32", "d": "f64"}


def unknown(module: str, name: str) -> Callable[..., Any]:
    """The stand-in for an import nobody provides: calling it raises `WasmLinkError`."""

    def missing(*args: Any) -> Any:
        raise WasmLinkError(
            f"C called the import {module}.{name}, which the embind-py runtime does not provide"
        )

    return missing


def js_utf8(s: str) -> bytes:
    """`s` as Emscripten's stringToUTF8 writes it (JavaScript strings are UTF-16)."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        # A surrogate pair is one 4-byte character, as in JavaScript; a lone surrogate 3 bytes.
        return (
            s.encode("utf-16-le", "surrogatepass")
            .decode("utf-16-le", "surrogatepass")
            .encode("utf-8", "surrogatepass")
        )
