"""C headers -> the model: the only package of embind-py that imports pycparser.

Owns: parsing the preprocessed headers (`toolchain.preprocess` output) with
pycparser, telling user declarations from system ones by line markers, turning
declarations into `embind_py.model` values (functions, records with their wasm32
layout, enums, typedefs, `#define` constants), and reporting what cannot be
bound as `Diagnostic`s instead of raising.

May import: the standard library, pycparser, and `embind_py.model`. pycparser
nodes never leave this package. Nothing here runs processes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pycparser import c_ast, c_parser  # type: ignore[import-untyped, unused-ignore]

from embind_py import model
from embind_py.cparse._convert import Converter, InternalError, Unbindable, internal, prototype
from embind_py.cparse._eval import NotConstant, Value
from embind_py.cparse._files import FileTable, included_user_files
from embind_py.cparse._fnmacros import translate
from embind_py.cparse._layouts import ClangLayouts, parse_dump, probe_source
from embind_py.cparse._macros import (
    Definition,
    Expander,
    MacroError,
    normalize,
    scan_defines,
)
from embind_py.cparse._macros import parse_dump as parse_macro_dump
from embind_py.model import (
    ArrayType,
    Constant,
    CType,
    Diagnostic,
    EnumRef,
    Function,
    FunctionType,
    Library,
    NamedType,
    PointerType,
    RecordRef,
    Variable,
)

__all__ = [
    "ClangLayouts",
    "InternalError",
    "included_user_files",
    "layout_spellings",
    "layouts_differ",
    "parse_library",
    "probe_source",
    "read_layouts",
]

_PARSE_ERROR = re.compile(r"^(.*?):(\d+)(?::\d+)?: (.*)$", re.DOTALL)
_PARSE_FILE = "<embind-py>"


def parse_library(
    preprocessed: str,
    macros: str,
    user_files: Sequence[Path],
    root: Path,
    layouts: ClangLayouts | None = None,
) -> Library:
    """Everything the user's headers declare, as a `Library` (problems as diagnostics).

    `preprocessed` is `toolchain.preprocess` output (line markers kept), `macros`
    is `toolchain.dump_macros` output, `user_files` are the user's headers and
    `root` the folder file names are shown relative to. With clang's `layouts` (see
    `read_layouts`), records are laid out as clang does (packed, aligned, bitfields);
    without, a record with bitfields or a layout attribute is an opaque handle.
    """
    files = FileTable(preprocessed, user_files, root)
    preprocessed = _STRAY_PRAGMA.sub("", preprocessed)
    parser = _Parser()
    try:
        ast = parser.parse(preprocessed, _PARSE_FILE)
    except (c_parser.ParseError, ValueError) as e:
        return Library(diagnostics=(_syntax_error(_located(str(e), parser), files, user_files),))
    except AssertionError:  # pycparser 3.0 asserts on an unmatched `}` (found by tests/e2e/test_fuzz.py)
        return Library(diagnostics=(_unlocated("syntax error: unmatched '}'", files, user_files),))
    except RecursionError:
        msg = "syntax error: declarations nested too deeply"
        return Library(diagnostics=(_unlocated(msg, files, user_files),))
    except (AttributeError, IndexError, KeyError, TypeError) as e:
        # pycparser trips over some broken input (e.g. `typedef union U {...} struct S {...};`)
        # instead of reporting it: still the user's syntax error, never a traceback.
        msg = f"syntax error (the C parser gave up: {e})"
        located = _located(f"{_PARSE_FILE}: the C parser gave up ({e})", parser)
        if _PARSE_ERROR.match(located):
            return Library(diagnostics=(_syntax_error(located, files, user_files),))
        return Library(diagnostics=(_unlocated(msg, files, user_files),))
    return _Builder(files, ast, layouts).build(macros, user_files)


def _located(message: str, parser: Any) -> str:
    """`message` with the line where the parser stopped when pycparser left it out.

    pycparser before 3.12 (the newest on Python 3.10) reports some errors as `file: msg`
    (or fails while formatting one): its lexer still knows the file, and its token
    buffer the line of the token it stopped at.
    """
    if _PARSE_ERROR.match(message):
        return message
    lex = getattr(parser, "clex", None)
    name, line = getattr(lex, "filename", None), getattr(lex, "_lineno", None)
    stream = getattr(parser, "_tokens", None)  # the token it stopped at, when it keeps them
    buf, i = getattr(stream, "_buffer", None), getattr(stream, "_index", None)
    if isinstance(buf, list) and buf and isinstance(i, int):
        line = getattr(buf[min(max(i, 0), len(buf) - 1)], "lineno", line)
    if not isinstance(name, str) or not isinstance(line, int):
        return message
    text = message.split(": ", 1)[1] if ": " in message else message
    return f"{name}:{line}: {text}"


# pycparser takes `#pragma` only between declarations, but headers put them anywhere, e.g.
# zstd.h's `static\n#pragma clang diagnostic push\nZSTD_customMem const ...`. Only
# `#pragma pack` stays (pycparser reads it between declarations); clang's layouts cover its effect.
_STRAY_PRAGMA = re.compile(r"^[ \t]*#[ \t]*pragma\b(?![ \t]+pack\b).*$", re.M)


class _Parser(c_parser.CParser):  # type: ignore[misc, unused-ignore]
    """pycparser, with a position on every syntax error: some errors ("Invalid declaration")
    come with no line, so fall back to the token the parser stopped at."""

    def _parse_error(self, msg: str, coord: object) -> None:
        if not getattr(coord, "line", None):
            peek = getattr(self, "_peek", None)  # pycparser 3.x internals; without them, no line
            tok = peek() if peek is not None else None
            if tok is not None and getattr(tok, "lineno", None):
                coord = f"{tok.filename}:{tok.lineno}"
        super()._parse_error(msg, coord)


def layout_spellings(lib: Library) -> dict[str, str]:
    """Each record's C spelling, for asking clang its layout (`probe_source`): an alignment or
    packing attribute, `#pragma pack`, or a macro hiding one, is invisible once the headers are
    preprocessed for pycparser, and bitfields are placed by clang's rules, so the compiler is
    asked (`toolchain.record_layouts`). Synthesized names of anonymous records do not compile:
    clang skips them, and their layouts come from the records that hold them."""
    return {rec.name: rec.typedef or f"{rec.kind} {rec.name}" for rec in lib.records.values()}


def read_layouts(dump: str, spellings: dict[str, str]) -> ClangLayouts:
    """clang's `-fdump-record-layouts` output of `probe_source(spellings)`, read."""
    return parse_dump(dump, spellings)


