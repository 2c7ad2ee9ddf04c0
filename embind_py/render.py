"""Rendering the generated Python module: the only importer of jinja2.

Owns: the jinja2 environment (StrictUndefined, trim/lstrip blocks, trailing
newline kept), the order of declarations in the output (source order, which is
stable), the module header with the inputs' digest, and wrapping the lines that
long C names make longer than the project's line length.

May import: jinja2, `embind_py.model`, `embind_py.typemap`, `embind_py.objcache`, stdlib, and
`embind_py.stamp` for how a path is written into the header (`quote_path`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import keyword
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache

from . import __version__, objcache, typemap
from .model import Diagnostic, Library
from .stamp import quote_path


@dataclass(frozen=True)
class Rendered:
    text: str
    diagnostics: tuple[Diagnostic, ...]
    functions: tuple[str, ...]  # C names of the bound functions
    variables: tuple[str, ...] = ()  # C names of the bound global variables (exported too)


class _Bytecode(jinja2.BytecodeCache):
    """The templates' compiled code kept between runs (compiling them takes a tenth of a
    second), under the build cache: each entry written by a rename and checked by its hash
    before use; a damaged or foreign one is compiled again. Jinja keys an entry by the
    template's name and checks its source's hash and the Python version inside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            data = (self.folder / f"{bucket.key}.bin").read_bytes()
        except OSError:
            return
        if hashlib.sha256(data[32:]).digest() == data[:32]:
            bucket.bytecode_from_string(data[32:])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        payload = bucket.bytecode_to_string()
        with contextlib.suppress(OSError):  # a read-only cache: compiled again next time
            objcache.write_atomic(
                self.folder / f"{bucket.key}.bin", hashlib.sha256(payload).digest() + payload
            )


