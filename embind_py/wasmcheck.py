"""Reading a compiled .wasm's function and global exports, to check bindings against it.

Owns: the wasm signature (letters i I f d, as in generated `_EXPORTS`) of every
function a module exports, the globals it exports (C global variables), the names
of the functions it imports, and the
comparison with what bindings expect.
Used by `pipeline.generate`, which regenerates a module for an existing .wasm.

May import: wasmtime and the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_LETTER = {"i32": "i", "i64": "I", "f32": "f", "f64": "d"}
_NAME = {v: k for k, v in _LETTER.items()}


class WasmFileError(Exception):
    """The bytes are not a wasm module wasmtime accepts."""


def _module(wasm: bytes) -> Any:
    import wasmtime  # here, not at the top: the CLI imports this module for its error class

    try:
        return wasmtime.Module(wasmtime.Engine(), wasm)
    except wasmtime.WasmtimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid module"
        raise WasmFileError(f"not a valid wasm module: {first}") from None


def global_exports(wasm: bytes) -> set[str]:
    """The names of the exported wasm globals: emcc exports a C global variable (a data symbol
    in EXPORTED_FUNCTIONS) as an i32 global holding its address."""
    import wasmtime

    return {e.name for e in _module(wasm).exports if isinstance(e.type, wasmtime.GlobalType)}


def function_exports(wasm: bytes) -> dict[str, tuple[str, str]]:
    """name -> (param letters, result letters) for every exported function."""
    import wasmtime

    module = _module(wasm)
    out: dict[str, tuple[str, str]] = {}
    for exp in module.exports:
        ty = exp.type
        if isinstance(ty, wasmtime.FuncType):
            params = "".join(_LETTER.get(str(t), "?") for t in ty.params)
            results = "".join(_LETTER.get(str(t), "?") for t in ty.results)
            out[exp.name] = (params, results)
    return out


def function_imports(wasm: bytes, module: str) -> set[str]:
    """The names of the functions the wasm imports from `module` (e.g. "env")."""
    import wasmtime

    return {
        imp.name
        for imp in _module(wasm).imports
        if imp.module == module and imp.name is not None and isinstance(imp.type, wasmtime.FuncType)
    }


def _show(sig: tuple[str, str]) -> str:
    p, r = sig
    return f"({', '.join(_NAME.get(c, c) for c in p)}) -> ({', '.join(_NAME.get(c, c) for c in r)})"


def mismatches(
    exports: Mapping[str, tuple[str, str]], expected: Mapping[str, tuple[str, str]]
) -> list[tuple[str, str]]:
    """(function, problem) for each expected function missing or with another signature."""
    problems: list[tuple[str, str]] = []
    for name, want in expected.items():
        got = exports.get(name)
        if got is None:
            problems.append((name, "the wasm does not export it"))
        elif got != want:
            problems.append(
                (name, f"the wasm exports it as {_show(got)} but the header gives {_show(want)}")
            )
    return problems
