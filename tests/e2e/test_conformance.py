"""One conversion layer: the same Python value gives the same C value (or the same error)
on every path that converts it, through real emcc and a generated module.

The paths, for each C type T:
- `wrapper`: a generated wrapper's parameter (`T id_T(T x)`), read back as its result;
- `callback`: a Python callback's result (`T via_T(T (*f)(void))` returns `f()`);
- `funcptr`: a `FuncPtr` called from Python (`get_id_T()` returns `id_T`), its argument;
- `memory`: a store into wasm memory through a pointer (`p = ffi.new("T *"); p[0] = v`);
- `ccall`: `ffi.ccall` with Emscripten's type word, for the types whose word says as much as
  C's type does (pointers and doubles: "number" for a narrow int follows JavaScript instead).

Values whose meaning depends on the path by design (a str or a buffer is copied for the
duration of a call, which a callback's result or a store outlives) are not in the table;
tests elsewhere cover them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import BuildFn

TYPES = {
    "i8": "int8_t",
    "u8": "uint8_t",
    "i16": "int16_t",
    "u16": "uint16_t",
    "i32": "int32_t",
    "u32": "uint32_t",
    "i64": "int64_t",
    "u64": "uint64_t",
    "b": "bool",
    "f32": "float",
    "f64": "double",
    "vp": "void *",
    "cp": "char *",
    "cb": "cb_t",
}

HEADER = (
    "#include <stdint.h>\n#include <stdbool.h>\n"
    "typedef int (*cb_t)(int);\n"
    "char *dup_str(const char *s);\n"
    + "".join(
        f"typedef {t} (*{n}_get_fn)(void);\n"
        f"typedef {t} (*{n}_id_fn)({t});\n"
        f"{t} id_{n}({t} x);\n"
        f"{t} via_{n}({n}_get_fn f);\n"
        f"{n}_id_fn get_id_{n}(void);\n"
        for n, t in TYPES.items()
    )
)
SOURCE = (
    '#include <string.h>\n#include "conform.h"\n'
    "char *dup_str(const char *s) { return strdup(s); }\n"
    + "".join(
        f"{t} id_{n}({t} x) {{ return x; }}\n"
        f"{t} via_{n}({n}_get_fn f) {{ return f(); }}\n"
        f"{n}_id_fn get_id_{n}(void) {{ return id_{n}; }}\n"
        for n, t in TYPES.items()
    )
)

I8, U8 = (-(2**7), 2**7 - 1), (0, 2**8 - 1)
I16, U16 = (-(2**15), 2**15 - 1), (0, 2**16 - 1)
I32, U32 = (-(2**31), 2**31 - 1), (0, 2**32 - 1)
I64, U64 = (-(2**63), 2**63 - 1), (0, 2**64 - 1)


class Index:
    """An object with `__index__` (as numpy's integers have): an int to C's integer types."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __index__(self) -> int:
        return self.v


def _int_rows(n: str, lo: int, hi: int) -> list[tuple[str, Any, Any]]:
    return [
        (n, lo, lo),
        (n, hi, hi),
        (n, lo - 1, OverflowError),
        (n, hi + 1, OverflowError),
        (n, True, 1),  # a bool is an int, as in C
        (n, Index(7), 7),
        (n, 1.0, TypeError),  # never truncated
        (n, "1", TypeError),
        (n, None, TypeError),
    ]


ROWS: list[tuple[str, Any, Any]] = [
    *_int_rows("i8", *I8),
    *_int_rows("u8", *U8),
    *_int_rows("i16", *I16),
    *_int_rows("u16", *U16),
    *_int_rows("i32", *I32),
    *_int_rows("u32", *U32),
    *_int_rows("i64", *I64),
    *_int_rows("u64", *U64),
    ("b", True, True),
    ("b", False, False),
    ("b", 2, True),
    ("b", 0, False),
    ("b", 1.0, TypeError),
    ("b", None, TypeError),
    ("b", "x", TypeError),
    ("f32", 1.5, 1.5),
    ("f32", 3, 3.0),
    ("f32", "1", TypeError),
    ("f32", None, TypeError),
    ("f64", 0.1, 0.1),
    ("f64", -7, -7.0),
    ("f64", "1", TypeError),
    ("f64", None, TypeError),
    # void *: the one rule for addresses
    ("vp", None, None),
    ("vp", 0, None),
    ("vp", 16, 16),
    ("vp", 2**32 - 1, 2**32 - 1),
    ("vp", 2**32, OverflowError),
    ("vp", -1, OverflowError),
    ("vp", True, TypeError),  # a bool is never an address
    ("vp", 16.0, TypeError),
    ("vp", "16", TypeError),
    ("vp", "POINTER", "POINTER"),  # an ffi.new pointer: its address
    ("vp", "CSTR", "CSTR"),  # a CStr: C's address, never a copy
    ("cp", None, None),
    ("cp", "CSTR", "CSTR"),
    ("cp", "POINTER", "POINTER"),
    ("cp", 2**32, OverflowError),
    ("cp", True, TypeError),
    ("cp", 1.5, TypeError),
    ("cb", None, None),
    ("cb", "FUNCPTR", "FUNCPTR"),
    ("cb", 5, TypeError),  # an int is not a function pointer
    ("cb", "x", TypeError),
    ("cb", True, TypeError),
]

CCALL_WORD = {"vp": "pointer", "cp": "pointer", "f64": "number"}


@pytest.fixture(scope="module")
def lib(build_c: BuildFn) -> Any:
    mod: ModuleType = build_c("conform", SOURCE, HEADER)
    return mod.load()


def _special(lib: Any, token: Any, keep: list[Any]) -> Any:
    """The live objects the table names by a token (they need the instance)."""
    if token == "POINTER":
        p = lib.ffi.new("char[]", b"pointer")
        keep.append(p)
        return p
    if token == "CSTR":
        s = lib.dup_str("text")
        keep.append(s)
        return s
    if token == "FUNCPTR":
        f = lib.get_id_i32()
        keep.append(f)
        return f
    return token


def _address(v: Any) -> Any:
    """Normalize a pointer result to its address (None for NULL)."""
    if v is None or v == 0:
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return getattr(v, "address", getattr(v, "index", v))


def _outcome(call: Callable[[], Any], pointer: bool) -> Any:
    try:
        v = call()
    except (TypeError, OverflowError) as e:
        return type(e)
    return _address(v) if pointer else v


def _paths(lib: Any, n: str, value: Any) -> dict[str, Callable[[], Any]]:
    ffi = lib.ffi
    ctype = TYPES[n]

    def memory() -> Any:
        p = ffi.new(f"{ctype} *")
        p[0] = value
        return p[0]

    calls: dict[str, Callable[[], Any]] = {
        "wrapper": lambda: getattr(lib, f"id_{n}")(value),
        "callback": lambda: getattr(lib, f"via_{n}")(lambda: value),
        "funcptr": lambda: getattr(lib, f"get_id_{n}")()(value),
        "memory": memory,
    }
    if n in CCALL_WORD:
        w = CCALL_WORD[n]
        calls["ccall"] = lambda: ffi.ccall(f"id_{n}", w, [w], [value])
    return calls


@pytest.mark.parametrize(("n", "value", "expected"), ROWS, ids=[f"{r[0]}-{r[1]!r}" for r in ROWS])
def test_every_path_converts_alike(lib: Any, n: str, value: Any, expected: Any) -> None:
    keep: list[Any] = []
    value = _special(lib, value, keep)
    pointer = n in ("vp", "cp", "cb")
    if isinstance(expected, str):
        expected = _address(keep[0])
    outcomes = {p: _outcome(c, pointer) for p, c in _paths(lib, n, value).items()}
    assert outcomes == dict.fromkeys(outcomes, expected), f"{TYPES[n]} given {value!r}"
    assert set(outcomes) >= {"wrapper", "callback", "funcptr", "memory"}

