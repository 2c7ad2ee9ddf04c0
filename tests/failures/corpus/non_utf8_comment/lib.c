#include "lib.h"
int h(void){return 7;}
