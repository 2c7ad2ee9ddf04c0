#include "lib.h"
int ffi(void){return 1;}
int ffi_(void){return 2;}
int load_(void){return 3;}
int load(void){return 4;}
