int f(void);
#include "/dev/zero"