@functools.cache
def _env(root: Path | None) -> jinja2.Environment:
    """The environment, its compiled templates kept under the build cache `root` (if on)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("embind_py", "templates"),
        bytecode_cache=_Bytecode(root / "templates") if root is not None else None,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def load_templates() -> None:
    """Load (compile, or read compiled) every template now, as `render_module` would."""
    env = _env(objcache.cache_root())
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)


def render_module(
    name: str, lib: Library, inputs: list[str], digest: str, files: Sequence[str] = (), wasm: str = ""
) -> Rendered:
    """Render `lib` as the Python module `name` (inputs are relative paths, for the header;
    `files` are "HASH PATH" lines recording every input file, and `wasm` the hash of the
    NAME.wasm it goes with, for `embind-py check`)."""
    mapped = typemap.map_library(lib)
    lib = mapped.scope
    typedefs: list[dict[str, Any]] = []
    for tname, t in lib.typedefs.items():
        expr = typemap.typedef_descriptor(tname, t.target, lib)
        if expr is not None:
            typedefs.append({"name": tname, "expr": expr})
    constants = []
    taken = {f.name for f in mapped.functions} | {v.name for v in mapped.variables}
    for e in lib.anonymous_enums:  # `enum { FIRST, SECOND };` names int constants
        for n, v in e.members:
            cname = typemap.const_name(n)
            if cname not in taken:
                taken.add(cname)
                constants.append({"name": cname, "annotation": "int", "value": str(v)})
    for c in lib.constants:
        cname = typemap.const_name(c.name)
        if cname in taken:
            continue
        taken.add(cname)
        ann, lit = typemap.constant_literal(c.value)
        constants.append({"name": cname, "annotation": ann, "value": lit})
    macro_functions = []  # function-like macros (issue 15)
    for mf in lib.macros:
        fname = typemap.const_name(mf.name)
        if fname not in taken:
            taken.add(fname)
            macro_functions.append(typemap.macro_spec(mf, fname, lib))
    types = typemap.type_context(lib, mapped, taken)  # C types (issue 3)
    typedefs += types.pop("extra_types")
    exported = sorted(
        set(types.pop("type_names"))
        | {"Library", "load", "instance", "ffi", "Pointer", "WasmError", "WasmExit", "WasmTrap"}
        | {f.name for f in mapped.functions}
        | {c["name"] for c in constants}
        | {f.name for f in macro_functions}
        | ({"call_main"} if lib.has_main else set())
        | ({"HostFunctions", "set_host"} if mapped.hosts else set()),
        key=typemap.all_key,
    )
    text = (
        _env(objcache.cache_root())
        .get_template("module.py.j2")
        .render(
            version=__version__,
            name=name,
            inputs=[quote_path(i) for i in inputs],  # a line break would end the comment
            digest=digest,
            files=list(files),
            wasm=wasm,
            functions=mapped.functions,
            variables=mapped.variables,
            typedefs=typedefs,
            constants=constants,
            macro_functions=macro_functions,
            exported_names=exported,
            noqa=_ambiguous_names_noqa(mapped, types, constants, macro_functions),
            has_main=lib.has_main,
            hosts=mapped.hosts,
            hosts_as_class=not any(keyword.iskeyword(h.c_name) for h in mapped.hosts),
            **types,
        )
    )
    return Rendered(
        wrap_lines(text),
        tuple(mapped.diagnostics),
        tuple(f.c_name for f in mapped.functions),
        tuple(v.c_name for v in mapped.variables),
    )


def _ambiguous_names_noqa(
    mapped: typemap.Mapped,
    types: dict[str, Any],
    constants: list[dict[str, Any]],
    macro_functions: Sequence[typemap.MacroSpec] = (),
) -> str:
    """A file-level `# ruff: noqa:` for the C names pycodestyle calls ambiguous (`size_t l`
    is all over Lua's API): the bindings keep the C names rather than renaming them."""
    records: list[typemap.RecordSpec] = types["records"]
    enums: list[typemap.EnumSpec] = types["enums"]
    fields = {f.name for r in records for f in r.fields}
    variables = {p.name for f in mapped.functions for p in f.params} | fields
    variables |= {c["name"] for c in constants} | {p.name for f in macro_functions for p in f.params}
    variables |= {n for e in enums for n, _ in e.members} | {n for e in enums for n, _ in e.constants}
    classes = {r.name for r in records} | {e.name for e in enums}
    functions = {f.name for f in mapped.functions} | fields | {f.name for f in macro_functions}
    codes = [
        code
        for code, names in (("E741", variables), ("E742", classes), ("E743", functions))
        if names & typemap.AMBIGUOUS
    ]
    # RUF100 too: where the user's ruff config does not enable E741-E743 (ruff's defaults do
    # not), RUF100 would call the directive unused.
    return f"# ruff: noqa: {', '.join(codes)}, RUF100" if codes else ""


LINE_LENGTH = 110  # ruff's line-length for this project and for generated modules


def wrap_lines(text: str, limit: int = LINE_LENGTH) -> str:
    """Wrap code lines longer than `limit` the way ruff format would: one item per line
    inside the first bracket that closes at the end of the line, with a trailing comma.

    Long C names make wrappers' checks, signatures and calls unpredictable in length, so
    templates cannot place every break; this keeps the output readable and ruff-clean.
    Lines that cannot be split (comments, long strings) are left as they are.
    """
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(_wrap(line, limit))
    return "\n".join(out)


def _wrap(line: str, limit: int) -> list[str]:
    if len(line) <= limit:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    if line.lstrip().startswith("#"):
        # Prose comments (the "Generated by … from a.c, b.h" line) continue on `#` lines;
        # the machine-read stamp lines (`# embind-py-…`) stay whole.
        if line.lstrip().startswith("# embind-py-") or ", " not in line:
            return [line]
        body = _fill(line.lstrip()[2:], ", ", limit - len(indent) - 2)
        return [f"{indent}# {x}" for x in body]
    if line.lstrip().startswith('"""') and line.endswith('"""') and " " in line.strip():
        # A one-line docstring (a C prototype): continue it on the next lines, at commas.
        return _wrap_doc(line, indent, limit)
    target, eq, value = line.strip().partition(" = ")
    if eq and "," in target and not any(c in target for c in "()[]{}'\""):
        # `a, b = f(x)`: parenthesize the targets, which ruff format splits first.
        return _wrap(f"{indent}({target}) = {value}", limit)
    cond = _CONDITION.fullmatch(line.strip())
    if cond and " or " in cond["cond"] and not any(c in cond["cond"] for c in "()[]{}'\""):
        # A range check on a long parameter name: one operand per line, as ruff format does.
        first, *rest = cond["cond"].split(" or ")
        inner = indent + "    "
        return [f"{indent}{cond['kw']} (", inner + first, *(f"{inner}or {x}" for x in rest), indent + "):"]
    split = _split_string(line, indent, limit)
    if split is not None:
        return split
    span = _outer_brackets(line)
    if span is None:
        if eq and value and (not any(c in value for c in "()[]{}'\"#") or _STRING.fullmatch(value)):
            # `NAME: Final = Enum.MEMBER` or a long string: ruff format parenthesizes the value.
            return [f"{indent}{target} = (", f"{indent}    {value}", f"{indent})"]
        return [line]
    start, end = span
    items = _split_commas(line[start + 1 : end])
    if not items:
        return [line]
    inner = indent + "    "
    lines = [line[: start + 1]]
    for item in items:
        lines.extend(_wrap(f"{inner}{item},", limit))
    lines.append(indent + line[end:])
    return lines


_CONDITION = re.compile(r"(?P<kw>if|elif|while) (?P<cond>.+):")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
_LONG_STRING = re.compile(r'(?P<head>[^"]*?[\[(]?)(?P<lit>"(?:[^"\\]|\\.)*")(?P<tail>[\])]?.*)')


def _split_string(line: str, indent: str, limit: int) -> list[str] | None:
    """A long C spelling in a string (a function-pointer type's name) continued as adjacent
    literals at its commas: alone on its line (`"int (*)(…)",`) or alone in a subscript
    (`_TYPES["int (*)(…)"] = _F3`). None when the line is not one of those."""
    m = _LONG_STRING.fullmatch(line.strip())
    if m is None or ", " not in m["lit"]:
        return None
    head, lit, tail = m["head"], m["lit"], m["tail"]
    if head and not (head.endswith(("[", "(")) and tail[:1] and tail[0] in ")]"):
        return None
    if not head and tail != ",":  # an item of a bracketed list, where literals may continue
        return None
    inner = indent + "    " if head else indent
    parts = _fill(lit[1:-1], ", ", limit - len(inner) - 3 - (0 if head else len(tail)))
    pieces = [f'{inner}"{p} "' for p in parts[:-1]] + [f'{inner}"{parts[-1]}"']
    if head:
        return [indent + head, *pieces, indent + tail]
    return [*pieces[:-1], pieces[-1] + tail]


def _wrap_doc(line: str, indent: str, limit: int) -> list[str]:
    """Greedy fill at `sep` boundaries (", " first; then spaces for what is still too long)."""
    lines: list[str] = []
    for chunk in _fill(line.strip(), ", ", limit - len(indent)):
        lines += [chunk] if len(chunk) + len(indent) <= limit else _fill(chunk, " ", limit - len(indent))
    return [indent + x for x in lines]


def _fill(text: str, sep: str, width: int) -> list[str]:
    keep = sep.rstrip()  # the comma stays at the end of the line
    lines: list[str] = []
    cur = ""
    for part in text.split(sep):
        piece = part if not cur else f"{cur}{sep}{part}"
        if cur and len(piece) + len(keep) > width:  # the line ends with `keep` unless it is the last
            lines.append(cur + keep)
            cur = part
        else:
            cur = piece
    lines.append(cur)
    return lines


def _scan(s: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth before it) of each character of `s` outside string
    literals: what both splitters below walk."""
    depth = 0
    quote = ""
    i = 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        else:
            yield i, c, depth
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
        i += 1


def _outer_brackets(line: str) -> tuple[int, int] | None:
    """(open, close) of the first top-level bracket pair that holds a comma, outside strings."""
    start = -1
    has_comma = False
    for i, c, depth in _scan(line):
        if c in "([{" and depth == 0:
            start, has_comma = i, False
        elif c in ")]}" and depth == 1 and has_comma:
            return start, i
        elif c == "," and depth == 1:
            has_comma = True
    return None


def _split_commas(s: str) -> list[str]:
    """The top-level, comma-separated items of `s` (outside brackets and strings), stripped."""
    items: list[str] = []
    cur = 0
    for i, c, depth in _scan(s):
        if c == "," and depth == 0:
            items.append(s[cur:i].strip())
            cur = i + 1
    last = s[cur:].strip()
    if last:
        items.append(last)
    return items
