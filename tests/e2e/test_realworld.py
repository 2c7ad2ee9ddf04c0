"""End to end: a library written the way real C APIs are (sqlite/zlib/cJSON styles), real emcc.

Export macros, `extern "C"` and include guards, `char **` in and out, pointers to arrays,
arrays of structs from `ffi.new`, long names; the generated module must load, give what C
computes, pass `mypy --strict` with a user script, and pass ruff at the project's line length.
"""

from __future__ import annotations

import array
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from embind_py.runtime import CStr
from tests.conftest import BuildFn

HEADER = r"""
#pragma once
#ifndef RW_H
#define RW_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
#define RW_API __attribute__((visibility("default")))
typedef struct rw_point_with_a_long_name { float x, y; } rw_point_with_a_long_name;
RW_API int rw_total_length_of_every_argument(int argument_count, const char *const *argument_vector);
RW_API int rw_uppercase_first_letters(int argc, char **argv);
RW_API int rw_error_message(int code, char **out_message);
RW_API void rw_free(void *p);
RW_API char *rw_print(int n);  /* the caller frees the result (cJSON_Print's shape) */
RW_API void rw_scale_matrix_in_place(double matrix[3][3], double factor);
RW_API float rw_sum_of_points(const rw_point_with_a_long_name *points, size_t count);
RW_API const char *const *rw_names(void);
typedef struct { int l; int O; int x10; int x9; } rw_ambiguous;  /* names ruff rejects (E741) */
typedef enum { Q, I } E;
RW_API int rw_ambiguous_sum(const rw_ambiguous *a, int l, int O);
struct rw_stat { int64_t size; int mode; };  /* a tag named like a function, as POSIX stat */
RW_API int rw_stat(const char *path, struct rw_stat *out);
RW_API int f2(void);
RW_API int f10(void);
RW_API int rw_old_style();
RW_API int rw_no_args();
#ifdef __cplusplus
}
#endif
#endif
"""

SOURCE = r"""
#include "rw.h"
#include <stdlib.h>
#include <string.h>
int rw_total_length_of_every_argument(int n, const char *const *v) {
    int t = 0;
    for (int i = 0; i < n; i++) t += v[i] ? (int)strlen(v[i]) : 100;
    return v[n] == NULL ? t : -1;  /* the list arrives NULL-terminated, like argv */
}
int rw_uppercase_first_letters(int argc, char **argv) {
    for (int i = 0; i < argc; i++) argv[i][0] -= 32;
    return argc;
}
int rw_error_message(int code, char **out) {
    *out = malloc(16);
    strcpy(*out, code ? "failed" : "ok");
    return code;
}
void rw_free(void *p) { free(p); }
char *rw_print(int n) {
    char *s = malloc((size_t)n + 1);
    memset(s, '*', (size_t)n);
    s[n] = 0;
    return s;
}
void rw_scale_matrix_in_place(double m[3][3], double k) {
    for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) m[i][j] *= k * (i == j ? 1 : -1);
}
float rw_sum_of_points(const rw_point_with_a_long_name *p, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += p[i].x * (float)(i + 1) + p[i].y;
    return s;
}
static const char *const names[] = {"alpha", "beta", NULL};
const char *const *rw_names(void) { return names; }
int rw_ambiguous_sum(const rw_ambiguous *a, int l, int O) { return a->l + a->O + a->x9 + l + O; }
int rw_stat(const char *path, struct rw_stat *out) {
    out->size = (int64_t)strlen(path) << 40;
    out->mode = 0644;
    return 0;
}
int f2(void) { return 2; }
int f10(void) { return 10; }
int rw_old_style(a, b) int a; int b; { return a + b; }  /* K&R: rw.h's `()` is no prototype */
int rw_no_args() { return 7; }
"""

USER_SCRIPT = """
from __future__ import annotations

import rw

n: int = rw.rw_total_length_of_every_argument(2, ["ab", b"c"])
out = rw.ffi.new("char **")
rw.rw_error_message(1, out)
printed = rw.rw_print(3)
if printed is not None:
    rw.rw_free(printed.address)
pts = rw.ffi.new("rw_point_with_a_long_name[]", 2)
pts[1] = rw.rw_point_with_a_long_name(x=1.0, y=2.0)
total: float = rw.rw_sum_of_points(pts, 2)
names = rw.rw_names()
st = rw.ffi.new("struct rw_stat *")
rc: int = rw.rw_stat("x", st)
size: int = st.size
"""


@pytest.fixture(scope="module")
def mod(build_c: BuildFn) -> ModuleType:
    return build_c("rw", SOURCE, HEADER)


