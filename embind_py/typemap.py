"""From the C model to Python: names, annotations, and the marshalling snippets.

Owns: every decision about how a C declaration looks in the generated module:
Python names (keyword and collision renaming), annotation strings, the runtime
type-descriptor expression of each C type, and per-parameter / per-result code
snippets. Each conversion rule is written once here, per C type family; the
templates only lay the snippets out.

May import: `embind_py.model`, `embind_py.runtime` (for its reserved names), stdlib.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from . import model as m
from .model import CType, Diagnostic, Library
from .runtime import Instance


class Unsupported(Exception):
    """A declaration the generator cannot bind (the message says why)."""


# Names the generated module defines or uses itself.
MODULE_RESERVED = frozenset(
    {
        "annotations",
        "load",
        "ffi",
        "instance",
        "Library",
        "Pointer",
        "WasmError",
        "WasmExit",
        "WasmTrap",
        "Any",
        "Final",
        "threading",
        # builtins the generated code itself uses
        "int",
        "float",
        "bool",
        "str",
        "bytes",
        "globals",
        "super",
        "dict",
        "tuple",
        "list",
        "object",
        "type",
        "len",
        "isinstance",
        "range",
        "property",
        "staticmethod",
        "classmethod",
    }
)
INSTANCE_RESERVED = frozenset(n for n in dir(Instance) if not n.startswith("__")) | frozenset(
    getattr(Instance, "__annotations__", {})
) | {"ffi", "self"}
LOCALS_RESERVED = frozenset({"self", "_mark", "_lib"})


def py_name(name: str, reserved: frozenset[str] = frozenset()) -> str:
    """A valid, non-colliding Python identifier for a C name (C names are identifiers already)."""
    out = name
    while keyword.iskeyword(out) or out in reserved:
        out += "_"
    return out


def func_name(name: str) -> str:
    return py_name(name, MODULE_RESERVED | INSTANCE_RESERVED)


def const_name(name: str) -> str:
    return py_name(name, MODULE_RESERVED)


def param_name(name: str) -> str:
    out = name
    while keyword.iskeyword(out) or out in LOCALS_RESERVED or (
        out.startswith("_s") and out[2:].isdigit()
    ):
        out += "_"
    return out


# ---------------------------------------------------------------------------
# Type descriptors for the runtime (used by ffi.new and pointer results)

_SIG_LETTER = {"i32": "i", "i64": "I", "f32": "f", "f64": "d"}


def ctype_expr(t: CType, lib: Library) -> str:
    """A Python expression evaluating to the runtime descriptor of `t` (in the generated module)."""
    if isinstance(t, m.NamedType):
        if t.name in lib.typedefs:
            return f'_TYPES["{t.name}"]'
        return ctype_expr(t.target, lib)
    if isinstance(t, m.IntType):
        return f'_rt.BUILTINS["{t.name}"]'
    if isinstance(t, m.BoolType):
        return '_rt.BUILTINS["_Bool"]'
    if isinstance(t, m.FloatType):
        return f'_rt.BUILTINS["{t.name}"]'
    if isinstance(t, m.EnumRef):
        return '_rt.BUILTINS["int"]'
    if isinstance(t, m.PointerType):
        tgt = m.strip(t.target)
        if isinstance(tgt, m.VoidType | m.FunctionType):
            return "_rt.PointerTo(None)"
        inner = ctype_expr(t.target, lib)
        return f"_rt.PointerTo({inner})"
    if isinstance(t, m.ArrayType) and t.length is not None:
        return f"_rt.ArrayOf({ctype_expr(t.elem, lib)}, {t.length})"
    raise Unsupported(f"type {t.c_name()} has no runtime descriptor")


def typedef_descriptor(name: str, t: CType, lib: Library) -> str | None:
    """The descriptor expression for a named typedef, or None if it has none yet."""
    s = m.strip(t)
    if isinstance(s, m.IntType):
        return f'_rt.Scalar("{name}", "int", {s.size}, {s.signed})'
    if isinstance(s, m.BoolType):
        return f'_rt.Scalar("{name}", "bool", 1, False)'
    if isinstance(s, m.FloatType):
        return f'_rt.Scalar("{name}", "float", {s.size})'
    if isinstance(s, m.EnumRef):
        return f'_rt.Scalar("{name}", "int", 4, True)'
    if isinstance(s, m.PointerType):
        try:
            inner = "None" if isinstance(m.strip(s.target), m.VoidType | m.FunctionType) else ctype_expr(
                s.target, lib
            )
        except Unsupported:
            return None
        return f'_rt.PointerTo({inner}, "{name}")'
    return None


# ---------------------------------------------------------------------------
# Wrappers


@dataclass(frozen=True)
class ParamSpec:
    name: str  # Python name
    c_name: str
    annotation: str
    check: tuple[str, ...]  # statements run before taking the lock
    store: tuple[str, ...]  # statements run under the lock, storing into `_sN`
    temporaries: bool  # needs the per-call temporaries frame


@dataclass(frozen=True)
class FuncSpec:
    c_name: str
    name: str
    doc: str
    params: tuple[ParamSpec, ...]
    returns: str
    result: str  # expression computing the Python result from `_s0`, or "" for None
    wasm_params: str  # letters i I f d
    wasm_results: str
    slots: int
    temporaries: bool

    @property
    def unpack(self) -> str:
        """The assignment targets of the value-buffer slots (`_s0, _s1`)."""
        names = [f"_s{i}" for i in range(self.slots)]
        return ", ".join(names) + ("," if len(names) == 1 else "")


@dataclass
class Mapped:
    functions: list[FuncSpec] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _int_checks(pname: str, t: m.IntType, what: str) -> tuple[str, ...]:
    lo, hi = _range(t)
    return (
        f"if {pname}.__class__ is not int or not {lo} <= {pname} <= {hi}:",
        f'    {pname} = _rt.to_int({pname}, "{what}", {lo}, {hi}, "{t.name}")',
    )


def _range(t: m.IntType) -> tuple[int, int]:
    bits = t.size * 8
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if t.signed else (0, (1 << bits) - 1)


def _is_char(t: CType) -> bool:
    s = m.strip(t)
    return isinstance(s, m.IntType) and s.size == 1 and s.name == "char"


def param_spec(p: m.Param, index: int, fn: str, lib: Library) -> ParamSpec:
    name = param_name(p.name)
    what = f"{fn}() argument {p.name!r}"
    slot = f"_s{index}"
    t = p.type
    s = m.strip(t)
    if isinstance(s, m.IntType):
        return ParamSpec(name, p.name, "int", _int_checks(name, s, what), (f"{slot}.{_wfield(s)} = {name}",), False)
    if isinstance(s, m.EnumRef):
        return ParamSpec(
            name, p.name, "int", _int_checks(name, m.INT, what), (f"{slot}.i32 = {name}",), False
        )
    if isinstance(s, m.BoolType):
        return ParamSpec(
            name,
            p.name,
            "bool",
            (f"if {name}.__class__ is not bool:", f'    {name} = _rt.to_bool({name}, "{what}")'),
            (f"{slot}.i32 = {name}",),
            False,
        )
    if isinstance(s, m.FloatType):
        return ParamSpec(
            name,
            p.name,
            "float",
            (f"if {name}.__class__ is not float:", f'    {name} = _rt.to_float({name}, "{what}", "{s.name}")'),
            (f"{slot}.{_wfield(s)} = {name}",),
            False,
        )
    if isinstance(s, m.PointerType):
        tgt = m.strip(s.target)
        writable = not s.const
        if _is_char(s.target):
            ann = "_rt.CharPtrArg"
            return ParamSpec(
                name, p.name, ann, (), (f'{slot}.i32 = self._arg_str({name}, "{what}", {writable})',), True
            )
        if isinstance(tgt, m.VoidType):
            return ParamSpec(
                name,
                p.name,
                "_rt.BufferArg | int",
                (),
                (f'{slot}.i32 = self._arg_void({name}, "{what}", {writable})',),
                True,
            )
        if isinstance(tgt, m.IntType | m.FloatType | m.BoolType | m.EnumRef):
            return ParamSpec(
                name,
                p.name,
                f"_rt.BufferArg | _rt.Pointer[{_py_scalar(tgt)}]",
                (),
                (f'{slot}.i32 = self._arg_buf({name}, "{what}", {writable}, False, "{s.c_name()}")',),
                True,
            )
        if isinstance(tgt, m.PointerType):
            return ParamSpec(
                name,
                p.name,
                "_rt.Pointer[Any] | None",
                (),
                (f'{slot}.i32 = self._arg_ptr({name}, "{what}", "{s.c_name()}")',),
                False,
            )
        raise Unsupported(f"parameter {p.name!r} of type {t.c_name()} is not supported yet")
    raise Unsupported(f"parameter {p.name!r} of type {t.c_name()} is not supported yet")


def _py_scalar(t: CType) -> str:
    s = m.strip(t)
    if isinstance(s, m.FloatType):
        return "float"
    if isinstance(s, m.BoolType):
        return "bool"
    return "int"


def _wfield(t: m.IntType | m.FloatType) -> str:
    if isinstance(t, m.FloatType):
        return "f32" if t.size == 4 else "f64"
    return "i64" if t.size == 8 else "i32"


def result_spec(t: CType, lib: Library) -> tuple[str, str]:
    """(annotation, expression over `_s0`) for a function result."""
    s = m.strip(t)
    if isinstance(s, m.VoidType):
        return "None", ""
    if isinstance(s, m.IntType):
        field_ = _wfield(s)
        if s.size == 4 and not s.signed:
            return "int", f"_s0.i32 & 0xFFFFFFFF"
        if s.size == 8 and not s.signed:
            return "int", f"_s0.i64 & 0xFFFFFFFFFFFFFFFF"
        if s.size < 4:
            bits = s.size * 8
            mask = (1 << bits) - 1
            if s.signed:
                half = 1 << (bits - 1)
                return "int", f"((_s0.i32 & {mask:#x}) ^ {half:#x}) - {half:#x}"
            return "int", f"_s0.i32 & {mask:#x}"
        return "int", f"_s0.{field_}"
    if isinstance(s, m.EnumRef):
        return "int", "_s0.i32"
    if isinstance(s, m.BoolType):
        return "bool", "(_s0.i32 & 0xFF) != 0"
    if isinstance(s, m.FloatType):
        return "float", f"_s0.{_wfield(s)}"
    if isinstance(s, m.PointerType):
        tgt = m.strip(s.target)
        if _is_char(s.target):
            return "str | None", "self._ret_str(_s0.i32)"
        if isinstance(tgt, m.VoidType):
            return "int | None", "(_s0.i32 & 0xFFFFFFFF) or None"
        if isinstance(tgt, m.IntType | m.FloatType | m.BoolType | m.EnumRef | m.PointerType):
            ann = f"_rt.Pointer[{_py_scalar(tgt)}] | None" if not isinstance(tgt, m.PointerType) else (
                "_rt.Pointer[Any] | None"
            )
            return ann, f"self._ret_ptr(_s0.i32, {ctype_expr(s.target, lib)})"
    raise Unsupported(f"result type {t.c_name()} is not supported yet")


def function_spec(f: m.Function, lib: Library) -> FuncSpec:
    if f.type.variadic:
        raise Unsupported("variadic functions cannot be called through wasm exports")
    wparams, wresults = m.wasm_signature(f.type, lib.records)
    params = tuple(param_spec(p, i, f.name, lib) for i, p in enumerate(f.type.params))
    returns, result = result_spec(f.type.result, lib)
    return FuncSpec(
        c_name=f.name,
        name=func_name(f.name),
        doc=f.prototype,
        params=params,
        returns=returns,
        result=result,
        wasm_params="".join(_SIG_LETTER[w] for w in wparams),
        wasm_results="".join(_SIG_LETTER[w] for w in wresults),
        slots=max(len(wparams), len(wresults), 1),
        temporaries=any(p.temporaries for p in params),
    )


def map_library(lib: Library) -> Mapped:
    """Map every function; the ones that cannot be bound become warnings."""
    out = Mapped()
    for f in lib.functions:
        try:
            out.functions.append(function_spec(f, lib))
        except (Unsupported, m.LayoutError) as e:
            out.diagnostics.append(Diagnostic(f.file, f.line, f"skipped {f.name}(): {e}", "warning"))
    return out


def constant_literal(value: int | float | str) -> tuple[str, str]:
    """(annotation, Python literal) of a #define constant."""
    if isinstance(value, bool):
        return "int", str(int(value))
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    return "str", repr(value)
