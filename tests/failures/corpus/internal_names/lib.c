#include "lib.h"
int _rt(int _rt) { return _rt + 1; }
int _WASM(int _default) { return _default + 2; }
int _TYPES(int instance) { return instance + 3; }
int __all__(void) { return 4; }
int __name__(int _TYPES) { return _TYPES + 5; }
int _R_Pair(Pair p) { return p.a * 10 + p.b; }
int _F0(cb_t _F0) { return _F0(6); }
int _enum(int _s0) { return _s0 + 7; }
