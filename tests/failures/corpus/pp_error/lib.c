#include "lib.h"
int f(void){return 1;}
