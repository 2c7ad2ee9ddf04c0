#include "webcase.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int add(int a, int b) { return a + b; }
uint32_t wrap_u32(uint32_t a) { return a + 1u; }
int64_t mul64(int64_t a, int64_t b) { return a * b; }
double scale(float a, double b) { return a * b; }
_Bool is_even(int n) { return n % 2 == 0; }

int word_count(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) in = 0;
        else if (!in) { in = 1; n++; }
    }
    return n;
}

static char greeting[64];
const char *greet(const char *name) {
    snprintf(greeting, sizeof greeting, "Hello, %s!", name);
    return greeting;
}

void upcase(char *s) { for (; *s; s++) *s = (char)toupper((unsigned char)*s); }

double sum(const double *xs, size_t n) {
    double t = 0;
    for (size_t i = 0; i < n; i++) t += xs[i];
    return t;
}

Vec2 vadd(Vec2 a, Vec2 b) { Vec2 r = {a.x + b.x, a.y + b.y}; return r; }
double vdot(const Vec2 *a, const Vec2 *b) { return a->x * b->x + a->y * b->y; }
Color next_color(Color c) { return (Color)((c + 1) % 3); }

int divmod(int a, int b, int *q, int *r) {
    if (b == 0) return -1;
    *q = a / b;
    *r = a % b;
    return 0;
}

int apply(binop f, int a, int b) { return f(a, b); }

static unary kept;
void keep(unary f) { kept = f; }
double call_kept(double x) { return kept ? kept(x) : -1.0; }

void say(const char *s) { printf("C says: %s\n", s); }
void quit(int code) { exit(code); }
int divide(int a, int b) { return a / b; }
int boom(void) { __builtin_trap(); }
/* Unbounded recursion that no optimizer turns into a loop: the engine's stack runs out. */
int deep(int n) { volatile int pad[4]; pad[0] = n; if (n < 0) return 0; return deep(n + 1) + pad[0]; }

int grow_and_fill(int megabytes) {
    /* Memory grows (a new ArrayBuffer under JavaScript); the runtime must follow. */
    size_t n = (size_t)megabytes << 20;
    unsigned char *p = malloc(n);
    if (!p) return -1;
    memset(p, 7, n);
    int s = p[0] + p[n - 1];
    static unsigned char *sink;
    sink = p; /* kept, so the allocation is real */
    return s;
}

static int add_impl(int a, int b) { return a + b; }
static int mul_impl(int a, int b) { return a * b; }
binop get_op(int which) { return which ? mul_impl : add_impl; }
static double halve(double x) { return x / 2; }
unary get_halver(void) { return halve; }

int counter = 5;
double ratio = 0.5;
const char *version_str = "1.2.3";
int bump(void) { return ++counter; }

const char *env_of(const char *name) { return getenv(name); }

int64_t use_hosts(int x, int64_t v, double d) {
    /* i32, i64 (a BigInt in JavaScript) and f64 across the import boundary, both ways. */
    return host_scale(x) + host_wide(v) + (int64_t)host_half(d);
}

int format(char *out, int n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out, (size_t)n, fmt, ap);
    va_end(ap);
    return r;
}

int wc_counter = 3;
int wc_bump(void) { return ++wc_counter; }
long long wc_sum(const char *kinds, ...) {
    va_list ap;
    long long t = 0;
    va_start(ap, kinds);
    for (; *kinds; kinds++)
        t += *kinds == 'l' ? va_arg(ap, long long) : *kinds == 'd' ? (long long)va_arg(ap, double)
             : *kinds == 's' ? (long long)strlen(va_arg(ap, const char *)) : va_arg(ap, int);
    va_end(ap);
    return t;
}
int wc_bits(struct WcBits *b) { b->lo += 1; b->hi -= 1; b->wide += 1; return b->lo + b->hi; }
long double wc_half(long double x) { return x / 2; }
