"""End to end: structs, unions, enums, typedefs, opaque handles and struct ABI (issue 3), real emcc."""

from __future__ import annotations

import array
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from embind_py.runtime import WasmError
from tests.conftest import BuildFn

HEADER = (Path(__file__).with_name("ctypes_lib.h")).read_text()
SOURCE = (Path(__file__).with_name("ctypes_lib.c")).read_text()


@pytest.fixture(scope="module")
def mod(build_c: BuildFn) -> ModuleType:
    return build_c("ctypes_lib", SOURCE, HEADER)


@pytest.fixture(scope="module")
def lib(mod: ModuleType) -> object:
    return mod.load()


def test_struct_values_and_layout(mod: ModuleType, lib: object) -> None:
    L: object = lib
    Vec2, Mixed = mod.Vec2, mod.Mixed
    v = Vec2(x=1.0, y=2.0)
    assert (v.x, v.y) == (1.0, 2.0) and v == Vec2(x=1.0, y=2.0) and v != Vec2(x=1.0)
    assert repr(v) == "Vec2(x=1.0, y=2.0)"
    # layout agrees with clang's offsetof/sizeof
    assert L.mixed_size() == mod._R_Mixed.size == L.ffi.sizeof("Mixed") == 32  # type: ignore[attr-defined]
    assert [L.mixed_off(i) for i in range(5)] == [f[1] for f in mod._R_Mixed.fields]  # type: ignore[attr-defined]
    assert L.mixed_make(3) == Mixed(c=3, i=6, s=9, ll=3 << 40, tail=ord("z"))  # type: ignore[attr-defined]


def test_struct_by_value_abi(mod: ModuleType, lib: object) -> None:
    L: object = lib
    assert L.vadd(mod.Vec2(x=1.0, y=2.0), mod.Vec2(x=3, y=4)) == mod.Vec2(x=4.0, y=6.0)  # type: ignore[attr-defined]
    assert mod._EXPORTS["vadd"] == ("iii", "")  # sret + two indirect aggregates
    assert mod._EXPORTS["wrap_twice"] == ("f", "f")  # single-scalar struct
    assert L.wrap_twice(mod.Wrap(w=1.25)) == mod.Wrap(w=2.5)  # type: ignore[attr-defined]
    # one pointer to a typedef'd struct (SQLite's sqlite3_vtab_cursor): the module used to
    # fail on import, naming `_TYPES` before it was defined
    assert mod._EXPORTS["cursor_get"] == ("i", "f")
    w = L.ffi.new("Wrap *", {"w": 1.5})  # type: ignore[attr-defined]
    assert L.cursor_get(L.cursor_of(w)) == 1.5  # type: ignore[attr-defined]
    assert L.tagged_total(mod.Tagged(kind=1, d=2.5, lo=3, hi=4)) == 10.5  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        L.vadd(1, 2)  # type: ignore[attr-defined]


def test_nested_arrays_pointer_fields(mod: ModuleType, lib: object) -> None:
    L: object = lib
    q = L.vnew(1.5, 2.5)  # type: ignore[attr-defined]
    assert isinstance(q, mod.Vec2Ptr) and (q.x, q.y) == (1.5, 2.5)
    s = mod.Segment(a=mod.Vec2(x=1.0), b={"y": 2.0}, label=b"hello", ids=[1, 2, 3], next=q)
    assert L.segment_sum(s) == 1 + 2 + 6 + 5 + 1  # type: ignore[attr-defined]
    made = L.segment_make("abc")  # type: ignore[attr-defined]
    assert made.label == b"abc" and made.ids == [7, 0, 9] and made.next is None and made.b.y == 2.0
    with pytest.raises(ValueError):
        L.segment_sum(mod.Segment(label=b"x" * 17))  # type: ignore[attr-defined]


def test_unions_and_anonymous_members(mod: ModuleType, lib: object) -> None:
    L: object = lib
    p = L.pun_float(1.0)  # type: ignore[attr-defined]
    assert p.i == 0x3F800000 and p.f == 1.0 and p.bytes_ == b"\x00\x00\x80?"
    assert L.pun_int(mod.Pun(f=1.0)) == 0x3F800000 and L.pun_int(mod.Pun(i=7)) == 7  # type: ignore[attr-defined]
    assert L.pun_int(p) == 0x3F800000  # type: ignore[attr-defined]
    assert [f[0] for f in mod._R_Tagged.fields] == ["kind", "i", "d", "lo", "hi"]
    with pytest.raises(TypeError):
        mod.Pun(i=1, f=2.0)


