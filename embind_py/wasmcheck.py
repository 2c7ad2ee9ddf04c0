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


def exports(wasm: bytes) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """(name -> (param letters, result letters) for every exported function, the names of the
    exported globals), from one validating compile by wasmtime. emcc exports a C global
    variable (a data symbol in EXPORTED_FUNCTIONS) as an i32 global holding its address."""
    import wasmtime

    functions: dict[str, tuple[str, str]] = {}
    globals_: set[str] = set()
    for exp in _module(wasm).exports:
        ty = exp.type
        if isinstance(ty, wasmtime.FuncType):
            params = "".join(_LETTER.get(str(t), "?") for t in ty.params)
            results = "".join(_LETTER.get(str(t), "?") for t in ty.results)
            functions[exp.name] = (params, results)
        elif isinstance(ty, wasmtime.GlobalType):
            globals_.add(exp.name)
    return functions, globals_


def function_imports(wasm: bytes, module: str) -> set[str]:
    """The names of the functions the wasm imports from `module` (e.g. "env")."""
    return {name for mod, name in read_functions(wasm)[1] if mod == module}


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
            problems.append((name, f"the wasm exports it as {_show(got)} but the header gives {_show(want)}"))
    return problems


# ---------------------------------------------------------------------------
# Object files (`emcc -c` output): which functions and variables they define, from the symbol table of
# their "linking" section (the format wasm-ld reads: WebAssembly/tool-conventions,
# Linking.md), so the build learns what the sources define without compiling them again.

_SYMTAB = 8  # WASM_SYMBOL_TABLE subsection of "linking"
_UNDEFINED, _LOCAL, _EXPLICIT_NAME = 0x10, 0x02, 0x40
_FUNCTION, _DATA, _SECTION = 0, 1, 3


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _name(data: bytes, pos: int) -> tuple[str, int]:
    n, pos = _leb(data, pos)
    return data[pos : pos + n].decode("utf-8", "replace"), pos + n


def object_symbols(obj: bytes) -> frozenset[str] | None:
    """The external (non-static) functions and variables a wasm object file defines; None when
    `obj` is not a wasm object (LLVM bitcode, from -flto). WasmFileError when it is damaged."""
    if obj[:4] != b"\0asm":
        return None
    try:
        return _object_symbols(obj)
    except (IndexError, UnicodeError) as e:
        raise WasmFileError(f"damaged wasm object file ({e})") from None


def _object_symbols(obj: bytes) -> frozenset[str]:
    names: set[str] = set()
    pos = 8
    while pos < len(obj):
        section, pos = obj[pos], pos + 1
        size, pos = _leb(obj, pos)
        end = pos + size
        if section == 0:
            title, p = _name(obj, pos)
            if title == "linking":
                _, p = _leb(obj, p)  # version 2
                while p < end:
                    kind, p = obj[p], p + 1
                    length, p = _leb(obj, p)
                    if kind == _SYMTAB:
                        _symbols(obj, p, names)
                    p += length
        pos = end
    return frozenset(names)


def _symbols(obj: bytes, p: int, names: set[str]) -> None:
    count, p = _leb(obj, p)
    for _ in range(count):
        kind, p = obj[p], p + 1
        flags, p = _leb(obj, p)
        if kind == _DATA:
            name, p = _name(obj, p)
            if not flags & _UNDEFINED:
                for _ in range(3):  # segment index, offset, size
                    _, p = _leb(obj, p)
                if not flags & _LOCAL:
                    names.add(name)
        elif kind == _SECTION:
            _, p = _leb(obj, p)
        else:  # function, global, tag, table: an index, then a name unless imported under its own
            _, p = _leb(obj, p)
            name = ""
            if not flags & _UNDEFINED or flags & _EXPLICIT_NAME:
                name, p = _name(obj, p)
            if kind == _FUNCTION and not flags & (_UNDEFINED | _LOCAL):
                names.add(name)


# ---------------------------------------------------------------------------
# The same facts read straight from the sections, for the wasm emcc just wrote: wasmtime
# would compile all of it first (seconds for 20,000 functions), where the build needs only
# the type, import, function and export sections. What comes from the user (`generate
# --wasm`) still goes through `exports`, which validates it.

_VALTYPE = {0x7F: "i", 0x7E: "I", 0x7D: "f", 0x7C: "d"}


def read_functions(wasm: bytes) -> tuple[dict[str, tuple[str, str]], set[tuple[str, str]]]:
    """(exported function name -> (param letters, result letters), {(module, name)} of the
    imported functions) of a wasm module; WasmFileError when it cannot be read."""
    if wasm[:4] != b"\0asm":
        raise WasmFileError("not a valid wasm module: no wasm header")
    try:
        return _read_functions(wasm)
    except (IndexError, UnicodeError, KeyError) as e:
        raise WasmFileError(f"not a valid wasm module: damaged sections ({e})") from None


def _limits(wasm: bytes, p: int) -> int:
    flags, p = _leb(wasm, p)
    _, p = _leb(wasm, p)
    if flags & 1:
        _, p = _leb(wasm, p)
    return p


def _read_functions(wasm: bytes) -> tuple[dict[str, tuple[str, str]], set[tuple[str, str]]]:
    types: list[tuple[str, str]] = []
    funcs: list[int] = []  # the type of each function, imported ones first
    imports: set[tuple[str, str]] = set()
    exports: dict[str, tuple[str, str]] = {}
    pos = 8
    while pos < len(wasm):
        section, pos = wasm[pos], pos + 1
        size, pos = _leb(wasm, pos)
        end, p = pos + size, pos
        if section in (1, 2, 3, 7):
            count, p = _leb(wasm, p)
            for _ in range(count):
                if section == 1:  # type: 0x60 params results
                    p += 1
                    sig = []
                    for _ in range(2):
                        n, p = _leb(wasm, p)
                        sig.append("".join(_VALTYPE.get(t, "?") for t in wasm[p : p + n]))
                        p += n
                    types.append((sig[0], sig[1]))
                elif section == 2:  # import: module, name, kind, description
                    mod, p = _name(wasm, p)
                    name, p = _name(wasm, p)
                    kind, p = wasm[p], p + 1
                    if kind == 0:
                        t, p = _leb(wasm, p)
                        funcs.append(t)
                        imports.add((mod, name))
                    elif kind == 1:  # table: reftype, limits
                        p = _limits(wasm, p + 1)
                    elif kind == 2:  # memory
                        p = _limits(wasm, p)
                    elif kind == 3:  # global: valtype, mutability
                        p += 2
                    else:  # tag: attribute, type
                        _, p = _leb(wasm, p + 1)
                elif section == 3:
                    t, p = _leb(wasm, p)
                    funcs.append(t)
                else:  # export: name, kind, index
                    name, p = _name(wasm, p)
                    kind, p = wasm[p], p + 1
                    index, p = _leb(wasm, p)
                    if kind == 0:
                        exports[name] = types[funcs[index]]
        pos = end
    return exports, imports
