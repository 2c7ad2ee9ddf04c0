"""C's arithmetic for the Python functions generated from function-like macros (`SQUARE(x)`).

Owns: what Python's operators do otherwise than C's on the same values: wrap-around to a
C integer type (`c_wrap`), division truncating toward zero (`c_div`, `c_mod`), shifts and
their defined range (`c_shift`), IEEE division by zero (`c_fdiv`) and float-to-int
conversion (`c_trunc`). The generator decides the C type of each subexpression (see
`embind_py.cparse._fnmacros`) and calls these where the semantics differ.

May import: the standard library and the runtime's own modules.
"""

from __future__ import annotations

import math

from ._convert import from_raw_int


def c_wrap(v: int, size: int, signed: bool) -> int:
    """`v` converted to a C integer type of `size` bytes (modular, as C and clang do)."""
    return from_raw_int(v, size, signed)


def c_div(a: int, b: int) -> int:
    """C's `a / b` on integers: truncates toward zero; division by zero raises."""
    if b == 0:
        raise ZeroDivisionError("integer division by zero (undefined in C)")
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a: int, b: int) -> int:
    """C's `a % b`: the sign of `a`, so that `(a / b) * b + a % b == a`."""
    return a - c_div(a, b) * b


def c_shift(a: int, n: int, left: bool, size: int) -> int:
    """`a << n` or `a >> n` for a `size`-byte operand; a count outside 0..bits-1 raises
    (undefined in C). The caller wraps a left shift to the operand's type."""
    if not 0 <= n < size * 8:
        raise ValueError(f"shift count {n} is outside 0..{size * 8 - 1} (undefined in C)")
    return a << n if left else a >> n


def c_fdiv(a: float, b: float) -> float:
    """IEEE division, as C's on doubles: by zero gives an infinity or NaN instead of raising."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def c_trunc(x: float, size: int, signed: bool) -> int:
    """A double converted to a C integer type: truncated toward zero; a value outside the
    type (or NaN) raises OverflowError (undefined in C)."""
    bits = size * 8
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if math.isnan(x) or math.isinf(x) or not lo <= math.trunc(x) <= hi:
        kind = "signed" if signed else "unsigned"
        raise OverflowError(f"{x!r} does not fit in a {bits}-bit {kind} integer")
    return math.trunc(x)
