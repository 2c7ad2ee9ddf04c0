"""Folding C constant expressions (pycparser expression nodes) with C semantics.

Owns: the values of integer, float, char and string literals, and of the
operators a constant expression may use (integer conversions, wrap-around,
division truncating toward zero, shifts, casts, `sizeof`, ternaries).

May import: the standard library, `embind_py.model`, and pycparser's `c_ast`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pycparser import c_ast  # type: ignore[import-untyped, unused-ignore]

from embind_py import model
from embind_py.model import CType, FloatType, IntType


class NotConstant(Exception):
    """The expression has no compile-time value we can compute."""


@dataclass(frozen=True)
class Value:
    """A folded value: `type` is an integer or float type, or None for a string."""

    value: int | float | str
    type: IntType | FloatType | None


_INT = re.compile(r"^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)([uUlL]*)$")
_FLOAT_SUFFIX = re.compile(r"[fFlL]$")
_SIMPLE_ESCAPES = {
    "n": 10, "t": 9, "r": 13, "0": 0, "a": 7, "b": 8, "f": 12, "v": 11,
    "\\": 92, "'": 39, '"': 34, "?": 63, "e": 27,
}  # fmt: skip


def wrap(value: int, t: IntType) -> int:
    """`value` converted to the integer type `t` (modular, as clang does)."""
    bits = 8 * t.size
    value &= (1 << bits) - 1
    if t.signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _fits(value: int, t: IntType) -> bool:
    return wrap(value, t) == value


def int_literal(text: str) -> Value:
    """The value and type of a C integer literal (`0x1Fu`, `10ull`, `017`)."""
    m = _INT.match(text)
    if not m:
        raise NotConstant(f"bad integer literal {text}")
    digits, suffix = m[1], m[2].lower()
    if digits[:2].lower() == "0x":
        value = int(digits[2:], 16)
    elif digits[:2].lower() == "0b":
        value = int(digits[2:], 2)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    unsigned = "u" in suffix
    longs = suffix.count("l")
    if suffix.replace("u", "").replace("l", "") or longs > 2 or suffix.count("u") > 1:
        raise NotConstant(f"bad integer literal {text}")
    decimal = digits[0] != "0" or digits == "0"
    candidates: list[IntType] = []
    for t in (model.INT, model.LONG, model.LONGLONG)[min(longs, 2) :]:
        if not unsigned:
            candidates.append(t)
        if unsigned or not decimal:
            candidates.append(_unsigned(t))
    for t in candidates:
        if _fits(value, t):
            return Value(value, t)
    raise NotConstant(f"integer literal {text} is too large")


def _unsigned(t: IntType) -> IntType:
    return {
        "int": model.UINT,
        "long": model.ULONG,
        "long long": model.ULONGLONG,
        "short": model.USHORT,
        "char": model.UCHAR,
        "signed char": model.UCHAR,
    }.get(t.name, t)


def float_literal(text: str) -> Value:
    body = _FLOAT_SUFFIX.sub("", text)
    try:
        value = float.fromhex(body) if body[:2].lower() == "0x" else float(body)
    except ValueError:
        raise NotConstant(f"bad float literal {text}") from None
    single = text[-1] in "fF"
    return Value(value, model.FLOAT if single else model.DOUBLE)


def _decode(body: str) -> list[int]:
    """The code units of a literal's body (between the quotes), escapes resolved."""
    out: list[int] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.extend(c.encode("utf-8"))
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise NotConstant("bad escape")
        c = body[i]
        if c in "01234567":
            j = i
            while j < len(body) and j < i + 3 and body[j] in "01234567":
                j += 1
            out.append(int(body[i:j], 8) & 0xFF)
            i = j
        elif c == "x":
            j = i + 1
            while j < len(body) and body[j] in "0123456789abcdefABCDEF":
                j += 1
            if j == i + 1:
                raise NotConstant("bad escape")
            out.append(int(body[i + 1 : j], 16) & 0xFF)
            i = j
        elif c in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[c])
            i += 1
        else:
            raise NotConstant(f"unknown escape \\{c}")
    return out


