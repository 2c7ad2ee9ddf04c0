#include "lib.h"
int pair_sum(const Pair *p) { return p ? p->a + p->b : pair_default.a + pair_default.b; }
