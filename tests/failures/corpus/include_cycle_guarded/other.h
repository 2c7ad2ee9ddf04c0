#ifndef OTHER_H
#define OTHER_H
#include "lib.h"
int g2(void);
#endif