def layouts_differ(lib: Library, layouts: ClangLayouts) -> bool:
    """Whether clang lays out some record otherwise than `lib` (parsed without its layouts) does,
    or has a layout for one `lib` left opaque: then parse again with `layouts`."""
    for rec in lib.records.values():
        clang = layouts.probed.get(rec.name)
        if clang is None:
            continue
        if rec.opaque or (rec.size, rec.align) != (clang.size, clang.align):
            return True
        offsets = [m.offset for m in clang.members]
        if any(f.offset not in offsets for f in rec.fields):
            return True
    return False


_COMMENTS_AND_LITERALS = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def _unlocated(message: str, files: FileTable, user_files: Sequence[Path]) -> Diagnostic:
    """A parser failure without a position: name the user's file, and the line of the
    first unbalanced `}` when there is one (the usual cause)."""
    first = ""
    for raw, path in files.user_files_in_order(user_files):
        shown = files.display(raw)
        first = first or shown
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        # Blank comments and literals but keep their newlines, so line numbers stay true.
        text = _COMMENTS_AND_LITERALS.sub(lambda m: "\n" * m[0].count("\n"), text)
        depth = 0
        for lineno, line in enumerate(text.splitlines(), 1):
            depth += line.count("{") - line.count("}")
            if depth < 0:
                return Diagnostic(shown, lineno, message)
    return Diagnostic(first, 0, message)


