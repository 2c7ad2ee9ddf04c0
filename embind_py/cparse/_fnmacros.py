"""Function-like `#define`s -> typed expression trees (`model.MacroFunction`).

Owns: which function-like macros of the user's headers become Python functions (those whose
expansion is an expression of their parameters and constants: `SQUARE(x)`, `MAX(a, b)`,
`FLAG(n)`), the C type of every subexpression (parameters are `int`, or `double` when the
body uses a floating constant or a cast to a floating type), and the conversions C makes
(usual arithmetic conversions, promotions, casts) written out as `model.Convert` nodes.
Subexpressions without parameters are folded by `_eval`.

May import: the standard library, pycparser, `embind_py.model` and the package's modules.
"""

from __future__ import annotations

import re

from pycparser import c_ast, c_parser  # type: ignore[import-untyped, unused-ignore]

from embind_py import model
from embind_py.cparse._eval import NotConstant, Value, _common, _promote, wrap
from embind_py.model import Arg, Binary, Cond, Convert, Expr, FloatType, IntType, Lit, Unary

Typed = IntType | FloatType

_ARITH = frozenset({"+", "-", "*", "/"})
_INTEGER = frozenset({"%", "&", "|", "^"})
_COMPARE = frozenset({"<", ">", "<=", ">=", "==", "!="})


class Translator:
    """Builds the tree of one macro body; raises NotConstant for what is not such an expression."""

    def __init__(self, evaluator: object, resolve: object, params: dict[str, Arg]) -> None:
        self._eval = evaluator  # cparse._eval.Evaluator, for parameter-free subexpressions
        self._resolve = resolve  # type node -> model type
        self._params = params

    def expr(self, node: c_ast.Node) -> Expr:
        if not _mentions(node, self._params):
            return self._folded(node)
        if isinstance(node, c_ast.ID):
            return self._params[node.name]
        if isinstance(node, c_ast.ExprList) and node.exprs:
            return self.expr(node.exprs[-1])
        if isinstance(node, c_ast.Cast):
            to = model.strip(self._resolve(node.to_type))  # type: ignore[operator]
            if isinstance(to, model.EnumRef):
                to = model.INT if to.signed else model.UINT
            if isinstance(to, model.BoolType):
                inner = self.expr(node.expr)
                return Binary("!=", inner, self._zero(inner), model.INT)
            if not isinstance(to, IntType | FloatType):
                raise NotConstant(f"cast to {to.c_name()}")
            return self._to(self.expr(node.expr), _checked(to))
        if isinstance(node, c_ast.UnaryOp):
            return self._unary(node.op, self.expr(node.expr))
        if isinstance(node, c_ast.BinaryOp):
            return self._binary(node.op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, c_ast.TernaryOp):
            c, a, b = self.expr(node.cond), self.expr(node.iftrue), self.expr(node.iffalse)
            t = _arith(a.type, b.type)
            return Cond(c, self._to(a, t), self._to(b, t), t)
        if isinstance(node, c_ast.FuncCall):
            raise NotConstant("it calls a function")
        raise NotConstant(f"it uses {type(node).__name__}")

    def _folded(self, node: c_ast.Node) -> Expr:
        v: Value = self._eval.eval(node)  # type: ignore[attr-defined]
        if v.type is None or isinstance(v.value, str):
            raise NotConstant("a string")
        if isinstance(v.type, FloatType) and v.type.size == 4:
            return Lit(float(v.value), model.DOUBLE)  # float arithmetic is done in double here
        return Lit(v.value, _checked(v.type))

    def _zero(self, e: Expr) -> Expr:
        if isinstance(e.type, FloatType):
            return Lit(0.0, e.type)
        return Lit(0, _promote(e.type))

    def _to(self, e: Expr, t: Typed) -> Expr:
        if e.type == t:
            return e
        if isinstance(e, Lit):  # a constant is converted here, as the compiler would
            if isinstance(t, FloatType):
                return Lit(float(e.value), t)
            if isinstance(e.value, int):
                return Lit(wrap(e.value, t), t)
        return Convert(e, t)

    def _unary(self, op: str, e: Expr) -> Expr:
        if op == "+":
            return self._to(e, e.type if isinstance(e.type, FloatType) else _promote(e.type))
        if op == "!":
            return Binary("==", e, self._zero(e), model.INT)
        if op == "-":
            t = e.type if isinstance(e.type, FloatType) else _promote(e.type)
            return Unary("-", self._to(e, t), t)
        if op == "~" and isinstance(e.type, IntType):
            t = _promote(e.type)
            return Unary("~", self._to(e, t), t)
        raise NotConstant(f"operator {op}")

    def _binary(self, op: str, a: Expr, b: Expr) -> Expr:
        if op in ("&&", "||"):
            return Binary(op, a, b, model.INT)
        if op in ("<<", ">>"):
            if not isinstance(a.type, IntType) or not isinstance(b.type, IntType):
                raise NotConstant(f"{op} on a float")
            t = _promote(a.type)
            return Binary(op, self._to(a, t), self._to(b, _promote(b.type)), t)
        if op in _INTEGER and not (isinstance(a.type, IntType) and isinstance(b.type, IntType)):
            raise NotConstant(f"{op} on a float")
        if op not in _ARITH | _INTEGER | _COMPARE:
            raise NotConstant(f"operator {op}")
        common = _arith(a.type, b.type)
        a, b = self._to(a, common), self._to(b, common)
        return Binary(op, a, b, model.INT if op in _COMPARE else common)


