typedef union Num { int i; float f; }
struct Node { int value; };
int f(void);
