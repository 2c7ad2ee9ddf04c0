#include <stdarg.h>
int v(int n, ...);
int vv(int n, va_list ap);
struct S { int a : 3; };
int ok(void);
