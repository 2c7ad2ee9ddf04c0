#include "lib.h"
int f(void) { return one.a; }
