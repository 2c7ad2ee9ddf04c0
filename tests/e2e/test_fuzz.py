"""Bounded, deterministic fuzzing (a few seconds each, fixed seeds).

(a) mutated headers through the parse and render steps (no compile): only diagnostics or
    success, and whatever renders is valid Python;
(b) random argument values and types against generated wrappers of a small built library:
    only the documented exceptions, the process survives, linear memory stays flat;
(c) a soak of 100k mixed calls with strings and buffers: linear memory does not grow.
"""

from __future__ import annotations

import array
import math
import random
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from embind_py import cparse, pipeline, render, toolchain
from embind_py.config import BuildError, Options, make_config
from embind_py.runtime import WasmError
from tests.conftest import BuildFn

ROOT = Path(__file__).resolve().parents[2]

BASE_HEADERS = [
    """
#include <stdint.h>
#include <stddef.h>
#define VERSION 3
#define NAME "fuzz"
#define MASK (1u << 4)
typedef struct Point { double x, y; } Point;
typedef enum Color { RED, GREEN = 5, BLUE } Color;
typedef union Num { int i; float f; } Num;
struct Node { int value; struct Node *next; char tag[8]; };
int add(int a, int b);
double norm(const Point *p);
Point mid(Point a, Point b);
size_t copy(char *dst, const char *src, size_t n);
void each(struct Node *head, int (*fn)(int));
Color next_color(Color c);
int64_t big(uint64_t x, int8_t y, _Bool flag);
const char *greet(const char *name);
""",
]
TOKENS = [
    "*", "(", ")", ";", "{", "}", ",", "[", "]", "[3]", "...", "=", ":", "&", "#", "##",
    "struct", "union", "enum", "typedef", "int", "char", "void", "const", "unsigned", "long",
    "static", "inline", "extern", "_Bool", "float", "__attribute__((packed))", "#define Z (",
    "#if 1", "#endif", "0x", "1e999", "'", '"', "\\", "/*", "*/", "//", "\n", "-1", "9" * 40,
    "\xe9", "\x00", "int x:99;", "return", "class", "lambda", "self", "__builtins__",
]  # fmt: skip


def sample_headers() -> list[str]:
    found = sorted(ROOT.glob("samples/**/*.h"))
    return BASE_HEADERS + [p.read_text(errors="replace") for p in found[:6]]


def mutate(text: str, rng: random.Random) -> str:
    toks = re.findall(r"\w+|\s+|.", text, re.S)
    for _ in range(rng.randint(1, 4)):
        if not toks:
            toks = [rng.choice(TOKENS)]
        i = rng.randrange(len(toks))
        op = rng.randrange(5)
        if op == 0:
            del toks[i : i + rng.randint(1, 6)]
        elif op == 1:
            toks.insert(i, rng.choice(TOKENS))
        elif op == 2:
            toks.insert(i, toks[rng.randrange(len(toks))])
        elif op == 3:
            j = rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        else:
            toks[i] = chr(rng.randrange(1, 0x250))
    return "".join(toks)


def _fake_preprocess(path: Path, text: str) -> tuple[str, str]:
    """What emcc -E / -dM would give for a header with no includes (kept cheap for fuzzing)."""
    body = []
    for line in text.splitlines():
        body.append("" if line.lstrip().startswith("#") else line)
    macros = "\n".join(ln.strip() for ln in text.splitlines() if ln.strip().startswith("#define"))
    return f'# 1 "{path}"\n' + "\n".join(body) + "\n", macros


def _parse_and_render(pre: str, macros: str, hdr: Path) -> None:
    lib = cparse.parse_library(pre, macros, [hdr], hdr.parent)
    for d in lib.diagnostics:
        assert isinstance(d.message, str) and d.message
    if any(d.severity == "error" for d in lib.diagnostics):
        return
    out = render.render_module("fuzzed", lib, ["fuzzed.h"], "sha256:0")
    compile(out.text, "fuzzed.py", "exec")  # whatever is generated is valid Python


def test_fuzz_headers_parse_step(tmp_path: Path) -> None:
    rng = random.Random(6001)
    hdr = tmp_path / "fuzzed.h"
    bases = [re.sub(r"^#include.*$", "", h, flags=re.M) for h in sample_headers()]
    deadline = time.monotonic() + 3.0
    n = 0
    while time.monotonic() < deadline:
        text = mutate(rng.choice(bases), rng)
        hdr.write_text(text, errors="replace")
        pre, macros = _fake_preprocess(hdr, hdr.read_text())
        try:
            _parse_and_render(pre, macros, hdr)
        except Exception as e:  # pragma: no cover - the failure report
            pytest.fail(f"mutation #{n} raised {type(e).__name__}: {e}\n--- header ---\n{text}")
        n += 1
    assert n > 50


def test_fuzz_headers_through_emcc(tmp_path: Path, emcc: toolchain.Emcc) -> None:
    """A few mutations through the real preprocessing step: success, diagnostics or emcc's error."""
    rng = random.Random(6002)
    hdr = tmp_path / "fuzzed.h"
    src = tmp_path / "fuzzed.c"
    src.write_text('#include "fuzzed.h"\n')
    hdr.write_text(BASE_HEADERS[0])
    cfg = make_config([src], Options(headers=(hdr,)), root=tmp_path)
    for _ in range(6):
        hdr.write_text(mutate(BASE_HEADERS[0], rng))
        try:
            lib = pipeline.parse(cfg, emcc)
        except toolchain.CompileError as e:
            assert e.output
            continue
        except BuildError as e:  # a preprocessor error, located: FILE:LINE diagnostics
            assert e.diagnostics
            continue
        if not any(d.severity == "error" for d in lib.diagnostics):
            compile(render.render_module("fuzzed", lib, ["fuzzed.h"], "sha256:0").text, "f.py", "exec")