def test_struct_pointers(mod: ModuleType, lib: object) -> None:
    L: object = lib
    ffi = L.ffi  # type: ignore[attr-defined]
    p = ffi.new("Vec2 *", {"x": 1.0, "y": 2.0})
    assert isinstance(p, mod.Vec2Ptr) and p[0] == mod.Vec2(x=1.0, y=2.0)
    p.x = 5
    assert L.vlen2(p) == 29.0 and p == ffi.cast("Vec2 *", int(p))  # type: ignore[attr-defined]
    assert ffi.new("struct Vec2 *", [3.0, 4.0]).y == 4.0
    assert ffi.new("Vec2 *", mod.Vec2(x=2.0)).x == 2.0
    arr = ffi.new("Vec2[]", [{"x": 1.0}, (3.0, 4.0)])
    assert arr[1] == mod.Vec2(x=3.0, y=4.0) and (arr + 1).y == 4.0
    v = mod.Vec2(x=3.0, y=4.0)
    L.vscale(v, 2.0)  # type: ignore[attr-defined]  # non-const T*: copied back
    assert v == mod.Vec2(x=6.0, y=8.0)
    assert L.vlen2(v) == 100.0 and L.vnull() is None  # type: ignore[attr-defined]
    assert L.vp_x(p) == 5.0  # type: ignore[attr-defined]  # typedef `Vec2p`
    with pytest.raises(TypeError):
        L.vlen2(ffi.new("int *"))  # type: ignore[attr-defined]


def test_pointer_fields_are_live_views(mod: ModuleType, lib: object) -> None:
    # Through a pointer, nested structs and arrays read and write the bytes in place, as in
    # cffi: `p.a.x = 5` used to change a copy and be lost without a word.
    L: object = lib
    ffi = L.ffi  # type: ignore[attr-defined]
    p = ffi.new("Segment *", {"a": {"x": 1.0}, "ids": [1, 2, 3]})
    p.a.x = 5.0
    p.ids[0] = 10
    assert p[0].a == mod.Vec2(x=5.0) and p.a == mod.Vec2(x=5.0) and p.ids == [10, 2, 3]
    assert L.segment_sum(p) == 5 + 10 + 2 + 3  # type: ignore[attr-defined]
    assert isinstance(p.a, mod.Vec2Ptr) and L.vlen2(p.a) == 25.0  # type: ignore[attr-defined]
    assert L.vadd(p.a, p.a) == mod.Vec2(x=10.0)  # type: ignore[attr-defined]  # by value: a copy
    p.b = p.a  # struct assignment copies
    p.a = {"y": 1.0}
    assert (p.b.x, p.a.x, p.a.y) == (5.0, 0.0, 1.0) and mod.Segment(a=p.b).a == mod.Vec2(x=5.0)
    ids = ffi.new("Segment *", {"ids": [4, 5, 6]}).ids  # the view keeps ffi.new's memory alive
    ffi.new("Segment *", {"ids": [7, 8, 9]})
    assert list(ids) == [4, 5, 6] and len(ids) == 3
    with pytest.raises(IndexError):
        ids[3]
    m = ffi.new("int[2][3]", [[1, 2, 3], [4, 5, 6]])
    m[1][2] = 60  # rows of a 2-D array are views too
    assert m[1] == [4, 5, 60] and m == [[1, 2, 3], [4, 5, 60]]
    arr = ffi.new("Vec2[]", 4)
    assert arr < arr + 1 and (arr + 3) - arr == 3 and (arr + 3) - 2 == arr + 1
    with pytest.raises(TypeError):
        arr < 5  # noqa: B015


def test_overlapping_members_keep_their_value(mod: ModuleType, lib: object) -> None:
    # Tagged's anonymous union puts `i` and `d` on the same bytes: writing every field in
    # order used to let the zero (or stale) `d` overwrite the `i` the user set.
    L: object = lib
    ffi = L.ffi  # type: ignore[attr-defined]
    assert ffi.new("Tagged *", mod.Tagged(kind=1, i=5)).i == 5
    assert L.tagged_total(mod.Tagged(kind=1, d=2.5)) == 3.5  # type: ignore[attr-defined]
    v = ffi.new("Tagged *", {"kind": 1, "i": 7, "lo": 2})[0]
    assert v.d != 0.0  # the int's bytes, seen as a double
    v.i = 9
    assert ffi.new("Tagged *", v).i == 9 and ffi.new("Tagged *", v).lo == 2
    u = L.pun_float(1.0)  # type: ignore[attr-defined]
    u.i = 7
    assert L.pun_int(u) == 7  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="one member"):
        ffi.new("Pun *", {"i": 1, "f": 2.0})


