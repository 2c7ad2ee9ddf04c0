#include "lib.h"
int count(const char *str, int len, int isinstance, int type){return len+isinstance+type+str[0];}
int object(int range, int super){return range-super;}
