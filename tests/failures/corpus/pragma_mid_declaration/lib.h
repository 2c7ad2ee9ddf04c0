typedef struct { int a; } One;
static
#pragma pack(1)
const One one = { 1 };
int f(void);