def test_ffi_cast_and_sizeof(mod: ModuleType, lib: object) -> None:
    L: object = lib
    ffi = L.ffi  # type: ignore[attr-defined]
    op = ffi.cast("binop", int(L.get_op(1)))  # type: ignore[attr-defined]  # a function-pointer typedef
    assert op(6, 7) == 42
    assert ffi.cast("Color", 5) is mod.Color.GREEN and ffi.cast("Color", 77) == 77
    assert ffi.sizeof(mod.Mixed()) == 32 and ffi.sizeof(ffi.new("Vec2[]", 3)) == 48
    with pytest.raises(TypeError, match="no known length"):
        ffi.sizeof(ffi.cast("Vec2 *", 8))


def test_enums(mod: ModuleType, lib: object) -> None:
    L: object = lib
    assert mod.GREEN is mod.Color.GREEN and mod.Color.BLUE == 6 and mod.F_BIG == -1
    r = L.next_color(mod.Color.RED)  # type: ignore[attr-defined]
    assert r is mod.Color.GREEN
    assert L.next_color(5) is mod.Color.BLUE  # type: ignore[attr-defined]
    out = L.next_color(6)  # type: ignore[attr-defined]
    assert out == 99 and type(out) is int
    assert L.flag_of(2) is mod.Flags.F_BIG  # type: ignore[attr-defined]
    assert mod.TYPES_MAGIC == 42


def test_opaque_handles(mod: ModuleType, lib: object) -> None:
    L: object = lib
    c = L.counter_new(10)  # type: ignore[attr-defined]
    assert isinstance(c, mod.Counter)
    assert (L.counter_next(c), L.counter_next(c)) == (10, 11)  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="expected Counter"):
        L.counter_next(L.vnew(1.0, 2.0))  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        c[0]
    L.counter_free(c)  # type: ignore[attr-defined]


def test_typedef_chains(mod: ModuleType, lib: object) -> None:
    L: object = lib
    assert L.total(array.array("I", [1, 2, 3]), 3) == 6  # type: ignore[attr-defined]
    buf = L.ffi.new("uLongf[]", [4, 5])  # type: ignore[attr-defined]
    assert L.total(buf, 2) == 9  # type: ignore[attr-defined]
    assert L.ffi.typeof("Vec2p").name == "Vec2p"  # type: ignore[attr-defined]


def test_void_pointer_fields(mod: ModuleType, lib: object) -> None:
    L: object = lib
    buf = L.ffi.new("char[]", b"abc")  # type: ignore[attr-defined]
    span = mod.Span(data=buf, size=3)
    assert span.data is buf  # the value keeps the memory alive
    assert L.span_sum(span) == 97 + 98 + 99  # type: ignore[attr-defined]
    sp = L.ffi.new("Span *", span)  # type: ignore[attr-defined]
    assert sp.data == buf.address and L.span_sum(sp) == 294  # type: ignore[attr-defined]
    sp.data = buf.address + 1
    sp.size = 2
    assert L.span_sum(sp) == 98 + 99  # type: ignore[attr-defined]


def test_setjmp_longjmp(lib: object) -> None:
    L: object = lib
    assert L.sj_run(1) == 1 and L.sj_run(5) == 105 and L.sj_run(2) == 2  # type: ignore[attr-defined]


def test_traps_still_work(lib: object) -> None:
    L: object = lib
    with pytest.raises(WasmError):
        L.vlen2(L.ffi.cast("Vec2 *", 0xFFFFFFF0))  # type: ignore[attr-defined]