# ---------------------------------------------------------------------------
# (b) and (c): random calls

H = """
#include <stddef.h>
#include <stdint.h>
int add(int a, int b);
unsigned char low(unsigned int x);
long long mul(long long a, long long b);
double scale(double x, float k);
_Bool negate(_Bool b);
unsigned short clamp16(int x);
size_t slen(const char *s);
void upper(char *s);
const char *greet(const char *name);
int sum(const int *p, int n);
int peek(const int *p);
void *ident(void *p);
int fill(unsigned char *buf, size_t n, int v);
int64_t wide(int8_t a, int16_t b, uint32_t c, uint64_t d);
"""
C = r"""
#include <stdio.h>
#include <string.h>
#include "fz.h"
int add(int a, int b) { return a + b; }
unsigned char low(unsigned int x) { return (unsigned char)x; }
long long mul(long long a, long long b) { return a * b; }
double scale(double x, float k) { return x * k; }
_Bool negate(_Bool b) { return !b; }
unsigned short clamp16(int x) { return x < 0 ? 0 : x > 65535 ? 65535 : x; }
size_t slen(const char *s) { return s ? strlen(s) : 0; }
void upper(char *s) { if (s) for (; *s; s++) if (*s >= 'a' && *s <= 'z') *s -= 32; }
static char buf[64];
const char *greet(const char *name) { snprintf(buf, sizeof buf, "hi %s", name ? name : "?"); return buf; }
int sum(const int *p, int n) {
    int s = 0;
    if (!p) return 0;
    for (int i = 0; i < n && i < 64; i++) s += p[i];
    return s;
}
int peek(const int *p) { return p ? *p : -1; }
void *ident(void *p) { return p; }
int fill(unsigned char *b, size_t n, int v) { if (!b || n > 64) return -1; memset(b, v, n); return (int)n; }
int64_t wide(int8_t a, int16_t b, uint32_t c, uint64_t d) { return a + b + (int64_t)c + (int64_t)d; }
"""

ALLOWED = (TypeError, OverflowError, ValueError, IndexError, WasmError)


@pytest.fixture(scope="module")
def fz(build_c: BuildFn) -> ModuleType:
    return build_c("fz", C, H)


def _values(rng: random.Random, lib: Any, other: Any) -> list[Any]:
    return [
        0, 1, -1, 7, 255, 256, 65535, 2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**63, -(2**64), 10**30,
        True, False, 0.0, -0.5, 3.5, math.nan, math.inf, -math.inf, 1e308,
        "", "abc", "é\u2603\U0001f600", "a" * 70_000, "nul\0inside",
        b"", b"bytes", bytearray(b"mutable"), bytearray(100), memoryview(b"view"),
        array.array("i", [1, 2, 3]), array.array("d", [1.5]), memoryview(bytearray(8))[::2],
        None, object(), [1, 2], (3,), {"a": 1}, 1j, rng,
        lib.ffi.new("int[]", [1, 2, 3]), lib.ffi.new("char[]", b"ptr"), lib.ffi.cast("int *", 8),
        other.ffi.new("int *", 5), lib.ffi.memory_size() - 2, lib.ffi.memory_size() + 100,
    ]  # fmt: skip


def test_fuzz_random_arguments(fz: Any) -> None:
    rng = random.Random(6003)
    lib, other = fz.load(timeout=2), fz.load()
    names = [n for n in fz.__all__ if callable(getattr(lib, n, None)) and hasattr(fz.Library, n)]
    names = [n for n in names if n not in ("load", "instance", "reset", "flush", "call_main")]
    assert len(names) >= 14, names
    pool = _values(rng, lib, other)
    import inspect

    arity = {n: len(inspect.signature(getattr(lib, n)).parameters) for n in names}
    for n in names[:3]:  # warm up: the arena and C's stdio buffers are allocated once
        try:
            getattr(lib, n)(*([1] * arity[n]))
        except ALLOWED:
            pass
    lib.greet("warm")
    size0 = lib.ffi.memory_size()
    sp0 = lib.stack_save()
    deadline = time.monotonic() + 3.0
    calls = kinds = 0
    seen: set[str] = set()
    while time.monotonic() < deadline:
        n = rng.choice(names)
        k = arity[n] + (1 if rng.random() < 0.05 else 0) - (1 if rng.random() < 0.05 else 0)
        args = [rng.choice(pool) for _ in range(max(k, 0))]
        try:
            getattr(lib, n)(*args)
        except ALLOWED as e:
            seen.add(type(e).__name__)
        calls += 1
        kinds = len(seen)
    assert calls > 1000
    assert kinds >= 3, seen
    assert lib.stack_save() == sp0
    assert lib.ffi.memory_size() == size0
    assert lib.add(2, 3) == 5 and lib.greet("end") == "hi end"


def test_soak_100k_mixed_calls_memory_flat(fz: Any) -> None:
    lib = fz.load()
    text = "the quick brown fox " * 5
    buf = bytearray(32)
    ints = array.array("i", range(16))
    p = lib.ffi.new("int[]", list(range(16)))
    for _ in range(100):  # warm up
        lib.greet(text)
    size0 = lib.ffi.memory_size()
    for i in range(25_000):
        assert lib.slen(text) == 100
        assert lib.fill(buf, 32, i & 0x7F) == 32
        assert lib.sum(ints if i & 1 else p, 16) == 120
        lib.greet(text)
    assert buf == bytes([24999 & 0x7F]) * 32
    assert lib.ffi.memory_size() == size0
