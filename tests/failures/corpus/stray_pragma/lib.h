/* As zstd.h: pragmas (and _Pragma) inside declarations, which pycparser cannot take. */
typedef struct { int a, b; } Pair;
static
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-variable"
const Pair pair_default = { 1, 2 };
#pragma clang diagnostic pop
int _Pragma("clang diagnostic push") pair_sum(const Pair *p);
