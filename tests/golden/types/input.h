/* Golden case: structs, unions, anonymous members, enums, opaque handles, function pointers. */
#include <stdint.h>
#include <stddef.h>

#define TYPES_LIMIT (1 << 4)
#define TYPES_SQUARE(x) ((x) * (x))
#define TYPES_V10 10
#define TYPES_V2 2

typedef struct Vec2 { double x, y; } Vec2;
typedef struct { float w; } Wrap;
typedef struct { Vec2 a; char label[8]; int ids[2]; Vec2 *next; } Segment;
typedef union { int i; float f; } Pun;
typedef struct { int kind; union { int i; double d; }; } Tagged;
typedef enum { RED, GREEN = 5, BLUE } Color;
typedef struct Counter Counter;
typedef int (*binop)(int, int);
typedef struct { binop op; int value; } OpBox;
typedef Vec2 *Vec2p;
/* names with digits and one-letter capitals: __all__/__slots__ must be in ruff's natural order */
typedef struct { int x10, x2, L, b; } Order2;
typedef struct { Order2 o; } Order10;
/* C names pycodestyle calls ambiguous (Lua's `size_t l`): kept, with a file-level noqa */
typedef struct { int l; } Ell;

Vec2 vadd(Vec2 a, Vec2 b);
Wrap wrap_twice(Wrap w);
void vscale(Vec2 *v, double k);
Vec2p vnew(double x, double y);
Color next_color(Color c);
Counter *counter_new(int start);
int counter_next(Counter *c);
int apply(binop f, int a, int b);
binop get_op(int which);
int box_run(const OpBox *b, int x);
double pun(Pun p, Tagged t, const Segment *s);
int f10(Order10 *o);
int f2(const Order2 *o);
int ell_add(Ell *e, int l);
