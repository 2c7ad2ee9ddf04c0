"""Declarations of what C's types cannot say (`--declare`, `declare = [...]` in a target),
through real emcc and a generated module; bad ones fail the build with a clear message."""

from __future__ import annotations

import gc
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import BuildFn, run_cli

H = r"""
#include <stddef.h>
char *make_greeting(const char *name);
void free_greeting(char *s);
int freed_greetings(void);
int sum_bytes(const unsigned char *buf, size_t len);
long sum_ints(const int *a, size_t n);
typedef struct Thing Thing;
Thing *thing_new(int v);
void thing_free(Thing *t);
int thing_value(const Thing *t);
int live_things(void);
typedef void (*raw_t)(const char *, unsigned);
void call_raw(raw_t f);
typedef void (*chunk_t)(const char *p, int flags, int size);
void call_chunk(chunk_t f);
const char *maybe(int x);
int count(const char *s);
char *raw_name(void);
int divide(int a, int b, int *rem);
typedef struct { int x, y; } Point;
void get_point(Point *p, int k);
"""

C = r"""
#include <stdlib.h>
#include <string.h>
#include "decl.h"

static int freed;
char *make_greeting(const char *name) {
    char *s = malloc(strlen(name) + 8);
    strcpy(s, "hello, ");
    strcat(s, name);
    return s;
}
void free_greeting(char *s) { free(s); freed++; }
int freed_greetings(void) { return freed; }
int sum_bytes(const unsigned char *buf, size_t len) {
    int t = 0;
    for (size_t i = 0; i < len; i++) t += buf[i];
    return t;
}
long sum_ints(const int *a, size_t n) {
    long t = 0;
    for (size_t i = 0; i < n; i++) t += a[i];
    return t;
}
struct Thing { int v; };
static int live;
Thing *thing_new(int v) { Thing *t = malloc(sizeof *t); t->v = v; live++; return t; }
void thing_free(Thing *t) { free(t); live--; }
int thing_value(const Thing *t) { return t->v; }
int live_things(void) { return live; }
void call_raw(raw_t f) { f("hello", 99); }
void call_chunk(chunk_t f) { f("abcdef", 7, 3); }
const char *maybe(int x) { return x ? "yes" : NULL; }
int count(const char *s) { return s ? (int)strlen(s) : -1; }
char *raw_name(void) { static char n[] = "caf\xc3"; return n; }
int divide(int a, int b, int *rem) { *rem = a % b; return a / b; }
void get_point(Point *p, int k) { p->x = k; p->y = 2 * k; }
"""

DECLS = [
    "make_greeting = owned(free_greeting)",
    "sum_bytes.buf = buffer(len)",
    "sum_ints.a = buffer(n)",
    "thing_new = owned(thing_free)",
    "raw_t.1 = text",
    "chunk_t.1 = buffer(3)",
    "maybe = nonnull",
    "count.s = nonnull",
    "raw_name = bytes",
    "divide.rem = out",
    "get_point.p = out",
]


@pytest.fixture(scope="module")
def mod(build_c: BuildFn) -> ModuleType:
    args = [a for d in DECLS for a in ("--declare", d)]
    return build_c("decl", C, H, *args)


@pytest.fixture
def lib(mod: ModuleType) -> Any:
    return mod.load()


def test_owned_results_are_freed_by_their_function(lib: Any) -> None:
    assert lib.make_greeting("you") == "hello, you"
    assert type(lib.make_greeting("x")) is str  # a copy: C's block is already freed
    assert lib.freed_greetings() == 2
    t = lib.thing_new(5)
    assert lib.thing_value(t) == 5 and lib.live_things() == 1
    del t
    gc.collect()
    assert lib.live_things() == 0  # thing_free ran when the handle was collected
    t2 = lib.thing_new(6)
    lib.ffi.release(t2)
    assert lib.live_things() == 0


def test_a_declared_buffer_passes_its_own_length(lib: Any) -> None:
    import array

    assert lib.sum_bytes(b"\x01\x02\x03") == 6  # no len parameter any more
    assert lib.sum_bytes(None) == 0
    assert lib.sum_ints(array.array("i", [1, 2, 3, 4])) == 10  # elements, not bytes
    assert lib.sum_ints(lib.ffi.new("int[]", [5, 6])) == 11
    with pytest.raises(TypeError):
        lib.sum_bytes(b"x", 1)


