#include "lib.h"
int g(void){return 1;}
int g2(void){return 2;}
