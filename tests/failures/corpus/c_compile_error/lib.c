#include "lib.h"
int e(void){return undefined_thing;}
