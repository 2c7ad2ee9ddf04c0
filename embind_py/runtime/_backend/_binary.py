"""Reading a wasm binary: its digest, and its imports and exports with their function types.

Owns: `digest` (the sha256 every consumer of a module's bytes shares: the compiled-module
caches and the check of NAME.wasm against NAME.py hash a module once), and the few
sections an engine without type reflection needs (types, imports,
functions, exports), read from the module's bytes. JavaScript's
`WebAssembly.Module.imports()` gives no signatures, yet host functions must know theirs
(an i64 travels between JavaScript and wasm as a BigInt); wasmtime gives both itself.

May import: the standard library only.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

_last: tuple[bytes, str] | None = None  # the bytes object hashed last, and its digest


def digest(wasm: bytes) -> str:
    """The sha256 (hex) of a module's bytes, computed once for the bytes object seen last
    (loading an instance checks the pair, then compiles or fetches the module: one hash)."""
    global _last
    last = _last
    if last is not None and last[0] is wasm:
        return last[1]
    d = hashlib.sha256(wasm).hexdigest()
    _last = (wasm, d)
    return d

_VALTYPE = {0x7F: "i", 0x7E: "I", 0x7D: "f", 0x7C: "d", 0x7B: "v", 0x70: "r", 0x6F: "r"}
_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


class Import(NamedTuple):
    module: str
    name: str
    kind: str  # func, table, memory, global or tag
    params: str = ""  # letters i I f d (v: v128, r: a reference), functions only
    results: str = ""


class Layout(NamedTuple):
    imports: tuple[Import, ...]
    exports: dict[str, tuple[str, str, str]]  # name -> (kind, params, results)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated wasm module")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        out = shift = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return out

    def name(self) -> str:
        n = self.uleb()
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", "replace")

    def limits(self) -> None:
        flags = self.byte()
        self.uleb()
        if flags & 1:
            self.uleb()


def read(wasm: bytes) -> Layout:
    """The function types of `wasm`'s imports and exports (ValueError for a malformed module)."""
    if wasm[:4] != b"\0asm":
        raise ValueError("not a wasm module (no \\0asm header)")
    r = _Reader(wasm)
    r.pos = 8
    types: list[tuple[str, str]] = []
    imports: list[Import] = []
    funcs: list[int] = []  # type index per function, imported ones first
    exports: dict[str, tuple[str, str, str]] = {}
    while r.pos < len(wasm):
        section = r.byte()
        size = r.uleb()
        end = r.pos + size
        if section == 1:  # types
            for _ in range(r.uleb()):
                if r.byte() != 0x60:
                    raise ValueError("unsupported wasm type form")
                params = "".join(_VALTYPE.get(r.byte(), "?") for _ in range(r.uleb()))
                results = "".join(_VALTYPE.get(r.byte(), "?") for _ in range(r.uleb()))
                types.append((params, results))
        elif section == 2:  # imports
            for _ in range(r.uleb()):
                module, name = r.name(), r.name()
                kind = _KINDS.get(r.byte(), "?")
                if kind == "func":
                    t = r.uleb()
                    funcs.append(t)
                    imports.append(Import(module, name, kind, *types[t]))
                    continue
                if kind == "table":
                    r.byte()
                    r.limits()
                elif kind == "memory":
                    r.limits()
                elif kind == "global":
                    r.byte()
                    r.byte()
                elif kind == "tag":
                    r.byte()
                    r.uleb()
                imports.append(Import(module, name, kind))
        elif section == 3:  # functions
            funcs.extend(r.uleb() for _ in range(r.uleb()))
        elif section == 7:  # exports
            for _ in range(r.uleb()):
                name = r.name()
                kind = _KINDS.get(r.byte(), "?")
                index = r.uleb()
                if kind == "func" and index < len(funcs) and funcs[index] < len(types):
                    exports[name] = (kind, *types[funcs[index]])
                else:
                    exports[name] = (kind, "", "")
        r.pos = end
    return Layout(tuple(imports), exports)
