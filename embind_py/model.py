"""The typed model of a C library's declarations, with their wasm32 layout.

Owns: the C type variants, records (structs and unions), enums, functions,
constants, diagnostics, and the wasm32 size / alignment / offset rules and the
wasm32 C ABI lowering (how a C signature becomes a wasm signature).

May import: the standard library only. Nothing of ours imports pycparser nodes
into here: `cparse` converts them before they reach the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

# ---------------------------------------------------------------------------
# Types


@dataclass(frozen=True)
class VoidType:
    """`void`."""

    def c_name(self) -> str:
        return "void"


@dataclass(frozen=True)
class IntType:
    """A C integer type: `name` is its C spelling (`unsigned long long`)."""

    name: str
    size: int
    signed: bool

    def c_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class BoolType:
    """`_Bool` / `bool`: one byte, 0 or 1."""

    name: str = "_Bool"

    def c_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class FloatType:
    """`float` (4), `double` (8) or `long double` (16: IEEE binary128 in wasm32, align 8)."""

    name: str
    size: int

    def c_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class PointerType:
    """`T *`. `const` is true when the pointee is const-qualified (`const T *`)."""

    target: CType
    const: bool = False

    def c_name(self) -> str:
        levels: list[PointerType] = [self]  # outermost first
        fn = self.target
        while isinstance(fn, PointerType):
            levels.append(fn)
            fn = fn.target
        if isinstance(fn, FunctionType):
            # `void (**)(int)`, `void (*const *)(int)`: every level goes inside the parentheses.
            stars = "*"
            for outer in reversed(levels[:-1]):
                stars += ("const " if outer.const else "") + "*"
            return fn.c_name_with(f"({stars})")
        if isinstance(self.target, PointerType | ArrayType):
            # `const` after a pointer qualifies the pointer (`const char *const *`, `char **`);
            # a pointer to an array is spelled `double (*)[3]`.
            if isinstance(self.target, ArrayType):
                elem: CType = self.target
                dims = ""
                while isinstance(elem, ArrayType):
                    dims += f"[{'' if elem.length is None else elem.length}]"
                    elem = elem.elem
                return f"{'const ' if self.const else ''}{elem.c_name()} (*){dims}"
            return f"{self.target.c_name()}{'const ' if self.const else ''}*"
        inner = self.target.c_name()
        return f"const {inner} *" if self.const else f"{inner} *"


@dataclass(frozen=True)
class ArrayType:
    """`T name[length]`; `length` is None for `T name[]`."""

    elem: CType
    length: int | None

    def c_name(self) -> str:
        n = "" if self.length is None else str(self.length)
        return f"{self.elem.c_name()}[{n}]"


@dataclass(frozen=True)
class NamedType:
    """A use of a typedef name; `target` is what the typedef stands for."""

    name: str
    target: CType

    def c_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class RecordRef:
    """A use of `struct NAME` / `union NAME`; the layout is `Library.records[name]`."""

    kind: Literal["struct", "union"]
    name: str

    def c_name(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class EnumRef:
    """A use of `enum NAME`; members are in `Library.enums[name]`. wasm32: 4 bytes."""

    name: str
    signed: bool = True

    def c_name(self) -> str:
        return f"enum {self.name}"


@dataclass(frozen=True)
class Param:
    name: str
    type: CType


@dataclass(frozen=True)
class FunctionType:
    """A function type (the target of a function pointer, or a declared function's type)."""

    result: CType
    params: tuple[Param, ...]
    variadic: bool = False

    def c_name(self) -> str:
        return self.c_name_with("")

    def c_name_with(self, declarator: str) -> str:
        args = ", ".join(p.type.c_name() for p in self.params) or "void"
        if self.variadic:
            args += ", ..."
        return f"{self.result.c_name()} {declarator}({args})"


CType = (
    VoidType
    | IntType
    | BoolType
    | FloatType
    | PointerType
    | ArrayType
    | NamedType
    | RecordRef
    | EnumRef
    | FunctionType
)

# The wasm32 scalar types, with emcc's (clang's) sizes.
VOID = VoidType()
CHAR = IntType("char", 1, True)
SCHAR = IntType("signed char", 1, True)
UCHAR = IntType("unsigned char", 1, False)
SHORT = IntType("short", 2, True)
USHORT = IntType("unsigned short", 2, False)
INT = IntType("int", 4, True)
UINT = IntType("unsigned int", 4, False)
LONG = IntType("long", 4, True)
ULONG = IntType("unsigned long", 4, False)
LONGLONG = IntType("long long", 8, True)
ULONGLONG = IntType("unsigned long long", 8, False)
BOOL = BoolType()
FLOAT = FloatType("float", 4)
DOUBLE = FloatType("double", 8)
LONGDOUBLE = FloatType("long double", 16)
POINTER_SIZE = 4

# ---------------------------------------------------------------------------
# Declarations


@dataclass(frozen=True)
class Field:
    """A member of a record; anonymous members are flattened. A bitfield has `bits`:
    (first bit within the byte at `offset`, width), as clang lays it out (little-endian)."""

    name: str
    type: CType
    offset: int
    bits: tuple[int, int] | None = None


@dataclass(frozen=True)
class Record:
    """A struct or union with its wasm32 layout. `opaque` when declared without a body."""

    kind: Literal["struct", "union"]
    name: str
    fields: tuple[Field, ...]
    size: int
    align: int
    opaque: bool
    typedef: str | None
    file: str
    line: int


@dataclass(frozen=True)
class Enum:
    """An enum; `typedef` is the typedef name if one names it. An `anonymous` one (no tag,
    no typedef: `enum { FIRST, SECOND };`) only names constants; `name` is synthesized."""

    name: str
    members: tuple[tuple[str, int], ...]
    typedef: str | None
    file: str
    line: int
    anonymous: bool = False


@dataclass(frozen=True)
class Function:
    """A function declared in a user header. `prototype` is its C text, for docstrings."""

    name: str
    type: FunctionType
    prototype: str
    file: str
    line: int


@dataclass(frozen=True)
class Variable:
    """A global variable a user header declares (`extern int counter;`). `const` when the
    object itself is const-qualified (`const int n`, `const char *const s`, `const T t[4]`)."""

    name: str
    type: CType
    const: bool
    prototype: str
    file: str
    line: int


@dataclass(frozen=True)
class Constant:
    """An object-like `#define` with a literal (or constant-expression) value."""

    name: str
    value: int | float | str
    file: str
    line: int


# Function-like macros (`#define SQUARE(x) ((x) * (x))`): a typed C expression tree whose
# conversions are explicit, so the generator can give it C's semantics in Python.


@dataclass(frozen=True)
class Lit:
    value: int | float
    type: IntType | FloatType


@dataclass(frozen=True)
class Arg:
    name: str
    type: IntType | FloatType


@dataclass(frozen=True)
class Convert:
    """C's conversion of `expr` to `type` (usual arithmetic conversions, casts)."""

    expr: Expr
    type: IntType | FloatType


@dataclass(frozen=True)
class Unary:
    op: Literal["-", "~", "!"]
    operand: Expr
    type: IntType | FloatType


@dataclass(frozen=True)
class Binary:
    """`left op right`, both operands already converted to the operation's type (`type` for
    arithmetic; for comparisons, `&&` and `||` the result is an `int`, the operands' types kept)."""

    op: str
    left: Expr
    right: Expr
    type: IntType | FloatType


@dataclass(frozen=True)
class Cond:
    cond: Expr
    then: Expr
    other: Expr
    type: IntType | FloatType


Expr = Lit | Arg | Convert | Unary | Binary | Cond


@dataclass(frozen=True)
class MacroFunction:
    """A function-like `#define` whose body is an expression of its parameters and constants."""

    name: str
    params: tuple[Arg, ...]
    body: Expr
    text: str  # `#define SQUARE(x) ((x) * (x))`, for the docstring
    file: str
    line: int


@dataclass(frozen=True)
class Diagnostic:
    """A problem in user input, reported as `file:line: message`."""

    file: str
    line: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Declaration:
    """One user declaration about a function, a parameter or a callback type's parameter:
    `where` is a function or function-pointer typedef name, `param` a parameter name, a
    1-based position (callback types) or "" for a function's result; `kind` is one of
    `embind_py.declare.KINDS`, `arg` its argument (the length parameter, the free function)."""

    where: str
    param: str
    kind: str
    arg: str
    text: str  # as the user wrote it, for messages


@dataclass(frozen=True)
class Library:
    """Everything the user's headers declare that the generator may bind."""

    functions: tuple[Function, ...] = ()
    variables: tuple[Variable, ...] = ()
    records: dict[str, Record] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    typedefs: dict[str, NamedType] = field(default_factory=dict)
    constants: tuple[Constant, ...] = ()
    macros: tuple[MacroFunction, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    has_main: bool = False
    # Declared functions no source defines that the wasm imports: Python implements them.
    host_functions: tuple[Function, ...] = ()
    # What the user declared that C's types cannot say (see `embind_py.declare`).
    declarations: tuple[Declaration, ...] = ()
    # Functions allowed as host functions by name (--host-function), declared in no bound header.
    raw_host_functions: tuple[str, ...] = ()

    def record(self, ref: RecordRef) -> Record:
        return self.records[ref.name]


# ---------------------------------------------------------------------------
# wasm32 layout


class LayoutError(Exception):
    """A type whose size is unknown (incomplete record, `void`, function)."""


def strip(t: CType) -> CType:
    """Resolve typedef names down to the underlying type."""
    while isinstance(t, NamedType):
        t = t.target
    return t


def sizeof(t: CType, records: dict[str, Record]) -> int:
    t = strip(t)
    if isinstance(t, IntType | FloatType):
        return t.size
    if isinstance(t, BoolType):
        return 1
    if isinstance(t, PointerType):
        return POINTER_SIZE
    if isinstance(t, EnumRef):
        return 4
    if isinstance(t, ArrayType):
        if t.length is None:
            raise LayoutError("array of unknown length")
        return t.length * sizeof(t.elem, records)
    if isinstance(t, RecordRef):
        rec = records.get(t.name)
        if rec is None or rec.opaque:
            raise LayoutError(f"incomplete type {t.c_name()}")
        return rec.size
    raise LayoutError(f"{t.c_name()} has no size")


def alignof(t: CType, records: dict[str, Record]) -> int:
    t = strip(t)
    if isinstance(t, ArrayType):
        return alignof(t.elem, records)
    if isinstance(t, RecordRef):
        rec = records.get(t.name)
        if rec is None or rec.opaque:
            raise LayoutError(f"incomplete type {t.c_name()}")
        return rec.align
    if t == LONGDOUBLE:
        return 8
    return sizeof(t, records)


def is_long_double(t: CType) -> bool:
    """wasm32's `long double` is passed as two i64 words and returned through a hidden pointer."""
    return strip(t) == LONGDOUBLE


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def layout(
    kind: Literal["struct", "union"],
    members: list[tuple[str, CType]],
    records: dict[str, Record],
) -> tuple[list[Field], int, int]:
    """Lay members out as clang does for wasm32: returns (fields, size, align).

    A member named "" is an anonymous struct/union whose own fields are lifted
    into this record at their offset within it (C11 anonymous members).
    """
    fields: list[Field] = []
    offset = 0
    size = 0
    align = 1
    for name, t in members:
        a = alignof(t, records)
        s = sizeof(t, records)
        align = max(align, a)
        at = 0 if kind == "union" else align_up(offset, a)
        if name == "":
            inner = strip(t)
            assert isinstance(inner, RecordRef)
            for f in records[inner.name].fields:
                fields.append(replace(f, offset=at + f.offset))
        else:
            fields.append(Field(name, t, at))
        if kind == "union":
            size = max(size, s)
        else:
            offset = at + s
            size = offset
    return fields, align_up(size, align), align


# ---------------------------------------------------------------------------
# wasm32 C ABI

WasmType = Literal["i32", "i64", "f32", "f64"]


def scalar_of(t: CType, records: dict[str, Record]) -> CType | None:
    """The single scalar a record reduces to under the C ABI, else None.

    clang's wasm32 ABI passes a struct or union whose only member is (recursively)
    a single scalar as that scalar.
    """
    t = strip(t)
    if isinstance(t, RecordRef):
        rec = records.get(t.name)
        if rec is None or rec.opaque or len(rec.fields) != 1:
            return None
        inner = scalar_of(rec.fields[0].type, records)
        # clang's isSingleElementStruct: padding (`aligned(16)` around an int) makes it an aggregate.
        if inner is None or sizeof(inner, records) != rec.size or is_long_double(inner):
            return None  # (a lone long double is two i64 words: not modelled, the wasm check drops it)
        return inner
    if isinstance(t, ArrayType):
        return scalar_of(t.elem, records) if t.length == 1 else None
    return t


def wasm_type(t: CType, records: dict[str, Record]) -> WasmType | None:
    """The wasm value type that carries a C value of type `t` (None for void).

    An aggregate that does not reduce to one scalar is carried as a pointer (i32).
    """
    t = strip(t)
    if isinstance(t, VoidType):
        return None
    if isinstance(t, RecordRef):
        s = scalar_of(t, records)
        return "i32" if s is None else wasm_type(s, records)
    if isinstance(t, FloatType):
        return "f32" if t.size == 4 else "f64"
    if isinstance(t, IntType):
        return "i64" if t.size == 8 else "i32"
    return "i32"


def is_indirect_aggregate(t: CType, records: dict[str, Record]) -> bool:
    """True for a record passed by hidden pointer (and returned through sret)."""
    s = strip(t)
    return isinstance(s, RecordRef) and scalar_of(s, records) is None


def wasm_signature(
    ft: FunctionType, records: dict[str, Record]
) -> tuple[tuple[WasmType, ...], tuple[WasmType, ...]]:
    """Lower a C function type to its wasm (params, results) as emcc does."""
    params: list[WasmType] = []
    results: list[WasmType] = []
    if is_indirect_aggregate(ft.result, records) or is_long_double(ft.result):
        params.append("i32")
    else:
        r = wasm_type(ft.result, records)
        if r is not None:
            results.append(r)
    for p in ft.params:
        if is_long_double(p.type):
            params += ["i64", "i64"]
            continue
        w = wasm_type(p.type, records)
        assert w is not None, "void parameter"
        params.append(w)
    if ft.variadic:  # the variable arguments: a pointer to a buffer of them
        params.append("i32")
    return tuple(params), tuple(results)
