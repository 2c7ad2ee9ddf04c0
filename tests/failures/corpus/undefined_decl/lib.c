#include "lib.h"
int here(void){return 1;}