def _syntax_error(message: str, files: FileTable, user_files: Sequence[Path]) -> Diagnostic:
    if message.rstrip().endswith("At end of input"):
        # Reported against the umbrella file: the last header left something open.
        last = files.user_files_in_order(user_files)[-1:]
        where, n = "", 0
        if last:
            where = files.display(last[0][0])
            try:
                n = len(last[0][1].read_text(errors="replace").splitlines())
            except OSError:
                n = 0
        msg = "syntax error: unexpected end of file (a declaration, `(` or `{` is not closed)"
        return Diagnostic(where, n, msg)
    m = _PARSE_ERROR.match(message)
    raw, line, text = (m[1], int(m[2]), m[3]) if m else (None, 0, message)
    if text.startswith("before: "):
        token = text[len("before: ") :]
        text = f"syntax error before '{token}'"
        if re.fullmatch(r"[A-Za-z_]\w*", token):
            text += " (is a type name undeclared, or a compiler extension used?)"
    else:
        text = f"syntax error: {text[:1].lower()}{text[1:]}"
    if raw == _PARSE_FILE or raw is None:
        return Diagnostic("", line, text)
    return Diagnostic(files.display(raw), line, text)


class _Builder:
    def __init__(self, files: FileTable, ast: c_ast.FileAST, layouts: ClangLayouts | None) -> None:
        self.files = files
        self.ast = ast
        self.conv = Converter(files, layouts)
        self.functions: dict[str, Function] = {}
        self.variables: dict[str, Variable] = {}
        self.typedefs: dict[str, NamedType] = {}

    def build(self, macros: str, user_files: Sequence[Path]) -> Library:
        conv = self.conv
        for ext in self.ast.ext:
            conv.register(ext)
        for ext in self.ast.ext:
            if conv.is_user(ext):
                self._declaration(ext)
        for name in conv.user_records():
            conv.record(name)
        roots: list[CType] = [f.type for f in self.functions.values()]
        roots += [v.type for v in self.variables.values()]
        roots += list(self.typedefs.values())
        roots += [RecordRef(conv.record(n).kind, n) for n in conv.user_records()]
        roots += [EnumRef(n) for n in conv.user_enums()]
        records, enums = self._reachable(roots)
        consts = _Constants(conv, macros)
        constants = consts.build(user_files)
        functions = consts.functions(user_files)
        diagnostics = tuple(d for *_, d in sorted(conv.diagnostics, key=lambda x: x[:3]))
        return Library(
            functions=tuple(self.functions.values()),
            variables=tuple(self.variables.values()),
            records={n: conv.record(n) for n in sorted(records, key=conv.record_order)},
            enums={n: conv.enum(n) for n in sorted(enums, key=conv.enum_order)},
            typedefs=self.typedefs,
            constants=constants,
            macros=functions,
            diagnostics=diagnostics,
        )

    # -- declarations --------------------------------------------------------

    def _in_source(self, node: c_ast.Node) -> bool:
        """True when `node` comes from a C source read in place of a header (no header given):
        its static functions and global variables are the source's own business, not API."""
        raw, _ = self.conv.where(node)
        return self.files.display(raw).endswith(".c")

    def _declaration(self, ext: c_ast.Node) -> None:
        if isinstance(ext, c_ast.Typedef):
            self._typedef(ext)
        elif isinstance(ext, c_ast.FuncDef):
            self._function(ext.decl)
        elif isinstance(ext, c_ast.Decl):
            if isinstance(ext.type, c_ast.FuncDecl):
                self._function(ext)
            elif ext.name is not None and not self._in_source(ext):
                self._variable(ext)
        elif not isinstance(ext, c_ast.Pragma | c_ast.StaticAssert):
            raise internal(ext)

    def _typedef(self, node: c_ast.Typedef) -> None:
        if node.name in self.typedefs:
            return
        try:
            t = self.conv.typedef(node.name)
        except Unbindable as e:
            self.conv.warn(node, f"typedef {node.name} skipped: {e}", key=f"typedef {node.name}")
            return
        self.typedefs[node.name] = t

    def _function(self, decl: c_ast.Decl) -> None:
        name = decl.name
        if name in self.functions:
            return
        key = f"function {name}"
        if "static" in decl.storage:
            if not self._in_source(decl):
                self.conv.warn(decl, f"function {name} skipped: it is static", key=key)
            return
        try:
            ft = self.conv.function_type(decl.type)
            self._check_callable(ft, top=True)
        except Unbindable as e:
            self.conv.warn(decl, f"function {name} skipped: {e}", key=key)
            return
        raw, line = self.conv.where(decl)
        self.functions[name] = Function(name, ft, prototype(decl), self.files.display(raw), line)

    def _variable(self, decl: c_ast.Decl) -> None:
        name = decl.name
        if name in self.variables:
            return
        key = f"variable {name}"
        if "static" in decl.storage:
            self.conv.warn(decl, f"variable {name} skipped: it is static", key=key)
            return
        try:
            t = self.conv.ctype(decl.type)
            self.conv.ensure_layout(t)
            s = model.strip(t)
            if isinstance(s, FunctionType | model.VoidType):
                raise Unbindable(f"it has type {t.c_name()}")
            # `extern int table[];` has no length to check: a Pointer without one
            self._check_value(s.elem if isinstance(s, ArrayType) and s.length is None else t)
        except (Unbindable, model.LayoutError) as e:
            self.conv.warn(decl, f"variable {name} skipped: {e}", key=key)
            return
        raw, line = self.conv.where(decl)
        const = self.conv.is_const(decl.type)
        text = prototype(decl)
        self.variables[name] = Variable(name, t, const, text, self.files.display(raw), line)

    def _check_callable(self, ft: FunctionType, top: bool) -> None:
        if ft.variadic and not top:  # a variadic function itself is called with `*args`
            raise Unbindable("it takes a variadic function pointer")
        for t in (ft.result, *(p.type for p in ft.params)):
            self._check_value(t)

    def _check_value(self, t: CType) -> None:
        """Raise Unbindable if a value of type `t` cannot cross the boundary."""
        s = model.strip(t)
        if isinstance(s, RecordRef):
            rec = self.conv.record(s.name)
            if rec.opaque:
                why = self.conv.record_problem(s.name) or "it is never defined"
                raise Unbindable(f"{s.kind} {s.name} is passed by value but {why}")
        elif isinstance(s, ArrayType) and s.length is None:
            raise Unbindable("array of unknown size by value")
        elif isinstance(s, PointerType):
            target = model.strip(s.target)
            if isinstance(target, FunctionType):
                self._check_callable(target, top=False)

    # -- reachability --------------------------------------------------------

    def _reachable(self, roots: list[CType]) -> tuple[set[str], set[str]]:
        records: set[str] = set()
        enums: set[str] = set()
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            t = stack.pop()
            if id(t) in seen:
                continue
            seen.add(id(t))
            if isinstance(t, NamedType):
                stack.append(t.target)
            elif isinstance(t, PointerType):
                stack.append(t.target)
            elif isinstance(t, ArrayType):
                stack.append(t.elem)
            elif isinstance(t, FunctionType):
                stack.append(t.result)
                stack += [p.type for p in t.params]
            elif isinstance(t, EnumRef):
                enums.add(t.name)
            elif isinstance(t, RecordRef) and t.name not in records:
                records.add(t.name)
                stack += [f.type for f in self.conv.record(t.name).fields]
        return records, enums


