"""From the C model to Python: names, annotations, and the marshalling snippets.

Owns: every decision about how a C declaration looks in the generated module:
Python names (keyword and collision renaming), annotation strings, the runtime
type-descriptor expression of each C type, and per-parameter / per-result code
snippets. Each conversion rule is written once here, per C type family; the
templates only lay the snippets out.

Keeps no module-level state: what one mapping collects (the function-pointer
descriptors it used) lives in its `Scope`.

May import: `embind_py.model`, stdlib (never the runtime: `INSTANCE_NAMES` is a plain
list that a test holds equal to the runtime's `Instance`).
"""

from __future__ import annotations

import functools
import keyword
import math
import re
import textwrap
from dataclasses import dataclass, field, replace
from typing import Any

from . import model as m
from .model import CType, Diagnostic, Library


class Unsupported(Exception):
    """A declaration the generator cannot bind (the message says why)."""


# Names the generated module defines or uses itself.
MODULE_RESERVED = frozenset(
    {
        "annotations",
        "enum",
        "Callable",
        "Sequence",
        "Literal",
        "overload",
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
        # the generated module's own globals (see module.py.j2)
        "_rt",
        "_WASM",
        "_EXPORTS",
        "_TYPES",
        "_VARS",
        "_FFI",
        "_default",
        "_default_lock",
        "_enum",
        "_sys",
        "call_main",
        "HostFunctions",
        "set_host",
        "TypedDict",
        "_HOST",
        "_default_host",
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
# Every attribute of `embind_py.runtime.Instance` (its methods and what `__init__` sets): a C
# function bound as a method must not meet one. tests/unit/test_typemap.py holds it equal
# to the class; a generated `Library` adds `ffi`, `call_main` and `_c_<name>`/`_v_<name>`.
INSTANCE_NAMES = (
    "_arena",
    "_arena_end",
    "_arena_host",
    "_arena_mv",
    "_be",
    "_bind",
    "_bind_vars",
    "_caller",
    "_caller_or_missing",
    "_check_signatures",
    "_copybacks",
    "_deferred_frees",
    "_files",
    "_free",
    "_free_v",
    "_host",
    "_host_fns",
    "_host_types",
    "_in_host",
    "_limits",
    "_lock",
    "_malloc",
    "_malloc_v",
    "_map_arena",
    "_on_fail",
    "_options",
    "_pending",
    "_recover",
    "_ref",
    "_release",
    "_require_host",
    "_run_init",
    "_set_var",
    "_setup_stack",
    "_signatures",
    "_sp0",
    "_sp_stack",
    "_stack_alloc",
    "_stack_end",
    "_stack_get",
    "_stack_restore",
    "_stdin",
    "_stdin_pos",
    "_tmp",
    "_tmp_mallocs",
    "_top",
    "_translate",
    "_var",
    "_vars",
    "_wasm",
    "_wasm_digest",
    "_wasm_file",
    "address_of_var",
    "close",
    "engine",
    "exports",
    "flush",
    "free",
    "guard",
    "has_export",
    "interrupt",
    "malloc",
    "mem",
    "memory",
    "memory_size",
    "module",
    "read_stdin",
    "reset",
    "stack_alloc",
    "stack_restore",
    "stack_save",
    "stderr",
    "stdout",
    "store",
    "temp_ret0",
    "wrap_pointer",
)
INSTANCE_RESERVED = frozenset(INSTANCE_NAMES) | {"ffi", "self", "call_main"}
# Locals of a wrapper and the module globals its body refers to.
LOCALS_RESERVED = frozenset({"self", "_mark", "_lib", "_ret", "_r", "_rt", "_TYPES", "_default", "instance"})
# Generated globals (_F0, slots _s0) and dunders (__all__, __name__, __file__): appending "_"
# leaves these patterns. Descriptor globals are _R_<record> and _E_<enum>: a C name with that
# prefix gets one "_" (it could then only meet a record or enum whose own name ends in "_").
_INTERNAL = re.compile(r"^(_F\d+|_s\d+|__[A-Za-z0-9]+(_[A-Za-z0-9]+)*__)$")
_DESCRIPTOR = re.compile(r"^_[RE]_")


# pycodestyle's ambiguous names (E741-E743): kept as in C; the module gets a file-level noqa.
AMBIGUOUS = frozenset({"l", "O", "I"})


def py_name(name: str, reserved: frozenset[str] = frozenset()) -> str:
    """A valid, non-colliding Python identifier for a C name (C names are identifiers already)."""
    out = name + "_" if _DESCRIPTOR.match(name) else name
    while keyword.iskeyword(out) or out in reserved or _INTERNAL.match(out):
        out += "_"
    return out


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


natural_key = functools.cmp_to_key(_natord)
"""Sort key in ruff's natural order (`f2` before `f10`), as it sorts `__slots__` (RUF023)."""


def _all_cmp(a: str, b: str) -> int:
    return (_member_kind(a) - _member_kind(b)) or _natord(a, b)


def _member_kind(name: str) -> int:
    """ruff's isort-style groups: CONSTANTS (two characters or more), then Classes, then the rest
    (a one-letter upper-case name is a class to ruff)."""
    if len(name) > 1 and name.isupper():
        return 0
    return 1 if name[:1].isupper() else 2


all_key = functools.cmp_to_key(_all_cmp)
"""Sort key in ruff's order for `__all__` (RUF022): isort-style groups, each in natural order."""


def func_name(name: str, callers: frozenset[str] = frozenset()) -> str:
    """The method/function name of C function `name`; `callers` are the `_c_<f>`/`_v_<f>`
    attributes the library's functions get (a method must not take one)."""
    reserved = MODULE_RESERVED | INSTANCE_RESERVED
    return py_name(name, reserved | callers if name.startswith(("_c_", "_v_")) else reserved)


def const_name(name: str) -> str:
    return py_name(name, MODULE_RESERVED)


def param_name(name: str) -> str:
    return py_name(name, LOCALS_RESERVED)


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
        return f"_E_{t.name}" if t.name in lib.enums else '_rt.BUILTINS["int"]'
    if isinstance(t, m.RecordRef):
        return f"_R_{t.name}"
    if isinstance(t, m.PointerType):
        tgt = m.strip(t.target)
        if isinstance(tgt, m.FunctionType):
            return fn_type_var(tgt, lib)
        if isinstance(tgt, m.VoidType):
            return "_rt.PointerTo(None)"
        inner = ctype_expr(t.target, lib)
        return f"_rt.PointerTo({inner}, const={t.const})" if t.const else f"_rt.PointerTo({inner})"
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
        if m.is_long_double(s):
            return '_rt.BUILTINS["long double"]'
        return f'_rt.Scalar("{name}", "float", {s.size})'
    if isinstance(s, m.EnumRef):
        return f"_E_{s.name}" if s.name in lib.enums else f'_rt.Scalar("{name}", "int", 4, True)'
    if isinstance(s, m.RecordRef):
        return f"_R_{s.name}" if s.name in lib.records else None
    fn = m.strip(s.target) if isinstance(s, m.PointerType) else s
    if isinstance(fn, m.FunctionType):
        # `typedef int (*cb_t)(int);` and `typedef int handler_t(int);` alike: the descriptor of
        # a pointer to the function type (C code names `handler_t *`; ffi.callback "handler_t").
        try:
            return fn_type_var(fn, lib)
        except (Unsupported, m.LayoutError):
            return None
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
# Records, enums, function-pointer types (issue 3)

# Attribute names a struct class or its pointer class has already.
FIELD_RESERVED = frozenset(
    {"address", "ctype", "value", "_inst", "_length", "_owner", "_get", "_set", "_ctype", "_fields",
     "_as_dict", "_last", "_raw", "self", "int", "float", "bool", "str", "bytes", "list", "Any", "Callable",
     "Sequence", "None", "_rt"}
)
ENUM_RESERVED = frozenset({"name", "value", "mro"})

@dataclass(frozen=True)
class Scope(Library):
    """A library being mapped, with what the mapping collects as it goes."""

    # Function-pointer descriptors used by the module being mapped: expression -> variable.
    fn_types: dict[str, str] = field(default_factory=dict)
    # Their C spellings: name -> variable (the first descriptor spelled so).
    fn_names: dict[str, str] = field(default_factory=dict)
    # C names of the functions: C keeps struct, union and enum tags apart from functions
    # (`struct stat` and `stat()`), Python has one namespace.
    function_names: frozenset[str] = frozenset()
    # The attributes holding each function's caller and value slots (`_c_f`, `_v_f`).
    callers: frozenset[str] = frozenset()
    # Enums with neither tag nor typedef: their members are plain int constants (no class).
    anonymous_enums: tuple[m.Enum, ...] = ()
    # What the mapping inferred (shown under --verbose): pointer-and-length callback arguments.
    notes: list[Diagnostic] = field(default_factory=list)


def scope_of(lib: Library) -> Scope:
    """`lib` as a `Scope` (a new one for a plain `Library`)."""
    if isinstance(lib, Scope):
        return lib
    fields = {k: getattr(lib, k) for k in Library.__dataclass_fields__}
    names = frozenset(f.name for f in lib.functions)
    callers = frozenset(f"_{k}_{n}" for n in names for k in "cv")
    fields["enums"] = {k: e for k, e in lib.enums.items() if not e.anonymous}
    anonymous = tuple(e for e in lib.enums.values() if e.anonymous)
    return Scope(**fields, function_names=names, callers=callers, anonymous_enums=anonymous)


def fn_type_var(ft: m.FunctionType, lib: Library) -> str:
    """The module-level variable holding the descriptor of a pointer to `ft` (made on first use)."""
    if ft.variadic:
        raise Unsupported("variadic function pointers cannot be called")
    if any(m.is_long_double(t) for t in (ft.result, *(p.type for p in ft.params))):
        raise Unsupported("function pointers taking or returning long double are not supported")
    wparams, wresults = m.wasm_signature(ft, lib.records)
    sret = m.is_indirect_aggregate(ft.result, lib.records)
    res = "None" if isinstance(m.strip(ft.result), m.VoidType) else _cb_expr(ft.result, lib)
    pairs, as_bytes, inferred = callback_reading(ft, lib)
    sized = {i for i, _ in pairs}
    items = [
        "_rt.CBYTES" if i in as_bytes else ctype_expr(_strip_names(p.type), lib) if i in sized
        else _cb_expr(p.type, lib)
        for i, p in enumerate(ft.params)
    ]
    params = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    name = ft.c_name_with("(*)").replace('"', "'")
    letters = "".join(_SIG_LETTER[w] for w in wparams), "".join(_SIG_LETTER[w] for w in wresults)
    args = [f'"{name}"', f'"{letters[0]}"', f'"{letters[1]}"', res, params, str(sret)]
    if pairs:
        args.append("(" + "".join(f"({i}, {j}), " for i, j in pairs).rstrip(" ") + ")")
    expr = "_rt.FuncPtrType(\n" + "".join(f"    {a},\n" for a in args) + ")"
    sc = _scope(lib)
    var = sc.fn_types.get(expr)
    if var is None:
        var = sc.fn_types[expr] = f"_F{len(sc.fn_types)}"
        sc.fn_names.setdefault(name, var)
        named = _callback_typedefs(lib, ft)
        for i, j in inferred:
            where = named[0] if named else name
            what = "bytes" if _is_const(ft.params[i].type) else "a Pointer"
            sc.notes.append(Diagnostic(
                where, 0,
                f"inferred: a callback gets argument {i + 1} of {name} as {what} of the length in argument "
                f"{j + 1}; declare '{where}.{i + 1} = text' to read it up to its NUL instead",
                "warning",
            ))
    return var


def _is_const(t: CType) -> bool:
    s = m.strip(t)
    return isinstance(s, m.PointerType) and s.const


def _callback_typedefs(lib: Library, ft: m.FunctionType) -> list[str]:
    """The typedef names of function type `ft` (or of a pointer to it), in declaration order."""
    out = []
    for name, t in lib.typedefs.items():
        s = m.strip(t.target)
        fn = m.strip(s.target) if isinstance(s, m.PointerType) else s
        if fn == ft:
            out.append(name)
    return out


def callback_reading(
    ft: m.FunctionType, lib: Library
) -> tuple[tuple[tuple[int, int], ...], frozenset[int], tuple[tuple[int, int], ...]]:
    """How a callback of type `ft` reads its arguments: (pointer, length) pairs, the arguments
    read as NUL-terminated bytes, and which pairs were inferred (not declared). Declarations on
    the function-pointer typedef (`cb_t.1 = buffer(2)`, `cb_t.1 = text`, `= bytes`) win."""
    decls: list[m.Declaration] = []
    if lib.declarations:
        names = set(_callback_typedefs(lib, ft))
        decls = [d for d in lib.declarations if d.where in names and d.param.isdigit()]
    declared = {(int(d.param) - 1, int(d.arg) - 1) for d in decls if d.kind == "buffer"}
    off = {int(d.param) - 1 for d in decls if d.kind in ("text", "bytes")} | {i for i, _ in declared}
    inferred = tuple(p for p in length_pairs(ft) if p[0] not in off)
    as_bytes = frozenset(int(d.param) - 1 for d in decls if d.kind == "bytes")
    return tuple(sorted({*inferred, *declared})), as_bytes, inferred


def _scope(lib: Library) -> Scope:
    if not isinstance(lib, Scope):
        raise TypeError("typemap: map a Library through map_library() or scope_of() first")
    return lib


def fn_types(lib: Library) -> list[dict[str, str]]:
    """The function-pointer descriptors collected in this scope, in first-use order."""
    return [{"var": v, "expr": e} for e, v in _scope(lib).fn_types.items()]


def fn_type_names(lib: Library) -> list[dict[str, str]]:
    """The C spellings of those descriptors (`void (*)(void *)`), as `_TYPES` entries: a
    callback for a parameter declared without a typedef (SQLite's `xFunc`) can then be made
    with `ffi.callback`, and `ffi.cast` reaches them too."""
    return [{"name": n, "expr": v} for n, v in _scope(lib).fn_names.items()]


def _cb_expr(t: CType, lib: Library) -> str:
    """Descriptor of a callback parameter/result: `const char *` arrives as str."""
    s = m.strip(t)
    if isinstance(s, m.PointerType) and s.const and _is_char(s.target):
        return "_rt.CSTRING"
    return ctype_expr(_strip_names(t), lib)


def _strip_names(t: CType) -> CType:
    """`t` without typedef names (module-level descriptors must not depend on `_TYPES`)."""
    s = m.strip(t)
    if isinstance(s, m.PointerType) and not isinstance(m.strip(s.target), m.FunctionType):
        return m.PointerType(_strip_names(s.target), s.const)
    if isinstance(s, m.ArrayType):
        return m.ArrayType(_strip_names(s.elem), s.length)
    return s


def _function_names(lib: Library) -> frozenset[str]:
    if isinstance(lib, Scope):
        return lib.function_names
    return frozenset(f.name for f in lib.functions)


def record_class(rec: m.Record, lib: Library) -> str:
    return py_name(rec.typedef or rec.name, MODULE_RESERVED | _function_names(lib))


def enum_class(e: m.Enum, lib: Library) -> str:
    return py_name(e.typedef or e.name, MODULE_RESERVED | _function_names(lib))


def field_name(name: str) -> str:
    return py_name(name, FIELD_RESERVED)


def _rec(t: CType, lib: Library) -> m.Record | None:
    s = m.strip(t)
    return lib.records.get(s.name) if isinstance(s, m.RecordRef) else None


def load_annotation(t: CType, lib: Library, callback: bool = False) -> str:
    """The Python type of a C value as read from memory (fields, callback arguments)."""
    s = m.strip(t)
    if isinstance(s, m.IntType):
        return "int"
    if isinstance(s, m.BoolType):
        return "bool"
    if isinstance(s, m.FloatType):
        return "float"
    if isinstance(s, m.EnumRef):
        e = lib.enums.get(s.name)
        return f"{enum_class(e, lib)} | int" if e is not None and callback else "int"
    if isinstance(s, m.RecordRef):
        rec = lib.records.get(s.name)
        if rec is None or rec.opaque:
            raise Unsupported(f"{s.c_name()} is opaque and cannot be used by value")
        return record_class(rec, lib)
    if isinstance(s, m.ArrayType):
        elem = m.strip(s.elem)
        if isinstance(elem, m.IntType) and elem.size == 1:
            return "bytes"
        return f"list[{load_annotation(s.elem, lib)}]"
    if isinstance(s, m.PointerType):
        return pointer_annotation(s, lib, callback)
    raise Unsupported(f"type {t.c_name()} is not supported")


def pointer_annotation(s: m.PointerType, lib: Library, callback: bool = False) -> str:
    tgt = m.strip(s.target)
    if callback and s.const and _is_char(s.target):
        return "str | None"
    if isinstance(tgt, m.VoidType):
        return "int | None"
    if isinstance(tgt, m.FunctionType):
        return f"{callable_annotation(tgt, lib)} | None"
    if isinstance(tgt, m.RecordRef):
        rec = lib.records.get(tgt.name)
        if rec is None:
            return "_rt.Pointer[Any] | None"
        return f"{record_class(rec, lib)} | None" if rec.opaque else f"{record_class(rec, lib)}Ptr | None"
    if isinstance(tgt, m.IntType | m.FloatType | m.BoolType | m.EnumRef):
        return f"_rt.Pointer[{_py_scalar(tgt)}] | None"
    return "_rt.Pointer[Any] | None"


# A parameter name that says it holds the length of the pointer before it.
_LENGTH_NAME = re.compile(r"(?i)^(n|sz|cb|nb)$|len|size|count|bytes|nbyte")
_UNNAMED = re.compile(r"^(arg\d+)?$")


def length_pairs(ft: m.FunctionType) -> tuple[tuple[int, int], ...]:
    """(pointer, length) parameter positions of `ft` that C's types imply: a pointer to bytes
    (`char`, `unsigned char`, `uint8_t`, `void`) directly followed by an integer that is its
    length: named so (`len`, `size`, `n`, `count`...), or, unnamed, of an unsigned type.

    A callback then receives exactly that many bytes (inference changes how the value is
    read, never the parameters: the length is still passed)."""
    out = []
    params = ft.params
    for i in range(len(params) - 1):
        ptr, n = m.strip(params[i].type), m.strip(params[i + 1].type)
        if not isinstance(ptr, m.PointerType) or not isinstance(n, m.IntType) or n.size < 2:
            continue
        tgt = m.strip(ptr.target)
        if not (isinstance(tgt, m.VoidType) or (isinstance(tgt, m.IntType) and tgt.size == 1)):
            continue
        if isinstance(tgt, m.VoidType) and not ptr.const:
            continue  # a `void *` stays an address (user data, often followed by a count)
        named = params[i + 1].name
        if _UNNAMED.match(named):  # cparse names an unnamed parameter `arg<i>`
            named = ""
        if (_LENGTH_NAME.search(named) is not None) if named else not n.signed:
            out.append((i, i + 1))
    return tuple(out)


def callable_annotation(ft: m.FunctionType, lib: Library) -> str:
    """`Callable[[args], result]` for a C function type, as Python sees it from both sides."""
    pairs, as_bytes, _ = callback_reading(ft, lib)
    sized = dict(pairs)
    args = ", ".join(
        "bytes | None" if i in as_bytes else _sized_annotation(p.type) if i in sized
        else load_annotation(p.type, lib, callback=True)
        for i, p in enumerate(ft.params)
    )
    r = m.strip(ft.result)
    if isinstance(r, m.VoidType):
        res = "None"
    elif isinstance(r, m.IntType | m.FloatType | m.BoolType | m.EnumRef):
        res = _py_scalar(r)
    elif isinstance(r, m.RecordRef):
        res = load_annotation(r, lib)
    else:
        res = "Any"
    return f"Callable[[{args}], {res}]"


def _sized_annotation(t: CType) -> str:
    """What a pointer paired with its length gives a callback (see `length_pairs`)."""
    s = m.strip(t)
    return "bytes | None" if isinstance(s, m.PointerType) and s.const else "_rt.Pointer[int] | None"


def _scalar_path(rec: m.Record, lib: Library) -> tuple[int, CType] | None:
    """(offset, scalar type) of a record the C ABI passes as one scalar."""
    if m.scalar_of(m.RecordRef(rec.kind, rec.name), lib.records) is None:
        return None
    off = 0
    t: CType = m.RecordRef(rec.kind, rec.name)
    while True:
        s = m.strip(t)
        if isinstance(s, m.RecordRef):
            f = lib.records[s.name].fields[0]
            off += f.offset
            t = f.type
        elif isinstance(s, m.ArrayType):
            t = s.elem
        else:
            return off, s


@dataclass(frozen=True)
class FieldSpec:
    name: str
    c_name: str
    annotation: str  # what reading the field from memory gives
    init_annotation: str
    offset: int
    expr: str
    value_annotation: str  # what a struct value's attribute holds (what was given, or what was read)
    live_annotation: str  # what `p.field` gives through a pointer: a live view for records and arrays

    @property
    def set_annotation(self) -> str:
        """What assigning through a pointer accepts (sequences for arrays; never None for scalars);
        a live view of the same type (`p.a = q.a`) is copied too."""
        ann = self.value_annotation
        ann = ann.replace("list[", "Sequence[", 1) if ann.startswith("list[") else ann
        return ann if self.live_annotation == self.annotation else f"{ann} | {self.live_annotation}"


def _field_value_annotation(t: CType, ann: str) -> str:
    """A `void *` field reads as an int address but is given a `Pointer` too (e.g. `ffi.new`
    memory, which the struct value then keeps alive); a `const char *` field reads as text
    and is given an address (a `CStr`, a `Pointer`, an int: C keeps it, a copy could not live)."""
    s = m.strip(t)
    if isinstance(s, m.PointerType) and isinstance(m.strip(s.target), m.VoidType):
        return "_rt.Pointer[Any] | int | None"
    if _is_text_field(t):
        return "str | _rt.Pointer[Any] | int | None"
    if _is_fn_field(t):
        return "_rt.FuncPtr | None"  # C keeps it: an ffi.callback (a FuncPtr), never a plain callable
    return ann


def _is_text_field(t: CType) -> bool:
    """A `const char *` field: it reads as `str | None` (a `CStr`), as the README's table says."""
    s = m.strip(t)
    return isinstance(s, m.PointerType) and s.const and _is_char(s.target)


def _is_fn_field(t: CType) -> bool:
    s = m.strip(t)
    return isinstance(s, m.PointerType) and isinstance(m.strip(s.target), m.FunctionType)


@dataclass(frozen=True)
class RecordSpec:
    c_name: str  # `struct Vec2`
    name: str  # Python class
    var: str  # descriptor variable
    kind: str
    size: int
    align: int
    opaque: bool
    fields: tuple[FieldSpec, ...]
    scalar: str
    type_names: tuple[str, ...]  # names for ffi.new

    @property
    def ptr_name(self) -> str:
        return f"{self.name}Ptr"

    @property
    def slots(self) -> str:
        """The `__slots__` tuple's contents, in ruff's order."""
        names = sorted((f.name for f in self.fields), key=natural_key)
        return ", ".join(f'"{n}"' for n in names) + ("," if len(names) == 1 else "")

    @property
    def new_specs(self) -> tuple[str, ...]:
        """The `ffi.new` spellings that give a `<Name>Ptr` (a pointer, or an array of any length)."""
        return tuple(spec for n in self.type_names for spec in (f"{n} *", f"{n}[]"))

    @property
    def base(self) -> str:
        return "_rt.Union_" if self.kind == "union" else "_rt.Struct"


def _live_annotation(t: CType, ann: str, lib: Library) -> str:
    """What a field gives through a struct pointer: a nested record is a `<Name>Ptr` and a
    non-char array a `Pointer` with its length, both reading and writing the bytes in place
    (`p.inner.x = 5` changes `*p`, as in cffi); anything else is what the field holds."""
    s = m.strip(t)
    if isinstance(s, m.RecordRef):
        return f"{ann}Ptr"
    if isinstance(s, m.ArrayType) and ann != "bytes":
        elem = load_annotation(s.elem, lib)
        if isinstance(m.strip(s.elem), m.RecordRef):
            return f"{elem}Ptr"
        return f"_rt.Pointer[{_live_annotation(s.elem, elem, lib)}]"
    return ann


def _init_annotation(t: CType, ann: str) -> str:
    s = m.strip(t)
    if isinstance(s, m.ArrayType) and ann != "bytes":
        ann = "Sequence" + ann[len("list") :]
    if ann.endswith(" | None"):
        return ann
    return f"{ann} | None"


def record_spec(rec: m.Record, lib: Library) -> RecordSpec:
    cls = record_class(rec, lib)
    names = [f"{rec.kind} {rec.name}"]
    if rec.typedef and rec.typedef not in names:
        names.insert(0, rec.typedef)
    if rec.opaque:
        return _opaque_spec(rec, lib)
    fields = []
    for f in rec.fields:
        ann = load_annotation(f.type, lib)
        if _is_text_field(f.type):
            ann = "str | None"
        value_ann = _field_value_annotation(f.type, ann)
        init_ann = _init_annotation(f.type, value_ann)
        if _is_text_field(f.type):
            init_ann = "_rt.CStr | _rt.Pointer[Any] | int | None"
        fields.append(
            FieldSpec(
                field_name(f.name), f.name, ann, init_ann, f.offset,
                _field_expr(f, lib), value_ann, _live_annotation(f.type, ann, lib),
            )
        )
    sp = _scalar_path(rec, lib)
    # Names stripped as for fields: record descriptors are defined before `_TYPES` exists.
    scalar = "None" if sp is None else f"({sp[0]}, {ctype_expr(_strip_names(sp[1]), lib)})"
    return RecordSpec(
        f"{rec.kind} {rec.name}", cls, f"_R_{rec.name}", rec.kind, rec.size, rec.align, False,
        tuple(fields), scalar, tuple(names),
    )


def _opaque_spec(rec: m.Record, lib: Library) -> RecordSpec:
    c_name = f"{rec.kind} {rec.name}"
    return RecordSpec(c_name, record_class(rec, lib), f"_R_{rec.name}", rec.kind, 0, 1, True, (), "None", ())


def _field_expr(f: m.Field, lib: Library) -> str:
    s = _strip_names(f.type)
    if f.bits is not None:  # an enum bitfield is unsigned unless a member is negative, as in clang
        signed = isinstance(s, m.IntType | m.EnumRef) and s.signed
        return f"_rt.BitField({ctype_expr(s, lib)}, {f.bits[0]}, {f.bits[1]}, {signed})"
    if isinstance(s, m.ArrayType) and not s.length:
        return "_rt.ArrayOf(" + ctype_expr(s.elem, lib) + ", 0)"
    if _is_text_field(s):
        return "_rt.CSTRING"
    return ctype_expr(s, lib)


@dataclass(frozen=True)
class VarSpec:
    """A C global variable as a typed property of `Library` (`lib.counter += 1`)."""

    c_name: str
    name: str  # the property
    doc: str
    annotation: str  # what reading it gives
    set_annotation: str | None  # what assigning accepts; None when read-only
    expr: str  # its runtime descriptor
    copy: bool = False  # read as a copy (a const record), not a live view


def variable_spec(v: m.Variable, lib: Library) -> VarSpec:
    """A global reads as its value (a `const char *` as `str`), a record or an array as a live
    view (`Pointer` of known length for any array); `const` ones and strings are read-only
    (a const record reads as a copy)."""
    s = m.strip(v.type)
    name = func_name(v.name)
    if isinstance(s, m.PointerType) and _is_char(s.target):
        return VarSpec(v.name, name, v.prototype, "str | None", None, "_rt.CSTRING")
    if isinstance(s, m.ArrayType):
        elem_ann = load_annotation(s.elem, lib)
        if isinstance(m.strip(s.elem), m.RecordRef):
            ann = f"{elem_ann}Ptr"
        else:
            ann = f"_rt.Pointer[{_live_annotation(s.elem, elem_ann, lib)}]"
        setter = None
        if not v.const and s.length:
            setter = "bytes | Sequence[int]" if elem_ann == "bytes" else f"Sequence[{elem_ann}]"
            setter = f"{setter} | {ann}"
        expr = f"_rt.ArrayOf({ctype_expr(_strip_names(s.elem), lib)}, {s.length or 0})"
        return VarSpec(v.name, name, v.prototype, ann, setter, expr)
    ann = load_annotation(v.type, lib)
    expr = ctype_expr(_strip_names(v.type), lib)
    if v.const:
        return VarSpec(v.name, name, v.prototype, ann, None, expr, copy=isinstance(s, m.RecordRef))
    value_ann = _field_value_annotation(v.type, ann)
    live = _live_annotation(v.type, ann, lib)
    setter = value_ann if live == ann else f"{value_ann} | {live}"
    return VarSpec(v.name, name, v.prototype, live, setter, expr)


@dataclass(frozen=True)
class EnumSpec:
    c_name: str
    name: str
    var: str
    signed: bool
    members: tuple[tuple[str, int], ...]  # Python member names
    constants: tuple[tuple[str, str], ...]  # module-level name, member name


def enum_spec(e: m.Enum, taken: set[str], lib: Library) -> EnumSpec:
    members = tuple((py_name(n, ENUM_RESERVED), v) for n, v in e.members)
    consts = []
    for (cn, _), (pn, _) in zip(e.members, members, strict=True):
        mod = const_name(cn)
        if mod not in taken:
            taken.add(mod)
            consts.append((mod, pn))
    signed = any(v < 0 for _, v in e.members) or not e.members or max(v for _, v in e.members) < 2**31
    return EnumSpec(f"enum {e.name}", enum_class(e, lib), f"_E_{e.name}", signed, members, tuple(consts))


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
    hidden: bool = False  # not in the Python signature (a declared buffer's length: computed)


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
    prologue: tuple[str, ...] = ()  # statements before the parameters' (the sret temporary)

    @property
    def args(self) -> tuple[ParamSpec, ...]:
        """The parameters of the Python signature (a declared buffer's length is not one)."""
        return tuple(p for p in self.params if not p.hidden)

    @property
    def unpack(self) -> str:
        """The assignment targets of the value-buffer slots (`_s0, _s1`)."""
        names = [f"_s{i}" for i in range(self.slots)]
        return ", ".join(names) + ("," if len(names) == 1 else "")


@dataclass
class Mapped:
    scope: Scope
    functions: list[FuncSpec] = field(default_factory=list)
    variables: list[VarSpec] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    hosts: list[HostSpec] = field(default_factory=list)


@dataclass(frozen=True)
class HostSpec:
    """A host function: the C function `c_name` the wasm imports, implemented in Python.
    `var` is its function-pointer descriptor (callback conversions), `annotation` the
    `Callable[...]` an implementation must have."""

    c_name: str
    var: str
    annotation: str
    doc: str


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
        store = (f"{slot}.{_wfield(s)} = {name}",)
        return ParamSpec(name, p.name, "int", _int_checks(name, s, what), store, False)
    if isinstance(s, m.EnumRef):
        e = lib.enums.get(s.name)
        ann = f"{enum_class(e, lib)} | int" if e is not None else "int"
        it = m.INT if s.signed else m.UINT
        return ParamSpec(name, p.name, ann, _int_checks(name, it, what), (f"{slot}.i32 = {name}",), False)
    if isinstance(s, m.RecordRef):
        rec = lib.records.get(s.name)
        if rec is None or rec.opaque:
            raise Unsupported(f"parameter {p.name!r}: {s.c_name()} is opaque and cannot be passed by value")
        w = m.wasm_type(s, lib.records)
        assert w is not None
        return ParamSpec(
            name,
            p.name,
            record_class(rec, lib),
            (),
            (f'{slot}.{w} = _rt.arg_byval(self, {name}, "{what}", _R_{s.name})',),
            True,
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
        store = (f"{slot}.{_wfield(s)} = {name}",)
        if m.is_long_double(s):  # two i64 words (slots index and index + 1)
            store = (f"{slot}.i64, _s{index + 1}.i64 = _rt.f128_words({name})",)
        return ParamSpec(
            name,
            p.name,
            "float",
            (
                f"if {name}.__class__ is not float:",
                f'    {name} = _rt.to_float({name}, "{what}", "{s.name}")',
            ),
            store,
            False,
        )
    if isinstance(s, m.PointerType):
        tgt = m.strip(s.target)
        writable = not s.const
        if _is_char(s.target):
            arg = f'{slot}.i32 = _rt.arg_str(self, {name}, "{what}", {writable})'
            return ParamSpec(name, p.name, "_rt.CharPtrArg", (), (arg,), True)
        if isinstance(tgt, m.VoidType):
            return ParamSpec(
                name,
                p.name,
                "_rt.BufferArg",
                (),
                (f'{slot}.i32 = _rt.arg_buf(self, {name}, "{what}", {writable}, "{s.c_name()}")',),
                True,
            )
        if isinstance(tgt, m.IntType | m.FloatType | m.BoolType | m.EnumRef):
            return ParamSpec(
                name,
                p.name,
                f"_rt.BufferArg | _rt.Pointer[{_py_scalar(tgt)}]",
                (),
                (f'{slot}.i32 = _rt.arg_buf(self, {name}, "{what}", {writable}, "{s.c_name()}")',),
                True,
            )
        if isinstance(tgt, m.RecordRef) and tgt.name in lib.records:
            rec = lib.records[tgt.name]
            cls = record_class(rec, lib)
            if rec.opaque:
                return ParamSpec(
                    name,
                    p.name,
                    f"{cls} | None",
                    (),
                    (f'{slot}.i32 = _rt.arg_handle(self, {name}, "{what}", {cls})',),
                    False,
                )
            return ParamSpec(
                name,
                p.name,
                f"{cls}Ptr | {cls} | None",
                (),
                (f'{slot}.i32 = _rt.arg_rec(self, {name}, "{what}", _R_{tgt.name}, {writable})',),
                True,
            )
        if isinstance(tgt, m.FunctionType):
            var = fn_type_var(tgt, lib)
            return ParamSpec(
                name,
                p.name,
                f"{callable_annotation(tgt, lib)} | None",
                (),
                (f'{slot}.i32 = _rt.arg_fn(self, {name}, "{what}", {var})',),
                True,
            )
        base = _array_base(tgt)
        if base is not tgt and isinstance(base, m.IntType | m.FloatType | m.BoolType | m.EnumRef):
            # `double m[3][3]` decays to `double (*)[3]`: a flat buffer of the scalars.
            return ParamSpec(
                name,
                p.name,
                f"_rt.BufferArg | _rt.Pointer[{_py_scalar(base)}]",
                (),
                (f'{slot}.i32 = _rt.arg_buf(self, {name}, "{what}", {writable}, "{s.c_name()}")',),
                True,
            )
        if isinstance(tgt, m.PointerType) and _is_char(tgt.target):
            return ParamSpec(
                name,
                p.name,
                "_rt.StrArrayArg",
                (),
                (f'{slot}.i32 = _rt.arg_strv(self, {name}, "{what}", "{s.c_name()}")',),
                True,
            )
        if isinstance(tgt, m.PointerType):
            return ParamSpec(
                name,
                p.name,
                "_rt.Pointer[Any] | int | None",
                (),
                (f'{slot}.i32 = _rt.address(self, {name}, "{what}", "{s.c_name()}")',),
                False,
            )
        raise Unsupported(f"parameter {p.name!r} of type {t.c_name()} is not supported yet")
    raise Unsupported(f"parameter {p.name!r} of type {t.c_name()} is not supported yet")


def _array_base(t: CType) -> CType:
    """The element type under any number of array dimensions (`t` itself if not an array)."""
    while isinstance(t, m.ArrayType):
        t = m.strip(t.elem)
    return t


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


def _varargs_spec(f: m.Function, slot: int, taken: set[str]) -> ParamSpec:
    """`*args` of a variadic function: C's default promotions, laid out in one buffer whose
    address is the wasm function's last parameter (`_rt.va_buffer`)."""
    name = "args"
    while name in taken:
        name += "_"
    store = (f'_s{slot}.i32 = _rt.va_buffer(self, {name}, "{f.name}()")',)
    return ParamSpec(f"*{name}", "...", "_rt.VarArg", (), store, True)


def result_spec(t: CType, lib: Library) -> tuple[str, str]:
    """(annotation, expression over `_s0`) for a function result."""
    lib = scope_of(lib)
    s = m.strip(t)
    if isinstance(s, m.VoidType):
        return "None", ""
    if isinstance(s, m.IntType):
        field_ = _wfield(s)
        if s.size == 4 and not s.signed:
            return "int", "_s0.i32 & 0xFFFFFFFF"
        if s.size == 8 and not s.signed:
            return "int", "_s0.i64 & 0xFFFFFFFFFFFFFFFF"
        if s.size < 4:
            bits = s.size * 8
            mask = (1 << bits) - 1
            if s.signed:
                half = 1 << (bits - 1)
                return "int", f"((_s0.i32 & {mask:#x}) ^ {half:#x}) - {half:#x}"
            return "int", f"_s0.i32 & {mask:#x}"
        return "int", f"_s0.{field_}"
    if isinstance(s, m.EnumRef):
        e = lib.enums.get(s.name)
        raw = "_s0.i32" if s.signed else "_s0.i32 & 0xFFFFFFFF"
        if e is None:
            return "int", raw
        return f"{enum_class(e, lib)} | int", f"_rt.to_enum({enum_class(e, lib)}, {raw})"
    if isinstance(s, m.RecordRef):
        rec = lib.records.get(s.name)
        if rec is None or rec.opaque:
            raise Unsupported(f"result {s.c_name()} is opaque and cannot be returned by value")
        if m.is_indirect_aggregate(s, lib.records):
            return record_class(rec, lib), f"_R_{s.name}.load(self, _ret)"
        w = m.wasm_type(s, lib.records)
        return record_class(rec, lib), f"_rt.ret_byval(self, _s0.{w}, _R_{s.name})"
    if isinstance(s, m.BoolType):
        return "bool", "(_s0.i32 & 0xFF) != 0"
    if isinstance(s, m.FloatType):
        if m.is_long_double(s):  # returned through a hidden pointer (see function_spec)
            return "float", "_rt.LONG_DOUBLE.load(self, _ret)"
        return "float", f"_s0.{_wfield(s)}"
    if isinstance(s, m.PointerType):
        tgt = m.strip(s.target)
        if _is_char(s.target):
            # A non-const `char *` may be the caller's to free: its `address` is typed too.
            return ("str" if s.const else "_rt.CStr") + " | None", "_rt.ret_str(self, _s0.i32)"
        if isinstance(tgt, m.VoidType):
            return "int | None", "(_s0.i32 & 0xFFFFFFFF) or None"
        if isinstance(tgt, m.FunctionType):
            return pointer_annotation(s, lib), f"_rt.ret_fn(self, _s0.i32, {fn_type_var(tgt, lib)})"
        if isinstance(tgt, m.RecordRef) and tgt.name in lib.records:
            return pointer_annotation(s, lib), f"_rt.ret_ptr(self, _s0.i32, _R_{tgt.name})"
        if isinstance(tgt, m.IntType | m.FloatType | m.BoolType | m.EnumRef | m.PointerType):
            ann = f"_rt.Pointer[{_py_scalar(tgt)}] | None" if not isinstance(tgt, m.PointerType) else (
                "_rt.Pointer[Any] | None"
            )
            return ann, f"_rt.ret_ptr(self, _s0.i32, {ctype_expr(s.target, lib)})"
    raise Unsupported(f"result type {t.c_name()} is not supported yet")


def function_spec(f: m.Function, lib: Library) -> FuncSpec:
    lib = scope_of(lib)
    wparams, wresults = m.wasm_signature(f.type, lib.records)
    sret = m.is_indirect_aggregate(f.type.result, lib.records)
    long_ret = m.is_long_double(f.type.result)
    slot = int(sret or long_ret)
    specs = []
    decl = _declared(lib, f.name)
    lengths = {d.arg: d.param for d in decl if d.kind == "buffer"}  # length param -> its buffer
    outs: list[tuple[str, str]] = []  # (annotation, expression) of each declared out-parameter
    for p in f.type.params:
        spec = param_spec(p, slot, f.name, lib)
        kinds = {d.kind for d in decl if d.param == p.name}
        if p.name in lengths:
            spec = _length_spec(f, p, slot, lengths[p.name], lib)
        elif "out" in kinds:
            spec, out = _out_spec(p, slot, lib)
            outs.append(out)
        elif "nonnull" in kinds:
            what = f"{f.name}() argument {p.name!r}"
            msg = f'raise TypeError("{what}: None is not accepted (declared nonnull)")'
            spec = replace(spec, check=(f"if {spec.name} is None:", f"    {msg}", *spec.check))
        specs.append(spec)
        slot += 2 if m.is_long_double(p.type) else 1
    if f.type.variadic:
        specs.append(_varargs_spec(f, slot, {s.name for s in specs}))
    params = tuple(specs)
    returns, result = _declared_result(f, lib, *result_spec(f.type.result, lib))
    if outs:  # the function's result first, then each out-parameter's value
        anns = ([returns] if result else []) + [a for a, _ in outs]
        exprs = ([result] if result else []) + [e for _, e in outs]
        returns = anns[0] if len(anns) == 1 else f"tuple[{', '.join(anns)}]"
        result = exprs[0] if len(exprs) == 1 else f"({', '.join(exprs)})"
    prologue: tuple[str, ...] = ()
    rec = _rec(f.type.result, lib)
    if sret and rec is not None:
        prologue = (f"_ret = self._tmp({rec.size}, {rec.align})", "_s0.i32 = _ret")
    elif long_ret:
        prologue = ("_ret = self._tmp(16, 8)", "_s0.i32 = _ret")
    return FuncSpec(
        c_name=f.name,
        name=func_name(f.name, lib.callers),
        doc=f.prototype,
        params=params,
        returns=returns,
        result=result,
        wasm_params="".join(_SIG_LETTER[w] for w in wparams),
        wasm_results="".join(_SIG_LETTER[w] for w in wresults),
        slots=max(len(wparams), len(wresults), 1),
        temporaries=any(p.temporaries for p in params) or rec is not None or long_ret,
        prologue=prologue,
    )


def _declared(lib: Library, where: str) -> list[m.Declaration]:
    return [d for d in lib.declarations if d.where == where]


def _length_spec(f: m.Function, p: m.Param, slot: int, buf: str, lib: Library) -> ParamSpec:
    """The length parameter of a declared buffer: computed from the buffer, not a parameter."""
    s = m.strip(p.type)
    if not isinstance(s, m.IntType):
        raise Unsupported(f"declared buffer length {p.name!r} is not an integer parameter")
    bp = next(q for q in f.type.params if q.name == buf)
    bt = m.strip(bp.type)
    tgt = m.strip(bt.target) if isinstance(bt, m.PointerType) else None
    size = 1 if tgt is None or isinstance(tgt, m.VoidType | m.FunctionType) else m.sizeof(tgt, lib.records)
    _, hi = _range(s)
    what = f"{f.name}() argument {buf!r}"
    store = f'_s{slot}.{_wfield(s)} = _rt.length_of({param_name(buf)}, {size}, {hi}, "{what}")'
    return ParamSpec(param_name(p.name), p.name, "int", (), (store,), False, hidden=True)


def _out_spec(p: m.Param, slot: int, lib: Library) -> tuple[ParamSpec, tuple[str, str]]:
    """A declared out-parameter: scratch memory passed in, its value read back after the call."""
    s = m.strip(p.type)
    assert isinstance(s, m.PointerType)
    tgt = _strip_names(s.target)
    size, align = m.sizeof(tgt, lib.records), m.alignof(tgt, lib.records)
    var = f"_o{slot}"
    store = (f"{var} = _rt.out_slot(self, {size}, {align})", f"_s{slot}.i32 = {var}")
    spec = ParamSpec(param_name(p.name), p.name, "Any", (), store, True, hidden=True)
    return spec, (load_annotation(tgt, lib), f"{ctype_expr(tgt, lib)}.load(self, {var})")


def _declared_result(f: m.Function, lib: Library, returns: str, result: str) -> tuple[str, str]:
    """The result's annotation and expression with the function's declarations applied."""
    for d in _declared(lib, f.name):
        if d.param:
            continue
        if d.kind == "owned":
            free = func_name(d.arg, _scope(lib).callers)
            if returns.startswith(("str", "_rt.CStr")):
                returns, result = "str | None", f"_rt.owned_str(self, _s0.i32, self.{free})"
            else:
                result = f"_rt.owned(self, {result}, self.{free})"
        elif d.kind == "bytes" and returns.startswith(("str", "_rt.CStr")):
            returns, result = "bytes | None", "_rt.ret_bytes(self, _s0.i32)"
    if any(d.kind == "nonnull" and not d.param for d in _declared(lib, f.name)):
        if returns.endswith(" | None"):
            returns = returns.removesuffix(" | None")
            result = f'_rt.nonnull({result}, "{f.name}()")'
    return returns, result


def map_library(lib: Library) -> Mapped:
    """Map every function; the ones that cannot be bound become warnings."""
    lib = scope_of(lib)
    out = Mapped(lib)
    # A renamed function must not take the name of another C function (`ffi` -> `ffi_` vs `ffi_`).
    used = {f.name for f in lib.functions} | {v.name for v in lib.variables}
    for f in lib.functions:
        try:
            spec = function_spec(f, lib)
            if spec.name != f.name:
                name = spec.name
                while name in used:
                    name += "_"
                used.add(name)
                spec = replace(spec, name=name)
                why = "a Python keyword" if keyword.iskeyword(f.name) else "a name the module uses"
                msg = f"{f.name}() is bound as {name}() ({f.name} is {why})"
                out.diagnostics.append(Diagnostic(f.file, f.line, msg, "warning"))
            out.functions.append(spec)
        except (Unsupported, m.LayoutError) as e:
            out.diagnostics.append(Diagnostic(f.file, f.line, f"skipped {f.name}(): {e}", "warning"))
    for v in lib.variables:
        try:
            spec_v = variable_spec(v, lib)
        except (Unsupported, m.LayoutError) as e:
            out.diagnostics.append(Diagnostic(v.file, v.line, f"skipped variable {v.name}: {e}", "warning"))
            continue
        name = spec_v.name
        if name != v.name:
            while name in used:
                name += "_"
            used.add(name)
            msg = f"variable {v.name} is bound as {name} ({v.name} is a name the module uses)"
            out.diagnostics.append(Diagnostic(v.file, v.line, msg, "warning"))
        out.variables.append(replace(spec_v, name=name))
    for f in lib.host_functions:
        try:
            host = HostSpec(f.name, fn_type_var(f.type, lib), callable_annotation(f.type, lib), f.prototype)
        except (Unsupported, m.LayoutError) as e:
            msg = f"host function {f.name}() is called with raw wasm values: {e}"
            out.diagnostics.append(Diagnostic(f.file, f.line, msg, "warning"))
            continue
        out.hosts.append(host)
    for name in lib.raw_host_functions:
        doc = f"{name}(...): declared in no bound header, so it takes and returns wasm numbers"
        out.hosts.append(HostSpec(name, "", "Callable[..., Any]", doc))
    return out


@dataclass(frozen=True)
class MacroSpec:
    """A function-like macro as a module-level Python function with C's arithmetic."""

    c_name: str
    name: str
    doc: str
    params: tuple[ParamSpec, ...]  # only `name`, `annotation` and `check` are used
    returns: str
    expr: str

    @property
    def body(self) -> tuple[str, ...]:
        """The `return` statement's lines: a long expression continues inside parentheses,
        broken between tokens (the rendered expression has blanks only there)."""
        if len(self.expr) <= 90:
            return (f"return {self.expr}",)
        parts = textwrap.wrap(self.expr, 96, break_long_words=False, break_on_hyphens=False)
        return ("return (", *(f"    {p}" for p in parts), ")")


def macro_spec(mf: m.MacroFunction, name: str, lib: Library) -> MacroSpec:
    params = tuple(param_spec(m.Param(a.name, a.type), 0, mf.name, lib) for a in mf.params)
    names = {a.name: p.name for a, p in zip(mf.params, params, strict=True)}
    doc = mf.text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    returns = "float" if isinstance(mf.body.type, m.FloatType) else "int"
    return MacroSpec(mf.name, name, doc, params, returns, macro_expr(mf.body, names))


def _int_range(t: m.IntType | m.FloatType) -> tuple[int, int]:
    assert isinstance(t, m.IntType)
    return _range(t)


def macro_expr(e: m.Expr, names: dict[str, str]) -> str:
    """Python for a macro's typed tree: each operation has C's result for its C type."""
    t = e.type
    if isinstance(e, m.Lit):
        if isinstance(e.value, float) and not math.isfinite(e.value):
            return f'float("{e.value}")'
        return f"({e.value!r})" if e.value < 0 else repr(e.value)
    if isinstance(e, m.Arg):
        return names[e.name]
    wrap = (lambda x: f"_rt.c_wrap({x}, {t.size}, {t.signed})") if isinstance(t, m.IntType) else (lambda x: x)
    if isinstance(e, m.Convert):
        inner, src = macro_expr(e.expr, names), e.expr.type
        if isinstance(t, m.FloatType):
            return inner if isinstance(src, m.FloatType) else f"float({inner})"
        if isinstance(src, m.FloatType):
            return f"_rt.c_trunc({inner}, {t.size}, {t.signed})"
        (lo, hi), (tlo, thi) = _int_range(src), _int_range(t)
        return inner if tlo <= lo and hi <= thi else wrap(inner)
    if isinstance(e, m.Unary):
        inner = macro_expr(e.operand, names)
        return wrap(f"{e.op}{inner}") if e.op != "-" or isinstance(t, m.IntType) else f"(-{inner})"
    if isinstance(e, m.Cond):
        a, b = macro_expr(e.then, names), macro_expr(e.other, names)
        cond = e.cond
        if isinstance(cond, m.Binary) and cond.op in ("<", ">", "<=", ">=", "==", "!="):
            c = f"{macro_expr(cond.left, names)} {cond.op} {macro_expr(cond.right, names)}"
        else:
            c = macro_expr(cond, names)
        return f"({a} if {c} else {b})"
    a, b = macro_expr(e.left, names), macro_expr(e.right, names)
    op = e.op
    if op in ("&&", "||"):
        return f"int(bool({a}) {'and' if op == '&&' else 'or'} bool({b}))"
    if op in ("<", ">", "<=", ">=", "==", "!="):
        return f"int({a} {op} {b})"
    if isinstance(t, m.FloatType):
        return f"_rt.c_fdiv({a}, {b})" if op == "/" else f"({a} {op} {b})"
    if op in ("<<", ">>"):
        shifted = f"_rt.c_shift({a}, {b}, {op == '<<'}, {t.size})"
        return wrap(shifted) if op == "<<" else shifted
    if op == "/":
        return wrap(f"_rt.c_div({a}, {b})")
    if op == "%":
        return f"_rt.c_mod({a}, {b})"
    if op in ("&", "|", "^"):
        return f"({a} {op} {b})"
    return wrap(f"{a} {op} {b}")


def constant_literal(value: int | float | str) -> tuple[str, str]:
    """(annotation, Python literal) of a #define constant."""
    if isinstance(value, bool):
        return "int", str(int(value))
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    return "str", repr(value)


def type_context(lib: Library, mapped: Mapped, taken: set[str]) -> dict[str, Any]:
    """What the templates need for the library's types: enums, records, function-pointer
    descriptors, the typed `ffi` class, extra `_TYPES` names, imports and exported names.

    Call it after every other `ctype_expr` use (it collects the function-pointer types).
    """
    lib = mapped.scope
    enums = [enum_spec(e, taken, lib) for e in lib.enums.values()]
    records: list[RecordSpec] = []
    decls: list[m.Record | m.Enum] = [*lib.records.values(), *lib.enums.values()]
    for decl in decls:
        c_name = decl.typedef or decl.name
        if c_name in _function_names(lib):
            cls = record_class(decl, lib) if isinstance(decl, m.Record) else enum_class(decl, lib)
            msg = f"{c_name} is bound as class {cls} (the function {c_name}() has its name)"
            mapped.diagnostics.append(Diagnostic(decl.file, decl.line, msg, "warning"))
    for rec in lib.records.values():
        try:
            records.append(record_spec(rec, lib))
        except (Unsupported, m.LayoutError) as e:
            mapped.diagnostics.append(
                Diagnostic(rec.file, rec.line, f"{rec.kind} {rec.name} bound as opaque: {e}", "warning")
            )
            records.append(_opaque_spec(rec, lib))
    # Names for ffi.new / ffi.sizeof beyond the typedefs: `struct X`, `enum X`.
    extra = [{"name": r.c_name, "expr": r.var} for r in records]
    extra += [{"name": e.c_name, "expr": e.var} for e in enums]
    extra += fn_type_names(lib)
    news = [r for r in records if not r.opaque]
    anns = [p.annotation for f in mapped.functions for p in f.params] + [f.returns for f in mapped.functions]
    anns += [a for v in mapped.variables for a in (v.annotation, v.set_annotation or "")]
    anns += [a for r in records for x in r.fields for a in (x.init_annotation, x.value_annotation)]
    anns += [h.annotation for h in mapped.hosts]
    text = " ".join(anns)
    abc = [n for n in ("Callable", "Sequence") if f"{n}[" in text]
    # isort's order: classes, then functions
    names = ["Literal"] * bool(news) + ["TypedDict"] * bool(mapped.hosts) + ["overload"] * bool(news)
    typing = "".join(", " + n for n in names)
    exported = {e.name for e in enums} | {c for e in enums for c, _ in e.constants}
    exported |= {r.name for r in records} | {r.ptr_name for r in records if not r.opaque}
    mapped.diagnostics.extend(lib.notes)  # after every descriptor is made
    return {
        "enums": enums,
        "records": records,
        "fn_types": fn_types(lib),
        "struct_news": news,
        "ffi_class": "_FFI" if news else "_rt.FFI",
        "types_imports": {"enum": bool(enums), "abc": ", ".join(abc), "typing": typing},
        "extra_types": extra,
        "type_names": sorted(exported),
    }
