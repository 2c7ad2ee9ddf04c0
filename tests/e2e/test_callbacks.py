"""End to end: function pointers both ways, ffi.callback, handles through void * (issue 3), real emcc."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from embind_py.runtime import FuncPtr, _callbacks
from tests.conftest import BuildFn

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def mod(build_c: BuildFn) -> ModuleType:
    return build_c("ctypes_cb", (HERE / "ctypes_lib.c").read_text().replace("ctypes_lib.h", "ctypes_cb.h"),
                   (HERE / "ctypes_lib.h").read_text())


@pytest.fixture(scope="module")
def lib(mod: ModuleType) -> Any:
    return mod.load()


def test_python_callable_as_function_pointer(lib: Any) -> None:
    assert lib.apply(lambda a, b: a * 10 + b, 4, 2) == 42
    assert lib.apply(lambda a, b: -1, 0, 0) == -1
    with pytest.raises(TypeError):
        lib.apply(lambda a, b: "no", 1, 2)
    with pytest.raises(TypeError):
        lib.apply(42.0, 1, 2)


def test_table_indices_are_never_given_to_another_function(lib: Any) -> None:
    def size() -> int:
        return int(lib.exports["__indirect_function_table"].size(lib.store))

    def add(a: int, b: int) -> int:
        return a + b

    lib.apply(add, 1, 2)
    before = size()
    for _ in range(20):  # the same callable again: its index again, no growth
        assert lib.apply(add, 1, 2) == 3
    assert size() == before
    for i in range(20):  # a new callable each time: a fresh index each (one table entry)
        assert lib.apply(lambda a, b, i=i: a + b + i, 1, 2) == 3 + i
    assert size() == before + 20


def test_exception_in_callback_propagates(lib: Any) -> None:
    def bad(a: int, b: int) -> int:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        lib.apply(bad, 1, 2)
    assert lib.apply(lambda a, b: a + b, 1, 2) == 3  # the instance still works


def test_struct_pointer_and_user_data(mod: ModuleType, lib: Any) -> None:
    seen: list[tuple[float, float]] = []
    vs = lib.ffi.new("Vec2[]", [{"x": 1.0, "y": 2.0}, (3.0, 4.0)])
    h = lib.ffi.new_handle(seen)

    def visit(v: Any, ud: int | None) -> None:
        assert isinstance(v, mod.Vec2Ptr) and isinstance(ud, int)
        lib.ffi.from_handle(ud).append((v.x, v.y))

    lib.each(vs, 2, visit, h)
    assert seen == [(1.0, 2.0), (3.0, 4.0)]
    raw: list[Any] = []
    lib.each(vs, 1, lambda v, ud: raw.append(ud), 1234)
    lib.each(vs, 1, lambda v, ud: raw.append(ud), None)
    assert raw == [1234, None]


def test_callbacks_with_structs_by_value_and_strings(mod: ModuleType, lib: Any) -> None:
    vs = lib.ffi.new("Vec2[]", [{"x": 1.0, "y": 2.0}, (3.0, 4.0)])
    assert lib.fold(vs, 2, lambda v, acc: acc + v.x * v.y) == 14.0
    assert lib.make_sum(lambda i: mod.Vec2(x=float(i), y=1.0), 3) == 6.0  # struct result via sret

    def named(name: str | None, out: Any) -> int:
        assert name == "world"
        out[0:5] = list(b"HELLO")
        return 7

    result = bytearray(32)
    assert lib.with_name(named, result, 32) == 7 and bytes(result[:5]) == b"HELLO"


def test_ffi_callback_lives_with_its_object(lib: Any) -> None:
    cb = lib.ffi.callback("binop", lambda a, b: a**2 + b)
    lib.store_op(cb)
    assert lib.call_stored(3, 1) == 10 and cb(2, 1) == 5


def test_ffi_callback_by_the_spelling_of_its_type(lib: Any) -> None:
    # A kept pointer declared without a typedef: its C spelling, spaced any way, names it.
    h = lib.ffi.new_handle([])
    cb = lib.ffi.callback("long(*)( void*,const char * )", lambda u, s: lib.ffi.from_handle(u).append(s) or 7)
    lib.store_raw(cb, h)
    assert lib.call_raw("hi") == 7 and lib.ffi.from_handle(h) == ["hi"]
    assert lib.ffi.typeof("long (*)(void *, const char *)") is cb.ctype
    assert int(lib.ffi.cast("long (*)(void *, const char *)", -1)) == 0xFFFFFFFF  # SQLITE_TRANSIENT
    with pytest.raises(ValueError, match=r"unknown C type 'int \(\*\)\(double\)'.*typedef"):
        lib.ffi.callback("int (*)(double)", lambda d: 0)


def test_function_pointers_from_c(mod: ModuleType, lib: Any) -> None:
    add, mul = lib.get_op(0), lib.get_op(1)
    assert isinstance(add, FuncPtr) and add(6, 7) == 13 and mul(6, 7) == 42
    assert lib.get_op(5) is None
    assert lib.apply(mul, 3, 4) == 12  # passed back to C as is
    cb = lib.ffi.callback("binop", lambda a, b: a - b)
    box = mod.OpBox(op=cb, bias=3)
    assert lib.box_run(box, 10) == 7
    p = lib.ffi.new("OpBox *", {"op": mul, "bias": 5})
    assert p.op(2, 3) == 6 and lib.box_run(p, 4) == 20
    with pytest.raises(TypeError, match=r"ffi\.callback"):
        p.op = lambda a, b: 0


def test_handles(lib: Any) -> None:
    obj = object()
    h = lib.ffi.new_handle(obj)
    assert lib.ffi.from_handle(h) is obj and lib.ffi.from_handle(int(h)) is obj
    with pytest.raises(ValueError):
        lib.ffi.from_handle(8)
    addr = int(h)
    del h
    with pytest.raises(ValueError):
        lib.ffi.from_handle(addr)
    assert _callbacks._state(lib).handles == {}
