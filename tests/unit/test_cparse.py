"""cparse: real emcc preprocessing of small headers -> the model."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from embind_py import model, toolchain
from embind_py.cparse import parse_library
from embind_py.model import (
    ArrayType,
    EnumRef,
    FunctionType,
    Library,
    NamedType,
    Param,
    PointerType,
    RecordRef,
)

HEADER = r"""
#ifndef TYPES_H
#define TYPES_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdbool.h>
#include "sub/extra.h"

typedef unsigned long uLong;
typedef uLong uLongf;
typedef const char *cstr;
typedef int (*binop)(int, int);
typedef double vec3[3];

#define ANSWER 42
#define MASK (1 << 4)
#define NEG -1
#define ALLBITS ~0u
#define SUM (MASK + 2)
#define CASTED ((int)3)
#define TERN (SUM > 10 ? 1 : 2)
#define DIVT (-7 / 2)
#define MODT (-7 % 2)
#define BIG 0xFFFFFFFFFFull
#define OCT 017
#define PI 3.14159
#define HALF 0.5f
#define NAME "embind" "-py"
#define ESC "a\tb\n"
#define CH 'A'
#define NL '\n'
#define LONGDEF \
    (ANSWER * 2)
#define FROM_ENUM (GREEN + 1)
#define U64 UINT64_C(5)
#define CAST_T ((uint8_t)300)
#define SZ sizeof(struct Mixed)
#define FN(x) ((x) + 1)
#define UMAX UINT32_MAX
#define SLEN sizeof("abc")
#define HEXF 0x1p3
#define ON true
#define EMPTY
#define KEYWORD extern
#define V_QUOTE(x) #x
#define V_EXPAND_QUOTE(x) V_QUOTE(x)
#define V_LIB ANSWER.MODT.OCT
#define V_STRING V_EXPAND_QUOTE(V_LIB)
#define V_SPACED V_QUOTE(  a  +b  ( c,d ) )

struct Mixed { char c; double d; short s; int i; char tail; };
struct Inner { short a; char b; };
struct Outer { char tag; struct Inner in; struct Inner arr[3]; long long ll; };
union Num { int i; double d; char bytes[12]; };
struct WithAnon { int kind; union { int i; float f; }; struct { char x, y; }; };
typedef struct { float x, y; } Vec2;
typedef struct Node { int value; struct Node *next; } Node;
struct Nested { struct { int a; long long b; } part; int after; };
struct Flex { int n; double data[]; };
struct Handle;
typedef struct Handle Handle;
struct Bits { unsigned a : 3; unsigned b : 5; };
struct Holder { struct Bits bits; int x; };

enum Color { RED, GREEN = 5, BLUE, ALPHA = (1 << 3) | GREEN, NEGV = -2 };
typedef enum { SMALL = 1, LARGE = SMALL + 10 } Size;
enum { FLAG_A = 1 << 0, FLAG_B = 1 << 1, FLAG_AB = FLAG_A | FLAG_B };

int add(int a, int b);
extern unsigned int uadd(unsigned a, unsigned int b);
long lfun(long int x, signed char sc, char c, unsigned char uc, short s, unsigned short us);
long long llfun(long long int a, unsigned long long b, _Bool flag);
size_t slen(const char *s);
int64_t i64(uint8_t b, int32_t w, uint64_t q);
uLongf chain(uLong x);
void fill(double out[], const int in[4], vec3 v);
int apply(binop op, int (*cb)(void *ctx, const char *), int f(int));
void noargs(void);
void unnamed(int, char *);
const char **ptrs(const char **pp, char *const cp, int *const *ipp);
int fnpp(void (**out)(int), void (*const *ro)(int));
float fl(float f, double d);
struct Mixed by_value(struct Mixed m, Vec2 v);
Vec2 *make(const Vec2 *src);
Node *push(Node *head, int v);
Handle *open_handle(const char *name);
enum Color paint(enum Color c, Size s);
void bits_ptr(struct Bits *b);
cstr greet(void);
int add(int a, int b);
void drain(FILE *f);
int (*get_cb(void))(int);