def test_string_lists_for_char_pointer_pointers(mod: ModuleType) -> None:
    assert mod.rw_total_length_of_every_argument(3, ["ab", b"cde", None]) == 105
    assert mod.rw_total_length_of_every_argument(2, ("é", "")) == 2
    assert mod.rw_total_length_of_every_argument(0, []) == 0
    # C may write to the copies of a list; to see its writes, pass C memory.
    assert mod.rw_uppercase_first_letters(2, ["ab", "cd"]) == 2
    words = [mod.ffi.new("char[]", b"ab"), mod.ffi.new("char[]", b"cd")]
    assert mod.rw_uppercase_first_letters(2, mod.ffi.new("char *[]", words)) == 2
    assert [mod.ffi.string(w) for w in words] == [b"Ab", b"Cd"]
    with pytest.raises(TypeError, match=r"'argument_vector'\[1\]: expected str, bytes or None, got int"):
        mod.rw_total_length_of_every_argument(2, ["a", 1])
    with pytest.raises(TypeError, match=r"expected a list of str, a pointer \(const char \*const \*\)"):
        mod.rw_total_length_of_every_argument(1, "abc")


def test_out_params_and_pointer_spelling(mod: ModuleType) -> None:
    out = mod.ffi.new("char **")
    assert mod.rw_error_message(1, out) == 1
    assert mod.ffi.string(out[0]) == b"failed"
    mod.rw_free(out[0])
    assert repr(out).startswith("<Pointer char ** at ")
    # A `char *` result is a str that keeps C's address, so memory C allocated for the caller
    # can be freed (it used to leak: cJSON_Print's text could never be given to cJSON_free).
    lib = mod.load()
    s = lib.rw_print(3)
    assert isinstance(s, CStr) and s == "***" and lib.ffi.string(s.address) == b"***"
    lib.rw_free(s.address)
    lib.rw_free(lib.rw_print(1 << 20).address)
    before = lib.ffi.memory_size()
    for _ in range(200):
        lib.rw_free(lib.rw_print(1 << 20).address)
    assert lib.ffi.memory_size() == before
    names = mod.rw_names()
    assert [mod.ffi.string(names[i]) for i in range(2)] == [b"alpha", b"beta"] and names[2] is None


def test_pointer_to_array_parameter(mod: ModuleType) -> None:
    m = array.array("d", range(9))
    mod.rw_scale_matrix_in_place(m, 2.0)
    assert list(m) == [0.0, -2.0, -4.0, -6.0, 8.0, -10.0, -12.0, -14.0, 16.0]


def test_array_of_structs_from_ffi_new(mod: ModuleType) -> None:
    P = mod.rw_point_with_a_long_name
    pts = mod.ffi.new("rw_point_with_a_long_name[]", [P(x=1.0, y=2.0), P(x=3.0, y=4.0)])
    assert isinstance(pts, mod.rw_point_with_a_long_namePtr)
    assert mod.rw_sum_of_points(pts, 2) == 1 + 2 + 6 + 4


def test_ambiguous_and_numbered_names(mod: ModuleType) -> None:
    """`l`, `O`, `I` keep their C names (a file-level noqa); `f2`/`f10` sort as ruff sorts them."""
    a = mod.rw_ambiguous(l=1, O=2, x9=3)
    assert mod.rw_ambiguous_sum(a, l=10, O=100) == 116
    assert mod.E.I == 1 and mod.I == 1
    assert (mod.f2(), mod.f10()) == (2, 10)
    assert mod.__all__.index("f2") < mod.__all__.index("f10")


def test_struct_tag_named_like_a_function(mod: ModuleType) -> None:
    """`struct rw_stat` and `rw_stat()`: the function keeps its name, the class gets a `_`."""
    out = mod.ffi.new("struct rw_stat *")
    assert mod.rw_stat("abc", out) == 0
    assert out[0] == mod.rw_stat_(size=3 << 40, mode=0o644)
    assert isinstance(out, mod.rw_stat_Ptr)


def test_unprototyped_declarations(mod: ModuleType) -> None:
    """`int f();` with a K&R definition of two parameters is left out; the module still loads."""
    assert not hasattr(mod, "rw_old_style")
    assert mod.rw_no_args() == 7


def test_generated_module_is_lint_and_type_clean(mod: ModuleType, tmp_path: Path) -> None:
    gen = Path(mod.__file__ or "")
    (tmp_path / "rw.py").write_text(gen.read_text())
    (tmp_path / "user.py").write_text(textwrap.dedent(USER_SCRIPT))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "MYPYPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         str(tmp_path / "rw.py"), str(tmp_path / "user.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The project's rule set, and ruff's defaults (which leave E741 off, so without care
    # RUF100 calls the module's file-level noqa for E741 unused).
    for rules in (["--select", "E,F,I,B,UP,RUF"], []):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "110",
             *rules, str(tmp_path / "rw.py")],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
