"""Rendering the generated Python module: the only importer of jinja2.

Owns: the jinja2 environment (StrictUndefined, trim/lstrip blocks, trailing
newline kept), the order of declarations in the output (source order, which is
stable), and the module header with the inputs' digest.

May import: jinja2, `embind_py.model`, `embind_py.typemap`, stdlib.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    return jinja2.Environment(
        loader=jinja2.PackageLoader("embind_py", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _all_key(name: str) -> tuple[int, str]:
    """ruff's isort-style order for `__all__`: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def render_module(
    name: str, lib: Library, inputs: list[str], digest: str, files: Sequence[str] = (), wasm: str = ""
) -> Rendered:
    """Render `lib` as the Python module `name` (inputs are relative paths, for the header;
    `files` are "HASH PATH" lines recording every input file, and `wasm` the hash of the
    NAME.wasm it goes with, for `embind-py check`)."""
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
    exported = sorted(
        set(types.pop("type_names"))
        | {"Library", "load", "instance", "ffi", "Pointer", "WasmError", "WasmExit", "WasmTrap"}
        | {f.name for f in mapped.functions}
        | {c["name"] for c in constants}
        | ({"call_main"} if lib.has_main else set()),
        key=_all_key,
    )
    text = (
        _env()
        .get_template("module.py.j2")
        .render(
            version=__version__,
            name=name,
            inputs=inputs,
            digest=digest,
            files=list(files),
            wasm=wasm,
            functions=mapped.functions,
            typedefs=typedefs,
            constants=constants,
            exported_names=exported,
            has_main=lib.has_main,
            **types,
        )
    )
    return Rendered(text, tuple(mapped.diagnostics), tuple(f.c_name for f in mapped.functions))
