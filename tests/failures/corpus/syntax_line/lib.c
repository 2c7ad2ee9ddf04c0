#include "lib.h"
int ok(void){return 1;}