def test_callback_declarations(lib: Any) -> None:
    got: list[Any] = []
    lib.call_raw(lambda s, n: got.append((s, n)))
    assert got == [("hello", 99)]  # text: up to the NUL, the 99 is no length
    lib.call_chunk(lambda p, flags, size: got.append((p, flags, size)))
    assert got[1] == (b"abc", 7, 3)


def test_nonnull_and_bytes(lib: Any) -> None:
    assert lib.maybe(1) == "yes"
    with pytest.raises(ValueError, match="NULL"):
        lib.maybe(0)
    with pytest.raises(TypeError, match="nonnull"):
        lib.count(None)
    assert lib.count("abc") == 3
    assert lib.raw_name() == b"caf\xc3"  # undecoded


def test_out_parameters_are_returned(mod: ModuleType, lib: Any) -> None:
    assert lib.divide(17, 5) == (3, 2)  # (the result, then what C wrote through rem)
    assert lib.get_point(4) == mod.Point(x=4, y=8)  # a void function: just the value


def test_annotations_follow_the_declarations(mod: ModuleType) -> None:
    text = Path(mod.__file__ or "").read_text()
    assert "def sum_bytes(self, buf: _rt.BufferArg | _rt.Pointer[int]) -> int:" in text
    assert "def maybe(self, x: int) -> str:" in text
    assert "def raw_name(self) -> bytes | None:" in text
    assert "def divide(self, a: int, b: int) -> tuple[int, int]:" in text
    assert "def get_point(self, k: int) -> Point:" in text


def test_bad_declarations_fail_the_build_clearly(tmp_path: Path) -> None:
    (tmp_path / "d.c").write_text("int f(const char *s, int n) { return n; }\n")
    (tmp_path / "d.h").write_text("int f(const char *s, int n);\n")
    for spec, msg in [
        ("f.s = buffer(len)", "has no parameter 'len'"),
        ("g = nonnull", "neither a bound function"),
        ("f.q = nonnull", "has no parameter 'q'"),
        ("f = sized", "unknown kind"),
        ("f = owned(free)", "no bound function free"),
        ("nonsense", "expected WHERE = KIND"),
        ("f.s = out", "pointer to a scalar or a struct"),
    ]:
        res = run_cli("build", tmp_path / "d.c", "-o", tmp_path, "--declare", spec)
        assert res.exit_code == 2, (spec, res.output)
        assert msg in res.output and "Traceback" not in res.output, (spec, res.output)


def test_declarations_in_pyproject_and_verbose_lists_inferences(tmp_path: Path) -> None:
    (tmp_path / "csrc").mkdir()
    (tmp_path / "csrc/p.c").write_text(
        '#include "p.h"\nint run(emit_t e) { e("abcdef", 3); return 0; }\nint sum(const char *b, int n) '
        "{ int t = 0; for (int i = 0; i < n; i++) t += b[i]; return t; }\n"
    )
    (tmp_path / "csrc/p.h").write_text(
        "typedef void (*emit_t)(const char *data, unsigned len);\n"
        "int run(emit_t e);\nint sum(const char *b, int n);\n"
    )
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "p"
        [[tool.embind-py.target]]
        name = "p"
        sources = ["csrc/p.c"]
        declare = ["sum.b = buffer(n)"]
    """))
    res = run_cli("build", "--project", tmp_path, "-v")
    assert res.exit_code == 0, res.output
    assert "inferred: a callback gets argument 1 of void (*)(const char *, unsigned int)" in res.output
    text = (tmp_path / "p.py").read_text()
    assert "def sum(self, b: _rt.CharPtrArg) -> int:" in text
    quiet = run_cli("build", "--project", tmp_path, "--force")
    assert quiet.exit_code == 0 and "inferred" not in quiet.output
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("buffer(n)", "buf(n)"))
    res = run_cli("build", "--project", tmp_path)
    assert res.exit_code == 2 and "declare" in res.output and "unknown kind 'buf'" in res.output


def test_a_module_with_declarations_passes_mypy_strict(mod: ModuleType, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "decl.py").write_text(Path(mod.__file__ or "").read_text())
    (tmp_path / "user.py").write_text(
        "import decl\nq: int\nr: int\nq, r = decl.divide(7, 2)\ns: str = decl.maybe(1)\n"
        "n: int = decl.sum_bytes(b'ab')\nb: bytes | None = decl.raw_name()\n"
    )
    env = {**os.environ, "MYPYPATH": str(Path(__file__).resolve().parents[2])}
    argv = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
            str(tmp_path / "decl.py"), str(tmp_path / "user.py")]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
