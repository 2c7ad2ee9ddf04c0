#include "lib.h"
int v(int n, ...){return n;}
int vv(int n, va_list ap){return n;}
int ok(void){return 1;}
