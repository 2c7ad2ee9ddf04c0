"""End to end (issue 15): bitfields, packed and aligned records, real emcc and clang's layouts."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.conftest import BuildFn

LAYOUT_H = r"""
#include <stdint.h>
#include <stdbool.h>
typedef enum { RED, GREEN, BLUE } Color;
struct Flags {
    unsigned ready : 1;
    signed level : 4;
    unsigned : 0;
    unsigned mode : 3;
    int big : 31;
    bool on : 1;
    uint8_t small : 2;
    unsigned : 3;
    unsigned long long wide : 40;
    Color color : 2;
    char tail;
};
union Word { uint32_t raw; struct { unsigned lo : 12; unsigned hi : 20; } parts; };
typedef struct { unsigned v : 5; } One;

#pragma pack(push, 1)
typedef struct { uint8_t tag; uint32_t len; uint16_t crc; } Wire;
#pragma pack(pop)
#define PACKED __attribute__((packed))
struct PACKED Hidden { char c; double d; int i; };
typedef struct { char c; _Alignas(16) int x; } Aligned;
struct __attribute__((aligned(32))) Big { int v; };
typedef struct { char c; struct { char d; int e; } __attribute__((packed)) in; } Outer;

struct Flags flags_make(int i);
long long flags_sum(struct Flags f);
void flags_bump(struct Flags *f);
uint32_t word_raw(union Word w);
One one_twice(One o);
int layout(int which);
Wire wire_make(uint32_t len);
uint32_t wire_check(Wire w);
void wire_fill(Wire *w, int n);
double hidden_sum(struct Hidden h);
int aligned_x(Aligned *a);
int big_v(struct Big b);
int outer_e(Outer o);
"""

LAYOUT_C = r"""
#include <stddef.h>
#include "layouts.h"
struct Flags flags_make(int i) {
    struct Flags f = {0};
    f.ready = 1; f.level = -i; f.mode = i; f.big = -1000000 * i; f.on = 1; f.small = 3;
    f.wide = 0xABCDEF1234ull; f.color = BLUE; f.tail = 'z';
    return f;
}
long long flags_sum(struct Flags f) {
    return f.ready + f.level + f.mode + f.big + f.on + f.small + (long long)f.wide + f.color + f.tail;
}
void flags_bump(struct Flags *f) { f->level += 1; f->mode += 1; f->wide += 1; f->ready = !f->ready; }
uint32_t word_raw(union Word w) { return w.raw; }
One one_twice(One o) { o.v *= 2; return o; }
int layout(int which) {
    switch (which) {
    case 0: return sizeof(struct Flags);
    case 1: return sizeof(Wire);
    case 2: return offsetof(Wire, crc);
    case 3: return sizeof(struct Hidden);
    case 4: return offsetof(struct Hidden, i);
    case 5: return sizeof(Aligned);
    case 6: return offsetof(Aligned, x);
    case 7: return sizeof(struct Big);
    case 8: return _Alignof(struct Big);
    case 9: return sizeof(Outer);
    case 10: return offsetof(Outer, in.e);
    }
    return -1;
}
Wire wire_make(uint32_t len) { Wire w = {7, len, (uint16_t)(len * 3)}; return w; }
uint32_t wire_check(Wire w) { return w.tag + w.len + w.crc; }
void wire_fill(Wire *w, int n) {
    for (int i = 0; i < n; i++) { w[i].tag = i; w[i].len = 100 + i; w[i].crc = 7; }
}
double hidden_sum(struct Hidden h) { return h.c + h.d + h.i; }
int aligned_x(Aligned *a) { return a->x + a->c; }
int big_v(struct Big b) { return b.v; }
int outer_e(Outer o) { return o.in.e + o.in.d + o.c; }
"""


@pytest.fixture(scope="module")
def mod(build_c: BuildFn) -> ModuleType:
    return build_c("layouts", LAYOUT_C, LAYOUT_H)


@pytest.fixture(scope="module")
def lib(mod: ModuleType) -> Any:
    return mod.load()


def test_bitfields_by_value_and_by_pointer(mod: ModuleType, lib: Any) -> None:
    f = lib.flags_make(3)
    assert (f.ready, f.level, f.mode, f.big, f.on, f.small) == (1, -3, 3, -3000000, True, 3)
    assert (f.wide, f.color, f.tail) == (0xABCDEF1234, mod.Color.BLUE, ord("z"))
    assert lib.flags_sum(f) == 1 - 3 + 3 - 3000000 + 1 + 3 + 0xABCDEF1234 + 2 + ord("z")
    g = mod.Flags(ready=0, level=-8, mode=7, big=-(2**30), on=False, small=0, wide=2**40 - 1, color=1, tail=1)
    assert lib.flags_sum(g) == -8 + 7 - 2**30 + 2**40 - 1 + 1 + 1
    p = lib.ffi.new("struct Flags *", g)
    lib.flags_bump(p)
    assert (p.level, p.mode, p.wide, p.ready) == (-7, 0, 0, 1)  # 3-bit mode and 40-bit wide wrap in C
    p.level = 7
    p.big = 2**30 - 1
    assert (p.level, p.big, p.mode, p.tail) == (7, 2**30 - 1, 0, 1)  # neighbours untouched
    assert lib.flags_sum(p[0]) == 1 + 7 + 0 + 2**30 - 1 + 0 + 0 + 0 + 1 + 1
    assert lib.layout(0) == mod._R_Flags.size == lib.ffi.sizeof("struct Flags")
    for field, bad in (("level", 8), ("level", -9), ("mode", 8), ("ready", -1), ("wide", 2**40)):
        with pytest.raises(OverflowError, match=field):
            setattr(p, field, bad)
    with pytest.raises(OverflowError):
        lib.flags_sum(mod.Flags(small=4))


def test_bitfields_in_unions_and_single_bitfield_records(mod: ModuleType, lib: Any) -> None:
    w = mod.Word(parts=mod.Word_parts(lo=0xABC, hi=0x12345))
    assert lib.word_raw(w) == (0x12345 << 12) | 0xABC
    assert lib.one_twice(mod.One(v=9)) == mod.One(v=18)


def test_packed_and_aligned_records_are_laid_out_as_clang_does(mod: ModuleType, lib: Any) -> None:
    assert [lib.layout(i) for i in range(1, 11)] == [7, 5, 13, 9, 32, 16, 32, 32, 6, 2]
    assert (mod._R_Wire.size, mod._R_Wire.align) == (7, 1)
    assert (mod._R_Aligned.size, mod._R_Aligned.align) == (32, 16)
    w = lib.wire_make(1000)
    assert w == mod.Wire(tag=7, len=1000, crc=3000)
    assert lib.wire_check(mod.Wire(tag=1, len=2**32 - 10, crc=5)) == (1 + 2**32 - 10 + 5) % 2**32
    arr = lib.ffi.new("Wire[]", 3)
    lib.wire_fill(arr, 3)
    assert [(arr[i].tag, arr[i].len) for i in range(3)] == [(0, 100), (1, 101), (2, 102)]
    assert (arr + 1).len == 101 and int(arr + 1) - int(arr) == 7
    assert lib.hidden_sum(mod.Hidden(c=1, d=0.5, i=-4)) == -2.5
    a = lib.ffi.new("Aligned *", {"c": 2, "x": 40})
    assert int(a) % 16 == 0 and lib.aligned_x(a) == 42
    assert lib.big_v(mod.Big(v=5)) == 5
    assert lib.outer_e(mod.Outer(c=1, in_=mod.Outer_in(d=2, e=300))) == 303
