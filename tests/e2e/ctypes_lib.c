#include "ctypes_lib.h"
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <setjmp.h>
Vec2 vadd(Vec2 a, Vec2 b) { Vec2 r = {a.x + b.x, a.y + b.y}; return r; }
double vlen2(const Vec2 *v) { return v->x * v->x + v->y * v->y; }
void vscale(Vec2 *v, double k) { v->x *= k; v->y *= k; }
Vec2 *vnew(double x, double y) { Vec2 *v = malloc(sizeof *v); v->x = x; v->y = y; return v; }
Vec2 *vnull(void) { return NULL; }
Wrap wrap_twice(Wrap w) { w.w *= 2; return w; }
Cursor cursor_of(Wrap *w) { Cursor c = {w}; return c; }
float cursor_get(Cursor c) { return c.pWrap->w; }
size_t mixed_size(void) { return sizeof(Mixed); }
size_t mixed_off(int which) {
  switch (which) { case 0: return offsetof(Mixed, c); case 1: return offsetof(Mixed, i); case 2: return offsetof(Mixed, s);
  case 3: return offsetof(Mixed, ll); default: return offsetof(Mixed, tail); } }
Mixed mixed_make(int seed) { Mixed m = {(char)seed, seed * 2, (short)(seed * 3), (long long)seed << 40, 'z'}; return m; }
int segment_sum(const Segment *s) { return (int)(s->a.x + s->b.y) + s->ids[0] + s->ids[1] + s->ids[2] + (int)strlen(s->label) + (s->next ? (int)s->next->x : 0); }
Segment segment_make(const char *label) { Segment s; memset(&s, 0, sizeof s); s.a.x = 1; s.b.y = 2; strncpy(s.label, label, 15); s.ids[0] = 7; s.ids[2] = 9; return s; }
Pun pun_float(float f) { Pun p; p.f = f; return p; }
int pun_int(Pun p) { return p.i; }
double tagged_total(Tagged t) { return t.kind + t.d + t.lo + t.hi; }
Color next_color(Color c) { return c == RED ? GREEN : c == GREEN ? BLUE : (Color)99; }
enum Flags flag_of(int i) { return i == 0 ? F_A : i == 1 ? F_B : F_BIG; }
struct Counter { int n; };
Counter *counter_new(int start) { Counter *c = malloc(sizeof *c); c->n = start; return c; }
int counter_next(Counter *c) { return c->n++; }
void counter_free(Counter *c) { free(c); }
int apply(binop f, int a, int b) { return f(a, b); }
void each(const Vec2 *vs, int n, visit_fn fn, void *ud) { for (int i = 0; i < n; i++) fn(&vs[i], ud); }
int box_run(const OpBox *b, int x) { return b->op(x, b->bias); }
static int add(int a, int b) { return a + b; }
static int mul(int a, int b) { return a * b; }
binop get_op(int which) { return which == 0 ? add : which == 1 ? mul : NULL; }
static binop stored;
void store_op(binop f) { stored = f; }
int call_stored(int a, int b) { return stored(a, b); }
static long (*raw_fn)(void *, const char *);
static void *raw_ud;
void store_raw(long (*fn)(void *, const char *), void *ud) { raw_fn = fn; raw_ud = ud; }
long call_raw(const char *s) { return raw_fn(raw_ud, s); }
uLong total(const uLongf *xs, uLong n) { uLong t = 0; for (uLong i = 0; i < n; i++) t += xs[i]; return t; }
static jmp_buf jb;
static void deep(int x) { if (x > 2) longjmp(jb, x); }
int sj_run(int x) { int r = setjmp(jb); if (r) return 100 + r; deep(x); return x; }
double vp_x(Vec2p p) { return p->x; }
double fold(const Vec2 *vs, int n, vfold f) { double acc = 0; for (int i = 0; i < n; i++) acc = f(vs[i], acc); return acc; }
int with_name(strcb f, char *result, int cap) { char out[32] = {0}; int r = f("world", out); strncpy(result, out, cap); return r; }
double make_sum(vmake f, int n) { double t = 0; for (int i = 0; i < n; i++) { Vec2 v = f(i); t += v.x + v.y; } return t; }

unsigned span_sum(const Span *s) {
    unsigned t = 0;
    for (size_t i = 0; i < s->size; i++) t += ((const unsigned char *)s->data)[i];
    return t;
}
