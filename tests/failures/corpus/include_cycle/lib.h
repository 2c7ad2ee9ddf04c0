#include "lib.h"
int f(void);
