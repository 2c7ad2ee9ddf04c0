"""What C's types cannot say, declared without editing headers (`declare = [...]` in a
`[[tool.embind-py.target]]`, `--declare` on the command line).

Owns: the declaration language and its checks against the library. One declaration is
`WHERE = KIND`, where WHERE is `func` (its result), `func.param` (a parameter, by name) or
`cb_type.N` (the N-th parameter, from 1, of a function-pointer typedef), and KIND one of:

- `buffer(LEN)`: the pointer's length is parameter LEN (a name, or a position for callback
  types). A function's wrapper then drops LEN and passes the buffer's length itself; a
  callback gets exactly LEN bytes there.
- `out` (a `T *` parameter, T a scalar or a struct): the wrapper drops the parameter, passes
  zeroed scratch memory for one T and returns what C wrote there, after the function's own
  result (`(result, value)`; just the value for a `void` function).
- `owned(FREE)` (a result): the caller owns what C returns and frees it with the library's
  function FREE: a `char *` is copied into a `str` and freed at once; a pointer is freed
  with FREE when the Python object is garbage-collected (as `ffi.gc`).
- `bytes` / `text`: a `char *` result, or a callback's `const char *` argument, as `bytes`
  (no decoding) or as `str` read up to its NUL (also turning off the pointer-and-length
  inference for a callback argument).
- `nonnull` / `nullable`: None is refused for the parameter (`TypeError` before the call);
  for a result, NULL raises `ValueError` and the annotation drops `None` (`nullable` is the
  default, and says so).

May import: `embind_py.model`, the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import model as m

KINDS = ("buffer", "out", "owned", "bytes", "text", "nonnull", "nullable")
_WITH_ARG = ("buffer", "owned")
_SPEC = re.compile(
    r"^\s*(?P<where>[A-Za-z_]\w*)(?:\.(?P<param>[A-Za-z_]\w*|\d+))?\s*=\s*"
    r"(?P<kind>[a-z]+)\s*(?:\(\s*(?P<arg>[A-Za-z_]\w*|\d+)\s*\))?\s*$"
)


def parse(text: str) -> m.Declaration:
    """One declaration (`compress.dest = buffer(destLen)`); ValueError saying what is wrong."""
    mt = _SPEC.match(text)
    if mt is None:
        raise ValueError(
            f"declaration {text!r}: expected WHERE = KIND, e.g. 'f.buf = buffer(len)', 'f = owned(free_f)', "
            "'cb_t.1 = bytes'"
        )
    kind, arg = mt["kind"], mt["arg"] or ""
    if kind not in KINDS:
        raise ValueError(f"declaration {text!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if (kind in _WITH_ARG) != bool(arg):
        need = f"{kind}(NAME)" if kind in _WITH_ARG else kind
        raise ValueError(f"declaration {text!r}: write {need}")
    param = mt["param"] or ""
    if kind == "owned" and param:
        raise ValueError(f"declaration {text!r}: owned(FREE) is about a result: write 'f = owned(FREE)'")
    if kind == "out" and (not param or param.isdigit()):
        raise ValueError(f"declaration {text!r}: out is about a function's parameter: write 'f.p = out'")
    if kind == "buffer" and not param:
        raise ValueError(f"declaration {text!r}: buffer(LEN) is about a parameter: write 'f.p = buffer(LEN)'")
    return m.Declaration(mt["where"], param, kind, arg, text.strip())


def parse_all(texts: Iterable[str]) -> tuple[m.Declaration, ...]:
    return tuple(parse(t) for t in texts)


def check(lib: m.Library) -> list[m.Diagnostic]:
    """Errors for declarations that name nothing in the library (a typo must not pass silently)."""
    out = []
    funcs = {f.name: f for f in lib.functions}
    for d in lib.declarations:
        problem = _problem(lib, funcs, d)
        if problem:
            out.append(m.Diagnostic("declare", 0, f"{d.text!r}: {problem}"))
    return out


def _problem(lib: m.Library, funcs: dict[str, m.Function], d: m.Declaration) -> str:
    f = funcs.get(d.where)
    if f is not None:
        ft = f.type
        names = [p.name for p in ft.params]
        if d.param and d.param not in names:
            return f"{d.where}() has no parameter {d.param!r} (it has {', '.join(names) or 'none'})"
        if d.kind == "out":
            pt = m.strip(next(p.type for p in ft.params if p.name == d.param))
            tgt = m.strip(pt.target) if isinstance(pt, m.PointerType) else None
            rec = lib.records.get(tgt.name) if isinstance(tgt, m.RecordRef) else None
            if tgt is None or isinstance(tgt, m.VoidType | m.FunctionType) or (
                isinstance(tgt, m.RecordRef) and (rec is None or rec.opaque)
            ) or (isinstance(pt, m.PointerType) and pt.const):
                return f"out: {d.param} must be a pointer to a scalar or a struct that C writes (not const)"
        if d.kind == "buffer" and d.arg not in names:
            return f"{d.where}() has no parameter {d.arg!r} to hold the length"
        if d.kind == "owned":
            free = funcs.get(d.arg)
            if free is None or len(free.type.params) != 1:
                return f"owned({d.arg}): no bound function {d.arg}(p) of one parameter frees it"
            res = m.strip(ft.result)
            if not isinstance(res, m.PointerType) or isinstance(m.strip(res.target), m.VoidType):
                return f"owned(): {d.where}() must return a typed pointer or a char *"
        return ""
    t = lib.typedefs.get(d.where)
    target = m.strip(t) if t is not None else None
    fn = m.strip(target.target) if isinstance(target, m.PointerType) else target
    if isinstance(fn, m.FunctionType):
        if not d.param or not d.param.isdigit() or not 1 <= int(d.param) <= len(fn.params):
            return f"{d.where} is a function-pointer type: give a parameter's position, 1..{len(fn.params)}"
        if d.kind == "buffer" and (not d.arg.isdigit() or not 1 <= int(d.arg) <= len(fn.params)):
            return f"buffer({d.arg}): the length parameter of {d.where} is a position, 1..{len(fn.params)}"
        if d.kind not in ("buffer", "bytes", "text"):
            return f"{d.kind}: a callback's parameter takes buffer(N), bytes or text"
        return ""
    return f"{d.where!r} is neither a bound function nor a function-pointer typedef of the headers"
