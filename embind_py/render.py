"""Rendering the generated Python module: the only importer of jinja2.

Owns: the jinja2 environment (StrictUndefined, trim/lstrip blocks, trailing
newline kept), the order of declarations in the output (source order, which is
stable), and the module header with the inputs' digest.

May import: jinja2, `embind_py.model`, `embind_py.typemap`, stdlib.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from . import __version__, typemap
from .model import Diagnostic, Library


@dataclass(frozen=True)
class Rendered:
    text: str
    diagnostics: tuple[Diagnostic, ...]
    functions: tuple[str, ...]  # C names of the bound functions


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("embind_py", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["natural_sorted"] = natural_sorted
    return env


_DIGITS = frozenset("0123456789")


def _natord(a: str, b: str) -> int:
    """Natural order as ruff compares names (the `natord` crate): runs of digits compare
    as numbers (`f2` < `f10`; left-aligned when either run starts with 0), everything else
    character by character, case-sensitively."""
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] in _DIGITS and b[j] in _DIGITS:
            ei, ej = i, j
            while ei < len(a) and a[ei] in _DIGITS:
                ei += 1
            while ej < len(b) and b[ej] in _DIGITS:
                ej += 1
            x, y = a[i:ei], b[j:ej]
            if x[0] == "0" or y[0] == "0":  # left-aligned: digit by digit, a prefix first
                if x != y:
                    return -1 if x < y else 1
            elif x != y:  # right-aligned: the longer run is the larger
                return -1 if (len(x), x) < (len(y), y) else 1
            i, j = ei, ej
            continue
        if a[i] != b[j]:
            return -1 if a[i] < b[j] else 1
        i += 1
        j += 1
    return (len(a) - i > 0) - (len(b) - j > 0)


def _member_kind(name: str) -> int:
    """ruff's isort-style groups: CONSTANTS (two characters or more), then Classes, then the rest."""
    if len(name) > 1 and name.isupper():
        return 0
    return 1 if name[:1].isupper() else 2


def natural_sorted(names: Iterable[str]) -> list[str]:
    """`names` in the order ruff's RUF023 wants for `__slots__`: natural order."""
    return sorted(names, key=functools.cmp_to_key(_natord))


def all_sorted(names: Iterable[str]) -> list[str]:
    """`names` in the order ruff's RUF022 wants for `__all__`: isort-style groups, each in
    natural order."""
    return sorted(names, key=functools.cmp_to_key(_all_cmp))


def _all_cmp(a: str, b: str) -> int:
    return (_member_kind(a) - _member_kind(b)) or _natord(a, b)


_AMBIGUOUS = frozenset({"l", "O", "I"})  # pycodestyle E741-E743


def _ambiguous_names_noqa(
    mapped: typemap.Mapped, types: dict[str, Any], constants: list[dict[str, Any]]
) -> str:
    """A file-level `# ruff: noqa:` for the C names pycodestyle calls ambiguous (`size_t l`
    is all over Lua's API): the bindings keep the C names rather than renaming them."""
    records: list[typemap.RecordSpec] = types["records"]
    enums: list[typemap.EnumSpec] = types["enums"]
    fields = {f.name for r in records for f in r.fields}
    variables = {p.name for f in mapped.functions for p in f.params} | fields
    variables |= {c["name"] for c in constants}
    variables |= {n for e in enums for n, _ in e.members} | {n for e in enums for n, _ in e.constants}
    classes = {r.name for r in records} | {e.name for e in enums}
    functions = {f.name for f in mapped.functions} | fields
    codes = [
        code
        for code, names in (("E741", variables), ("E742", classes), ("E743", functions))
        if names & _AMBIGUOUS
    ]
    return f"# ruff: noqa: {', '.join(codes)}" if codes else ""


def render_module(
    name: str, lib: Library, inputs: list[str], digest: str, files: Sequence[str] = ()
) -> Rendered:
    """Render `lib` as the Python module `name` (inputs are relative paths, for the header;
    `files` are "HASH PATH" lines recording every input file, for `embind-py check`)."""
    mapped = typemap.map_library(lib)
    typedefs: list[dict[str, Any]] = []
    for tname, t in lib.typedefs.items():
        expr = typemap.typedef_descriptor(tname, t.target, lib)
        if expr is not None:
            typedefs.append({"name": tname, "expr": expr})
    constants = []
    taken = {f.name for f in mapped.functions}
    for c in lib.constants:
        cname = typemap.const_name(c.name)
        if cname in taken:
            continue
        taken.add(cname)
        ann, lit = typemap.constant_literal(c.value)
        constants.append({"name": cname, "annotation": ann, "value": lit})
    types = typemap.type_context(lib, mapped, taken)  # C types (issue 3)
    typedefs += types.pop("extra_types")
    exported = all_sorted(
        set(types.pop("type_names"))
        | {"Library", "load", "instance", "ffi", "Pointer", "WasmError", "WasmExit", "WasmTrap"}
        | {f.name for f in mapped.functions}
        | {c["name"] for c in constants}
        | ({"call_main"} if lib.has_main else set())
    )
    noqa = _ambiguous_names_noqa(mapped, types, constants)
    text = (
        _env()
        .get_template("module.py.j2")
        .render(
            version=__version__,
            name=name,
            inputs=inputs,
            digest=digest,
            files=list(files),
            functions=mapped.functions,
            typedefs=typedefs,
            constants=constants,
            exported_names=exported,
            noqa=noqa,
            has_main=lib.has_main,
            **types,
        )
    )
    return Rendered(text, tuple(mapped.diagnostics), tuple(f.c_name for f in mapped.functions))