class _Constants:
    """`#define NAME value` in the user's files, evaluated."""

    def __init__(self, conv: Converter, macros: str) -> None:
        self.conv = conv
        self.macros = parse_macro_dump(macros)
        self.expander = Expander(self.macros)
        self.parser = c_parser.CParser()
        self.values: dict[str, Value | None] = {}

    def build(self, user_files: Sequence[Path]) -> tuple[Constant, ...]:
        files = self.conv.files
        chosen: dict[str, Definition] = {}
        for raw, path in files.user_files_in_order(user_files):
            for d in scan_defines(raw, path):
                mac = self.macros.get(d.name)
                if mac is None or mac.params is not None or d.params is not None:
                    continue
                prev = chosen.get(d.name)
                if prev is None or (
                    prev.body != normalize(mac.body) and d.body == normalize(mac.body)
                ):
                    chosen[d.name] = d
        out: list[Constant] = []
        for name, d in chosen.items():
            mac = self.macros[name]
            if not mac.body.strip() or d.guard:
                continue
            try:
                v = self._evaluate(name)
            except (NotConstant, MacroError, Unbindable) as e:
                self.conv.report(
                    d.file,
                    d.line,
                    f"macro {name} skipped: `{mac.body}` is not a constant: {e}",
                    "warning",
                )
                continue
            out.append(Constant(name, v.value, files.display(d.file), d.line))
        return tuple(out)

    def functions(self, user_files: Sequence[Path]) -> tuple[model.MacroFunction, ...]:
        """Function-like macros of the user's files whose body is an expression of their
        parameters and constants; the others are skipped with a warning (shown under --verbose)."""
        files = self.conv.files
        chosen: dict[str, Definition] = {}
        for raw, path in files.user_files_in_order(user_files):
            for d in scan_defines(raw, path):
                mac = self.macros.get(d.name)
                if d.params is not None and mac is not None and mac.params == d.params:
                    chosen.setdefault(d.name, d)  # the first definition the compiler kept
        out: list[model.MacroFunction] = []
        for name, d in chosen.items():
            mac = self.macros[name]
            assert mac.params is not None
            placeholders = [f"__embind_py_arg{i}" for i in range(len(mac.params))]
            try:
                text = self.expander.expand_call(name, placeholders)
                names = set(re.findall(r"[A-Za-z_]\w*", text))
                typedefs = {n for n in names if self.conv.is_typedef(n)}
                args, body = translate(
                    name, mac.params, text, typedefs, self.conv.evaluator, self.conv.ctype
                )
            except (NotConstant, MacroError, Unbindable, RecursionError) as e:
                sig = f"{name}({', '.join(mac.params)})"
                msg = f"macro {sig} skipped: `{mac.body}` is not an expression of its parameters: {e}"
                self.conv.report(d.file, d.line, msg, "warning")
                continue
            shown = f"#define {name}({', '.join(mac.params)}) {mac.body.strip()}"
            out.append(model.MacroFunction(name, args, body, shown, files.display(d.file), d.line))
        return tuple(out)

    def _evaluate(self, name: str) -> Value:
        text = self.expander.expand(name)
        names = set(re.findall(r"[A-Za-z_]\w*", text))
        prelude = "".join(f"typedef int {n};\n" for n in sorted(names) if self.conv.is_typedef(n))
        source = f"{prelude}int __embind_py_value = ({text});\n"
        try:
            ast = self.parser.parse(source, "<macro>")
        except (c_parser.ParseError, ValueError, AssertionError, IndexError):
            raise NotConstant("not an expression") from None
        decl = ast.ext[-1]
        if (
            len(ast.ext) != len(re.findall("typedef", prelude)) + 1
            or not isinstance(decl, c_ast.Decl)
            or decl.init is None
            or decl.name != "__embind_py_value"
        ):
            raise NotConstant("not an expression")
        v = self.conv.evaluator.eval(decl.init)
        if v.type is not None and isinstance(model.strip(v.type), model.BoolType):
            return Value(int(bool(v.value)), model.INT)
        return v
