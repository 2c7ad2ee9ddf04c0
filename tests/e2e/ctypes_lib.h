#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define TYPES_MAGIC 42

typedef struct Vec2 { double x, y; } Vec2;
typedef struct { float w; } Wrap;              /* single scalar: passed as f32 */
typedef struct { char c; int i; short s; long long ll; char tail; } Mixed;
typedef struct { Vec2 a, b; char label[16]; int ids[3]; Vec2 *next; } Segment;
typedef union { int i; float f; unsigned char bytes[4]; } Pun;
typedef struct { int kind; union { int i; double d; }; struct { short lo, hi; }; } Tagged;
typedef enum { RED, GREEN = 5, BLUE } Color;
enum Flags { F_A = 1, F_B = 2, F_BIG = -1 };
typedef struct Counter Counter;
typedef int (*binop)(int, int);
typedef void (*visit_fn)(const Vec2 *v, void *ud);
typedef struct { binop op; int bias; } OpBox;
typedef unsigned long uLong;
typedef uLong uLongf;
typedef Vec2 *Vec2p;

Vec2 vadd(Vec2 a, Vec2 b);
double vlen2(const Vec2 *v);
void vscale(Vec2 *v, double k);
Vec2 *vnew(double x, double y);
Vec2 *vnull(void);
Wrap wrap_twice(Wrap w);
/* a single-pointer struct whose pointee is named by a typedef (sqlite3_vtab_cursor's shape) */
typedef struct Cursor Cursor;
struct Cursor { Wrap *pWrap; };
Cursor cursor_of(Wrap *w);
float cursor_get(Cursor c);
size_t mixed_size(void);
size_t mixed_off(int which);
Mixed mixed_make(int seed);
int segment_sum(const Segment *s);
Segment segment_make(const char *label);
Pun pun_float(float f);
int pun_int(Pun p);
double tagged_total(Tagged t);
Color next_color(Color c);
enum Flags flag_of(int i);
Counter *counter_new(int start);
int counter_next(Counter *c);
void counter_free(Counter *c);
int apply(binop f, int a, int b);
void each(const Vec2 *vs, int n, visit_fn fn, void *ud);
int box_run(const OpBox *b, int x);
binop get_op(int which);
void store_op(binop f);
int call_stored(int a, int b);
/* a kept function pointer with no typedef (SQLite's sqlite3_create_function xFunc) */
void store_raw(long (*fn)(void *, const char *), void *ud);
long call_raw(const char *s);
uLong total(const uLongf *xs, uLong n);
int sj_run(int x);
double vp_x(Vec2p p);
typedef double (*vfold)(Vec2 v, double acc);
double fold(const Vec2 *vs, int n, vfold f);
typedef int (*strcb)(const char *name, char *out);
int with_name(strcb f, char *result, int cap);
typedef Vec2 (*vmake)(int i);
double make_sum(vmake f, int n);
typedef struct { const void *data; size_t size; } Span;
unsigned span_sum(const Span *s);