USER_SCRIPT = """
from __future__ import annotations

import ctypes_lib
from ctypes_lib import Color, Vec2, Vec2Ptr

lib = ctypes_lib.load()
v: Vec2 = lib.vadd(Vec2(x=1.0, y=2.0), Vec2(x=3.0))
p: Vec2Ptr = lib.ffi.new("Vec2 *", {"x": 1.0})
x: float = p.x + v.y
c: Color | int = lib.next_color(Color.RED)
n: int = lib.apply(lambda a, b: a + b, 1, 2)
h = lib.counter_new(1)
if h is not None:
    k: int = lib.counter_next(h)
q = lib.vnew(1.0, 2.0)
if q is not None:
    y: float = q.y
buf = lib.ffi.new("char[]", b"abc")
span = ctypes_lib.Span(data=buf, size=3)  # a `void *` field takes a Pointer (or an int address)
t: int = lib.span_sum(span)
sp = lib.ffi.new("Span *", span)
sp.data = buf
addr: int | None = sp.data
op = lib.get_op(0)
if op is not None:
    r: int = op(1, 2)
seg = lib.ffi.new("Segment *")
seg.a.x = 5.0  # a live view of the nested struct
seg.ids[0] = 1
first: int = seg.ids[0]
seg.b = seg.a
seg.b = Vec2(y=1.0)
near: bool = seg < seg + 1
"""


def test_generated_module_and_user_script_pass_mypy_strict(mod: ModuleType, tmp_path: Path) -> None:
    gen = Path(mod.__file__ or "")
    (tmp_path / "ctypes_lib.py").write_text(gen.read_text())
    (tmp_path / "user.py").write_text(textwrap.dedent(USER_SCRIPT))
    root = Path(__file__).resolve().parents[2]
    # Run from outside the repo, as a user would. MYPYPATH points mypy at this checkout's
    # embind_py: mypy cannot follow the import hook of a default (strict) editable install.
    env = {**os.environ, "MYPYPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         str(tmp_path / "ctypes_lib.py"), str(tmp_path / "user.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = textwrap.dedent(USER_SCRIPT) + "\nz: str = lib.vlen2(v)\n"
    (tmp_path / "user.py").write_text(bad)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         str(tmp_path / "ctypes_lib.py"), str(tmp_path / "user.py")],
        capture_output=True, text=True, cwd=root, timeout=600,
    )
    assert proc.returncode == 1 and "user.py" in proc.stdout, proc.stdout


def test_layouts_come_from_clang_and_what_disagrees_is_opaque(tmp_path: Path) -> None:
    # The attributes hide behind macros (xxHash's XXH_ALIGN_MEMBER) or come from a pragma:
    # only the compiler sees them, so the layouts are clang's; a record clang sees with other
    # members than the header parser does (here through __EMBIND_PY__) is bound as a handle.
    from tests.conftest import import_file, run_cli

    (tmp_path / "hid.h").write_text(
        "#define ALIGN_MEMBER(n, decl) _Alignas(n) decl\n"
        "#define PACKED __attribute__((__packed__))\n"
        "typedef struct { char c; ALIGN_MEMBER(16, int acc[2]); } Hidden;\n"
        "struct PACKED_S { char c; int i; } PACKED;\n"
        "#pragma pack(push, 1)\n"
        "typedef struct { char c; double d; } Pragma;\n"
        "#pragma pack(pop)\n"
        "typedef struct { int a;\n#ifndef __EMBIND_PY__\nint b;\n#endif\n} Odd;\n"
        "int hidden_size(Hidden *h);\nint packed_size(struct PACKED_S *p);\nint pragma_size(Pragma *p);\n"
        "int odd_a(Odd *o);\n"
    )
    (tmp_path / "hid.c").write_text(
        '#include "hid.h"\n'
        "int hidden_size(Hidden *h) { return sizeof *h + h->acc[1]; }\n"
        "int packed_size(struct PACKED_S *p) { return sizeof *p + p->i; }\n"
        "int pragma_size(Pragma *p) { return sizeof *p + (int)p->d; }\n"
        "int odd_a(Odd *o) { return o->a; }\n"
    )
    res = run_cli("build", tmp_path / "hid.c", "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert "hid.h:8: warning: struct Odd is opaque" in res.output and "does not match" in res.output
    assert "Hidden" not in res.output and "PACKED_S" not in res.output and "Pragma" not in res.output
    mod = import_file(tmp_path / "hid.py")
    lib = mod.load()
    assert lib.hidden_size(lib.ffi.new("Hidden *", {"acc": [0, 100]})) == 32 + 100
    assert lib.packed_size(lib.ffi.new("struct PACKED_S *", {"i": 100})) == 5 + 100
    assert lib.pragma_size(lib.ffi.new("Pragma *", {"d": 100.0})) == 9 + 100
    assert issubclass(mod.Odd, mod._rt.Handle)