def string_literal(text: str) -> Value:
    """A (possibly concatenated) string literal, decoded as UTF-8."""
    if text[:1] != '"':
        raise NotConstant("wide string literal")
    if not text.endswith('"'):
        raise NotConstant("bad string literal")
    return Value(bytes(_decode(text[1:-1])).decode("utf-8", errors="replace"), None)


def char_literal(text: str) -> Value:
    if not (text.startswith("'") and text.endswith("'")):
        raise NotConstant("wide character literal")
    units = _decode(text[1:-1])
    if len(units) != 1:
        raise NotConstant("multi-character literal")
    return Value(wrap(units[0], model.CHAR), model.INT)


def _promote(t: IntType) -> IntType:
    return model.INT if t.size < 4 else t


def _common(a: IntType, b: IntType) -> IntType:
    """The usual arithmetic conversions, as far as the value is concerned."""
    a, b = _promote(a), _promote(b)
    if a.size != b.size:
        return a if a.size > b.size else b
    if a.signed == b.signed:
        return a
    return a if not a.signed else b


TypeResolver = Callable[[c_ast.Node], CType]
SizeOf = Callable[[CType], int]
Names = Callable[[str], Value | None]


class Evaluator:
    """Folds expression nodes; identifiers, types and sizes come from callbacks."""

    def __init__(self, names: Names, resolve: TypeResolver, sizeof: SizeOf) -> None:
        self._names = names
        self._resolve = resolve
        self._sizeof = sizeof

    def int_value(self, node: c_ast.Node) -> int:
        v = self.eval(node)
        if not isinstance(v.value, int):
            raise NotConstant("not an integer")
        return v.value

    def eval(self, node: c_ast.Node) -> Value:
        if isinstance(node, c_ast.Constant):
            return self._constant(node)
        if isinstance(node, c_ast.ID):
            v = self._names(node.name)
            if v is None:
                raise NotConstant(f"unknown name {node.name}")
            return v
        if isinstance(node, c_ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, c_ast.BinaryOp):
            return self._binary(node.op, self.eval(node.left), node.right)
        if isinstance(node, c_ast.TernaryOp):
            c = self.eval(node.cond)
            if c.type is None:
                raise NotConstant("string condition")
            return self.eval(node.iftrue if c.value else node.iffalse)
        if isinstance(node, c_ast.Cast):
            return self._cast(self._resolve(node.to_type), self.eval(node.expr))
        if isinstance(node, c_ast.ExprList) and node.exprs:
            return self.eval(node.exprs[-1])
        raise NotConstant(f"{type(node).__name__} is not a constant expression")

    def _constant(self, node: c_ast.Constant) -> Value:
        kind, text = node.type, node.value
        if kind == "string":
            return string_literal(text)
        if kind == "char":
            return char_literal(text)
        if kind in ("float", "double", "long double"):
            return float_literal(text)
        return int_literal(text)

    def _unary(self, node: c_ast.UnaryOp) -> Value:
        op = node.op
        if op == "sizeof":
            if isinstance(node.expr, c_ast.Typename):
                t = self._resolve(node.expr)
            else:
                v = self.eval(node.expr)
                if v.type is None:
                    assert isinstance(v.value, str)
                    return Value(len(v.value.encode()) + 1, model.ULONG)
                t = v.type
            try:
                return Value(self._sizeof(t), model.ULONG)
            except model.LayoutError as e:
                raise NotConstant(str(e)) from None
        if op == "_Alignof":
            raise NotConstant("_Alignof")
        v = self.eval(node.expr)
        if v.type is None:
            raise NotConstant(f"{op} on a string")
        if op == "!":
            return Value(int(not v.value), model.INT)
        if isinstance(v.type, FloatType):
            assert isinstance(v.value, float)
            if op == "-":
                return Value(-v.value, v.type)
            if op == "+":
                return v
            raise NotConstant(f"{op} on a float")
        assert isinstance(v.value, int)
        t = _promote(v.type)
        if op == "-":
            return Value(wrap(-v.value, t), t)
        if op == "+":
            return Value(v.value, t)
        if op == "~":
            return Value(wrap(~v.value, t), t)
        raise NotConstant(f"operator {op}")

    def _binary(self, op: str, left: Value, right_node: c_ast.Node) -> Value:
        if op in ("&&", "||"):
            if left.type is None:
                raise NotConstant("string in a condition")
            if (op == "&&") != bool(left.value):
                return Value(int(bool(left.value)), model.INT)
            r = self.eval(right_node)
            if r.type is None:
                raise NotConstant("string in a condition")
            return Value(int(bool(r.value)), model.INT)
        right = self.eval(right_node)
        if left.type is None or right.type is None:
            raise NotConstant("operator on a string")
        if isinstance(left.type, FloatType) or isinstance(right.type, FloatType):
            return _float_op(op, float(left.value), float(right.value), left.type, right.type)
        assert isinstance(left.value, int) and isinstance(right.value, int)
        if op in ("<<", ">>"):
            t = _promote(left.type)
            n = right.value
            if n < 0 or n >= 8 * t.size:
                raise NotConstant("shift out of range")
            a = wrap(left.value, t)
            return Value(wrap(a << n if op == "<<" else a >> n, t), t)
        t = _common(left.type, right.type)
        a, b = wrap(left.value, t), wrap(right.value, t)
        compare = {
            "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "==": a == b, "!=": a != b,
        }  # fmt: skip
        if op in compare:
            return Value(int(compare[op]), model.INT)
        if op in ("/", "%"):
            if b == 0:
                raise NotConstant("division by zero")
            q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            return Value(wrap(q if op == "/" else a - q * b, t), t)
        ops: dict[str, Callable[[int, int], int]] = {
            "+": lambda x, y: x + y,
            "-": lambda x, y: x - y,
            "*": lambda x, y: x * y,
            "&": lambda x, y: x & y,
            "|": lambda x, y: x | y,
            "^": lambda x, y: x ^ y,
        }
        if op not in ops:
            raise NotConstant(f"operator {op}")
        return Value(wrap(ops[op](a, b), t), t)

    def _cast(self, to: CType, v: Value) -> Value:
        t = model.strip(to)
        if v.type is None:
            raise NotConstant("cast of a string")
        if isinstance(t, model.EnumRef):
            t = model.INT if t.signed else model.UINT
        if isinstance(t, model.BoolType):
            return Value(int(bool(v.value)), model.INT)
        if isinstance(t, IntType):
            if isinstance(v.value, float):
                if v.value != v.value or v.value in (float("inf"), float("-inf")):
                    raise NotConstant("cast of a non-finite float")
                return Value(wrap(int(v.value), t), t)
            assert isinstance(v.value, int)
            return Value(wrap(v.value, t), t)
        if isinstance(t, FloatType):
            return Value(float(v.value), t)
        raise NotConstant(f"cast to {to.c_name()}")


def _float_op(
    op: str, a: float, b: float, ta: IntType | FloatType, tb: IntType | FloatType
) -> Value:
    single = all(not isinstance(t, FloatType) or t.size == 4 for t in (ta, tb))
    t = model.FLOAT if single else model.DOUBLE
    compare = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "==": a == b, "!=": a != b}
    if op in compare:
        return Value(int(compare[op]), model.INT)
    if op == "+":
        return Value(a + b, t)
    if op == "-":
        return Value(a - b, t)
    if op == "*":
        return Value(a * b, t)
    if op == "/":
        if b == 0:
            raise NotConstant("division by zero")
        return Value(a / b, t)
    raise NotConstant(f"operator {op} on floats")