int logf_(const char *fmt, ...);
int vlog(const char *fmt, va_list ap);
long double ld(long double x);
void takes_bits(struct Bits b);
__int128 wide(void);
void cb_variadic(void (*f)(int, ...));
static inline int helper(int x) { return x + 1; }
extern int counter;
#endif
"""

EXTRA = """#define EXTRA_LIMIT (ANSWER + 1)
int extra(int x);
#pragma pack(push, 1)
#pragma pack(pop)
"""


@dataclass(frozen=True)
class Parsed:
    lib: Library
    root: Path
    emcc: toolchain.Emcc
    header: Path


def _parse(emcc: toolchain.Emcc, root: Path, header: Path) -> Library:
    pre = toolchain.preprocess(emcc, [header])
    macros = toolchain.dump_macros(emcc, [header])
    return parse_library(pre, macros, [header], root)


@pytest.fixture(scope="module")
def parsed(emcc: toolchain.Emcc, tmp_path_factory: pytest.TempPathFactory) -> Parsed:
    root = tmp_path_factory.mktemp("cparse")
    (root / "sub").mkdir()
    (root / "sub" / "extra.h").write_text(EXTRA)
    header = root / "types.h"
    header.write_text(HEADER)
    return Parsed(_parse(emcc, root, header), root, emcc, header)


def _line(needle: str, text: str = HEADER) -> int:
    """The 1-based line of the first line of `text` that contains `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _fn(lib: Library, name: str) -> FunctionType:
    return next(f.type for f in lib.functions if f.name == name)


def _params(lib: Library, name: str) -> list[model.CType]:
    return [p.type for p in _fn(lib, name).params]


def test_scalars_are_canonical(parsed: Parsed) -> None:
    lib = parsed.lib
    assert _fn(lib, "add") == FunctionType(
        model.INT, (Param("a", model.INT), Param("b", model.INT))
    )
    assert _params(lib, "uadd") == [model.UINT, model.UINT]
    assert _fn(lib, "uadd").result == model.UINT
    assert _params(lib, "lfun") == [
        model.LONG, model.SCHAR, model.CHAR, model.UCHAR, model.SHORT, model.USHORT,
    ]  # fmt: skip
    assert _params(lib, "llfun") == [model.LONGLONG, model.ULONGLONG, model.BOOL]
    assert _fn(lib, "fl") == FunctionType(
        model.FLOAT, (Param("f", model.FLOAT), Param("d", model.DOUBLE))
    )
    assert _fn(lib, "noargs") == FunctionType(model.VOID, ())
    assert [p.name for p in _fn(lib, "unnamed").params] == ["arg0", "arg1"]


def test_typedef_chains_keep_names(parsed: Parsed) -> None:
    lib = parsed.lib
    ulong = NamedType("uLong", model.ULONG)
    assert lib.typedefs["uLong"] == ulong
    assert lib.typedefs["uLongf"] == NamedType("uLongf", ulong)
    assert _fn(lib, "chain") == FunctionType(NamedType("uLongf", ulong), (Param("x", ulong),))
    assert lib.typedefs["cstr"] == NamedType("cstr", PointerType(model.CHAR, const=True))
    assert lib.typedefs["vec3"] == NamedType("vec3", ArrayType(model.DOUBLE, 3))
    # Only the user's typedefs are listed, not the system's.
    assert "size_t" not in lib.typedefs and "FILE" not in lib.typedefs


def test_system_typedefs_resolve(parsed: Parsed) -> None:
    lib = parsed.lib
    assert _fn(lib, "slen").result == NamedType("size_t", model.ULONG)
    i64 = _fn(lib, "i64")
    assert i64.result == NamedType("int64_t", model.LONGLONG)
    assert [model.strip(t) for t in _params(lib, "i64")] == [
        model.UCHAR, model.INT, model.ULONGLONG,
    ]  # fmt: skip
    assert [t.c_name() for t in _params(lib, "i64")] == ["uint8_t", "int32_t", "uint64_t"]


def test_pointers_and_const(parsed: Parsed) -> None:
    lib = parsed.lib
    assert _params(lib, "slen") == [PointerType(model.CHAR, const=True)]
    pp, cp, ipp = _params(lib, "ptrs")
    assert pp == PointerType(PointerType(model.CHAR, const=True))
    assert cp == PointerType(model.CHAR)  # the pointer itself is const, not the pointee
    assert ipp == PointerType(PointerType(model.INT), const=True)
    assert _fn(lib, "ptrs").result == pp
    # a pointer to a function pointer is spelled as C declares it (SQLite's xFindFunction)
    assert [t.c_name() for t in _params(lib, "fnpp")] == ["void (**)(int)", "void (*const *)(int)"]
    vec2 = NamedType("Vec2", RecordRef("struct", "Vec2"))
    assert _fn(lib, "make") == FunctionType(
        PointerType(vec2), (Param("src", PointerType(vec2, const=True)),)
    )


def test_arrays_and_functions_decay(parsed: Parsed) -> None:
    lib = parsed.lib
    assert _params(lib, "fill") == [
        PointerType(model.DOUBLE),
        PointerType(model.INT, const=True),
        PointerType(model.DOUBLE),
    ]
    binop = NamedType(
        "binop",
        PointerType(FunctionType(model.INT, (Param("arg0", model.INT), Param("arg1", model.INT)))),
    )
    cb = PointerType(
        FunctionType(
            model.INT,
            (Param("ctx", PointerType(model.VOID)), Param("arg1", PointerType(model.CHAR, True))),
        )
    )
    f = PointerType(FunctionType(model.INT, (Param("arg0", model.INT),)))
    assert _params(lib, "apply") == [binop, cb, f]
    assert _fn(lib, "get_cb") == FunctionType(f, ())


def test_records(parsed: Parsed) -> None:
    recs = parsed.lib.records
    mixed = recs["Mixed"]
    assert (mixed.size, mixed.align, mixed.opaque, mixed.typedef) == (32, 8, False, None)
    assert [(f.name, f.offset) for f in mixed.fields] == [
        ("c", 0), ("d", 8), ("s", 16), ("i", 20), ("tail", 24),
    ]  # fmt: skip
    outer = recs["Outer"]
    assert [(f.name, f.type, f.offset) for f in outer.fields] == [
        ("tag", model.CHAR, 0),
        ("in", RecordRef("struct", "Inner"), 2),
        ("arr", ArrayType(RecordRef("struct", "Inner"), 3), 6),
        ("ll", model.LONGLONG, 24),
    ]
    assert (recs["Num"].kind, recs["Num"].size, recs["Num"].align) == ("union", 16, 8)
    anon = recs["WithAnon"]
    assert [(f.name, f.offset) for f in anon.fields] == [
        ("kind", 0), ("i", 4), ("f", 4), ("x", 8), ("y", 9),
    ]  # fmt: skip
    # Anonymous members are flattened, not listed as records of their own.
    assert not any(name.startswith("WithAnon_") for name in recs)
    assert recs["Vec2"].typedef == "Vec2" and recs["Node"].typedef == "Node"
    assert recs["Node"].fields[1].type == PointerType(RecordRef("struct", "Node"))
    nested = recs["Nested"]
    assert nested.fields[0].type == RecordRef("struct", "Nested_part")
    assert list(recs).index("Nested_part") < list(recs).index("Nested")
    flex = recs["Flex"]
    assert flex.fields[1].type == ArrayType(model.DOUBLE, None)
    assert (flex.fields[1].offset, flex.size) == (8, 8)
    handle = recs["Handle"]
    assert (handle.opaque, handle.size, handle.align, handle.typedef) == (True, 0, 1, "Handle")
    assert recs["Bits"].opaque and recs["Holder"].opaque
    # Records reached from user declarations come along, e.g. FILE's.
    assert recs["_IO_FILE"].opaque and recs["_IO_FILE"].typedef == "FILE"
    assert recs["Mixed"].file == "types.h" and recs["Mixed"].line == _line("struct Mixed {")


def test_layout_matches_emcc(parsed: Parsed) -> None:
    """Every laid-out record's size, alignment and offsets, checked by clang itself."""
    lines = [f'#include "{parsed.header}"', "#include <stddef.h>"]
    checked = 0
    for rec in parsed.lib.records.values():
        if rec.opaque:
            continue
        if rec.typedef:
            c = rec.typedef
        elif rec.name.isidentifier() and "_" not in rec.name:
            c = f"{rec.kind} {rec.name}"
        else:
            continue  # a synthesized name: no C spelling
        lines.append(f'_Static_assert(sizeof({c}) == {rec.size}, "{c} size");')
        lines.append(f'_Static_assert(_Alignof({c}) == {rec.align}, "{c} align");')
        for f in rec.fields:
            lines.append(f'_Static_assert(offsetof({c}, {f.name}) == {f.offset}, "{c}.{f.name}");')
        checked += 1
    assert checked >= 8
    probe = parsed.root / "probe.c"
    probe.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [*parsed.emcc.command, "-fsyntax-only", str(probe)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_enums(parsed: Parsed) -> None:
    enums = parsed.lib.enums
    color = enums["Color"]
    assert color.members == (("RED", 0), ("GREEN", 5), ("BLUE", 6), ("ALPHA", 13), ("NEGV", -2))
    assert color.typedef is None
    assert enums["Size"].members == (("SMALL", 1), ("LARGE", 11))
    assert enums["Size"].typedef == "Size"
    assert enums["FLAG_A"].members == (("FLAG_A", 1), ("FLAG_B", 2), ("FLAG_AB", 3))
    assert _fn(parsed.lib, "paint") == FunctionType(
        EnumRef("Color", signed=True),
        (
            Param("c", EnumRef("Color", signed=True)),
            Param("s", NamedType("Size", EnumRef("Size", signed=False))),
        ),
    )


def test_constants(parsed: Parsed) -> None:
    got = {c.name: c.value for c in parsed.lib.constants}
    assert got == {
        "ANSWER": 42,
        "MASK": 16,
        "NEG": -1,
        "ALLBITS": 0xFFFFFFFF,
        "SUM": 18,
        "CASTED": 3,
        "TERN": 1,
        "DIVT": -3,
        "MODT": -1,
        "BIG": 0xFFFFFFFFFF,
        "OCT": 15,
        "PI": 3.14159,
        "HALF": 0.5,
        "NAME": "embind-py",
        "ESC": "a\tb\n",
        "CH": 65,
        "NL": 10,
        "LONGDEF": 84,
        "FROM_ENUM": 6,
        "U64": 5,
        "CAST_T": 44,
        "SZ": 32,
        "EXTRA_LIMIT": 43,
        "UMAX": 0xFFFFFFFF,
        "SLEN": 4,
        "HEXF": 8.0,
        "ON": 1,
        "V_STRING": "42.(-7 % 2).017",  # spacing kept as clang does (zstd/lz4 version strings)
        "V_SPACED": "a +b ( c,d )",
    }
    by_name = {c.name: c for c in parsed.lib.constants}
    assert (by_name["ANSWER"].file, by_name["ANSWER"].line) == ("types.h", _line("#define ANSWER"))
    assert (by_name["LONGDEF"].file, by_name["LONGDEF"].line) == (
        "types.h",
        _line("#define LONGDEF"),
    )
    assert (by_name["EXTRA_LIMIT"].file, by_name["EXTRA_LIMIT"].line) == ("sub/extra.h", 1)


def test_unbindable_declarations_warn_once(parsed: Parsed) -> None:
    lib = parsed.lib
    warnings = [str(d) for d in lib.diagnostics if d.severity == "warning"]
    assert all(d.severity == "warning" for d in lib.diagnostics)
    assert len(warnings) == len(set(warnings))
    expected = {
        "vlog": "va_list",
        "takes_bits": "bitfields",
        "wide": "__int128",
        "cb_variadic": "variadic",
        "helper": "static",
    }
    names = {f.name for f in lib.functions}
    for name, why in expected.items():
        assert name not in names
        hits = [w for w in warnings if f" {name} skipped" in w]
        assert len(hits) == 1, (name, warnings)
        assert why in hits[0] and hits[0].startswith("types.h:")
        assert hits[0].startswith(f"types.h:{_line(f' {name}(')}: warning: ")
    logf = next(f for f in lib.functions if f.name == "logf_")  # called with *args
    assert logf.type.variadic and [p.name for p in logf.type.params] == ["fmt"]
    counter = next(v for v in lib.variables if v.name == "counter")
    assert (counter.type, counter.const, counter.line) == (model.INT, False, _line(" counter;"))
    assert any("struct Bits is opaque" in w and "bitfields" in w for w in warnings)
    assert any(
        w.startswith(f"types.h:{_line('KEYWORD')}: warning: macro KEYWORD") for w in warnings
    )
    assert "pragma" not in "\n".join(warnings)  # its layouts come from clang (tests/e2e/test_c_extras.py)
    assert not any("EMPTY" in w or "TYPES_H" in w or " FN " in w for w in warnings)


def test_functions_are_the_users_in_order(parsed: Parsed) -> None:
    lib = parsed.lib
    names = [f.name for f in lib.functions]
    assert names[0] == "extra"  # from the user's included header, which comes first
    assert names[1:4] == ["add", "uadd", "lfun"]
    assert names.count("add") == 1
    assert "printf" not in names and "fopen" not in names
    extra = lib.functions[0]
    assert (extra.file, extra.line) == ("sub/extra.h", 2)
    add = lib.functions[1]
    assert (add.file, add.line, add.prototype) == (
        "types.h",
        _line("int add("),
        "int add(int a, int b)",
    )
    uadd = next(f for f in lib.functions if f.name == "uadd")
    assert uadd.prototype == "unsigned int uadd(unsigned a, unsigned int b)"
    apply = next(f for f in lib.functions if f.name == "apply")
    assert apply.prototype == "int apply(binop op, int (*cb)(void *ctx, const char *), int f(int))"


def test_deterministic(parsed: Parsed, emcc: toolchain.Emcc) -> None:
    again = _parse(emcc, parsed.root, parsed.header)
    assert again == parsed.lib
    assert list(again.records) == list(parsed.lib.records)


def test_syntax_error_points_at_the_user_header(emcc: toolchain.Emcc, tmp_path: Path) -> None:
    header = tmp_path / "bad.h"
    header.write_text("#include <stdio.h>\n\nint ok(void);\nint broken(int x;\n")
    lib = _parse(emcc, tmp_path, header)
    assert lib.functions == ()
    assert len(lib.diagnostics) == 1
    d = lib.diagnostics[0]
    assert (d.file, d.line, d.severity) == ("bad.h", 4, "error")
    assert "syntax error" in d.message and "';'" in d.message


def test_problems_in_an_included_user_header(emcc: toolchain.Emcc, tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "part.h").write_text("int ok(void);\nint part(void)\n")
    header = tmp_path / "top.h"
    header.write_text('#include "inc/part.h"\nint top(void);\n')
    lib = _parse(emcc, tmp_path, header)
    assert [str(d) for d in lib.diagnostics] == [
        "inc/part.h:2: error: syntax error: invalid function definition"
    ]
