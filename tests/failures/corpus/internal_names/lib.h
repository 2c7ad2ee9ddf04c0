/* C names that meet the generated module's own globals, locals and dunders. */
typedef int (*cb_t)(int);
typedef struct Pair { int a, b; } Pair;
int _rt(int _rt);
int _WASM(int _default);
int _TYPES(int instance);
int __all__(void);
int __name__(int _TYPES);
int _R_Pair(Pair p);
int _F0(cb_t _F0);
int _enum(int _s0);
