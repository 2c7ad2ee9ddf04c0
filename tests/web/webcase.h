/* webcase: what the Pyodide backend must run exactly as wasmtime does (tests/web). */
#ifndef WEBCASE_H
#define WEBCASE_H
#include <stddef.h>
#include <stdint.h>

typedef struct { double x, y; } Vec2;
typedef enum { RED, GREEN, BLUE } Color;
typedef int (*binop)(int, int);
typedef double (*unary)(double);

int add(int a, int b);
uint32_t wrap_u32(uint32_t a);
int64_t mul64(int64_t a, int64_t b);
double scale(float a, double b);
_Bool is_even(int n);
int word_count(const char *s);
const char *greet(const char *name);
void upcase(char *s);
double sum(const double *xs, size_t n);
Vec2 vadd(Vec2 a, Vec2 b);
double vdot(const Vec2 *a, const Vec2 *b);
Color next_color(Color c);
int divmod(int a, int b, int *q, int *r);
int apply(binop f, int a, int b);
void keep(unary f);
double call_kept(double x);
void say(const char *s);
void quit(int code);
int divide(int a, int b);
int boom(void);
int deep(int n);
int grow_and_fill(int megabytes);

/* Function pointers C hands out, called from Python. */
binop get_op(int which);
unary get_halver(void);

/* C globals, read and written from both sides. */
extern int counter;
extern double ratio;
extern const char *version_str;
int bump(void);

/* A variadic function: arguments laid out in memory as emcc does. */
int format(char *out, int n, const char *fmt, ...);

/* The environment C sees. */
const char *env_of(const char *name);

/* Host functions: declared, defined by no source, implemented in Python. */
int host_scale(int x);
int64_t host_wide(int64_t v);
double host_half(double x);
int64_t use_hosts(int x, int64_t v, double d);

/* the rest of C (issue 15): a global, variadic calls, bitfields, long double, a macro */
extern int wc_counter;
struct WcBits { unsigned lo : 4; signed hi : 4; unsigned long long wide : 36; };
int wc_bump(void);
long long wc_sum(const char *kinds, ...);
int wc_bits(struct WcBits *b);
long double wc_half(long double x);
#define WC_SQUARE(x) ((x) * (x))
#endif
