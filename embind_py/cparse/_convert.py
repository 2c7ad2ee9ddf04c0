"""pycparser's AST -> the model: types, records, enums, typedefs, functions.

Owns: canonical scalar types, typedef chains, record naming (tags, typedef names,
synthesized names for anonymous records) and wasm32 layout through
`model.layout`, enum values, parameter decay, what cannot be bound (and the one
warning each such declaration gets), and prototypes for docstrings.

May import: the standard library, `embind_py.model`, pycparser, and the
package's private modules. pycparser nodes never leave this package.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pycparser import c_ast, c_generator  # type: ignore[import-untyped, unused-ignore]

from embind_py import model
from embind_py.cparse._eval import Evaluator, NotConstant, Value
from embind_py.cparse._files import FileTable
from embind_py.cparse._layouts import ClangLayouts, ClangMember, ClangRecord
from embind_py.model import (
    ArrayType,
    CType,
    Diagnostic,
    Enum,
    EnumRef,
    Field,
    FunctionType,
    NamedType,
    Param,
    PointerType,
    Record,
    RecordRef,
)

Kind = Literal["struct", "union"]

# Typedef names that stand for C's variable argument lists: the toolchain
# defines `__builtin_va_list` as `int` so pycparser can read the headers.
_VA_LIST = frozenset({"va_list", "__isoc_va_list", "__gnuc_va_list", "__va_list"})


class InternalError(Exception):
    """A pycparser node this package does not know: a bug, not a user error."""


class Unbindable(Exception):
    """A declaration that Python cannot call or lay out; the message says why."""


def _coord(node: c_ast.Node) -> str:
    return str(getattr(node, "coord", None))


def internal(node: c_ast.Node) -> InternalError:
    return InternalError(f"{_coord(node)}: unexpected pycparser node {type(node).__name__}")


@dataclass
class _RecDef:
    kind: Kind
    name: str
    order: int
    node: c_ast.Node | None  # the Struct/Union with a body, or None if never defined
    file: str | None
    line: int


@dataclass
class _EnumDef:
    name: str
    order: int
    node: c_ast.Enum
    members: list[tuple[str, int]] = field(default_factory=list)
    problem: str | None = None


def _scalar(names: list[str], node: c_ast.Node) -> CType:
    """The model type for a list of C type keywords (`unsigned long int`)."""
    words = sorted(names)
    if any(w in ("_Complex", "__int128", "_Imaginary") for w in words):
        raise Unbindable(" ".join(names))
    if "double" in words:
        return model.LONGDOUBLE if "long" in words else model.DOUBLE
    if words == ["float"]:
        return model.FLOAT
    if words == ["void"]:
        return model.VOID
    if words == ["_Bool"]:
        return model.BOOL
    unsigned = "unsigned" in words
    signed = "signed" in words
    core = [w for w in words if w not in ("signed", "unsigned", "int")]
    if core == ["char"]:
        return model.UCHAR if unsigned else model.SCHAR if signed else model.CHAR
    table = {
        (): (model.INT, model.UINT),
        ("short",): (model.SHORT, model.USHORT),
        ("long",): (model.LONG, model.ULONG),
        ("long", "long"): (model.LONGLONG, model.ULONGLONG),
    }
    pair = table.get(tuple(core))
    if pair is None:
        raise Unbindable(f"invalid type {' '.join(names)}")
    return pair[1] if unsigned else pair[0]


_LAYOUT_ATTR = re.compile(r"\b(__packed__|packed|__aligned__|aligned|_Alignas|alignas)\b")


class Converter:
    """Walks a translation unit once and answers model questions about it."""

    def __init__(self, files: FileTable, layouts: ClangLayouts | None = None) -> None:
        self._layouts = layouts  # clang's, when the pipeline asked for them
        self._nested: dict[str, ClangRecord] = {}  # clang layouts of records nested by value
        self.files = files
        self.diagnostics: list[tuple[int, int, int, Diagnostic]] = []
        self._order = 0
        self._typedef_nodes: dict[str, c_ast.Typedef] = {}
        self._typedefs: dict[str, NamedType] = {}
        self._typedef_busy: set[str] = set()
        self._const_typedefs: set[str] = set()
        self._recdefs: dict[str, _RecDef] = {}
        self._rec_names: dict[int, str] = {}
        self._rec_typedef: dict[str, str] = {}
        self._anonymous_members: set[str] = set()
        self._enumdefs: dict[str, _EnumDef] = {}
        self._enum_names: dict[int, str] = {}
        self._enum_typedef: dict[str, str] = {}
        self.enumerators: dict[str, Value] = {}
        self.records: dict[str, Record] = {}
        self._record_problem: dict[str, str] = {}
        self._layout_busy: set[str] = set()
        self._warned: set[str] = set()
        self.evaluator = Evaluator(self._name_value, self.ctype, self._sizeof)

    # -- diagnostics --------------------------------------------------------

    def where(self, node: c_ast.Node) -> tuple[str | None, int]:
        coord = getattr(node, "coord", None)
        if coord is None:
            return None, 0
        return coord.file, coord.line or 0

    def warn(self, node: c_ast.Node, message: str, key: str | None = None) -> None:
        """One warning per `key` (by default the message)."""
        key = key or message
        if key in self._warned:
            return
        self._warned.add(key)
        raw, line = self.where(node)
        self.report(raw, line, message, "warning")

    def report(
        self, raw: str | None, line: int, message: str, severity: Literal["error", "warning"]
    ) -> None:
        d = Diagnostic(self.files.display(raw), line, message, severity)
        self.diagnostics.append((self.files.rank(raw), line, len(self.diagnostics), d))

    def is_user(self, node: c_ast.Node) -> bool:
        return self.files.is_user(self.where(node)[0])

    # -- phase 1: register every typedef, record and enum -------------------

    def register(self, ext: c_ast.Node) -> None:
        """Note the names a top-level node defines (in source order)."""
        if isinstance(ext, c_ast.Typedef):
            self._typedef_nodes.setdefault(ext.name, ext)
            if "const" in ext.quals:
                self._const_typedefs.add(ext.name)
            inner = ext.type.type if isinstance(ext.type, c_ast.TypeDecl) else None
            self._register_type(ext.type, ext.name)
            if isinstance(inner, c_ast.Struct | c_ast.Union):
                self._rec_typedef.setdefault(self._record_name(inner, ext.name), ext.name)
            elif isinstance(inner, c_ast.Enum):
                name = self._enum_name(inner, ext.name)
                if name is not None:
                    self._enum_typedef.setdefault(name, ext.name)
        elif isinstance(ext, c_ast.Decl):
            self._register_type(ext.type, None)
        elif isinstance(ext, c_ast.FuncDef):
            self._register_type(ext.decl.type, None)

    def _register_type(self, node: c_ast.Node | None, hint: str | None) -> None:
        if node is None:
            return
        if isinstance(node, c_ast.TypeDecl | c_ast.Typename | c_ast.PtrDecl):
            self._register_type(node.type, hint if isinstance(node, c_ast.TypeDecl) else None)
        elif isinstance(node, c_ast.ArrayDecl):
            self._register_type(node.type, None)
        elif isinstance(node, c_ast.FuncDecl):
            self._register_type(node.type, None)
            for p in node.args.params if node.args else ():
                if isinstance(p, c_ast.Decl | c_ast.Typename):
                    self._register_type(p.type, None)
        elif isinstance(node, c_ast.Struct | c_ast.Union):
            name = self._record_name(node, hint)
            if node.decls is not None:
                for k, d in enumerate(node.decls):
                    if isinstance(d, c_ast.Decl):
                        sub = f"{name}_{d.name}" if d.name else f"{name}_anon{k}"
                        self._register_type(d.type, sub)
                        if d.name is None and isinstance(d.type, c_ast.Struct | c_ast.Union):
                            self._anonymous_members.add(self._record_name(d.type, sub))
                # Definitions nested inside come first: source order, dependencies first.
                self._recdefs[name].order = self._next()
        elif isinstance(node, c_ast.Enum):
            self._enum_name(node, hint)

    def _record_name(self, node: c_ast.Struct | c_ast.Union, hint: str | None) -> str:
        """The record's key: its tag, else the typedef/member name it gets."""
        key = id(node)
        if key in self._rec_names:
            return self._rec_names[key]
        kind: Kind = "struct" if isinstance(node, c_ast.Struct) else "union"
        name: str | None = node.name
        if name is None:
            base = hint or f"anon_{kind}_{self.where(node)[1]}"
            name, n = base, 1
            while name in self._recdefs:
                n += 1
                name = f"{base}_{n}"
        self._rec_names[key] = name
        raw, line = self.where(node)
        d = self._recdefs.get(name)
        if d is None:
            d = self._recdefs[name] = _RecDef(kind, name, self._next(), None, raw, line)
        if node.decls is not None and d.node is None:
            d.node, d.file, d.line, d.order = node, raw, line, self._next()
        return name

    def _enum_name(self, node: c_ast.Enum, hint: str | None) -> str | None:
        key = id(node)
        if key in self._enum_names:
            return self._enum_names[key]
        name: str | None = node.name
        if name is None:
            if node.values is None or not node.values.enumerators:
                return None
            base = hint or node.values.enumerators[0].name
            name, n = base, 1
            while name in self._enumdefs:
                n += 1
                name = f"{base}_{n}"
        self._enum_names[key] = name
        assert name is not None
        if node.values is not None and name not in self._enumdefs:
            d = _EnumDef(name, self._next(), node)
            self._enumdefs[name] = d
            self._evaluate_enum(d)
        return name

    def _next(self) -> int:
        self._order += 1
        return self._order

    def _evaluate_enum(self, d: _EnumDef) -> None:
        nxt = 0
        for e in d.node.values.enumerators:
            try:
                value = nxt if e.value is None else self.evaluator.int_value(e.value)
            except (NotConstant, Unbindable) as err:
                d.problem = f"enumerator {e.name} has no constant value ({err})"
                break
            d.members.append((e.name, value))
            self.enumerators[e.name] = Value(value, model.INT)
            nxt = value + 1
        if d.problem is None and d.members:
            lo = min(v for _, v in d.members)
            hi = max(v for _, v in d.members)
            if lo < -(2**31) or hi >= 2**32 or (lo < 0 and hi >= 2**31):
                d.problem = f"enum {d.name} needs more than 32 bits"
        if d.problem is not None and self.is_user(d.node):
            self.warn(d.node, f"enum {d.name} skipped: {d.problem}", key=f"enum {d.name}")

    def _name_value(self, name: str) -> Value | None:
        return self.enumerators.get(name)

    # -- types --------------------------------------------------------------

    def ctype(self, node: c_ast.Node) -> CType:
        """The model type a pycparser type node stands for (may raise Unbindable)."""
        if isinstance(node, c_ast.TypeDecl | c_ast.Typename):
            return self.ctype(node.type)
        if isinstance(node, c_ast.IdentifierType):
            if len(node.names) == 1 and node.names[0] in self._typedef_nodes:
                return self.typedef(node.names[0])
            return _scalar(node.names, node)
        if isinstance(node, c_ast.PtrDecl):
            return PointerType(self.ctype(node.type), self.is_const(node.type))
        if isinstance(node, c_ast.ArrayDecl):
            elem = self.ctype(node.type)
            if node.dim is None:
                return ArrayType(elem, None)
            try:
                n = self.evaluator.int_value(node.dim)
            except NotConstant as e:
                raise Unbindable(f"array size is not a constant ({e})") from None
            return ArrayType(elem, n)
        if isinstance(node, c_ast.FuncDecl):
            return self.function_type(node)
        if isinstance(node, c_ast.Struct | c_ast.Union):
            name = self._record_name(node, None)
            return RecordRef(self._recdefs[name].kind, name)
        if isinstance(node, c_ast.Enum):
            ename = self._enum_name(node, None)
            d = self._enumdefs.get(ename) if ename else None
            if d is None:
                raise Unbindable(f"enum {node.name} is never defined")
            if d.problem is not None:
                raise Unbindable(d.problem)
            return EnumRef(d.name, any(v < 0 for _, v in d.members))
        raise internal(node)

    def typedef(self, name: str) -> NamedType:
        done = self._typedefs.get(name)
        if done is not None:
            return done
        if name in _VA_LIST:
            raise Unbindable(f"{name} (a C variable argument list)")
        if name in self._typedef_busy:
            raise Unbindable(f"typedef {name} refers to itself")
        self._typedef_busy.add(name)
        try:
            t = NamedType(name, self.ctype(self._typedef_nodes[name].type))
        finally:
            self._typedef_busy.discard(name)
        self._typedefs[name] = t
        return t

    def is_const(self, node: c_ast.Node) -> bool:
        """Whether the type `node` declares is const-qualified at its top."""
        if isinstance(node, c_ast.PtrDecl):
            return "const" in node.quals
        if isinstance(node, c_ast.ArrayDecl):
            return self.is_const(node.type)
        if isinstance(node, c_ast.TypeDecl | c_ast.Typename):
            if "const" in node.quals:
                return True
            inner = node.type
            return (
                isinstance(inner, c_ast.IdentifierType)
                and len(inner.names) == 1
                and self._typedef_const(inner.names[0])
            )
        return False

    def _typedef_const(self, name: str) -> bool:
        node = self._typedef_nodes.get(name)
        return node is not None and (name in self._const_typedefs or self.is_const(node.type))

    def function_type(self, node: c_ast.FuncDecl) -> FunctionType:
        result = self.ctype(node.type)
        params: list[Param] = []
        variadic = False
        plist = node.args.params if node.args is not None else []
        for i, p in enumerate(plist):
            if isinstance(p, c_ast.EllipsisParam):
                variadic = True
                continue
            if isinstance(p, c_ast.ID):
                raise Unbindable("K&R-style parameter list")
            if not isinstance(p, c_ast.Decl | c_ast.Typename):
                raise internal(p)
            t = self.ctype(p.type)
            if isinstance(t, model.VoidType) and len(plist) == 1 and not p.name:
                break
            params.append(Param(p.name or f"arg{i}", self._decay(t, p.type)))
        return FunctionType(result, tuple(params), variadic)

    def _decay(self, t: CType, node: c_ast.Node) -> CType:
        s = model.strip(t)
        if isinstance(s, ArrayType):
            const = self.is_const(node.type) if isinstance(node, c_ast.ArrayDecl) else False
            return PointerType(s.elem, const)
        if isinstance(s, FunctionType):
            return PointerType(t)
        return t

    # -- records ------------------------------------------------------------

    def _sizeof(self, t: CType) -> int:
        self.ensure_layout(t)
        return model.sizeof(t, self.records)

    def ensure_layout(self, t: CType) -> None:
        """Compute the layout of every record `t` holds by value."""
        s = model.strip(t)
        while isinstance(s, ArrayType):
            s = model.strip(s.elem)
        if isinstance(s, RecordRef):
            self.record(s.name)

    def record(self, name: str) -> Record:
        done = self.records.get(name)
        if done is not None:
            return done
        d = self._recdefs[name]
        if name in self._layout_busy:
            raise model.LayoutError(f"{d.kind} {name} contains itself")
        self._layout_busy.add(name)
        try:
            rec = self._lay_out(d)
        finally:
            self._layout_busy.discard(name)
        self.records[name] = rec
        return rec

    def record_problem(self, name: str) -> str | None:
        """Why a record is opaque, when it was defined but cannot be laid out."""
        return self._record_problem.get(name)

    def clang_layout(self, name: str) -> ClangRecord | None:
        """clang's layout of the record `name`, if clang was asked (see `_layouts`)."""
        if self._layouts is None:
            return None
        return self._layouts.probed.get(name) or self._nested.get(name)

    def _lay_out(self, d: _RecDef) -> Record:
        typedef = self._rec_typedef.get(d.name)
        file = self.files.display(d.file)

        def opaque() -> Record:
            return Record(d.kind, d.name, (), 0, 1, True, typedef, file, d.line)

        if d.node is None:
            return opaque()
        clang = self.clang_layout(d.name)
        try:
            fields, size, align = self._members(d) if clang is None else self._clang_members(d, clang)
        except (Unbindable, model.LayoutError) as e:
            self._record_problem[d.name] = str(e)
            if self.files.is_user(d.file):
                self.warn(
                    d.node,
                    f"{d.kind} {d.name} is opaque (usable by pointer only): {e}",
                    key=f"record {d.name}",
                )
            return opaque()
        attr = self._layout_attribute(d) if clang is None else None
        if attr is not None:
            # toolchain.PYCPARSER_DEFINES blanks these: without clang's layout, ours would be wrong.
            why = f"its layout uses {attr}, and clang's layout of it is unknown"
            self._record_problem[d.name] = why
            msg = f"{d.kind} {d.name} is opaque (usable by pointer only): {why}"
            self.warn(d.node, msg, key=f"record {d.name}")
            return opaque()
        return Record(d.kind, d.name, tuple(fields), size, align, False, typedef, file, d.line)

    def _clang_members(self, d: _RecDef, clang: ClangRecord) -> tuple[list[Field], int, int]:
        """The fields at the offsets and bit ranges clang gave (packed, aligned, bitfields)."""
        assert d.node is not None and self._layouts is not None
        decls = [x for x in d.node.decls if not isinstance(x, c_ast.Pragma | c_ast.StaticAssert)]
        mismatch = Unbindable("clang's layout of it does not match its declaration as parsed")
        if len(decls) != len(clang.members):
            raise mismatch
        fields: list[Field] = []
        for decl, cm in zip(decls, clang.members, strict=True):
            if not isinstance(decl, c_ast.Decl):
                raise internal(decl)
            if (decl.bitsize is None) != (cm.bits is None):
                raise mismatch
            if decl.name is None and decl.bitsize is not None:
                continue  # unnamed bitfield: padding, or a zero-width one ending a unit
            if decl.name is None and not isinstance(decl.type, c_ast.Struct | c_ast.Union):
                continue
            t: CType = self.ctype(decl.type)
            s = model.strip(t)
            if decl.bitsize is not None:
                if not isinstance(s, model.IntType | model.BoolType | EnumRef):
                    raise Unbindable(f"bitfield {decl.name} has type {t.c_name()}")
                fields.append(Field(decl.name, t, cm.offset, cm.bits))
                continue
            if isinstance(s, FunctionType):
                raise Unbindable(f"member {decl.name} has a function type")
            self._note_nested(t, cm, decl.name)
            self.ensure_layout(t)
            if decl.name is None:  # an anonymous struct or union: its fields are lifted
                assert isinstance(s, RecordRef)
                fields += [replace(f, offset=cm.offset + f.offset) for f in self.record(s.name).fields]
                continue
            flexible = decl is decls[-1] and d.kind == "struct"
            if isinstance(s, ArrayType) and s.length is None and not flexible:
                raise Unbindable(f"member {decl.name} is an array of unknown size")
            fields.append(Field(decl.name, t, cm.offset))
        return fields, clang.size, clang.align

    def _note_nested(self, t: CType, cm: ClangMember, name: str | None) -> None:
        """Give a record held by value (or in an array) the layout clang printed for its type."""
        assert self._layouts is not None
        s = model.strip(t)
        while isinstance(s, ArrayType):
            s = model.strip(s.elem)
        if not isinstance(s, RecordRef) or s.name in self.records or self.clang_layout(s.name):
            return
        text = re.sub(r"(\[\d*\])+$", "", cm.type_text(name))
        found = self._layouts.by_type.get(text)
        if found is not None:
            self._nested[s.name] = found

    def _layout_attribute(self, d: _RecDef) -> str | None:
        """`packed`/`aligned`/`_Alignas` written in a user record's text, if any."""
        if d.node is None or d.file is None or not self.files.is_user(d.file) or not d.line:
            return None
        try:
            lines = self._source_lines(d.file)
        except OSError:
            return None
        last = max([d.line, *(getattr(x.coord, "line", 0) or 0 for x in d.node.decls or ())])
        end, brace = last, False
        while end < len(lines):  # up to the `;` after the closing brace
            line = lines[end - 1]
            if "}" in line:
                brace, line = True, line.rsplit("}", 1)[1]
            if brace and ";" in line:
                break
            end += 1
        text = "\n".join(lines[d.line - 1 : end])
        text = re.sub(r"/\*.*?(\*/|$)|//[^\n]*", " ", text, flags=re.DOTALL)  # comments say "aligned" too
        m = _LAYOUT_ATTR.search(text)
        return m[0] if m else None

    def _source_lines(self, raw: str) -> list[str]:
        cache = self.__dict__.setdefault("_lines", {})
        if raw not in cache:
            cache[raw] = Path(self.files.absolute(raw)).read_text(errors="replace").splitlines()
        return cache[raw]  # type: ignore[no-any-return]

    def _members(self, d: _RecDef) -> tuple[list[Field], int, int]:
        members: list[tuple[str, CType]] = []
        assert d.node is not None
        decls = [x for x in d.node.decls if not isinstance(x, c_ast.Pragma | c_ast.StaticAssert)]
        for k, decl in enumerate(decls):
            if not isinstance(decl, c_ast.Decl):
                raise internal(decl)
            if decl.bitsize is not None:
                raise Unbindable("it has bitfields")
            if decl.name is None:
                if isinstance(decl.type, c_ast.Struct | c_ast.Union):
                    t: CType = self.ctype(decl.type)
                    self.ensure_layout(t)
                    members.append(("", t))
                continue
            t = self.ctype(decl.type)
            s = model.strip(t)
            if isinstance(s, ArrayType) and s.length is None:
                if k != len(decls) - 1 or d.kind != "struct":
                    raise Unbindable(f"member {decl.name} is an array of unknown size")
                members.append((decl.name, ArrayType(s.elem, 0)))
                continue
            if isinstance(s, FunctionType):
                raise Unbindable(f"member {decl.name} has a function type")
            self.ensure_layout(t)
            members.append((decl.name, t))
        fields, size, align = model.layout(d.kind, members, self.records)
        last = decls[-1] if decls else None
        if fields and isinstance(last, c_ast.Decl) and last.name == fields[-1].name:
            s = model.strip(self.ctype(last.type))
            if isinstance(s, ArrayType) and s.length is None:
                fields[-1] = Field(fields[-1].name, s, fields[-1].offset)
        return fields, size, align

    def enum(self, name: str) -> Enum:
        d = self._enumdefs[name]
        raw, line = self.where(d.node)
        typedef = self._enum_typedef.get(d.name)
        return Enum(
            d.name,
            tuple(d.members),
            typedef,
            self.files.display(raw),
            line,
            anonymous=d.node.name is None and typedef is None,
        )

    def enum_order(self, name: str) -> int:
        return self._enumdefs[name].order

    def record_order(self, name: str) -> int:
        return self._recdefs[name].order

    def user_records(self) -> list[str]:
        """Records the user's files define or declare (anonymous members left out)."""
        return [
            n
            for n, d in self._recdefs.items()
            if self.files.is_user(d.file) and n not in self._anonymous_members
        ]

    def user_enums(self) -> list[str]:
        return [n for n, d in self._enumdefs.items() if self.is_user(d.node) and d.problem is None]

    def is_typedef(self, name: str) -> bool:
        return name in self._typedef_nodes


def prototype(decl: c_ast.Decl) -> str:
    """The declaration as C text, without storage class or `inline`."""
    d = copy.copy(decl)
    d.storage = []
    d.funcspec = []
    d.init = None
    return " ".join(str(c_generator.CGenerator().visit(d)).split())