def _checked(t: IntType | FloatType) -> Typed:
    if isinstance(t, FloatType) and t.size != 8:
        raise NotConstant(f"{t.name} arithmetic")  # float (done in double) or long double
    return t


def _arith(a: Typed, b: Typed) -> Typed:
    """The usual arithmetic conversions."""
    if isinstance(a, FloatType) or isinstance(b, FloatType):
        return model.DOUBLE
    return _common(a, b)


def _mentions(node: c_ast.Node, params: dict[str, Arg]) -> bool:
    if isinstance(node, c_ast.ID):
        return node.name in params
    return any(_mentions(child, params) for _, child in node.children())


_FLOATING = re.compile(r"(\b\d+\.\d*|\.\d+|\b\d+[eE][-+]?\d+)|\(\s*(float|double)\s*\)")


def translate(
    name: str,
    params: tuple[str, ...],
    expansion: str,
    typedefs: set[str],
    evaluator: object,
    resolve: object,
) -> tuple[tuple[Arg, ...], Expr]:
    """The typed tree of `expansion` (the macro applied to placeholder parameters)."""
    if not params or "..." in params:
        raise NotConstant("it takes no parameters" if not params else "it is variadic")
    if not expansion.strip():
        raise NotConstant("its body is empty")
    ptype: Typed = model.DOUBLE if _FLOATING.search(expansion) else model.INT
    args = tuple(Arg(p, ptype) for p in params)
    prelude = "".join(f"typedef int {n};\n" for n in sorted(typedefs))
    source = f"{prelude}int __embind_py_value = ({expansion});\n"
    try:
        ast = c_parser.CParser().parse(source, "<macro>")
    except (c_parser.ParseError, ValueError, AssertionError, IndexError):
        raise NotConstant("not an expression") from None
    decl = ast.ext[-1]
    if not isinstance(decl, c_ast.Decl) or decl.init is None or decl.name != "__embind_py_value":
        raise NotConstant("not an expression")
    placeholders = {f"__embind_py_arg{i}": a for i, a in enumerate(args)}
    tree = Translator(evaluator, resolve, placeholders).expr(decl.init)
    if not _mentions(decl.init, placeholders):
        raise NotConstant("it does not use its parameters")
    return args, tree
